// Helpers for the SYNPROXY flood and TOA capture end-to-end tests, on top of topology.ts (which
// stays as it is): packet captures with tcpdump inside a test namespace, read back with the
// project's pcap reader and the test decoder; the daemon's engine counters; a process's RSS.
// Everything started here goes through Topology.spawn / Topology.run, so Topology.destroy()
// kills it and removes its files with the namespaces and the temp dir.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { type PcapFile, readPcap } from '../../src/io/pcap.js';
import type { TcpOption } from '../support/packet-builder.js';
import { type DecodedPacket, decodePacket } from '../support/packet-decoder.js';
import { type Proc, sleep, type Topology } from './topology.js';

// ---------------------------------------------------------------------------------------------
// captures

/** A tcpdump writing a pcap file inside a namespace: bounded by a packet count and a time limit. */
export class Capture {
  private constructor(
    readonly net: Topology,
    readonly proc: Proc,
    readonly file: string,
  ) {}

  /**
   * Starts `tcpdump -i dev -w file filter` in `ns`, stopping by itself after `maxPackets` packets
   * or `maxSeconds`, and resolves once tcpdump listens (so nothing sent afterwards is missed).
   * `--immediate-mode` hands each packet to tcpdump at once (else packets still in the ring's
   * current block are lost on SIGINT: "10 received by filter, 0 captured"), `-U` writes each
   * packet at once; `-Z root` keeps tcpdump from dropping privileges (it could
   * not write into the 0700 temp dir then); the file name ends in .pcap, which tcpdump's AppArmor
   * profile (where one is enforced) allows writing. `snaplen` (bytes kept per packet) and
   * `bufferKiB` (tcpdump -B) keep a capture of a fast transfer from losing packets in the kernel.
   */
  static async start(
    net: Topology,
    ns: string,
    dev: string,
    filter: string,
    name: string,
    maxPackets = 1000,
    maxSeconds = 30,
    opts: { snaplen?: number; bufferKiB?: number } = {},
  ): Promise<Capture> {
    const file = join(net.tmp, `${name}.pcap`);
    const p = net.spawn(ns, `tcpdump ${name}`, 'timeout', [
      '-s',
      'INT',
      String(maxSeconds),
      'tcpdump',
      '-n',
      '--immediate-mode',
      '-U',
      '-Z',
      'root',
      ...(opts.snaplen !== undefined ? ['-s', String(opts.snaplen)] : []),
      ...(opts.bufferKiB !== undefined ? ['-B', String(opts.bufferKiB)] : []),
      '-i',
      dev,
      '-c',
      String(maxPackets),
      '-w',
      file,
      filter,
    ]);
    const deadline = Date.now() + 15_000;
    while (!p.stderr.some((l) => l.includes('listening on'))) {
      if (!p.running) throw new Error(`tcpdump ${name} exited: ${p.stderr.join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`tcpdump ${name} not listening: ${p.stderr.join(' | ')}`);
      await sleep(20);
    }
    return new Capture(net, p, file);
  }

  /** Stops tcpdump (SIGINT: it writes what it has) and reads the file. */
  async stop(): Promise<PcapFile> {
    // packets already handed to the socket are written with -U; give the last one a moment
    await sleep(200);
    await this.proc.kill('SIGINT');
    return this.read();
  }

  /** tcpdump's own summary ("N packets captured", "M packets dropped by kernel"). */
  get summary(): string {
    return this.proc.stderr.filter((l) => /packets? (captured|received|dropped)/.test(l)).join('; ');
  }

  read(): PcapFile {
    if (!existsSync(this.file))
      throw new Error(`no capture file ${this.file}: ${this.proc.stderr.join(' | ')}`);
    return readPcap(this.file);
  }

  /** The captured packets, decoded. */
  async stopAndDecode(): Promise<DecodedPacket[]> {
    const f = await this.stop();
    assertCleanCapture(f, this.file);
    return f.records.map((r) => decodePacket(r.data));
  }
}

function assertCleanCapture(f: PcapFile, file: string): void {
  if (f.truncated) throw new Error(`${file}: capture cut off inside a record`);
}

/** TCP packets of a decoded capture, with their TCP part present. */
export function tcpPackets(
  pkts: readonly DecodedPacket[],
): (DecodedPacket & { tcp: NonNullable<DecodedPacket['tcp']> })[] {
  return pkts.filter((p): p is DecodedPacket & { tcp: NonNullable<DecodedPacket['tcp']> } => !!p.tcp?.flags);
}

/** The TOA options of a segment (kind 254). */
export function toaOptions(p: DecodedPacket): Extract<TcpOption, { kind: 'toa' }>[] {
  return (p.tcp?.options ?? []).filter((o): o is Extract<TcpOption, { kind: 'toa' }> => o.kind === 'toa');
}

/** The MSS option value of a segment, or undefined. */
export function mssOf(p: DecodedPacket): number | undefined {
  const o = (p.tcp?.options ?? []).find((x): x is Extract<TcpOption, { kind: 'mss' }> => x.kind === 'mss');
  return o?.value;
}

/** One line per packet, for assertion messages. */
export function describePackets(pkts: readonly DecodedPacket[]): string {
  return pkts
    .map((p) => {
      const t = p.tcp;
      if (!t) return `${p.src} > ${p.dst} proto ${p.proto}`;
      const opts = (t.options ?? [])
        .map((o) => {
          switch (o.kind) {
            case 'mss':
              return `mss ${o.value}`;
            case 'toa':
              return `toa ${o.addr}:${o.port}`;
            default:
              return o.kind;
          }
        })
        .join(',');
      return `${p.src}:${t.sport} > ${p.dst}:${t.dport} [${t.flags}] seq ${t.seq} ack ${t.ack} len ${t.payloadLength} <${opts}>`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// the daemon

/** Where engineCounters() found the counters (for the reports). */
export let countersSource: 'lvsadm -L --ext-stats' | 'control socket' | '' = '';

/**
 * Parses a counters listing: one counter per line, its name first (lower case with underscores,
 * a trailing colon allowed) and its value last (per-CPU columns before a total: the last number).
 * Lines of another shape (titles) are ignored.
 */
export function parseExtStats(out: string): Record<string, number> {
  const res: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    const name = f[0]!.replace(/:$/, '');
    const last = f.at(-1)!;
    if (/^[a-z][a-z0-9_]*$/.test(name) && /^\d+$/.test(last)) res[name] = Number(last);
  }
  return res;
}

/**
 * The engine's counters by name (rx_pkts, synproxy_syn_cookie, synproxy_ack_ok,
 * fullnat_add_toa_ok, ...): from `lvsadm -L --ext-stats` where the CLI has it (being added as
 * these tests are written), otherwise through the control protocol's `counters` operation on the
 * daemon's socket, the request behind that listing.
 */
export async function engineCounters(net: Topology): Promise<Record<string, number>> {
  const r = await net.lvsadm('-L', '--ext-stats');
  if (r.code === 0) {
    const c = parseExtStats(r.out);
    if ('synproxy_syn_cookie' in c && 'rx_pkts' in c) {
      countersSource = 'lvsadm -L --ext-stats';
      return c;
    }
  }
  const c = new ControlClient(net.socket, { timeoutMs: 20_000 });
  try {
    const res = await c.request({ op: 'counters' });
    countersSource = 'control socket';
    return res;
  } finally {
    await c.close();
  }
}

/** Differences b - a for every counter. */
export function counterDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(b)) d[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return d;
}

/** Resident set size of a process in KiB (VmRSS of /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(s);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** A process's command name (/proc/<pid>/comm). */
export function commOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** The daemon's `status` (pid, connCount, connCapacity, ...) through the control socket. */
export async function daemonStatus(
  net: Topology,
): Promise<{ pid: number; connCount: number; connCapacity: number }> {
  const c = new ControlClient(net.socket, { timeoutMs: 20_000 });
  try {
    return await c.request({ op: 'status' });
  } finally {
    await c.close();
  }
}

/** Kernel counters of a device in a namespace (`ip -j -s link`): packets handed to it (tx) etc. */
export async function linkStats(
  net: Topology,
  ns: string,
  dev: string,
): Promise<{ rxPackets: number; txPackets: number; txDropped: number }> {
  const j = JSON.parse(await net.exec(ns, 'ip', '-j', '-s', 'link', 'show', 'dev', dev)) as {
    stats64: { rx: { packets: number }; tx: { packets: number; dropped: number } };
  }[];
  const s = j[0]!.stats64;
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, txDropped: s.tx.dropped };
}
