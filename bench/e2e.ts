// npm run bench:e2e — the same client -> VIP -> real servers path through three load balancers in
// the lb namespace of the e2e topology (test/e2e/topology.ts), one after the other, side by side:
// lvsadm (the daemon, FULLNAT), HAProxy in TCP mode, kernel nftables DNAT+SNAT. For each:
//   gbps    bulk TCP, iperf3 -P 4 from the client to the first RS through VIP:5201;
//   cps     new connections per second, wrk with `Connection: close` against nginx (small file);
//   p50/p99 wrk --latency of that same run (request sent -> response; connect not included).
// Prints a context table, the result table and, last, one JSON line
//   {"lvsadm":{"gbps":..,"cps":..,"p50_ms":..,"p99_ms":..},"haproxy":{...},"nft":{...}}
// (null for a figure that could not be measured). Root only: namespaces, TUN, nft.
//
// Runs through tsx (node --import tsx bench/e2e.ts) because it imports the topology from test/,
// which dist/ does not hold; `npm run build` first gives bin/lvsadm its dist/.
// Only one LB is active at a time (run in the order lvsadm, nft, haproxy; see EXEC_ORDER): between
// phases the VIP must not answer and lb must hold no VIP address, VIP route, nft table or socket
// on the VIP. Each LB's warm-up is a short wrk run. The machine's cores are shared by client, LB and
// servers; other runs seen on the machine (busy CPU before the start, foreign namespaces during a
// phase) are reported as NOISY. Every tool runs with an explicit duration and is killed after it;
// the whole run is bounded (--limit); namespaces, processes, nft table, haproxy and the temp dir
// go away with the topology, also on failure and on SIGINT/SIGTERM.
//
// Options: --seconds N (wrk and iperf3 measurement, at most 10, default 10), --warmup N (default 3),
//          --only lvsadm,haproxy,nft, --limit N (whole run, seconds, default 900),
//          --rounds N (default 1, at most 5: the LBs measured in turn N times, interleaved, and
//          the table shows each figure's median; for noisy machines),
//          --tun-qlen N (experiment: txqueuelen of the daemon's TUN, the kernel's queue towards
//          the daemon; default: as the daemon leaves it),
//          --no-offload (lvsadm daemon --offload off: one packet per MTU through the TUN),
//          --sustain N (the sustained-rate run after the rounds, seconds, at least 60, default 90,
//          0 = none; see e2e/sustained.ts), --sustain-rate N (its new connections/s, default 1000).
// The JSON line then has "sustained": {lb: {ok, failed, drop_no_lport, ports_peak}}.

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  ensureBuilt,
  removeLeftovers,
  run,
  skipReason,
  sleep,
  Topology,
  tally,
} from '../test/e2e/topology.js';
import { HaproxyLb, type LbName, type LoadBalancer, LvsadmLb, NftLb, type Services } from './e2e/lbs.js';
import {
  type CpuTime,
  ensurePeers,
  iperf3,
  machineCpu,
  tcpCounters,
  type WrkResult,
  wrk,
} from './e2e/load.js';
import { prepareClient, type SustainedResult, sustain, sustainedLines } from './e2e/sustained.js';

const NAMES: readonly LbName[] = ['lvsadm', 'haproxy', 'nft'];
/**
 * Order of the phases in a round: HAProxy last. It leaves TIME_WAIT sockets VIP:80 <-> client in
 * lb for 60 s, and while they exist the kernel drops forwarded packets of the same 4-tuple (early
 * demux attaches the local socket, ip_forward drops packets that carry one), so the client's
 * SYNs from those ports never reach lvsadm's TUN. nft DNATs before that lookup and is not hit.
 * With several rounds the gate below waits for those sockets to expire before lvsadm comes up.
 */
const EXEC_ORDER: readonly LbName[] = ['lvsadm', 'nft', 'haproxy'];
const SVC: Services = { vip: '203.0.113.10', httpPort: 80, iperfPort: 5201 };
const INNER = '192.0.2.1'; // lb's address on br0 (topology)
const INNER_DEV = 'br0';
const OUTER_DEV = 'out0';
/**
 * RS-side source addresses, fresh ones per round and per LB: a real server keeps TIME_WAIT for 60 s
 * per (source, port), and a NAT that reuses a tuple a previous round or LB used meets it.
 * lvsadm: 192.0.2.200-219, nft: 192.0.2.230-249 (4 per round); haproxy: lb's inner address.
 */
