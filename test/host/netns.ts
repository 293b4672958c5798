// Test support for the host plumbing: network namespaces with DESIGN.md's test network, a TUN
// holder, a plumber in a child process, UDP senders/listeners, sysctl snapshots.
// Traffic goes only to addresses inside the namespaces made here. Every namespace is named
// `lvh-<pid>-<rand>-<role>`; `removeLeftovers()` deletes those of runs whose pid is gone.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rootReason } from '../support/privileges.js';

export const PREFIX = 'lvh-';
const HERE = fileURLToPath(new URL('.', import.meta.url));
const TUN_HOLDER = `${HERE}tun-holder.pl`;
const PLUMBER_CHILD = `${HERE}plumber-child.ts`;

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Why the namespace tests cannot run here, or null (for privileged(), test/support/privileges.ts). */
export function skipReason(): string | null {
  return rootReason('network namespaces, TUN, sysctls');
}

export function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export const ip = (...args: string[]) => run('ip', args);
export const inNs = (ns: string, cmd: string, ...args: string[]) =>
  run('ip', ['netns', 'exec', ns, cmd, ...args]);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces with our prefix left by runs whose process is gone. */
export async function removeLeftovers(): Promise<string[]> {
  const out = await ip('netns', 'list');
  const removed: string[] = [];
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^lvh-(\d+)-/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    await ip('netns', 'del', name).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

export interface Topology {
  client: string;
  lb: string;
  rs: string;
}

/**
 * client eth0 198.51.100.2/24 2001:db8:100::2/64 -- out0 198.51.100.1/24 2001:db8:100::1/64 [lb]
 * [lb] in0 192.0.2.1/24 2001:db8:2::1/64 -- rs eth0 192.0.2.21/24 2001:db8:2::21/64
 * client and rs route everything via the LB.
 */
export class TestNet {
  readonly ns: Topology;
  private readonly all: string[];

  private constructor(base: string) {
    this.ns = { client: `${base}-client`, lb: `${base}-lb`, rs: `${base}-rs` };
    this.all = [this.ns.client, this.ns.lb, this.ns.rs];
  }

  static async create(): Promise<TestNet> {
    const net = new TestNet(`${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    try {
      await net.build();
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  private async build(): Promise<void> {
    const { client, lb, rs } = this.ns;
    for (const n of this.all) {
      await ip('netns', 'add', n);
      await ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    // created in the namespaces directly: no names in the host's namespace
    await ip('-n', lb, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
    await ip('-n', lb, 'link', 'add', 'in0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', rs);
    const addr = async (n: string, dev: string, v4: string, v6: string) => {
      await ip('-n', n, 'addr', 'add', v4, 'dev', dev);
      await ip('-n', n, 'addr', 'add', v6, 'dev', dev, 'nodad');
      await ip('-n', n, 'link', 'set', dev, 'up');
    };
    await addr(client, 'eth0', '198.51.100.2/24', '2001:db8:100::2/64');
    await addr(lb, 'out0', '198.51.100.1/24', '2001:db8:100::1/64');
    await addr(lb, 'in0', '192.0.2.1/24', '2001:db8:2::1/64');
    await addr(rs, 'eth0', '192.0.2.21/24', '2001:db8:2::21/64');
    await ip('-n', client, 'route', 'add', 'default', 'via', '198.51.100.1');
    await ip('-n', client, '-6', 'route', 'add', 'default', 'via', '2001:db8:100::1');
    await ip('-n', rs, 'route', 'add', 'default', 'via', '192.0.2.1');
    await ip('-n', rs, '-6', 'route', 'add', 'default', 'via', '2001:db8:2::1');
  }

  async destroy(): Promise<void> {
    for (const n of this.all) await ip('netns', 'del', n).catch(() => undefined);
  }

  /** MAC address of a device in a namespace. */
  async mac(ns: string, dev: string): Promise<string> {
    const j = JSON.parse(await ip('-n', ns, '-j', 'link', 'show', dev)) as { address: string }[];
    return j[0]!.address;
  }

  /** lladdr of the neighbour entry for `addr` in `ns`, or null. */
  async neighbour(ns: string, addr: string): Promise<string | null> {
    const j = JSON.parse(await ip('-n', ns, '-j', 'neigh', 'show', addr)) as { lladdr?: string }[];
    return j[0]?.lladdr ?? null;
  }

  /** `ip route show proto P` of both families in `ns`, as "dst dev" strings, sorted. */
  async routesWithProto(ns: string, proto: number): Promise<string[]> {
    const out: string[] = [];
    for (const fam of ['-4', '-6']) {
      const j = JSON.parse(await ip('-n', ns, fam, '-j', 'route', 'show', 'proto', String(proto))) as {
        dst: string;
        dev: string;
      }[];
      for (const r of j) out.push(`${r.dst} ${r.dev}`);
    }
    return out.sort();
  }

  /** `ip neigh show proxy` in `ns` as "dst dev" strings, sorted. */
  async proxies(ns: string): Promise<string[]> {
    const j = JSON.parse(await ip('-n', ns, '-j', 'neigh', 'show', 'proxy')) as {
      dst: string;
      dev: string;
    }[];
    return j.map((p) => `${p.dst} ${p.dev}`).sort();
  }
}

/** Every readable value under /proc/sys/net of a namespace: key (path) -> value. */
export async function sysctlSnapshot(ns: string): Promise<Map<string, string>> {
  const script = `
    const fs = require('node:fs'); const out = {};
    const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = d + '/' + e.name;
      if (e.isDirectory()) walk(p);
      else { try { out[p.slice(10)] = fs.readFileSync(p, 'utf8').trim(); } catch {} } } };
    walk('/proc/sys/net/ipv4'); walk('/proc/sys/net/ipv6');
    process.stdout.write(JSON.stringify(out));`;
  const j = JSON.parse(await inNs(ns, process.execPath, '-e', script)) as Record<string, string>;
  return new Map(Object.entries(j));
}

/** Keys whose values differ (or exist in only one), ignoring keys matching `ignore`. */
export function sysctlDiff(a: Map<string, string>, b: Map<string, string>, ignore?: RegExp): string[] {
  const diff: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (ignore?.test(k)) continue;
    if (a.get(k) !== b.get(k)) diff.push(`${k}: ${a.get(k)} -> ${b.get(k)}`);
  }
  return diff.sort();
}

export async function readSysctl(ns: string, key: string): Promise<string> {
  return (await inNs(ns, 'cat', `/proc/sys/${key}`)).trim();
}

export async function writeSysctl(ns: string, key: string, value: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'tee', `/proc/sys/${key}`], `${value}\n`);
}

// ---------------------------------------------------------------------------------------------
// UDP from and to namespaces (node's dgram; no extra tools)

/** Sends one UDP datagram from `ns` to addr:port (IPv4 or IPv6). */
export async function sendUdp(ns: string, addr: string, port: number, text: string): Promise<void> {
  const type = addr.includes(':') ? 'udp6' : 'udp4';
  const script = `const d = require('node:dgram').createSocket('${type}');
    d.send(${JSON.stringify(text)}, ${port}, ${JSON.stringify(addr)}, (e) => { d.close(); if (e) { console.error(e.message); process.exit(1); } });`;
  await inNs(ns, process.execPath, '-e', script);
}

export interface UdpListener {
  /** Resolves with the datagrams received ("text from addr") once `ms` have passed after ready. */
  done: Promise<string[]>;
  ready: Promise<void>;
}

/** Listens on [::]:port in `ns` (IPv4 too) for `ms` milliseconds. */
export function listenUdp(ns: string, port: number, ms: number): UdpListener {
  const script = `const d = require('node:dgram').createSocket({ type: 'udp6' });
    d.on('message', (m, r) => console.log(m.toString() + ' from ' + r.address.replace(/^::ffff:/, '')));
    d.bind(${port}, () => { console.log('ready'); setTimeout(() => process.exit(0), ${ms}); });`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const got: string[] = [];
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l === 'ready') onReady();
    else got.push(l);
  });
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      onReady();
      resolve(got);
    });
  });
  return { done, ready };
}

// ---------------------------------------------------------------------------------------------
// TUN holder (perl, see tun-holder.pl)

export class TunHolder {
  readonly packets: Buffer[] = [];
  private readonly child: ChildProcess;
  private waiters: { pred: (p: Buffer) => boolean; resolve: (p: Buffer) => void }[] = [];
  readonly exited: Promise<number | null>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (!l.startsWith('pkt ')) return;
      const p = Buffer.from(l.slice(4), 'hex');
      this.packets.push(p);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(p)) return true;
        w.resolve(p);
        return false;
      });
    });
  }

  /** Creates TUN `name` in `ns` and holds it open until close(). */
  static async open(ns: string, name: string): Promise<TunHolder> {
    const child = spawn('ip', ['netns', 'exec', ns, 'perl', TUN_HOLDER, name], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const holder = new TunHolder(child);
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (l) => {
        if (l.startsWith('ready ')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`tun-holder ${name} exited with ${code}`)));
    });
    return holder;
  }

  /** Writes one packet into the TUN (the kernel receives it as from the TUN). */
  write(pkt: Uint8Array): void {
    this.child.stdin!.write(`${Buffer.from(pkt).toString('hex')}\n`);
  }

  /** The first packet (already read or still to come) matching `pred`; rejects after `ms`. */
  waitFor(pred: (p: Buffer) => boolean, ms: number, what: string): Promise<Buffer> {
    const seen = this.packets.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (p: Buffer) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no packet ${what} in the TUN within ${ms} ms`));
      }, ms);
      this.waiters.push(w);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    await this.exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The plumber in a child process inside a namespace (plumber-child.ts)

export class PlumberChild {
  readonly log: string[] = [];
  readonly events: { ev: string; hex?: string }[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(ns: string, stateDir: string) {
    this.child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--import', 'tsx', PLUMBER_CHILD, stateDir],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.log.push(l));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const m = JSON.parse(l) as { id?: number; ok?: boolean; result?: unknown; error?: string; ev?: string };
      if (m.ev) {
        this.events.push(m as { ev: string });
        return;
      }
      const p = this.pending.get(m.id!);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', () => {
        for (const p of this.pending.values()) p.reject(new Error('plumber child exited'));
        this.pending.clear();
        resolve();
      }),
    );
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Packets the child's own TUN holder (start with spawnTun) has read, as hex. */
  tunPackets(): string[] {
    return this.events.filter((e) => e.ev === 'pkt').map((e) => e.hex!);
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    await this.exited;
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
