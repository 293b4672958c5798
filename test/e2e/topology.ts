// End-to-end test network (DESIGN.md "Test network") with the real daemon in it.
//
//   client eth0 198.51.100.2/24 2001:db8:100::2/64 (default via the LB)
//      |
//   out0 198.51.100.1/24 2001:db8:100::1/64 [lb: bin/lvsadm daemon on a TUN] br0 192.0.2.1/24 2001:db8:2::1/64
//      |  (bridge ports rs1..rsN)
//   rsK eth0 192.0.2.2K/24 2001:db8:2::2K/64 (no default route: under FULLNAT a RS only ever talks
//      to a LIP, which is on-link thanks to the daemon's proxy ARP/NDP entries)
//
// Every namespace is named `lve<pid>-<hex>-<role>` and the temp dir `<tmpdir>/lve<pid>-*`;
// removeLeftovers() deletes those of runs whose pid is gone (after killing what still runs in
// them). Other tests use the `lvh-` and `lvtio` prefixes: never touched here. destroy() kills
// every process this topology started (and anything else left inside its namespaces), deletes
// the namespaces and the temp dir; it is idempotent and meant for `after` hooks.
// Traffic only ever goes to addresses inside these namespaces.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rootReason } from '../support/privileges.js';

export const PREFIX = 'lve';
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const LVSADM = join(REPO, 'bin/lvsadm');
const NODE = process.execPath;

// ---------------------------------------------------------------------------------------------
// preconditions

/**
 * Why the e2e tests cannot run here, or null. Suites gate on it with privileged() from
 * test/support/privileges.ts: a skip outside CI, a failure with CI=true.
 */
export function skipReason(): string | null {
  return rootReason('network namespaces, TUN, sysctls');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (killed after timeoutMs); never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(new Error(`${cmd}: ${err.message}`)); // could not start it
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 128 + (err.killed ? 9 : 0)) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // a program that exits without reading its stdin must not turn into EPIPE here
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a program; its stdout, or an error with its stderr when it fails. */
export async function runOk(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const ip = (...args: string[]) => runOk('ip', args);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Exclusive section across the test processes of this machine (mkdir lock with owner pid). */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(tmpdir(), `lvsadm-e2e-${name}.lock`);
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        // being created or removed right now
      }
      if (owner > 0 && !pidAlive(owner)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`lock ${dir} held by pid ${owner} for too long`);
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * As root, installs missing tools with scripts/install-test-deps.sh; fails (never skips) when
 * something is still missing afterwards.
 */
export async function ensureTools(): Promise<void> {
  const script = join(REPO, 'scripts/install-test-deps.sh');
  const check = await run('bash', [script, '--check']);
  if (check.code === 0) return;
  await withLock('apt', async () => {
    const r = await run('bash', [script], { timeoutMs: 600_000 });
    if (r.code !== 0)
      throw new Error(`install-test-deps.sh failed (${check.stdout.trim()}):\n${r.stderr}\n${r.stdout}`);
  });
}