const POOL = 4;
const MAX_ROUNDS = 5;
const pool = (first: number, round: number): string[] =>
  Array.from({ length: POOL }, (_, i) => `192.0.2.${first + POOL * round + i}`);
const FILE = 'bench-1k.html';
const RS_COUNT = 3;
/** The sustained run's one local address (lvsadm) and SNAT address (nft): unused by the rounds. */
const SUSTAIN_LIP = '192.0.2.220';
const SUSTAIN_SNAT = '192.0.2.229';
const FILE_BYTES = 1024;
const WRK_THREADS = 2;
const WRK_CONNS = 64;
const IPERF_STREAMS = 4;

interface Options {
  seconds: number;
  warmup: number;
  only: LbName[];
  limitS: number;
  tunQlen: number | null;
  rounds: number;
  offload: boolean;
  sustainS: number;
  sustainRate: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    seconds: 10,
    warmup: 3,
    only: [...NAMES],
    limitS: 900,
    tunQlen: null,
    rounds: 1,
    offload: true,
    sustainS: 90,
    sustainRate: 1000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive integer`);
      i++;
      return n;
    };
    if (a === '--seconds') o.seconds = Math.min(num(), 10);
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--limit') o.limitS = num();
    else if (a === '--tun-qlen') o.tunQlen = num();
    else if (a === '--no-offload') o.offload = false;
    else if (a === '--rounds') o.rounds = Math.min(num(), MAX_ROUNDS);
    else if (a === '--sustain') {
      if (v === '0') {
        o.sustainS = 0;
        i++;
      } else o.sustainS = num();
      if (o.sustainS !== 0 && o.sustainS < 60)
        throw new Error('--sustain: at least 60 seconds (or 0 for none)');
    } else if (a === '--sustain-rate') o.sustainRate = num();
    else if (a === '--only') {
      const want = (v ?? '').split(',');
      for (const w of want) if (!NAMES.includes(w as LbName)) throw new Error(`--only: unknown LB ${w}`);
      o.only = NAMES.filter((n) => want.includes(n));
      i++;
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

interface Metrics {
  gbps: number | null;
  cps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
}

interface Phase {
  name: LbName;
  round: number;
  what: string;
  metrics: Metrics;
  wrk: WrkResult | null;
  synRetrans: number | null;
  /** CPU % (100 = one core) of the LB process, user and system, during the wrk / iperf3 run. */
  lbCpuWrk: CpuTime | null;
  /** Increase of the LB's drop counters during the measured wrk / iperf3 run. */
  dropsWrk: Record<string, number> | null;
  dropsIperf: Record<string, number> | null;
  busyWrk: number | null;
  iperfRetrans: number | null;
  lbCpuIperf: CpuTime | null;
  errors: string[];
  details: string[];
  /** Network namespaces of other runs seen around the measurements (they share the cores). */
  foreign: Set<string>;
}

/** Namespaces that are not this run's: another test or bench is using the same cores. */
async function foreignNamespaces(net: Topology): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '' && !n.startsWith(`${net.base}-`));
}

const log = (s: string) => process.stderr.write(`bench:e2e: ${s}\n`);

/** lb's TCP sockets (any state, TIME_WAIT included) on the VIP. */
async function vipSockets(net: Topology): Promise<number> {
  const out = await net.exec(net.lb, 'ss', '-Htan', `src ${SVC.vip}`);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

/**
 * Nothing answers on the VIP and lb holds no trace of an LB (address, route, nft table, sockets on
 * the VIP): the gate between phases. Waits up to 70 s for TIME_WAIT sockets to expire (not
 * after the last phase: nothing comes next).
 */
async function assertDark(net: Topology, waitSockets = true): Promise<void> {
  let n = waitSockets ? await vipSockets(net) : 0;
  if (n > 0) {
    log(`waiting for ${n} sockets on the VIP in lb to expire (TIME_WAIT, at most 60 s)`);
    const deadline = Date.now() + 70_000;
    while (n > 0 && Date.now() < deadline) {
      await sleep(2000);
      n = await vipSockets(net);
    }
    if (n > 0) throw new Error(`lb still has ${n} sockets on the VIP`);
  }
  const addrs = await net.exec(net.lb, 'ip', '-4', 'addr', 'show');
  const routes = await net.exec(net.lb, 'ip', '-4', 'route', 'show', 'table', 'all');
  const tables = await net.exec(net.lb, 'nft', 'list', 'tables');
  const vip = new RegExp(`\\b${SVC.vip.replaceAll('.', '\\.')}\\b`);
  if (vip.test(addrs)) throw new Error(`lb still has the VIP as an address:\n${addrs}`);
  if (vip.test(routes)) throw new Error(`lb still routes the VIP:\n${routes}`);
  if (tables.trim() !== '') throw new Error(`lb still has nft tables:\n${tables}`);
  const c = await net.run(net.client, 'curl', ['-sS', '-m', '2', '-o', '/dev/null', `http://${SVC.vip}/`]);
  if (c.code === 0) throw new Error('the VIP answers although no LB is up');
}

