// `lvsadm toa load|unload|status --ebpf` on this kernel: its checks and messages, idempotence,
// several cgroups, a different build or an interrupted load found in the pin directory, orphans,
// and the defaults (bpffs mounted at /sys/fs/bpf, cgroup2 mounted when missing) inside a private
// mount namespace so the host's mounts are untouched. Every attachment goes to child cgroups made
// here; pins go to a BPF file system of the test's own.
// Root only (else skipped; failed under CI=true).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ToaStatus } from '../../src/toa/cli.js';
import { BUILD_ID, type EbpfStatus } from '../../src/toa/ebpf.js';
import { privileged } from '../support/privileges.js';
import { AS_NOBODY, prepareUnprivileged } from '../support/unprivileged.js';
import {
  bpftool,
  ensureToaDeps,
  NODE,
  REPO,
  removeToaLeftovers,
  rootSkipReason,
  run,
  TestBpffs,
  TestCgroup,
  toa,
  toaOk,
} from './support.js';

const { describe } = privileged(rootSkipReason());
const CLI = join(REPO, 'test/toa/fixtures/toa-cli.ts');

async function attachedIds(cgroup: string): Promise<{ id: number; name: string }[]> {
  const r = await run(bpftool(), ['-j', 'cgroup', 'show', cgroup]);
  return JSON.parse(r.stdout.trim() || '[]') as { id: number; name: string }[];
}

async function ebpfStatus(pinDir: string): Promise<EbpfStatus> {
  return (JSON.parse(await toaOk(['status', '--json', '--pin-dir', pinDir])) as ToaStatus).ebpf as EbpfStatus;
}