function newestMtime(dir: string, pred: (name: string) => boolean): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, pred));
    else if (pred(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** bin/lvsadm runs dist/: builds it (npm run build) when it is missing or older than src/. */
export async function ensureBuilt(): Promise<void> {
  const stale = () => {
    const entry = join(REPO, 'dist/src/cli/main.js');
    if (!existsSync(entry)) return true;
    const src = newestMtime(join(REPO, 'src'), (n) => n.endsWith('.ts') || n.endsWith('.tsx'));
    return src > statSync(entry).mtimeMs;
  };
  if (!stale()) return;
  await withLock('build', async () => {
    if (!stale()) return; // another test file built it meanwhile
    const r = await run('npm', ['run', 'build'], { cwd: REPO, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
  });
  if (!existsSync(join(REPO, 'build/Release/lvsadm_native.node')))
    throw new Error('the native addon is not built: run ./scripts/setup.sh (npm ci builds it)');
}

/**
 * Deletes namespaces and temp dirs with our prefix left by runs whose process is gone, after
 * killing whatever still runs inside those namespaces.
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  const list = await ip('netns', 'list');
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^lve(\d+)-[0-9a-f]+-/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    await killNamespacePids(name);
    await ip('netns', 'del', name).catch(() => undefined);
    removed.push(name);
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^lve(\d+)-/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
    removed.push(join(tmpdir(), name));
  }
  return removed;
}

async function namespacePids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** SIGKILLs every process inside a namespace (all of them started by this test or its run). */
async function killNamespacePids(ns: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = (await namespacePids(ns)).filter((p) => p !== process.pid);
    if (pids.length === 0) return;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(50);
  }
}

/** Namespaces currently present whose name starts with `prefix`. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const list = await ip('netns', 'list');
  return list
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

// ---------------------------------------------------------------------------------------------
// processes

/** A process started inside a namespace: its output lines, its end. */
export class Proc {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];

  constructor(
    readonly what: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        resolve({ code, signal });
      });
      child.on('error', () => resolve({ code: -1, signal: null }));
    });
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (l) => {
        this.lines.push(l);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(l)) return true;
          w.resolve(l);
          return false;
        });
      });
    }
    if (child.stderr) createInterface({ input: child.stderr }).on('line', (l) => this.stderr.push(l));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first output line from index `from` on (seen or to come) matching pred; rejects after ms
   * or if the process exits first.
   */
  waitForLine(pred: (l: string) => boolean, ms: number, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(
            `${this.what}: ${why}; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr.join(' | ')}`,
          ),
        );
      };
      const timer = setTimeout(() => fail(`no matching line within ${ms} ms`), ms);
      const w = {
        pred,
        resolve: (l: string) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(w);
      void this.exited.then(({ code, signal }) => {
        if (!this.waiters.includes(w)) return;
        clearTimeout(timer);
        fail(`exited (${code ?? signal}) before a matching line`);
      });
    });
  }

  /** Writes a line to its stdin. */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Sends a signal and waits for the exit (SIGKILL after 5 s if it does not go). */
  async kill(
    signal: NodeJS.Signals = 'SIGKILL',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      this.child.kill(signal);
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      const r = await this.exited;
      clearTimeout(t);
      return r;
    }
    return this.exited;
  }
}

// ---------------------------------------------------------------------------------------------
// the network

export interface RealServer {
  /** "rs1" ... */
  name: string;
  ns: string;
  v4: string;
  v6: string;
}

export interface LvsadmResult {
  code: number;
  out: string;
  err: string;
}

export interface TopologyOptions {
  /** Number of real servers (default 3). */
  rsCount?: number;
  /** More `lvsadm daemon` options (e.g. --offload). */
  daemonArgs?: string[];
}

let instances = 0;

export class Topology {
  readonly base: string;
  readonly client: string;
  readonly lb: string;
  readonly rs: RealServer[] = [];
  /** Temp dir: control socket, state dir, daemon log, nginx files. */
  readonly tmp: string;
  readonly www: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly tun: string;
  readonly daemonLog: string;
  /** Every process started here (daemon, servers, clients). */
  private readonly procs: Proc[] = [];
  private daemon: Proc | null = null;
  private destroyed = false;

  private constructor(
    rsCount: number,
    /** Extra `lvsadm daemon` options. */
    readonly daemonArgs: string[],
  ) {
    const n = instances++;
    this.base = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
    this.client = `${this.base}-client`;
    this.lb = `${this.base}-lb`;
    for (let i = 1; i <= rsCount; i++) {
      this.rs.push({
        name: `rs${i}`,
        ns: `${this.base}-rs${i}`,
        v4: `192.0.2.${20 + i}`,
        v6: `2001:db8:2::${20 + i}`,
      });
    }
    this.tmp = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
    this.www = join(this.tmp, 'www');
    mkdirSync(this.www);
    this.socket = join(this.tmp, 'lvsadm.sock');
    this.stateDir = join(this.tmp, 'state');
    this.tun = `${PREFIX}${process.pid}t${n}`;
    this.daemonLog = join(this.tmp, 'daemon.log');
  }

  get namespaces(): string[] {
    return [this.client, this.lb, ...this.rs.map((r) => r.ns)];
  }

