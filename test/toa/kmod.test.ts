// The TOA kernel module: `lvsadm toa build --strict` compiles it without a warning (W=1) against
// Debian's linux-headers-amd64, and test/toa/qemu/run.sh boots Debian's matching kernel under
// qemu (TCG) behind `lvsadm daemon`: the module loads, /proc/net/toa_stats exists, getpeername()
// reports the TOA client (IPv4, IPv4 on an IPv6 socket, IPv6), the counters add up, it unloads;
// then the embedded eBPF reader, loaded with bpftool in the guest, does the same on that kernel.
// Root only (else skipped; failed under CI=true); as root, missing packages are installed. The
// qemu run takes a minute or two the first time (kernel image download), bounded at 10 minutes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuilt, ensureTools } from '../e2e/topology.js';
import { privileged } from '../support/privileges.js';
import { ensureToaDeps, REPO, rootSkipReason, run, runOk, toa } from './support.js';

const { describe } = privileged(rootSkipReason());

/** The kernel ABI linux-headers-amd64 points to, e.g. 6.1.0-56-amd64. */
async function debianKernel(): Promise<{ release: string; kdir: string }> {
  const out = await runOk('apt-cache', ['depends', 'linux-headers-amd64']);
  const m = /Depends: linux-headers-(\S+)/.exec(out);
  if (!m) throw new Error(`apt-cache depends linux-headers-amd64: ${out}`);
  return { release: m[1]!, kdir: `/usr/src/linux-headers-${m[1]!}` };
}

describe('TOA kernel module', { timeout: 900_000 }, () => {
  let tmp = '';
  let ko = '';
  let kernel: { release: string; kdir: string };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'lvsadm-toa-kmod-'));
    await ensureToaDeps();
    kernel = await debianKernel();
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('lvsadm toa build --strict: no warning with W=1 against linux-headers-amd64', async () => {
    const out = join(tmp, 'kmod');
    const r = await toa(['build', '--kdir', kernel.kdir, '--out', out, '--strict']);
    assert.equal(r.code, 0, r.err);
    ko = join(out, 'toa.ko');
    assert.equal(r.out, `built ${ko} for ${kernel.release}\n`);
    assert.ok(existsSync(ko));
    const info = await runOk('modinfo', [ko]);
    assert.match(info, new RegExp(`^vermagic:\\s+${kernel.release.replace(/\./g, '\\.')} SMP`, 'm'));
    assert.match(info, /^license:\s+Dual MIT\/GPL$/m);
    // nothing beyond the GPL-exported symbols of the kprobe, proc and seq_file APIs
    const undef = await runOk('nm', ['-u', ko]);
    assert.doesNotMatch(
      undef,
      /kallsyms_lookup_name/,
      'kallsyms_lookup_name is found at run time, not linked',
    );
  });

  test('qemu: Debian kernel behind lvsadm daemon: module and eBPF reader report the TOA client', async () => {
    assert.ok(ko !== '', 'built by the previous test');
    await ensureTools();
    await ensureBuilt();
    const r = await run('bash', [join(REPO, 'test/toa/qemu/run.sh'), '--ko', ko, '--timeout', '420'], {
      timeoutMs: 600_000,
    });
    const results = Object.fromEntries(
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('RESULT '))
        .map((l) => {
          const kv = l.slice(7);
          return [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)];
        }),
    );
    assert.equal(r.code, 0, `run.sh failed:\n${r.stdout}\n${r.stderr}`);
    assert.equal(results.kernel, kernel.release);
    assert.match(results.plain!, /^peer 192\.0\.2\.200 \d+ sock=4 accept=same$/, 'no module: the LIP');
    assert.equal(results.insmod, 'ok');
    assert.equal(results.stats, 'present');
    assert.equal(results['v4-on-v4-socket'], 'peer 198.51.100.2 42001 sock=4 accept=same');
    assert.equal(results['v4-on-v6-socket'], 'peer ::ffff:198.51.100.2 42002 sock=6 accept=same');
    assert.equal(results['v6-on-v6-socket'], 'peer 2001:db8:100::2 42003 sock=6 accept=same');
    assert.equal(results['no-toa-direct'], 'peer 192.0.2.1 42004 sock=4 accept=same');
    assert.equal(results['stat.syn_recv_sock_toa'], '3');
    assert.equal(results['stat.entries'], '0', 'entries freed with their sockets');
    assert.equal(results['stat.probe_missed'], '0');
    assert.equal(results.rmmod, 'ok');
    assert.equal(results['stats-after-rmmod'], 'gone');
    assert.match(results.after!, /^peer 192\.0\.2\.200 \d+ sock=4 accept=same$/, 'unloaded: the LIP again');
    // the eBPF reader on Debian's kernel too (the embedded object, attached to a cgroup in the guest)
    assert.equal(results['ebpf-load'], 'ok');
    assert.equal(results['ebpf-attach'], 'ok');
    assert.equal(results['ebpf-v4-on-v4-socket'], 'peer 198.51.100.2 44001 sock=4 accept=same');
    assert.equal(results['ebpf-v4-on-v6-socket'], 'peer ::ffff:198.51.100.2 44002 sock=6 accept=same');
    assert.equal(results['ebpf-v6-on-v6-socket'], 'peer 2001:db8:100::2 44003 sock=6 accept=same');
    assert.match(r.stdout, /^ok kernel-log$/m, 'no BUG/Oops/WARNING in the guest');
    assert.match(r.stdout, /^ALL OK$/m);
  });
});