describe('lvsadm toa load/unload --ebpf', { timeout: 180_000 }, () => {
  let bpffs: TestBpffs | undefined;
  const cgroups: TestCgroup[] = [];
  let pinDir: string;

  before(async () => {
    await ensureToaDeps();
    await removeToaLeftovers();
    bpffs = await TestBpffs.create();
    pinDir = bpffs.pinDir();
  });

  after(async () => {
    if (pinDir) await toa(['unload', '--ebpf', '--pin-dir', pinDir]);
    for (const c of cgroups) await c.destroy();
    await bpffs?.destroy();
  });

  const newCgroup = () => {
    const c = TestCgroup.create();
    cgroups.push(c);
    return c;
  };

  test('checks: missing cgroup, a directory that is no cgroup, pin dir off bpffs or with a dot', async () => {
    const missing = await toa([
      'load',
      '--ebpf',
      '--cgroup',
      '/sys/fs/cgroup/no-such-lvsadm-test',
      '--pin-dir',
      pinDir,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^lvsadm toa: cgroup \/sys\/fs\/cgroup\/no-such-lvsadm-test does not exist/);
    const notCg = await toa(['load', '--ebpf', '--cgroup', bpffs!.dir, '--pin-dir', pinDir]);
    assert.equal(notCg.code, 1);
    assert.match(notCg.err, /is not a cgroup v2 directory/);
    const c = newCgroup();
    const offBpffs = await toa([
      'load',
      '--ebpf',
      '--cgroup',
      c.path,
      '--pin-dir',
      '/run/lvsadm-toa-test-pins',
    ]);
    assert.equal(offBpffs.code, 1);
    assert.match(
      offBpffs.err,
      /\/run is not on a BPF file system \(mount one there: mount -t bpf bpf \/run\)/,
    );
    const dot = await toa(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', join(bpffs!.dir, 'a.b')]);
    assert.equal(dot.code, 1);
    assert.match(dot.err, /no dots allowed/);
    assert.deepEqual(await attachedIds(c.path), [], 'nothing attached by failed loads');
    assert.deepEqual(
      readdirSync(bpffs!.dir).filter((n) => !n.endsWith('.debug')),
      [],
      'nothing pinned',
    );
  });

  test('load twice: the second is a no-op; a second cgroup gets the same programs', async () => {
    const a = newCgroup();
    const b = newCgroup();
    const first = await toaOk(['load', '--ebpf', '--cgroup', a.path, '--pin-dir', pinDir]);
    assert.match(
      first,
      /eBPF TOA reader loaded \(pinned at .*\), attached to .*: sock_ops getpeername4 getpeername6/,
    );
    const ids = (await attachedIds(a.path)).map((p) => p.id).sort();
    assert.equal(ids.length, 3);
    const second = await toaOk(['load', '--ebpf', '--cgroup', a.path, '--pin-dir', pinDir]);
    assert.match(second, /already loaded .* and attached to /);
    assert.deepEqual((await attachedIds(a.path)).map((p) => p.id).sort(), ids);
    const other = await toaOk(['load', '--ebpf', '--cgroup', b.path, '--pin-dir', pinDir]);
    assert.match(other, /already loaded \(pinned at .*\), attached to /);
    assert.deepEqual((await attachedIds(b.path)).map((p) => p.id).sort(), ids, 'the same programs');
    const st = await ebpfStatus(pinDir);
    assert.deepEqual([...new Set(st.attached.map((x) => x.cgroup))].sort(), [a.path, b.path].sort());

    // unload from one cgroup: the pins stay for the other
    const partly = await toaOk(['unload', '--ebpf', '--cgroup', a.path, '--pin-dir', pinDir]);
    assert.match(partly, /still attached to .*: pins kept/);
    assert.deepEqual(await attachedIds(a.path), []);
    assert.equal((await attachedIds(b.path)).length, 3);
    assert.ok(existsSync(pinDir));
    const rest = await toaOk(['unload', '--ebpf', '--cgroup', b.path, '--pin-dir', pinDir]);
    assert.match(rest, /unloaded: .* removed/);
    assert.equal(existsSync(pinDir), false);
  });

  test('another build loaded: a clear refusal, nothing changed', async () => {
    const c = newCgroup();
    await toaOk(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    renameSync(join(pinDir, `build-${BUILD_ID}`), join(pinDir, 'build-000000000000'));
    const r = await toa(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /another build of the eBPF TOA reader \(000000000000\) is loaded .* run `lvsadm toa unload --ebpf` first/,
    );
    const st = await ebpfStatus(pinDir);
    assert.equal(st.current, false);
    assert.match(await toaOk(['status', '--pin-dir', pinDir]), /not this lvsadm's: unload and load again/);
    await toaOk(['unload', '--ebpf', '--pin-dir', pinDir]);
    assert.deepEqual(await attachedIds(c.path), []);
  });

  test('an interrupted load (a pin missing) is cleaned up and loaded again', async () => {
    const c = newCgroup();
    await toaOk(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    unlinkSync(join(pinDir, 'progs', 'toa_peer6'));
    const st = await ebpfStatus(pinDir);
    assert.equal(st.partial, true);
    const out = await toaOk(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    assert.match(out, /removing the remains of an interrupted load/);
    const now = await attachedIds(c.path);
    // the two old programs still pinned were detached; the unpinned old peer6 stays attached
    // (nothing names it any more) until --orphans: three new ones plus that one
    const fresh = (await ebpfStatus(pinDir)).programs.map((p) => p.id);
    assert.equal(fresh.length, 3);
    for (const id of fresh) assert.ok(now.some((p) => p.id === id));
    const orphans = (await ebpfStatus(pinDir)).orphans.filter((o) => o.cgroup === c.path);
    assert.deepEqual(
      orphans.map((o) => o.name),
      ['toa_peer6'],
    );
    const un = await toaOk(['unload', '--ebpf', '--orphans', '--cgroup', c.path, '--pin-dir', pinDir]);
    assert.match(un, /detached the eBPF TOA reader from/);
    assert.deepEqual(await attachedIds(c.path), []);
  });

  test('pins deleted by hand: status shows the orphans, unload --orphans detaches them', async () => {
    const c = newCgroup();
    await toaOk(['load', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    rmSync(pinDir, { recursive: true });
    const st = await ebpfStatus(pinDir);
    assert.equal(st.loaded, false);
    const mine = st.orphans.filter((o) => o.cgroup === c.path);
    assert.deepEqual(mine.map((o) => o.attach).sort(), ['getpeername4', 'getpeername6', 'sock_ops']);
    assert.match(await toaOk(['status', '--pin-dir', pinDir]), /not pinned here: toa_sockops .*--orphans/);
    const plain = await toaOk(['unload', '--ebpf', '--cgroup', c.path, '--pin-dir', pinDir]);
    assert.match(plain, /not attached to/);
    assert.equal((await attachedIds(c.path)).length, 3, 'without --orphans they stay');
    await toaOk(['unload', '--ebpf', '--orphans', '--cgroup', c.path, '--pin-dir', pinDir]);
    assert.deepEqual(await attachedIds(c.path), []);
  });

  test('defaults in a private mount namespace: bpffs mounted at /sys/fs/bpf, pins at /sys/fs/bpf/lvsadm-toa', async () => {
    const c = newCgroup();
    // whatever the host has at /sys/fs/bpf is unmounted in the private namespace only, so the
    // pins land in a fresh bpffs that vanishes with the namespace
    const script = [
      'umount -l /sys/fs/bpf 2>/dev/null',
      `"${NODE}" --import tsx "${CLI}" load --ebpf --cgroup "${c.path}" || exit 1`,
      'echo ---; stat -f -c %T /sys/fs/bpf; ls /sys/fs/bpf/lvsadm-toa/progs; echo ---',
      `"${NODE}" --import tsx "${CLI}" status --json > /dev/null || exit 2`,
      `"${NODE}" --import tsx "${CLI}" unload --ebpf || exit 3`,
      'ls /sys/fs/bpf/lvsadm-toa 2>/dev/null && exit 4; exit 0',
    ].join('\n');
    const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: REPO,
      timeoutMs: 60_000,
    });
    await toa(['unload', '--ebpf', '--orphans', '--cgroup', c.path, '--pin-dir', pinDir]); // if it failed
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /mounted the BPF file system at \/sys\/fs\/bpf/);
    assert.match(r.stdout, /---\nbpf_fs\ntoa_peer4\ntoa_peer6\ntoa_sockops\n---/);
    assert.match(r.stdout, /eBPF TOA reader unloaded: \/sys\/fs\/bpf\/lvsadm-toa removed/);
    assert.deepEqual(await attachedIds(c.path), []);
  });

  test('no cgroup v2 mounted (private mount namespace): it is mounted for the default target', async () => {
    // only the mounting step: attaching to the root cgroup is not for tests
    const probe = join(REPO, 'test/toa/fixtures/ensure-cgroup2.ts');
    const script = [
      // the file-system type follows the " - " separator of each mountinfo line
      `for m in $(awk '{for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break }}' /proc/self/mountinfo); do umount -l "$m"; done`,
      `"${NODE}" --import tsx "${probe}"`,
    ].join('\n');
    const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: REPO,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as {
      before: string | null;
      root: string;
      mounted: boolean;
      fsType: string;
    };
    assert.equal(res.before, null);
    assert.equal(res.mounted, true);
    assert.equal(res.fsType, 'cgroup2');
    assert.ok(res.root === '/sys/fs/cgroup' || res.root === '/sys/fs/cgroup/unified', res.root);
  });

  test('not root: a clear refusal (run as nobody); status still tells what it can', async (t) => {
    // A bundle of the CLI in a world-readable dir: nobody may not be able to enter the checkout.
    const cli = await prepareUnprivileged(CLI);
    t.after(() => cli.remove());
    const asNobody = (args: string[]) =>
      run(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), ...cli.argv(...args)], { cwd: cli.dir, env: cli.env() });
    const load = await asNobody(['load', '--ebpf']);
    assert.equal(load.code, 1, load.stderr);
    assert.match(load.stderr, /^lvsadm toa: loading the eBPF TOA reader needs root/m);
    const unload = await asNobody(['unload', '--ebpf']);
    assert.equal(unload.code, 1, unload.stderr);
    assert.match(unload.stderr, /^lvsadm toa: unloading the eBPF TOA reader needs root/m);
    const status = await asNobody(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /eBPF reader: unknown \(needs root to inspect BPF programs\)/);
  });
});