/** Six new connections through the VIP: every RS must answer (round robin). */
async function assertSpread(net: Topology): Promise<void> {
  const names: string[] = [];
  for (let i = 0; i < 2 * net.rs.length; i++) {
    const c = await net.run(net.client, 'curl', ['-sS', '--fail', '-m', '3', `http://${SVC.vip}/name`]);
    if (c.code !== 0) throw new Error(`curl http://${SVC.vip}/name -> exit ${c.code}: ${c.stderr.trim()}`);
    names.push(c.stdout.trim());
  }
  const t = tally(names);
  for (const r of net.rs) if (!t[r.name]) throw new Error(`no answer from ${r.name}: ${JSON.stringify(t)}`);
}

function cpuPercent(a: CpuTime, b: CpuTime, wallS: number): CpuTime | null {
  const user = (100 * (b.user - a.user)) / wallS;
  const sys = (100 * (b.sys - a.sys)) / wallS;
  return Number.isNaN(user) || Number.isNaN(sys) ? null : { user, sys };
}

const showCpu = (c: CpuTime | null): string =>
  c === null ? '-' : `${(c.user + c.sys).toFixed(0)} (${c.user.toFixed(0)}/${c.sys.toFixed(0)})`;

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(b)) d[k] = b[k]! - (a[k] ?? 0);
  return d;
}

const showDrops = (d: Record<string, number> | null): string =>
  d === null
    ? '-'
    : Object.keys(d).length === 0
      ? 'n/a'
      : Object.entries(d)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');

