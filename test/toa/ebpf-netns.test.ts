// `lvsadm toa load|status|unload --ebpf` run inside `ip netns exec` (issue 9, defect 11), which
// gives the command a new sysfs on /sys: the cgroup2 and bpffs mounts below it are hidden, yet the
// cgroup exists and the reader is loaded; and `status` without the --pin-dir of the load names where
// the attached programs are pinned instead of calling them foreign.
// A private mount namespace bind-mounts the test's own bpffs on /sys/fs/bpf (the host's mounts are
// untouched); the network namespace is made and removed here. Root only (else skipped; failed
// under CI=true).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ToaStatus } from '../../src/toa/cli.js';
import type { EbpfStatus } from '../../src/toa/ebpf.js';
import { privileged } from '../support/privileges.js';
import {
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

describe('lvsadm toa --ebpf inside ip netns exec; status with another --pin-dir', {
  timeout: 180_000,
}, () => {
  let bpffs: TestBpffs | undefined;
  let cg: TestCgroup | undefined;
  const ns = `lvtoans${process.pid}-${randomBytes(3).toString('hex')}`;

  before(async () => {
    await ensureToaDeps();
    await removeToaLeftovers();
    bpffs = await TestBpffs.create();
    cg = TestCgroup.create();
  });

  after(async () => {
    if (cg && bpffs) {
      for (const d of ['a', 'ns'])
        await toa(['unload', '--ebpf', '--orphans', '--cgroup', cg.path, '--pin-dir', bpffs.pinDir(d)]);
    }
    await cg?.destroy();
    await bpffs?.destroy();
    await run('ip', ['netns', 'del', ns]);
  });

  test('status without the --pin-dir of the load says where the programs are pinned', async () => {
    await toaOk(['load', '--ebpf', '--cgroup', cg!.path, '--pin-dir', bpffs!.pinDir('a')]);
    const out = await toaOk(['status', '--pin-dir', bpffs!.pinDir('other')]);
    assert.match(out, /eBPF reader: not loaded/);
    assert.match(
      out,
      new RegExp(`pinned at ${bpffs!.pinDir('a')}: toa_sockops \\(id \\d+\\) attached to ${cg!.path}`),
    );
    assert.doesNotMatch(out, /not pinned here/);
    const j = JSON.parse(await toaOk(['status', '--json', '--pin-dir', bpffs!.pinDir('other')])) as ToaStatus;
    const e = j.ebpf as EbpfStatus;
    assert.equal(e.orphans.length, 3);
    assert.ok(e.orphans.every((o) => o.pinnedAt === bpffs!.pinDir('a')));
    await toaOk(['unload', '--ebpf', '--cgroup', cg!.path, '--pin-dir', bpffs!.pinDir('a')]);
  });

  test('inside ip netns exec: the cgroup is found, the reader loads, status sees it, unload removes it', async () => {
    await run('ip', ['netns', 'add', ns]);
    const inNs = `ip netns exec ${ns} "${NODE}" --import tsx "${CLI}"`;
    const pin = '/sys/fs/bpf/lvtoa-ns';
    const script = [
      `mount --bind "${bpffs!.dir}" /sys/fs/bpf || exit 9`,
      `${inNs} load --ebpf --cgroup "${cg!.path}" --pin-dir ${pin} || exit 1`,
      'echo ---',
      `${inNs} status --json --pin-dir ${pin} || exit 2`,
      'echo ---',
      `${inNs} unload --ebpf --cgroup "${cg!.path}" --pin-dir ${pin} || exit 3`,
      'ls /sys/fs/bpf/lvtoa-ns 2>/dev/null && exit 4; exit 0',
    ].join('\n');
    const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: REPO,
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const st = JSON.parse(r.stdout.split('---\n')[1]!) as ToaStatus;
    const e = st.ebpf as EbpfStatus;
    assert.equal(e.loaded, true, JSON.stringify(e));
    assert.equal(e.attached.length, 3, JSON.stringify(e));
    assert.ok(
      e.attached.every((a) => a.cgroup.endsWith(cg!.path)),
      JSON.stringify(e.attached),
    );
    assert.equal(e.orphans.length, 0);
    assert.deepEqual(
      JSON.parse((await run('bpftool', ['-j', 'cgroup', 'show', cg!.path])).stdout.trim() || '[]'),
      [],
      'detached again',
    );
  });
});
