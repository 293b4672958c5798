// npm run bench:engine — the packet engine on synthetic traffic, one core, no I/O.
// Prints a table and ends with one JSON line: fwd_mpps, new_conns_per_s, bytes_per_conn (+ context).
// Packets are copied into the batch buffer before each process() call, as a TUN read would; the
// copy-only row measures that harness cost alone so the engine's share can be read off.
import { spawnSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ConfigModel } from '../src/control/config-model.js';
import { applyNow, EngineTables } from '../src/control/engine-tables.js';
import type { ConnInfo, Request } from '../src/control/protocol.js';
import { PacketBatch, VERDICT_TX } from '../src/dataplane/batch.js';
import type { EngineConfig } from '../src/dataplane/config.js';
import { Engine } from '../src/dataplane/engine.js';
import { checksum } from '../src/dataplane/packet/checksum.js';
import { rd16, rd32, wr16, wr32 } from '../src/dataplane/packet/ipv4.js';

const STRIDE = 128; // bytes per packet slot
const BATCH = 64;
const PAYLOAD = 64;
const VIP = 0xcb00710a; // 203.0.113.10
const CLIENT_NET = 0xc6120000; // 198.18.0.0/15, the benchmarking range (RFC 2544)

function ipv4Tcp(
  buf: Uint8Array,
  o: number,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  flags: number,
  seq: number,
  ack: number,
  payload: number,
): void {
  const tot = 20 + 20 + payload;
  buf.fill(0, o, o + tot);
  buf[o] = 0x45;
  wr16(buf, o + 2, tot);
  wr16(buf, o + 6, 0x4000);
  buf[o + 8] = 64;
  buf[o + 9] = 6;
  wr32(buf, o + 12, src);
  wr32(buf, o + 16, dst);
  wr16(buf, o + 10, checksum(buf, o, 20, 0));
  const t = o + 20;
  wr16(buf, t, sport);
  wr16(buf, t + 2, dport);
  wr32(buf, t + 4, seq);
  wr32(buf, t + 8, ack);
  buf[t + 12] = 5 << 4;
  buf[t + 13] = flags;
  wr16(buf, t + 14, 65535);
}

const SVC = { proto: 'tcp' as const, addr: '203.0.113.10', port: 80 };

/** Each engine's configuration, written as the daemon writes it (model checks, tables compile). */
const control = new WeakMap<Engine, { model: ConfigModel; tables: EngineTables }>();

function configure(e: Engine, r: Request): void {
  const c = control.get(e)!;
  applyNow(c.model, c.tables, r);
}

const tables = (e: Engine): EngineTables => control.get(e)!.tables;
const activeConns = (e: Engine): number =>
  tables(e)
    .listServices()[0]!
    .dests.reduce((a, d) => a + d.activeConns, 0);

function makeEngine(
  capacity: number,
  dests: number,
  lips: number,
  extra: Partial<EngineConfig> = {},
): Engine {
  const e = new Engine({ connCapacity: capacity, seed: 12345, maxLaddrs: Math.max(lips, 4), ...extra }, 0);
  control.set(e, { model: new ConfigModel(), tables: new EngineTables(e) });
  configure(e, { op: 'addService', svc: SVC, opts: { sched: 'wlc' } });
  for (let i = 0; i < dests; i++)
    configure(e, {
      op: 'addDest',
      svc: SVC,
      dest: { addr: `192.0.2.${21 + i}`, port: 80, weight: 1 + (i % 3) },
    });
  for (let i = 0; i < lips; i++)
    configure(e, { op: 'addLaddr', svc: SVC, addr: `192.0.${3 + (i >> 8)}.${i & 255}` });
  return e;
}

/** Runs `pool` (n packets at STRIDE) through the engine in batches; returns TX count. */
function run(e: Engine | null, batch: PacketBatch, pool: Uint8Array, n: number, now: number): number {
  let tx = 0;
  for (let start = 0; start < n; start += BATCH) {
    const cnt = Math.min(BATCH, n - start);
    batch.buf.set(pool.subarray(start * STRIDE, (start + cnt) * STRIDE));
    for (let i = 0; i < cnt; i++) {
      batch.off[i] = i * STRIDE;
      batch.len[i] = rd16(pool, (start + i) * STRIDE + 2);
    }
    batch.count = cnt;
    if (e) {
      e.process(batch, now);
      for (let i = 0; i < cnt; i++) if (batch.verdict[i] === VERDICT_TX) tx++;
    }
  }
  return tx;
}

function clientOf(i: number): [number, number] {
  return [(CLIENT_NET + (i & 0x1ffff)) >>> 0, 1024 + (i >>> 17)];
}

