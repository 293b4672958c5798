// `lvsadm toa` arguments, help and messages, without touching the host: the kernel and user
// without what is needed are a fake procfs tree and a uid (ToaSys). Also the parsers (mountinfo,
// /proc/net/toa_stats) and the wiring into src/cli/main.ts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { formatStatus, parseToaArgs, TOA_USAGE, toaStatus } from '../../src/toa/cli.js';
import { parseToaStats } from '../../src/toa/kmod.js';
import { defaultSys, parseMountInfo, type ToaSys } from '../../src/toa/sys.js';
import { met } from '../support/privileges.js';
import { toa } from './support.js';

const STATS = `counter                       total cpu0 cpu1
syn_recv_sock_toa                   3 2 1
syn_recv_sock_no_toa                1 0 1
getname_toa_ok_v4                   1 1 0
getname_toa_ok_v6                   1 0 1
getname_toa_ok_mapped               1 1 0
getname_toa_mismatch                0 0 0
getname_toa_empty                   1 1 0
entry_alloc_fail                    0 0 0
entry_table_full                    0 0 0
entry_freed                         3 2 1
entries                             0
probe_missed                        0
`;

describe('lvsadm toa: arguments and messages', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lvsadm-toa-cli-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** A fake /proc: osrelease, and optionally modules, the BPF sysctl, toa_stats. */
  function fakeProc(
    name: string,
    opts: { modules?: string; bpf?: boolean; stats?: string; release?: string },
  ): string {
    const proc = join(tmp, name);
    mkdirSync(join(proc, 'sys/kernel'), { recursive: true });
    mkdirSync(join(proc, 'net'), { recursive: true });
    writeFileSync(join(proc, 'sys/kernel/osrelease'), `${opts.release ?? 'lvsadm-test-0.0'}\n`);
    if (opts.modules !== undefined) writeFileSync(join(proc, 'modules'), opts.modules);
    if (opts.bpf) writeFileSync(join(proc, 'sys/kernel/unprivileged_bpf_disabled'), '2\n');
    if (opts.stats !== undefined) writeFileSync(join(proc, 'net/toa_stats'), opts.stats);
    return proc;
  }
  const sysWith = (proc: string, uid = 0): ToaSys => ({ ...defaultSys(), proc, uid });

  test('help', async () => {
    for (const args of [['--help'], ['-h'], ['help'], ['load', '--help']]) {
      const r = await toa(args);
      assert.equal(r.code, 0);
      assert.equal(r.out, `${TOA_USAGE}\n`);
    }
    assert.match(TOA_USAGE, /load --ebpf \[--cgroup PATH\] \[--pin-dir DIR\]/);
    assert.match(TOA_USAGE, /build \[--kdir DIR\] \[--out DIR\] \[--strict\]/);
  });

  test('wired into the lvsadm command line (src/cli/main.ts)', async () => {
    let out = '';
    const code = await main(['toa', '--help'], { stdout: { write: (s: string) => (out += s) } });
    assert.equal(code, 0);
    assert.equal(out, `${TOA_USAGE}\n`);
  });

  const usageCases: [string[], RegExp][] = [
    [[], /a command is needed: load, unload, status or build/],
    [['frob'], /unknown command "frob"/],
    [['load', 'unload'], /unexpected argument "unload"/],
    [['load', '--bogus'], /unknown option --bogus/],
    [['load', '--cgroup', '/x'], /--cgroup, --pin-dir and --orphans are for the eBPF reader: load --ebpf/],
    [['unload', '--orphans'], /are for the eBPF reader: unload --ebpf/],
    [['load', '--ebpf', '--module', 'x.ko'], /--module is for the kernel module, not --ebpf/],
    [['load', '--ebpf', '--cgroup'], /--cgroup needs a value/],
    [['load', '--ebpf', '--cgroup='], /--cgroup needs a value/],
    [['load', '--ebpf', '--ebpf'], /--ebpf given twice/],
    [['load', '--ebpf=yes'], /--ebpf takes no value/],
    [['status', '--kdir', '/x'], /--kdir does not go with status/],
    [['build', '--ebpf'], /--ebpf does not go with build/],
    [['build', '--json'], /--json does not go with build/],
  ];
  for (const [args, re] of usageCases) {
    test(`usage error: lvsadm toa ${args.join(' ')}`, async () => {
      const r = await toa(args);
      assert.equal(r.code, 2);
      assert.match(r.err, re);
      assert.match(r.err, /Try `lvsadm toa --help' for more information\.\n$/);
    });
  }

  test('parsed options', () => {
    assert.deepEqual(
      parseToaArgs(['load', '--ebpf', '--cgroup=/sys/fs/cgroup/x', '--pin-dir', '/sys/fs/bpf/t']),
      {
        command: 'load',
        ebpf: true,
        json: false,
        strict: false,
        orphans: false,
        cgroup: '/sys/fs/cgroup/x',
        pinDir: '/sys/fs/bpf/t',
      },
    );
    assert.deepEqual(parseToaArgs(['build', '--kdir', '/k', '--out', '/o', '--strict']), {
      command: 'build',
      ebpf: false,
      json: false,
      strict: true,
      orphans: false,
      kdir: '/k',
      out: '/o',
    });
    assert.equal(parseToaArgs(['status', '--help']), null);
  });

  test('not root: load and unload refuse, for both readers', async () => {
    const sys = sysWith(fakeProc('user', { modules: '', bpf: true }), 1000);
    for (const [args, what] of [
      [['load', '--ebpf'], 'loading the eBPF TOA reader'],
      [['unload', '--ebpf'], 'unloading the eBPF TOA reader'],
      [['load'], 'loading the TOA kernel module'],
      [['unload'], 'unloading the TOA kernel module'],
    ] as const) {
      const r = await toa([...args], sys);
      assert.equal(r.code, 1);
      assert.equal(r.err, `lvsadm toa: ${what} needs root (CAP_SYS_ADMIN and CAP_BPF)\n`);
    }
  });

  test('a kernel without BPF: load --ebpf says so and points to the module', async () => {
    const r = await toa(['load', '--ebpf'], sysWith(fakeProc('nobpf', { modules: '' })));
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /this kernel has no BPF support \(CONFIG_BPF_SYSCALL is off\): use the kernel module/,
    );
  });

  test('a kernel without loadable modules: load and unload say so and suggest --ebpf', async () => {
    const sys = sysWith(fakeProc('nomod', { bpf: true }));
    for (const args of [['load'], ['unload']]) {
      const r = await toa(args, sys);
      assert.equal(r.code, 1);
      assert.equal(
        r.err,
        'lvsadm toa: this kernel (lvsadm-test-0.0) has no loadable module support (CONFIG_MODULES is off): use the eBPF reader, lvsadm toa load --ebpf\n',
      );
    }
  });

  test('this host: status and load agree with its /proc/modules', async (t) => {
    const sys = defaultSys();
    if (!met(t, sys.uid === 0 ? null : 'needs root (the root check comes first)')) return;
    const status = await toa(['status']);
    assert.equal(status.code, 0, status.err);
    if (existsSync('/proc/modules')) {
      // Not `load`: it would load a module built earlier.
      assert.match(status.out, /^kernel module: (not )?loaded$/m);
      return;
    }
    assert.match(status.out, /^kernel module: not possible \(kernel \S+ has no loadable module support\)$/m);
    const r = await toa(['load']);
    assert.equal(r.code, 1);
    assert.match(r.err, /has no loadable module support \(CONFIG_MODULES is off\): use the eBPF reader/);
  });

  test('module not built: load says to run build; already loaded / not loaded are no-ops', async () => {
    const none = sysWith(fakeProc('nomodfile', { modules: 'ext4 1 0 - Live 0x0\n' }));
    const r = await toa(['load'], none);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /no toa\.ko built for lvsadm-test-0\.0 \(.*build\/toa-kmod\/lvsadm-test-0\.0\/toa\.ko\): run lvsadm toa build first/,
    );
    const explicit = await toa(['load', '--module', join(tmp, 'missing.ko')], none);
    assert.equal(explicit.code, 1);
    assert.match(explicit.err, /missing\.ko not found/);
    const un = await toa(['unload'], none);
    assert.deepEqual([un.code, un.out], [0, 'kernel module toa not loaded: nothing to do\n']);
    const loaded = sysWith(fakeProc('loaded', { modules: 'toa 24576 0 - Live 0x0\n' }));
    const again = await toa(['load'], loaded);
    assert.deepEqual([again.code, again.out], [0, 'kernel module toa already loaded\n']);
  });

  test('build without kernel headers names the package; --kdir that is no build directory', async () => {
    const sys = sysWith(fakeProc('noheaders', { modules: '', release: 'lvsadm-test-0.0' }));
    const r = await toa(['build'], sys);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      "lvsadm toa: no kernel headers for lvsadm-test-0.0 (/lib/modules/lvsadm-test-0.0/build is missing): install them (Debian: apt-get install linux-headers-lvsadm-test-0.0, or linux-headers-amd64 for Debian's current kernel) or pass --kdir DIR\n",
    );
    const k = await toa(['build', '--kdir', tmp], sys);
    assert.equal(k.code, 1);
    assert.match(k.err, /is not a kernel build directory \(no Makefile\)/);
  });

  test('status: the kernel module and its /proc/net/toa_stats', async () => {
    const sys = sysWith(fakeProc('stats', { modules: 'toa 24576 0 - Live 0x0\n', stats: STATS }), 1000);
    const s = await toaStatus(sys, '/sys/fs/bpf/lvsadm-toa');
    assert.deepEqual(s.ebpf, { error: 'needs root to inspect BPF programs' });
    assert.equal(s.module.loaded, true);
    assert.equal(s.active, 'module');
    assert.equal(s.module.stats?.syn_recv_sock_toa, 3);
    assert.equal(s.module.stats?.entries, 0);
    const text = formatStatus(s, sys);
    assert.match(
      text,
      /^eBPF reader: unknown \(needs root to inspect BPF programs\)\nkernel module: loaded\n/,
    );
    assert.match(text, /\n {2}getname_toa_ok_mapped 1\n/);
    assert.match(text, /active reader: kernel module\n$/);
    const json = await toa(['status', '--json'], sys);
    assert.equal(json.code, 0);
    assert.equal((JSON.parse(json.out) as { active: string }).active, 'module');
  });

  test('parseToaStats: name and total of each counter', () => {
    const s = parseToaStats(STATS);
    assert.equal(Object.keys(s).length, 12);
    assert.deepEqual([s.syn_recv_sock_toa, s.entry_freed, s.probe_missed], [3, 3, 0]);
  });

  test('parseMountInfo: optional fields, escapes, bind mounts', () => {
    const text = [
      '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755',
      '35 29 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 master:3 - cgroup2 cgroup2 rw',
      '40 23 0:30 /sub /mnt/with\\040space rw - cgroup2 cgroup2 rw',
      '41 23 0:31 / /sys/fs/bpf rw - bpf bpf rw,mode=700',
      'garbage',
    ].join('\n');
    assert.deepEqual(parseMountInfo(text), [
      { root: '/', mountPoint: '/sys/fs/cgroup', fsType: 'tmpfs' },
      { root: '/', mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2' },
      { root: '/sub', mountPoint: '/mnt/with space', fsType: 'cgroup2' },
      { root: '/', mountPoint: '/sys/fs/bpf', fsType: 'bpf' },
    ]);
  });
});