async function measure(net: Topology, lb: LoadBalancer, o: Options, round: number): Promise<Phase> {
  const ph: Phase = {
    name: lb.name,
    round,
    what: lb.what,
    metrics: { gbps: null, cps: null, p50_ms: null, p99_ms: null },
    wrk: null,
    synRetrans: null,
    lbCpuWrk: null,
    dropsWrk: null,
    dropsIperf: null,
    busyWrk: null,
    iperfRetrans: null,
    lbCpuIperf: null,
    errors: [],
    details: [],
    foreign: new Set(),
  };
  const seeForeign = async () => {
    for (const n of await foreignNamespaces(net)) ph.foreign.add(n);
  };
  const url = `http://${SVC.vip}:${SVC.httpPort}/${FILE}`;
  const wrkOpts = { url, threads: WRK_THREADS, conns: WRK_CONNS };
  try {
    log(`${lb.name}: up (${lb.what})`);
    await lb.up();
    await assertSpread(net);
    log(`${lb.name}: warm-up ${o.warmup} s`);
    await wrk(net, { ...wrkOpts, seconds: o.warmup });
    await sleep(1000);
    await seeForeign();
    try {
      log(`${lb.name}: wrk ${o.seconds} s`);
      const tcp0 = await tcpCounters(net, net.client);
      const d0 = await lb.drops();
      const cpu0 = lb.cpu();
      const m0 = machineCpu();
      const t0 = performance.now();
      const w = await wrk(net, { ...wrkOpts, seconds: o.seconds });
      const wall = (performance.now() - t0) / 1000;
      const m1 = machineCpu();
      await seeForeign();
      const cpu1 = lb.cpu();
      const tcp1 = await tcpCounters(net, net.client);
      ph.dropsWrk = delta(d0, await lb.drops());
      ph.wrk = w;
      ph.metrics.cps = w.rps;
      ph.metrics.p50_ms = w.p50Ms;
      ph.metrics.p99_ms = w.p99Ms;
      const k = 'TcpExt.TCPSynRetrans';
      ph.synRetrans = (tcp1.get(k) ?? 0) - (tcp0.get(k) ?? 0);
      ph.lbCpuWrk = cpuPercent(cpu0, cpu1, wall);
      ph.busyWrk = (100 * (m1.busy - m0.busy)) / (m1.total - m0.total);
    } catch (e) {
      ph.errors.push(`wrk: ${(e as Error).message}`);
    }
    await sleep(1000);
    try {
      log(`${lb.name}: iperf3 ${o.seconds} s (+1 s omitted)`);
      const d0 = await lb.drops();
      const cpu0 = lb.cpu();
      const t0 = performance.now();
      const r = await iperf3(net, {
        serverNs: net.rs[0]!.ns,
        serverAddr: net.rs[0]!.v4,
        vip: SVC.vip,
        port: SVC.iperfPort,
        seconds: o.seconds,
        omit: 1,
        streams: IPERF_STREAMS,
      });
      const wall = (performance.now() - t0) / 1000;
      const cpu1 = lb.cpu();
      await seeForeign();
      ph.dropsIperf = delta(d0, await lb.drops());
      ph.metrics.gbps = r.gbps;
      ph.iperfRetrans = r.retransmits;
      ph.lbCpuIperf = cpuPercent(cpu0, cpu1, wall);
    } catch (e) {
      ph.errors.push(`iperf3: ${(e as Error).message}`);
    }
  } catch (e) {
    ph.errors.push((e as Error).message);
  }
  try {
    ph.details = await lb.report();
  } catch (e) {
    ph.details = [`report failed: ${(e as Error).message}`];
  }
  return ph;
}

// ---------------------------------------------------------------------------------------------
// output

const fmt = (v: number | null, digits: number, w: number): string =>
  (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits)).padStart(w);

const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b === 0 ? null : a / b;