  /** Builds the network (no daemon yet); on failure everything made so far is removed. */
  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    const t = new Topology(opts.rsCount ?? 3, opts.daemonArgs ?? []);
    try {
      await t.build();
    } catch (e) {
      await t.destroy();
      throw e;
    }
    return t;
  }

  private async build(): Promise<void> {
    for (const n of this.namespaces) {
      await ip('netns', 'add', n);
      await ip('-n', n, 'link', 'set', 'lo', 'up');
      // no duplicate address detection: addresses are usable at once, nothing waits
      await this.sysctl(n, {
        'net/ipv6/conf/all/accept_dad': '0',
        'net/ipv6/conf/default/accept_dad': '0',
      });
    }
    const { client, lb } = this;
    // links are created inside the namespaces: no interface names in the host's namespace
    await ip('-n', lb, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
    await ip(
      '-n',
      lb,
      'link',
      'add',
      'br0',
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
      'mcast_snooping',
      '0',
    );
    await this.addrs(client, 'eth0', '198.51.100.2/24', '2001:db8:100::2/64');
    await this.addrs(lb, 'out0', '198.51.100.1/24', '2001:db8:100::1/64');
    await this.addrs(lb, 'br0', '192.0.2.1/24', '2001:db8:2::1/64');
    await ip('-n', client, 'route', 'add', 'default', 'via', '198.51.100.1');
    await ip('-n', client, '-6', 'route', 'add', 'default', 'via', '2001:db8:100::1');
    for (const r of this.rs) {
      await ip('-n', lb, 'link', 'add', r.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', r.ns);
      await ip('-n', lb, 'link', 'set', r.name, 'master', 'br0');
      await ip('-n', lb, 'link', 'set', r.name, 'up');
      // no default route on purpose: replies go to the LIP, on-link by proxy ARP/NDP
      await this.addrs(r.ns, 'eth0', `${r.v4}/24`, `${r.v6}/64`);
    }
  }

  private async addrs(ns: string, dev: string, v4: string, v6: string): Promise<void> {
    await ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
    await ip('-n', ns, 'addr', 'add', v6, 'dev', dev, 'nodad');
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }

  /** Writes /proc/sys keys (paths like net/ipv4/ip_forward) inside a namespace. */
  async sysctl(ns: string, kv: Record<string, string>): Promise<void> {
    const script = Object.entries(kv)
      .map(([k, v]) => `echo ${v} > /proc/sys/${k}`)
      .join(' && ');
    await runOk('ip', ['netns', 'exec', ns, 'sh', '-c', script]);
  }

  /** Every readable value under /proc/sys/net/ipv{4,6} of a namespace: key -> value. */
  async sysctlSnapshot(ns: string): Promise<Map<string, string>> {
    const script = `
      const fs = require('node:fs'); const out = {};
      const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = d + '/' + e.name;
        if (e.isDirectory()) walk(p);
        else { try { out[p.slice(10)] = fs.readFileSync(p, 'utf8').trim(); } catch {} } } };
      walk('/proc/sys/net/ipv4'); walk('/proc/sys/net/ipv6');
      process.stdout.write(JSON.stringify(out));`;
    const j = JSON.parse(await this.exec(ns, NODE, '-e', script)) as Record<string, string>;
    return new Map(Object.entries(j));
  }

  /** Runs a program inside a namespace to its end. */
  run(ns: string, cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs });
  }

  /** Runs a program inside a namespace; its stdout, or an error with its stderr. */
  async exec(ns: string, cmd: string, ...args: string[]): Promise<string> {
    const r = await this.run(ns, cmd, args);
    if (r.code !== 0)
      throw new Error(`[${ns}] ${cmd} ${args.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running program inside a namespace (killed by destroy()). */
  spawn(ns: string, what: string, cmd: string, args: readonly string[], stdin = false): Proc {
    if (this.destroyed) throw new Error('topology destroyed');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const p = new Proc(what, child);
    this.procs.push(p);
    return p;
  }

  // -------------------------------------------------------------------------------------------
  // the daemon

  /** Starts `bin/lvsadm daemon` in lb and waits until `-L -n` answers. */
  async startDaemon(): Promise<void> {
    if (this.daemon?.running) throw new Error('daemon already running');
    const fd = openSync(this.daemonLog, 'a');
    try {
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          this.lb,
          NODE,
          LVSADM,
          'daemon',
          '--socket',
          this.socket,
          '--state-dir',
          this.stateDir,
          '--tun',
          this.tun,
          ...this.daemonArgs,
        ],
        { stdio: ['ignore', fd, fd] },
      );
      this.daemon = new Proc('lvsadm daemon', child);
      this.procs.push(this.daemon);
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.daemon.running)
        throw new Error(`the daemon exited during start-up:\n${this.daemonLogText()}`);
      const r = await this.lvsadm('-L', '-n');
      if (r.code === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `the daemon did not answer -L -n within 30 s (${r.err.trim()}):\n${this.daemonLogText()}`,
        );
      await sleep(100);
    }
  }

  /**
   * Runs another `lvsadm daemon` in lb to its end (a refused start ends at once), e.g. to check
   * that it will not share this daemon's state dir or socket.
   */
  secondDaemon(socket: string, stateDir: string, tun: string): Promise<RunResult> {
    return this.run(
      this.lb,
      NODE,
      [LVSADM, 'daemon', '--socket', socket, '--state-dir', stateDir, '--tun', tun],
      15_000,
    );
  }

  get daemonPid(): number {
    return this.daemon?.pid ?? -1;
  }

  /** Signals the daemon and waits for it to exit; its exit code and signal. */
  async killDaemon(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const d = this.daemon;
    if (!d) throw new Error('no daemon started');
    if (!d.running) return d.exited;
    d.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 20_000);
    });
    const r = await Promise.race([d.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      d.child.kill('SIGKILL');
      throw new Error(`the daemon did not exit within 20 s of ${signal}:\n${this.daemonLogText()}`);
    }
    return r;
  }

  /** Starts the daemon again with the same socket, state dir and TUN name. */
  async restartDaemon(): Promise<void> {
    if (this.daemon?.running) await this.killDaemon('SIGTERM');
    await this.startDaemon();
  }

  daemonLogText(): string {
    try {
      return readFileSync(this.daemonLog, 'utf8');
    } catch {
      return '(no daemon log)';
    }
  }

  /** Runs bin/lvsadm with LVSADM_SOCKET set (from the host: the socket is a file). */
  async lvsadm(...args: string[]): Promise<LvsadmResult> {
    const r = await run(NODE, [LVSADM, ...args], {
      env: { ...process.env, LVSADM_SOCKET: this.socket },
      timeoutMs: 20_000,
    });
    return { code: r.code, out: r.stdout, err: r.stderr };
  }

  /** bin/lvsadm that must succeed: its stdout (stderr may only warn of a service without LIP). */
  async lvsadmOk(...args: string[]): Promise<string> {
    const r = await this.lvsadm(...args);
    if (r.code !== 0 || r.err.replace(/^lvsadm: warning: .* has no local address yet: .*\n/gm, '') !== '')
      throw new Error(
        `lvsadm ${args.join(' ')} -> exit ${r.code}: ${r.err.trim()}\ndaemon log:\n${this.daemonLogText()}`,
      );
    return r.out;
  }

  // -------------------------------------------------------------------------------------------
  // servers on the real servers

  /**
   * nginx on a RS: its own config (daemon off, one process, pid and log in the temp dir),
   * listening on port 80 of the RS's own addresses only; serves this.www and answers /name with
   * the RS's name.
   */
  async startNginx(r: RealServer): Promise<Proc> {
    const dir = join(this.tmp, `nginx-${r.name}`);
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'nginx.conf');
    const temp = (k: string) => `${k}_temp_path ${join(dir, k)};`;
    writeFileSync(
      conf,
      [
        'daemon off;',
        'master_process off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} warn;`,
        'events { worker_connections 1024; }',
        'http {',
        '  access_log off;',
        `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
        '  default_type application/octet-stream;',
        '  sendfile on;',
        '  keepalive_timeout 65;',
        '  server {',
        `    listen ${r.v4}:80;`,
        `    listen [${r.v6}]:80;`,
        `    root ${this.www};`,
        `    location = /name { default_type text/plain; return 200 "${r.name}\\n"; }`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const p = this.spawn(r.ns, `nginx on ${r.name}`, 'nginx', [
      '-c',
      conf,
      '-p',
      `${dir}/`,
      '-e',
      join(dir, 'error.log'),
    ]);
    // ready when it answers on its own address (from inside the RS: no LB involved)
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!p.running)
        throw new Error(
          `nginx on ${r.name} exited: ${p.stderr.join('\n')}\n${this.readFile(join(dir, 'error.log'))}`,
        );
      const c = await this.run(r.ns, 'curl', ['-sS', '-m', '2', `http://${r.v4}/name`]);
      if (c.code === 0 && c.stdout === `${r.name}\n`) return p;
      if (Date.now() > deadline) throw new Error(`nginx on ${r.name} not answering: ${c.stderr}`);
      await sleep(50);
    }
  }

  /** The peer-address HTTP server (fixtures/peer-server.mjs) on a RS, on both its addresses. */
  async startPeerServer(r: RealServer, port: number): Promise<Proc> {
    const p = this.spawn(r.ns, `peer-server on ${r.name}`, NODE, [
      join(FIXTURES, 'peer-server.mjs'),
      r.name,
      String(port),
      r.v4,
      r.v6,
    ]);
    await p.waitForLine((l) => l === 'ready', 15_000);
    return p;
  }

  /** The UDP echo (fixtures/udp-echo.mjs) on a RS, on both its addresses. */
  async startUdpEcho(r: RealServer, port: number): Promise<Proc> {
    const p = this.spawn(r.ns, `udp-echo on ${r.name}`, NODE, [
      join(FIXTURES, 'udp-echo.mjs'),
      r.name,
      String(port),
      r.v4,
      r.v6,
    ]);
    await p.waitForLine((l) => l === 'ready', 15_000);
    return p;
  }

  // -------------------------------------------------------------------------------------------
  // clients

  /** fixtures/udp-client.mjs in the client namespace: one parsed answer per datagram. */
  async udpClient(
    addr: string,
    port: number,
    count: number,
    oneSocket = false,
  ): Promise<{ from: string; text: string; tries: number }[]> {
    const args = [join(FIXTURES, 'udp-client.mjs'), addr, String(port), String(count)];
    if (oneSocket) args.push('--one-socket');
    const r = await this.run(this.client, NODE, args, 60_000);
    if (r.code !== 0) throw new Error(`udp-client ${addr}:${port} -> exit ${r.code}: ${r.stderr}`);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { from: string; text: string; tries: number });
  }

  /** fixtures/hold-client.mjs in the client namespace: a TCP connection held open. */
  async holdClient(host: string, port: number): Promise<HeldConnection> {
    const p = this.spawn(
      this.client,
      `hold-client ${host}:${port}`,
      NODE,
      [join(FIXTURES, 'hold-client.mjs'), host, String(port)],
      true,
    );
    const l = await p.waitForLine((x) => x.startsWith('connected '), 15_000);
    return new HeldConnection(p, Number(l.split(' ')[1]));
  }

  /**
   * curl in the client namespace for `url`, the body streamed into sha256 here (no copy on disk);
   * curl's own limit `-m timeoutS`.
   */
  download(
    url: string,
    timeoutS: number,
  ): Promise<{ code: number; bytes: number; sha256: string; stderr: string }> {
    const child = spawn(
      'ip',
      ['netns', 'exec', this.client, 'curl', '-sS', '-g', '--fail', '-m', String(timeoutS), '-o', '-', url],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p = new Proc(`curl ${url}`, child);
    this.procs.push(p);
    const hash = createHash('sha256');
    let bytes = 0;
    child.stdout!.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    return p.exited.then(({ code }) => ({
      code: code ?? -1,
      bytes,
      sha256: hash.digest('hex'),
      stderr: p.stderr.join('\n'),
    }));
  }

  /** A file of random bytes in this.www (served by every nginx); its sha256. */
  makeRandomFile(name: string, bytes: number): string {
    const hash = createHash('sha256');
    const fd = openSync(join(this.www, name), 'w');
    try {
      const chunk = 1 << 20;
      for (let done = 0; done < bytes; done += chunk) {
        const b = randomBytes(Math.min(chunk, bytes - done));
        hash.update(b);
        writeFileSync(fd, b);
      }
    } finally {
      closeSync(fd);
    }
    return hash.digest('hex');
  }

  private readFile(p: string): string {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  }

  // -------------------------------------------------------------------------------------------
  // teardown

  /** Pids of the processes started here that still run. */
  livePids(): number[] {
    return this.procs.filter((p) => p.running).map((p) => p.pid);
  }

  /**
   * Kills every process started here (and whatever else runs inside the namespaces), deletes the
   * namespaces (links and routes go with them) and the temp dir. Safe to call more than once.
   */
  async destroy(): Promise<void> {
    this.destroyed = true;
    for (const p of this.procs) if (p.running) p.child.kill('SIGKILL');
    await Promise.all(this.procs.map((p) => p.exited));
    for (const n of this.namespaces) {
      await killNamespacePids(n);
      await ip('netns', 'del', n).catch(() => undefined);
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /**
   * destroy(), then proof that nothing is left: no namespace of this run, none of the processes
   * it started (nor any it still counted as running), no temp dir. Every suite ends with it.
   */
  async destroyAndCheck(): Promise<void> {
    const pids = this.livePids();
    await this.destroy();
    const leftNamespaces = await namespacesWithPrefix(this.base);
    if (leftNamespaces.length > 0) throw new Error(`namespaces left: ${leftNamespaces.join(' ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 0);
        throw new Error(`pid ${pid} still runs`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
    if (this.livePids().length > 0) throw new Error(`processes left: ${this.livePids().join(' ')}`);
    if (existsSync(this.tmp)) throw new Error(`temp dir ${this.tmp} left`);
  }
}

/** A TCP connection from the client held open by fixtures/hold-client.mjs. */
export class HeldConnection {
  constructor(
    readonly proc: Proc,
    /** The client-side port (the connection's identity in `-L -n -c`). */
    readonly localPort: number,
  ) {}

  /** One HTTP request on this same connection; the response body. */
  async get(): Promise<string> {
    const before = this.proc.lines.length;
    this.proc.send('get');
    const l = await this.proc.waitForLine((x) => x.startsWith('body '), 15_000, before);
    return l.slice(5);
  }

  /** Closes the connection (client side first) and waits for the client to exit. */
  async close(): Promise<number | null> {
    this.proc.child.stdin?.end();
    const r = await this.proc.exited;
    return r.code;
  }
}

// ---------------------------------------------------------------------------------------------
// parsing lvsadm output

export interface StatsLine {
  /** "TCP  203.0.113.10:80" for a service, "192.0.2.21:80" for a real server. */
  key: string;
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

/** `-L -n --stats --exact`: per service its line and its real servers' lines. */
export function parseStats(out: string): { svc: StatsLine; dests: StatsLine[] }[] {
  const res: { svc: StatsLine; dests: StatsLine[] }[] = [];
  for (const line of out.split('\n').slice(3)) {
    if (line.trim() === '') continue;
    const m = /^(?: {2}-> (\S+)|(TCP|UDP) +(\S+))\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) throw new Error(`unexpected --stats line: ${JSON.stringify(line)}`);
    const s: StatsLine = {
      key: m[1] ?? `${m[2]}  ${m[3]}`,
      conns: Number(m[4]),
      inPkts: Number(m[5]),
      outPkts: Number(m[6]),
      inBytes: Number(m[7]),
      outBytes: Number(m[8]),
    };
    if (m[1]) res.at(-1)!.dests.push(s);
    else res.push({ svc: s, dests: [] });
  }
  return res;
}

export interface ListedDest {
  addr: string;
  forward: string;
  weight: number;
  active: number;
  inactive: number;
}

/** `-L -n`: per service line its real servers. */
export function parseList(out: string): Map<string, ListedDest[]> {
  const res = new Map<string, ListedDest[]>();
  let cur: ListedDest[] | null = null;
  for (const line of out.split('\n').slice(3)) {
    if (line.trim() === '') continue;
    const d = /^ {2}-> (\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (d) {
      cur!.push({
        addr: d[1]!,
        forward: d[2]!,
        weight: Number(d[3]),
        active: Number(d[4]),
        inactive: Number(d[5]),
      });
      continue;
    }
    const s = /^(TCP|UDP) +(\S+)/.exec(line);
    if (!s) throw new Error(`unexpected -L -n line: ${JSON.stringify(line)}`);
    cur = [];
    res.set(`${s[1]} ${s[2]}`, cur);
  }
  return res;
}

/** Counts of each distinct value. */
export function tally(values: readonly string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const v of values) t[v] = (t[v] ?? 0) + 1;
  return t;
}

export interface ListedConn {
  proto: string;
  state: string;
  source: string;
  virtual: string;
  destination: string;
  local: string;
}

/** `-L -n -c --show-laddr`: one entry per connection (the local address column included). */
export function parseConns(out: string): ListedConn[] {
  const res: ListedConn[] = [];
  for (const line of out.split('\n').slice(2)) {
    if (line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    if (f.length !== 7) throw new Error(`unexpected -L -n -c line: ${JSON.stringify(line)}`);
    res.push({ proto: f[0]!, state: f[2]!, source: f[3]!, virtual: f[4]!, destination: f[5]!, local: f[6]! });
  }
  return res;
}