/** The flow index whose client is (addr, port): clientOf's inverse. */
function flowOf(addr: number, port: number): number {
  return addr - CLIENT_NET + ((port - 1024) << 17);
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** In and out packets of every flow, built from the connection table once flows are up. */
interface FlowPools {
  /** Two variants per direction (seq/ack one segment apart), alternated by round. */
  mixed: [Uint8Array, Uint8Array];
  n: number;
}

/** Plain FULLNAT: SYN in, SYN-ACK out; then in = client data, out = RS ack. */
function establishFullnat(e: Engine, flows: number, batch: PacketBatch): FlowPools {
  const hs = new Uint8Array(flows * STRIDE);
  for (let i = 0; i < flows; i++) {
    const [c, p] = clientOf(i);
    ipv4Tcp(hs, i * STRIDE, c, p, VIP, 80, 0x02, 1000, 0, 0);
  }
  if (run(e, batch, hs, flows, 1) !== flows) throw new Error('SYNs not forwarded');
  const conns = rsSynAcks(e, batch, flows, 'SYN-ACKs not forwarded');
  // The client acks data the RS already sent (ack past the RS's first byte), as in a flow in
  // its stride: TOA, which rides only on segments acking the RS's first data byte, is behind it.
  return interleave(flows, (v, k, inPool, outPool) => {
    const c = conns[k]!;
    const step = v * PAYLOAD;
    ipv4Tcp(inPool, k * STRIDE, ip4(c.caddr), c.cport, VIP, 80, 0x18, 1001 + step, 6001, PAYLOAD);
    rsAck(outPool, k, c, step);
  });
}

/**
 * SYNPROXY: SYN -> cookie SYN-ACK, cookie ACK -> SYN to the RS, RS SYN-ACK -> ACK to the RS;
 * then in = client data (acks in the cookie's space), out = RS ack (seq shifted by the LB).
 */
function establishSynproxy(e: Engine, flows: number, batch: PacketBatch): FlowPools {
  const cookie = new Uint32Array(flows);
  for (let start = 0; start < flows; start += BATCH) {
    const cnt = Math.min(BATCH, flows - start);
    fillBatch(batch, cnt, (i, o) => {
      const [c, p] = clientOf(start + i);
      ipv4Tcp(batch.buf, o, c, p, VIP, 80, 0x02, 1000, 0, 0);
    });
    e.process(batch, 1);
    for (let i = 0; i < cnt; i++) cookie[start + i] = rd32(batch.buf, batch.off[i]! + 24);
  }
  const acks = new Uint8Array(flows * STRIDE);
  for (let i = 0; i < flows; i++) {
    const [c, p] = clientOf(i);
    ipv4Tcp(acks, i * STRIDE, c, p, VIP, 80, 0x10, 1001, (cookie[i]! + 1) >>> 0, 0);
  }
  if (run(e, batch, acks, flows, 1) !== flows) throw new Error('cookie ACKs not turned into SYNs');
  const conns = rsSynAcks(e, batch, flows, 'RS SYN-ACKs not answered');
  // RS sequence 5001 is cookie + 1 for the client; it acks 1000 bytes of RS data.
  return interleave(flows, (v, k, inPool, outPool) => {
    const c = conns[k]!;
    const ck = cookie[flowOf(ip4(c.caddr), c.cport)]!;
    const step = v * PAYLOAD;
    ipv4Tcp(
      inPool,
      k * STRIDE,
      ip4(c.caddr),
      c.cport,
      VIP,
      80,
      0x18,
      1001 + step,
      (ck + 1001) >>> 0,
      PAYLOAD,
    );
    rsAck(outPool, k, c, step);
  });
}

/** The RS answers every connection's SYN with a SYN-ACK (ISN 5000); the connections, in order. */
function rsSynAcks(e: Engine, batch: PacketBatch, flows: number, what: string) {
  const conns = [...tables(e).connections()];
  const synack = new Uint8Array(flows * STRIDE);
  conns.forEach((c, k) => {
    ipv4Tcp(synack, k * STRIDE, ip4(c.daddr), c.dport, ip4(c.laddr), c.lport, 0x12, 5000, 1001, 0);
  });
  if (run(e, batch, synack, flows, 2) !== flows) throw new Error(what);
  return conns;
}

/** The RS's bare ACK of the client's data (variant `step` bytes further) into slot k of `pool`. */
function rsAck(pool: Uint8Array, k: number, c: ConnInfo, step: number): void {
  ipv4Tcp(
    pool,
    k * STRIDE,
    ip4(c.daddr),
    c.dport,
    ip4(c.laddr),
    c.lport,
    0x10,
    5001,
    1001 + PAYLOAD + step,
    0,
  );
}

function ip4(a: string): number {
  return a.split('.').reduce((x, b) => x * 256 + Number(b), 0);
}

/** Shuffled flows, in and out interleaved, in two variants built by `make(variant, flow, ...)`. */
function interleave(
  flows: number,
  make: (variant: number, k: number, inPool: Uint8Array, outPool: Uint8Array) => void,
): FlowPools {
  const order = new Uint32Array(flows);
  for (let i = 0; i < flows; i++) order[i] = i;
  let seed = 1;
  for (let i = flows - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const mixed: Uint8Array[] = [];
  for (let v = 0; v < 2; v++) {
    const inPool = new Uint8Array(flows * STRIDE);
    const outPool = new Uint8Array(flows * STRIDE);
    for (let k = 0; k < flows; k++) make(v, k, inPool, outPool);
    const m = new Uint8Array(flows * 2 * STRIDE);
    for (let i = 0; i < flows; i++) {
      const f = order[i]!;
      m.set(inPool.subarray(f * STRIDE, (f + 1) * STRIDE), 2 * i * STRIDE);
      m.set(outPool.subarray(f * STRIDE, (f + 1) * STRIDE), (2 * i + 1) * STRIDE);
    }
    mixed.push(m);
  }
  return { mixed: mixed as [Uint8Array, Uint8Array], n: flows * 2 };
}

/**
 * Established flows, both directions, `rounds` passes over every flow per trial. Consecutive
 * rounds alternate the two pool variants, so a flow's segments change from round to round as
 * in real traffic (SYNPROXY's ACK-storm guard drops identical RS segments in a row).
 */
function benchForwarding(flows: number, rounds: number, mode: 'fullnat' | 'synproxy' | 'slow') {
  const e = makeEngine(flows * 2, 8, 4, mode === 'slow' ? { fastPath: false } : {});
  if (mode === 'synproxy') configure(e, { op: 'editService', svc: SVC, opts: { synproxy: true } });
  const batch = new PacketBatch(BATCH, STRIDE, 0);
  const { mixed, n } =
    mode === 'synproxy' ? establishSynproxy(e, flows, batch) : establishFullnat(e, flows, batch);
  // Warm up, then measure. Rewrites happen in the batch copy, so the pools stay reusable.
  run(e, batch, mixed[0], n, 3);
  run(e, batch, mixed[1], n, 3);
  if (activeConns(e) !== flows) throw new Error('flows not established');
  // Several trials: this machine is a shared VM whose speed wanders; the best trial is what the
  // engine can do, the median what it usually did.
  const rates: number[] = [];
  // Garbage collections during the timed loops: the engine allocates nothing per packet, so any
  // here come from the harness (one subarray per batch of 64).
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  for (let t = 0; t < TRIALS; t++) {
    let tx = 0;
    const secs = time(() => {
      for (let r = 0; r < rounds; r++) tx += run(e, batch, mixed[r & 1]!, n, 4 + r);
    });
    if (tx !== n * rounds) throw new Error(`${mode}: forwarded ${tx} of ${n * rounds}`);
    rates.push((n * rounds) / secs / 1e6);
  }
  const copySecs = time(() => {
    for (let r = 0; r < rounds; r++) run(null, batch, mixed[r & 1]!, n, 0);
  });
  obs.disconnect();
  rates.sort((a, b) => a - b);
  return {
    mpps: rates[rates.length - 1]!,
    median: rates[rates.length >> 1]!,
    copyMpps: (n * rounds) / copySecs / 1e6,
    gcs,
    packets: n * rounds * TRIALS,
  };
}

function benchNewConns(total: number) {
  const batch = new PacketBatch(BATCH, STRIDE, 0);
  const pool = new Uint8Array(total * STRIDE);
  for (let i = 0; i < total; i++) {
    const [c, p] = clientOf(i);
    ipv4Tcp(pool, i * STRIDE, c, p, VIP, 80, 0x02, 1000, 0, 0);
  }
  // Warm-up on a separate engine so the JIT has seen the path.
  const warm = makeEngine(20000, 10, 1);
  run(warm, batch, pool, 20000, 0);
  const rates: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const e = makeEngine(total, 10, Math.ceil(total / 60000));
    let tx = 0;
    const secs = time(() => {
      tx = run(e, batch, pool, total, 0);
    });
    if (tx !== total) throw new Error(`created ${tx} of ${total}`);
    rates.push(total / secs);
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[rates.length - 1]!, median: rates[rates.length >> 1]! };
}

function benchMemory(total: number) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  const m0 = process.memoryUsage();
  const e = makeEngine(total, 10, Math.ceil(total / 60000));
  const batch = new PacketBatch(BATCH, STRIDE, 0);
  for (let start = 0; start < total; start += BATCH) {
    const cnt = Math.min(BATCH, total - start);
    for (let i = 0; i < cnt; i++) {
      const [c, p] = clientOf(start + i);
      ipv4Tcp(batch.buf, i * STRIDE, c, p, VIP, 80, 0x02, 1000, 0, 0);
      batch.off[i] = i * STRIDE;
      batch.len[i] = 40;
    }
    batch.count = cnt;
    e.process(batch, 0);
  }
  if (e.conns.count !== total) throw new Error(`have ${e.conns.count} of ${total} connections`);
  gc();
  const m1 = process.memoryUsage();
  const bytes = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers);
  return { bytesPerConn: bytes / total, conns: e.conns.count, totalMiB: bytes / 2 ** 20 };
}

