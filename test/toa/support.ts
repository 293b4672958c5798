// Test support for the TOA readers: a child cgroup (v2) per test, a private BPF file system for
// the pins, a real-server namespace, `lvsadm toa` run in-process, tools installed when missing.
//
// Names carry the test process's pid: `lvsadm-toa-test-<pid>-<hex>` (cgroups),
// `lvsadm-toa-bpffs-<pid>-*` (temp dirs with a bpffs mounted), `lvtoa<pid>-<hex>-*` (namespaces).
// removeToaLeftovers() removes those of runs whose pid is gone. Nothing is ever attached to the
// root cgroup: every test attaches to its own child cgroup and removes it afterwards.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroup2Root } from '../../src/toa/cgroup.js';
import { toaMain } from '../../src/toa/cli.js';
import { TOA_PROGS } from '../../src/toa/ebpf.js';
import { defaultSys, findProgram, type ToaSys } from '../../src/toa/sys.js';
import { Proc, REPO, run, runOk, sleep, withLock } from '../e2e/topology.js';
import { rootReason } from '../support/privileges.js';

export { Proc, REPO, run, runOk, sleep };

export const NODE = process.execPath;

/** Why the TOA reader tests cannot run here, or null (for privileged(), test/support/privileges.ts). */
export function rootSkipReason(): string | null {
  return rootReason('cgroups, BPF, network namespaces');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- tools ----------------------------------------------------------------------------------------

/** As root, installs what scripts/install-toa-deps.sh finds missing; fails if still missing. */
export async function ensureToaDeps(): Promise<void> {
  const script = join(REPO, 'scripts/install-toa-deps.sh');
  const check = await run('bash', [script, '--check']);
  if (check.code === 0) return;
  await withLock('apt', async () => {
    const r = await run('bash', [script], { timeoutMs: 900_000 });
    if (r.code !== 0)
      throw new Error(`install-toa-deps.sh failed (${check.stdout.trim()}):\n${r.stderr}\n${r.stdout}`);
  });
}

export function bpftool(): string {
  const p = findProgram('bpftool', process.env);
  if (!p) throw new Error('bpftool missing');
  return p;
}

// ---- lvsadm toa in-process ------------------------------------------------------------------------

export interface ToaResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `lvsadm toa ARGS` in this process (sys: a changed system view, default the real one). */
export async function toa(args: string[], sys: ToaSys = defaultSys()): Promise<ToaResult> {
  let out = '';
  let err = '';
  const io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: process.env,
  };
  const code = await toaMain(args, io, sys);
  return { code, out, err };
}

/** `lvsadm toa` that must succeed: its stdout. */
export async function toaOk(args: string[]): Promise<string> {
  const r = await toa(args);
  if (r.code !== 0) throw new Error(`lvsadm toa ${args.join(' ')} -> ${r.code}: ${r.err}`);
  return r.out;
}

// ---- cgroup ---------------------------------------------------------------------------------------

const CG_PREFIX = 'lvsadm-toa-test-';

/** A child cgroup of the cgroup v2 root, made for one test. */
export class TestCgroup {
  private constructor(readonly path: string) {}

