// Load generators and probes for bench:e2e: wrk and iperf3 in the client namespace (each with an
// explicit duration and a hard kill after it), their output parsed; CPU and TCP counters read
// around a run; the peers (haproxy, nft) installed when missing.
import { readFileSync } from 'node:fs';
import { ensureTools, run, sleep, type Topology, withLock } from '../../test/e2e/topology.js';

// ---------------------------------------------------------------------------------------------
// tools

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;

async function onPath(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${cmd}`], { env: { ...process.env, PATH: SBIN_PATH } });
  return r.code === 0;
}

/** The peers beyond the e2e test tools: command -> Debian package. */
const PEERS: readonly [string, string][] = [
  ['haproxy', 'haproxy'],
  ['nft', 'nftables'],
];

/**
 * Installs what is missing: the e2e test tools (curl, nginx, wrk, iperf3, ... through
 * scripts/install-test-deps.sh) and haproxy + nftables here. No service is started on the host:
 * a refusing policy-rc.d is in place while apt runs (unless the machine has one) and the haproxy
 * service is stopped and disabled afterwards in case something started it anyway.
 */
export async function ensurePeers(): Promise<void> {
  await ensureTools();
  const missing: string[] = [];
  for (const [cmd, pkg] of PEERS) if (!(await onPath(cmd))) missing.push(pkg);
  if (missing.length === 0) return;
  process.stderr.write(`bench:e2e: installing ${missing.join(' ')} with apt-get\n`);
  const script = `
    set -eu
    export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
    POLICY=/usr/sbin/policy-rc.d; own=0
    if [ ! -e "$POLICY" ]; then printf '#!/bin/sh\\nexit 101\\n' >"$POLICY"; chmod 755 "$POLICY"; own=1; fi
    trap 'if [ "$own" = 1 ]; then rm -f "$POLICY"; fi' EXIT
    apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \\
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${missing.join(' ')} </dev/null
    if [ -x /etc/init.d/haproxy ]; then
      /etc/init.d/haproxy stop >/dev/null 2>&1 || true
      update-rc.d haproxy disable >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now haproxy >/dev/null 2>&1 || true
    fi`;
  await withLock('apt', async () => {
    const r = await run('sh', ['-c', script], { timeoutMs: 600_000 });
    if (r.code !== 0)
      throw new Error(`apt-get install ${missing.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  });
  for (const [cmd, pkg] of PEERS)
    if (!(await onPath(cmd))) throw new Error(`${cmd} still missing after installing ${pkg}`);
}

// ---------------------------------------------------------------------------------------------
// wrk

export interface WrkResult {
  requests: number;
  /** Requests/sec: with `Connection: close` one new connection per request. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  non2xx: number;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function ms(v: string, unit: string): number {
  const f = TIME_UNITS[unit];
  if (f === undefined) throw new Error(`wrk: unknown time unit ${unit}`);
  return Number(v) * f;
}

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk: no ${p}% line in:\n${out}`);
    return ms(m[1]!, m[2]!);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const reqs = /^\s*(\d+) requests in /m.exec(out);
  if (!rps || !reqs) throw new Error(`wrk: unexpected output:\n${out}`);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const n2 = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: Number(reqs[1]),
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    errors: {
      connect: Number(se?.[1] ?? 0),
      read: Number(se?.[2] ?? 0),
      write: Number(se?.[3] ?? 0),
      timeout: Number(se?.[4] ?? 0),
    },
    non2xx: Number(n2?.[1] ?? 0),
  };
}

export interface WrkOptions {
  url: string;
  seconds: number;
  threads: number;
  conns: number;
}

/** wrk with `Connection: close` in the client namespace; killed 20 s after its duration. */
export async function wrk(net: Topology, o: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.conns}`,
    `-d${o.seconds}s`,
    '--timeout',
    '2s',
    '--latency',
    '-H',
    'Connection: close',
    o.url,
  ];
  const r = await net.run(net.client, 'wrk', args, (o.seconds + 20) * 1000);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} -> exit ${r.code}: ${r.stderr}\n${r.stdout}`);
  return parseWrk(r.stdout);
}

// ---------------------------------------------------------------------------------------------
// iperf3

export interface IperfResult {
  /** Received by the server, Gbit/s (omitted seconds excluded). */
  gbps: number;
  retransmits: number;
}

export interface IperfOptions {
  /** Namespace and address the server binds to; the client connects to vip:port. */
  serverNs: string;
  serverAddr: string;
  vip: string;
  port: number;
  seconds: number;
  omit: number;
  streams: number;
}

/**
 * One iperf3 test: a one-off server (`-s -1`) on the RS, the client in the client namespace
 * through the VIP. Both bounded: the client by -t/-O and a hard kill, the server by -1 and a kill.
 */
export async function iperf3(net: Topology, o: IperfOptions): Promise<IperfResult> {
  const server = net.spawn(o.serverNs, 'iperf3 server', 'iperf3', [
    '-s',
    '-1',
    '-B',
    o.serverAddr,
    '-p',
    String(o.port),
    '--rcv-timeout',
    '10000',
  ]);
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ss = await net.run(o.serverNs, 'ss', ['-Hltn', `sport = :${o.port}`]);
      if (ss.stdout.trim() !== '') break;
      if (!server.running || Date.now() > deadline)
        throw new Error(
          `iperf3 server not listening: ${server.stderr.join(' | ')} ${server.lines.join(' | ')}`,
        );
      await sleep(50);
    }
    const args = [
      '-c',
      o.vip,
      '-p',
      String(o.port),
      '-t',
      String(o.seconds),
      '-O',
      String(o.omit),
      '-P',
      String(o.streams),
      '-J',
      '--connect-timeout',
      '3000',
    ];
    const r = await net.run(net.client, 'iperf3', args, (o.seconds + o.omit + 20) * 1000);
    let j: {
      error?: string;
      end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
    };
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 ${args.join(' ')} -> exit ${r.code}: ${r.stderr}\n${r.stdout.slice(0, 2000)}`);
    }
    if (j.error || r.code !== 0 || !j.end?.sum_received)
      throw new Error(`iperf3 ${args.join(' ')} -> exit ${r.code}: ${j.error ?? r.stderr}`);
    return { gbps: j.end.sum_received.bits_per_second / 1e9, retransmits: j.end.sum_sent?.retransmits ?? 0 };
  } finally {
    await server.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// probes

/** CPU time of a process (all threads), user and system, in seconds; NaN when it is gone. */
export interface CpuTime {
  user: number;
  sys: number;
}

export function procCpu(pid: number): CpuTime {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 }; // utime, stime in USER_HZ (100)
  } catch {
    return { user: Number.NaN, sys: Number.NaN };
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat "cpu" line). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** TCP counters of a namespace by name ("TcpExt.TCPSynRetrans", "Tcp.RetransSegs", ...). */
export async function tcpCounters(net: Topology, ns: string): Promise<Map<string, number>> {
  const r = await net.run(ns, 'cat', ['/proc/net/netstat', '/proc/net/snmp']);
  const m = new Map<string, number>();
  const lines = r.stdout.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const h = lines[i]!.split(/\s+/);
    const v = lines[i + 1]!.split(/\s+/);
    const pre = h[0]!.replace(/:$/, '');
    for (let k = 1; k < h.length; k++) if (h[k]) m.set(`${pre}.${h[k]}`, Number(v[k]));
  }
  return m;
}