const FLOWS = Number(process.env.BENCH_FLOWS ?? 100000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const NEW = Number(process.env.BENCH_NEW ?? 1000000);
const MEM = Number(process.env.BENCH_MEM ?? 1000000);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);

/** A SYNPROXY service: 10 RS, enough LIPs for `total` connections. */
function makeSynproxyEngine(total: number): Engine {
  const e = makeEngine(total, 10, Math.ceil(total / 60000));
  configure(e, { op: 'editService', svc: SVC, opts: { synproxy: true } });
  return e;
}

function fillBatch(batch: PacketBatch, cnt: number, make: (i: number, o: number) => void): void {
  for (let i = 0; i < cnt; i++) {
    const o = i * STRIDE;
    make(i, o);
    batch.off[i] = o;
    batch.len[i] = rd16(batch.buf, o + 2);
  }
  batch.count = cnt;
}

/** SYN -> cookie SYN-ACK only: the cost of absorbing a SYN flood. */
function benchSynacks(total: number) {
  const rates: number[] = [];
  const batch = new PacketBatch(BATCH, STRIDE, 0);
  for (let t = 0; t < TRIALS; t++) {
    const e = makeSynproxyEngine(1000);
    let tx = 0;
    const secs = time(() => {
      for (let start = 0; start < total; start += BATCH) {
        const cnt = Math.min(BATCH, total - start);
        fillBatch(batch, cnt, (i, o) => {
          const [c, p] = clientOf(start + i);
          ipv4Tcp(batch.buf, o, c, p, VIP, 80, 0x02, start + i, 0, 0);
        });
        e.process(batch, 1000);
        for (let i = 0; i < cnt; i++) tx += batch.verdict[i]!;
      }
    });
    if (tx !== total || e.conns.count !== 0)
      throw new Error(`synacks ${tx}/${total}, conns ${e.conns.count}`);
    rates.push(total / secs);
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[rates.length - 1]!, median: rates[rates.length >> 1]! };
}