  static create(): TestCgroup {
    const root = cgroup2Root(defaultSys());
    if (!root) throw new Error('no cgroup v2 mounted on this host');
    const path = join(root, `${CG_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    mkdirSync(path);
    return new TestCgroup(path);
  }

  /** Moves a process into this cgroup. */
  add(pid: number): void {
    writeFileSync(join(this.path, 'cgroup.procs'), String(pid));
  }

  pids(): number[] {
    try {
      return readFileSync(join(this.path, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  /** Kills what is left inside, detaches what is attached, removes the cgroup. Idempotent. */
  async destroy(): Promise<void> {
    await destroyCgroup(this.path);
  }
}

async function destroyCgroup(path: string): Promise<void> {
  if (!existsSync(path)) return;
  for (let round = 0; round < 50; round++) {
    const pids = readFileSync(join(path, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
    if (pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(50);
  }
  const tool = findProgram('bpftool', process.env);
  if (tool) {
    const r = await run(tool, ['-j', 'cgroup', 'show', path]);
    if (r.code === 0 && r.stdout.trim() !== '') {
      for (const p of JSON.parse(r.stdout) as { id: number; attach_type: string; name: string }[]) {
        const prog = TOA_PROGS.find((x) => x.name === p.name);
        if (prog) await run(tool, ['cgroup', 'detach', path, prog.attach, 'id', String(p.id)]);
      }
    }
  }
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(path);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await sleep(50);
    }
  }
  rmdirSync(path);
}

// ---- bpffs ----------------------------------------------------------------------------------------

const BPFFS_PREFIX = 'lvsadm-toa-bpffs-';

/** A BPF file system of its own, mounted on a temp dir (pins made there go with the unmount). */
export class TestBpffs {
  private constructor(readonly dir: string) {}

  static async create(): Promise<TestBpffs> {
    const dir = mkdtempSync(join(tmpdir(), `${BPFFS_PREFIX}${process.pid}-`));
    if (dir.includes('.')) throw new Error(`temp dir ${dir} has a dot: libbpf would rewrite it`);
    await runOk('mount', ['-t', 'bpf', 'bpf', dir]);
    return new TestBpffs(dir);
  }

  /** A pin directory inside it (not created). */
  pinDir(name = 'lvsadm-toa'): string {
    return join(this.dir, name);
  }

  async destroy(): Promise<void> {
    await destroyBpffs(this.dir);
  }
}

async function destroyBpffs(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  await run('umount', [dir]);
  try {
    rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

// ---- the real-server namespace --------------------------------------------------------------------

export const NS_PREFIX = 'lvtoa';

/** A network namespace with the RS addresses on lo; processes started here are killed by destroy(). */
export class RsNamespace {
  readonly procs: Proc[] = [];

  private constructor(readonly ns: string) {}

  static async create(): Promise<RsNamespace> {
    const ns = `${NS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}-rs`;
    await runOk('ip', ['netns', 'add', ns]);
    const r = new RsNamespace(ns);
    try {
      await r.exec('sh', [
        '-c',
        'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad',
      ]);
      await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await runOk('ip', ['-n', ns, 'addr', 'add', '192.0.2.21/32', 'dev', 'lo']);
      await runOk('ip', ['-n', ns, 'addr', 'add', '2001:db8:2::21/128', 'dev', 'lo', 'nodad']);
    } catch (e) {
      await r.destroy();
      throw e;
    }
    return r;
  }

  async exec(cmd: string, args: string[]): Promise<string> {
    return runOk('ip', ['netns', 'exec', this.ns, cmd, ...args]);
  }

  spawn(what: string, cmd: string, args: string[]): Proc {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', this.ns, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const p = new Proc(what, child);
    this.procs.push(p);
    return p;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) if (p.running) p.child.kill('SIGKILL');
    await Promise.all(this.procs.map((p) => p.exited));
    await killNamespace(this.ns);
  }
}

async function killNamespace(ns: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const r = await run('ip', ['netns', 'pids', ns]);
    const pids = r.stdout
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
    if (r.code !== 0 || pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(50);
  }
  await run('ip', ['netns', 'del', ns]);
}

/**
 * The peer-server fixture inside `cgroup` (or none) in namespace `rs`: started, moved into the
 * cgroup before it opens a socket, listening once this resolves.
 */
export async function startPeerServer(
  spawnIn: (what: string, cmd: string, args: string[]) => Proc,
  cgroup: TestCgroup | null,
  port4: number,
  port6: number,
): Promise<Proc> {
  const p = spawnIn(`peer-server ${port4}/${port6}`, NODE, [
    join(REPO, 'test/toa/fixtures/peer-server.mjs'),
    String(port4),
    String(port6),
  ]);
  // `ip netns exec` execs node in the same process: moving the pid moves the server
  if (cgroup) {
    for (let i = 0; i < 100 && p.pid < 0; i++) await sleep(10);
    cgroup.add(p.pid);
  }
  p.send('go');
  await p.waitForLine((l) => l === 'ready', 15_000);
  return p;
}

export interface PeerLine {
  line: string;
  address: string;
  port: number;
  sock: 4 | 6;
}

/** The peer-server's report for the connection whose first line is `line`. */
export async function peerReport(server: Proc, line: string, ms = 10_000): Promise<PeerLine> {
  const l = await server.waitForLine(
    (x) => x.startsWith('{') && (JSON.parse(x) as PeerLine).line === line,
    ms,
  );
  return JSON.parse(l) as PeerLine;
}

// ---- leftovers --------------------------------------------------------------------------------------

/** Removes cgroups, bpffs mounts and namespaces of test runs whose process is gone. */
export async function removeToaLeftovers(): Promise<void> {
  const root = cgroup2Root(defaultSys());
  if (root) {
    for (const name of readdirSync(root)) {
      const m = new RegExp(`^${CG_PREFIX}(\\d+)-`).exec(name);
      if (m && !pidAlive(Number(m[1]))) await destroyCgroup(join(root, name));
    }
  }
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${BPFFS_PREFIX}(\\d+)-`).exec(name);
    if (m && !pidAlive(Number(m[1]))) await destroyBpffs(join(tmpdir(), name));
  }
  const list = await run('ip', ['netns', 'list']);
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name);
    if (m && !pidAlive(Number(m[1]))) await killNamespace(name);
  }
}