/** Busy % of the whole machine over `ms` (before the run: other work on the same cores). */
async function backgroundBusy(ms: number): Promise<number> {
  const a = machineCpu();
  await sleep(ms);
  const b = machineCpu();
  return (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
}

function median(v: (number | null)[]): number | null {
  const x = v.filter((a): a is number => a !== null && Number.isFinite(a)).sort((a, b) => a - b);
  if (x.length === 0) return null;
  const m = x.length >> 1;
  return x.length % 2 === 1 ? x[m]! : (x[m - 1]! + x[m]!) / 2;
}

/** Each metric's median over the rounds of one LB (null where no round measured it). */
function combine(phases: Phase[]): Metrics {
  const pick = (k: keyof Metrics) => median(phases.map((p) => p.metrics[k]));
  return { gbps: pick('gbps'), cps: pick('cps'), p50_ms: pick('p50_ms'), p99_ms: pick('p99_ms') };
}

function print(phases: Phase[], o: Options, background: number, sustained: SustainedResult[]): void {
  const out: string[] = [];
  const label = (p: Phase) => (o.rounds > 1 ? `${p.name}#${p.round + 1}` : p.name);
  out.push('');
  out.push('context (measured wrk run; iperf3 run):');
  out.push(
    `${'lb'.padEnd(11)}${'gbps'.padStart(7)}${'cps'.padStart(7)}${'requests'.padStart(10)}${'sock_err c/r/w/t'.padStart(18)}` +
      `${'non2xx'.padStart(8)}${'syn_retx'.padStart(10)}${'lb_cpu% (u/s)'.padStart(15)}${'all_cpu%'.padStart(10)}` +
      `${'iperf_retx'.padStart(12)}${'lb_cpu% (u/s)'.padStart(15)}`,
  );
  for (const p of phases) {
    const e = p.wrk?.errors;
    out.push(
      `${label(p).padEnd(11)}${fmt(p.metrics.gbps, 2, 7)}${fmt(p.metrics.cps, 0, 7)}${fmt(p.wrk?.requests ?? null, 0, 10)}` +
        `${(e ? `${e.connect}/${e.read}/${e.write}/${e.timeout}` : '-').padStart(18)}${fmt(p.wrk?.non2xx ?? null, 0, 8)}` +
        `${fmt(p.synRetrans, 0, 10)}${showCpu(p.lbCpuWrk).padStart(15)}${fmt(p.busyWrk, 0, 10)}` +
        `${fmt(p.iperfRetrans, 0, 12)}${showCpu(p.lbCpuIperf).padStart(15)}`,
    );
  }
  out.push(
    '  lb_cpu%: CPU of the LB process, 100 = one core (user/system; system includes the kernel forwarding done in ' +
      "its own write() calls; nft works in softirq: -); all_cpu%: the whole machine's busy share",
  );
  out.push('LB drop counters, increase during the measured wrk run | iperf3 run:');
  for (const p of phases)
    out.push(`  ${label(p).padEnd(10)} ${showDrops(p.dropsWrk)} | ${showDrops(p.dropsIperf)}`);
  for (const p of phases) {
    out.push('');
    out.push(`${label(p)}: ${p.what}`);
    for (const e of p.errors) out.push(`  ERROR ${e}`);
    if (p.foreign.size > 0)
      out.push(`  NOISY: other namespaces present during the measurements: ${[...p.foreign].join(' ')}`);
    for (const d of p.details) out.push(`  ${d}`);
  }
  const n = cpus().length;
  out.push('');
  out.push(
    `bench:e2e — client -> VIP ${SVC.vip} -> 3 real servers, one LB at a time in the lb namespace; ` +
      `${n} cores shared by client (wrk, iperf3), LB and real servers (nginx, iperf3): compare ratios, not absolutes`,
  );
  const noisy = phases.filter((p) => p.foreign.size > 0).map(label);
  out.push(
    `machine busy before the run (other work on these cores): ${background.toFixed(0)}%` +
      (background > 10 ? ' — NOISY' : '') +
      (noisy.length > 0 ? `; other namespaces (another run) during: ${noisy.join(' ')} — NOISY` : ''),
  );
  out.push(
    `gbps: iperf3 -P ${IPERF_STREAMS} -t ${o.seconds} -O 1 to rs1:5201 | cps: wrk -t${WRK_THREADS} -c${WRK_CONNS} -d${o.seconds}s ` +
      `Connection: close, ${FILE_BYTES} B file | p50/p99: wrk --latency (request -> response, connect excluded) | ` +
      `warm-up ${o.warmup} s${o.rounds > 1 ? ` | median of ${o.rounds} interleaved rounds` : ''}`,
  );
  out.push(
    `${'lb'.padEnd(16)}${'gbps'.padStart(8)}${'cps'.padStart(10)}${'p50_ms'.padStart(9)}${'p99_ms'.padStart(9)}`,
  );
  const byName = new Map<LbName, Metrics>();
  for (const name of NAMES) {
    const ps = phases.filter((p) => p.name === name);
    if (ps.length > 0) byName.set(name, combine(ps));
  }
  const row = (lbl: string, m: Metrics, d: [number, number, number, number]) =>
    `${lbl.padEnd(16)}${fmt(m.gbps, d[0], 8)}${fmt(m.cps, d[1], 10)}${fmt(m.p50_ms, d[2], 9)}${fmt(m.p99_ms, d[3], 9)}`;
  for (const [name, m] of byName) out.push(row(name, m, [2, 0, 2, 2]));
  const l = byName.get('lvsadm');
  for (const peer of ['haproxy', 'nft'] as const) {
    const m = byName.get(peer);
    if (!l || !m) continue;
    out.push(
      row(
        `lvsadm/${peer}`,
        {
          gbps: ratio(l.gbps, m.gbps),
          cps: ratio(l.cps, m.cps),
          p50_ms: ratio(l.p50_ms, m.p50_ms),
          p99_ms: ratio(l.p99_ms, m.p99_ms),
        },
        [2, 2, 2, 2],
      ),
    );
  }
  out.push('  (ratios: gbps and cps higher is better for lvsadm, latency lower is better)');
  out.push(...sustainedLines(sustained, RS_COUNT));
  const r = (v: number | null, d: number) => (v === null ? null : Number(v.toFixed(d)));
  const json: Record<string, unknown> = {};
  for (const [name, m] of byName)
    json[name] = { gbps: r(m.gbps, 3), cps: r(m.cps, 0), p50_ms: r(m.p50_ms, 3), p99_ms: r(m.p99_ms, 3) };
  if (sustained.length > 0) {
    const sj: Record<string, unknown> = { seconds: o.sustainS, rate: o.sustainRate, laddrs: 1 };
    for (const x of sustained)
      sj[x.name] = { ok: x.ok, failed: x.failed, drop_no_lport: x.dropNoLport, ports_peak: x.portsPeak };
    json.sustained = sj;
  }
  out.push(JSON.stringify(json));
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const skip = skipReason();
  if (skip) {
    log(`cannot run: ${skip}`);
    return 1;
  }
  await ensurePeers();
  await ensureBuilt();
  await removeLeftovers();
  const background = await backgroundBusy(2000);
  if (background > 10) log(`the machine is already ${background.toFixed(0)}% busy: figures will be noisy`);

  let net: Topology | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = (): Promise<void> => {
    cleaning ??= net ? net.destroy() : Promise.resolve();
    return cleaning;
  };
  const bail = (why: string, code: number) => {
    log(why);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => bail('SIGINT: cleaning up', 130));
  process.once('SIGTERM', () => bail('SIGTERM: cleaning up', 143));
  const watchdog = setTimeout(() => bail(`still running after ${o.limitS} s: aborted`, 1), o.limitS * 1000);
  watchdog.unref();

  const phases: Phase[] = [];
  const sustained: SustainedResult[] = [];
  let fatal: string | null = null;
  try {
    net = await Topology.create({ rsCount: RS_COUNT, daemonArgs: o.offload ? [] : ['--offload', 'off'] });
    log(`topology ${net.base} up`);
    writeFileSync(join(net.www, FILE), `${'x'.repeat(FILE_BYTES - 1)}\n`);
    for (const r of net.rs) await net.startNginx(r);
    const runId = net.base.slice(3).replace('-', '_');
    const make = (name: LbName, round: number): LoadBalancer => {
      if (name === 'lvsadm') return new LvsadmLb(net!, SVC, pool(200, round), o.tunQlen);
      if (name === 'haproxy') return new HaproxyLb(net!, SVC, INNER, OUTER_DEV);
      return new NftLb(net!, SVC, pool(230, round), INNER_DEV, `${runId}_r${round}`);
    };
    for (let round = 0; round < o.rounds; round++) {
      for (const name of EXEC_ORDER.filter((n) => o.only.includes(n))) {
        const lb = make(name, round);
        await assertDark(net);
        try {
          phases.push(await measure(net, lb, o, round));
        } finally {
          log(`${name}: down`);
          await lb.down();
        }
        await sleep(1000);
      }
    }
    if (o.sustainS > 0) {
      await prepareClient(net);
      const url = `http://${SVC.vip}:${SVC.httpPort}/${FILE}`;
      for (const name of EXEC_ORDER.filter((n) => o.only.includes(n))) {
        // One local address each: lvsadm's LIP, nft's SNAT address, HAProxy's inner address.
        const lb: LoadBalancer =
          name === 'lvsadm'
            ? new LvsadmLb(net, SVC, [SUSTAIN_LIP], o.tunQlen)
            : name === 'nft'
              ? new NftLb(net, SVC, [SUSTAIN_SNAT], INNER_DEV, `${runId}_sus`)
              : new HaproxyLb(net, SVC, INNER, OUTER_DEV);
        await assertDark(net);
        try {
          sustained.push(await sustain(net, lb, url, o.sustainRate, o.sustainS, log));
        } finally {
          log(`${name}: down`);
          await lb.down();
        }
        await sleep(1000);
      }
    }
    await assertDark(net, false);
  } catch (e) {
    fatal = e instanceof Error ? (e.stack ?? e.message) : String(e);
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
  if (fatal !== null) log(`failed: ${fatal}`);
  print(phases, o, background, sustained);
  return fatal !== null ||
    phases.some((p) => p.errors.length > 0) ||
    sustained.some((x) => x.error !== null || (x.dropNoLport ?? 0) > 0)
    ? 1
    : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