/**
 * Whole SYNPROXY handshakes: SYN -> SYN-ACK, cookie ACK -> SYN to the RS, RS SYN-ACK -> ACK
 * (with TOA) to the RS; three packets through the engine per connection, in batches.
 */
function benchHandshakes(total: number) {
  const rates: number[] = [];
  const batch = new PacketBatch(BATCH, STRIDE, 0);
  const cookies = new Uint32Array(BATCH);
  const lports = new Uint16Array(BATCH);
  const rs = new Uint32Array(BATCH);
  const lips = new Uint32Array(BATCH);
  for (let t = 0; t < TRIALS; t++) {
    const e = makeSynproxyEngine(total);
    const secs = time(() => {
      for (let start = 0; start < total; start += BATCH) {
        const cnt = Math.min(BATCH, total - start);
        fillBatch(batch, cnt, (i, o) => {
          const [c, p] = clientOf(start + i);
          ipv4Tcp(batch.buf, o, c, p, VIP, 80, 0x02, 1000, 0, 0);
        });
        e.process(batch, 1000);
        for (let i = 0; i < cnt; i++) cookies[i] = rd32(batch.buf, batch.off[i]! + 24);
        fillBatch(batch, cnt, (i, o) => {
          const [c, p] = clientOf(start + i);
          ipv4Tcp(batch.buf, o, c, p, VIP, 80, 0x10, 1001, (cookies[i]! + 1) >>> 0, 0);
        });
        e.process(batch, 1000);
        for (let i = 0; i < cnt; i++) {
          const o = batch.off[i]!;
          lips[i] = rd32(batch.buf, o + 12);
          rs[i] = rd32(batch.buf, o + 16);
          lports[i] = rd16(batch.buf, o + 20);
        }
        fillBatch(batch, cnt, (i, o) => {
          ipv4Tcp(batch.buf, o, rs[i]!, 80, lips[i]!, lports[i]!, 0x12, 5000, 1001, 0);
        });
        e.process(batch, 1000);
      }
    });
    const est = activeConns(e);
    if (est !== total) throw new Error(`established ${est} of ${total}`);
    rates.push(total / secs);
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[rates.length - 1]!, median: rates[rates.length >> 1]! };
}

if (process.argv.includes('--memory-only')) {
  console.log(JSON.stringify(benchMemory(MEM)));
  process.exit(0);
}
// Memory is measured in a fresh process: garbage of the other runs would blur the figure.
const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory-only'], {
  encoding: 'utf8',
  env: process.env,
});
if (child.status !== 0) throw new Error(`memory run failed: ${child.stderr}`);
const mem = JSON.parse(child.stdout.trim().split('\n').pop()!) as ReturnType<typeof benchMemory>;
const fwd = benchForwarding(FLOWS, ROUNDS, 'fullnat');
const slow = benchForwarding(FLOWS, ROUNDS, 'slow');
const spFwd = benchForwarding(FLOWS, ROUNDS, 'synproxy');
const nc = benchNewConns(NEW);
const SP = Number(process.env.BENCH_SYNPROXY ?? 300000);
const sa = benchSynacks(SP);
const hs = benchHandshakes(Math.min(SP, 200000));

const rows: [string, string, string][] = [
  [
    'fwd_mpps (established, both directions)',
    fwd.mpps.toFixed(2),
    `best of ${TRIALS}, median ${fwd.median.toFixed(2)}; ${FLOWS} flows, batch ${BATCH}`,
  ],
  [
    'fwd_full_path_mpps (same, fast path off)',
    slow.mpps.toFixed(2),
    `best of ${TRIALS}, median ${slow.median.toFixed(2)}; what the fast path saves`,
  ],
  [
    'fwd_synproxy_mpps (same, SYNPROXY flows)',
    spFwd.mpps.toFixed(2),
    `best of ${TRIALS}, median ${spFwd.median.toFixed(2)}; seq/ack shifted both ways`,
  ],
  ['copy_only_mpps (harness alone)', fwd.copyMpps.toFixed(2), 'batch copy without the engine'],
  [
    'gc_during_fwd',
    String(fwd.gcs + slow.gcs + spFwd.gcs),
    `garbage collections while ${fwd.packets + slow.packets + spFwd.packets} packets were forwarded`,
  ],
  [
    'new_conns_per_s (SYN -> sched -> lport -> out)',
    Math.round(nc.perSec).toString(),
    `best of ${TRIALS}, median ${Math.round(nc.median)}; ${NEW} SYNs, wlc, 10 RS`,
  ],
  ['bytes_per_conn', mem.bytesPerConn.toFixed(1), `${mem.conns} live conns, ${mem.totalMiB.toFixed(1)} MiB`],
  [
    'synproxy_synacks_per_s (SYN -> cookie SYN-ACK)',
    Math.round(sa.perSec).toString(),
    `best of ${TRIALS}, median ${Math.round(sa.median)}; no state kept`,
  ],
  [
    'synproxy_handshakes_per_s (3 packets each)',
    Math.round(hs.perSec).toString(),
    `best of ${TRIALS}, median ${Math.round(hs.median)}; SYN, cookie ACK, RS SYN-ACK`,
  ],
];
const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
console.log(`${'metric'.padEnd(w0)}  ${'value'.padStart(w1)}  context`);
for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
console.log(
  JSON.stringify({
    fwd_mpps: Number(fwd.mpps.toFixed(3)),
    fwd_mpps_median: Number(fwd.median.toFixed(3)),
    fwd_full_path_mpps: Number(slow.mpps.toFixed(3)),
    fwd_synproxy_mpps: Number(spFwd.mpps.toFixed(3)),
    fwd_synproxy_mpps_median: Number(spFwd.median.toFixed(3)),
    copy_only_mpps: Number(fwd.copyMpps.toFixed(3)),
    gc_during_fwd: fwd.gcs + slow.gcs + spFwd.gcs,
    new_conns_per_s: Math.round(nc.perSec),
    new_conns_per_s_median: Math.round(nc.median),
    bytes_per_conn: Number(mem.bytesPerConn.toFixed(1)),
    synproxy_synacks_per_s: Math.round(sa.perSec),
    synproxy_handshakes_per_s: Math.round(hs.perSec),
    flows: FLOWS,
    node: process.version,
  }),
);
