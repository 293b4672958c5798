// The batch pipeline: each packet of a batch through the fast path, else the full path, with the
// verdicts counted once per batch; the batch prefetch before it; and the engine's tick (expiry,
// rate estimators). Everything here runs per batch or per packet, so it allocates nothing.

import { type PacketBatch, VERDICT_TX } from './batch.js';
import { CONN_STRIDE, F_EXPIRES, F64_STRIDE } from './conn/table.js';
import type { EngineCore } from './core.js';
import { C_DROP, C_RX, C_TX } from './counters.js';
import { fast4 } from './fast-path.js';
import { processOne } from './full-path.js';
import { PROTO_TCP, PROTO_UDP } from './service.js';
import { syncStats } from './stats-rollup.js';

/**
 * Processes every packet of the batch at engine time `now` (ms): each slot gets VERDICT_TX
 * (rewritten in place, to be written back) or VERDICT_DROP (with its reason counted).
 */
export function processBatch(core: EngineCore, batch: PacketBatch, now: number): void {
  core.now = now;
  const dv = batch.dv;
  const n = batch.count;
  if (n > 1) prefetch(core, batch);
  const fast = core.cfg.fastPath;
  let tx = 0;
  let stolen = 0;
  for (let i = 0; i < n; i++) {
    const off = batch.off[i]!;
    const len = batch.len[i]!;
    let v = fast ? fast4(core, dv, off, len, batch.csum[i] === 1) : -1;
    if (v < 0) {
      v = processSlot(core, batch, i, off, len);
      if (core.sp.releaseId !== 0) releaseKept(core);
    }
    batch.verdict[i] = v;
    tx += v & 1;
    stolen += v >>> 1;
  }
  const c = core.counters;
  c[C_RX]! += n;
  c[C_TX]! += tx;
  c[C_DROP]! += n - tx - stolen;
}

/**
 * Touches the hash buckets and connection records of the batch's plain IPv4 TCP/UDP packets
 * before the real pass, in two sweeps: first every bucket head (or out-table slot), then every
 * record. Within a sweep the loads are independent, so the CPU keeps many cache misses in
 * flight instead of taking them one packet at a time (DPDK-style batch prefetch). Nothing read
 * here is trusted: the real pass validates and looks up again, now from cache.
 */
function prefetch(core: EngineCore, batch: PacketBatch): void {
  const dv = batch.dv;
  const ct = core.conns;
  const head = ct.inHead;
  const s = core.pfSrc;
  const d = core.pfDst;
  const ids = core.pfIds;
  const n = Math.min(batch.count, ids.length);
  for (let i = 0; i < n; i++) {
    const o = batch.off[i]!;
    ids[i] = 0;
    if (batch.len[i]! < 28 || dv.getUint8(o) !== 0x45) continue;
    const proto = dv.getUint8(o + 9);
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) continue;
    const dst = dv.getUint32(o + 16);
    const sport = dv.getUint16(o + 20);
    const dport = dv.getUint16(o + 22);
    const local = core.local4.get(dst);
    if (local >= 0) {
      ids[i] = core.laddrs.out[local * 2 + (proto === PROTO_UDP ? 1 : 0)]![dport]!;
    } else {
      s[0] = dv.getUint32(o + 12);
      d[0] = dst;
      ids[i] = head[ct.hashIn(proto, s, 0, sport, d, 0, dport, false)]!;
    }
  }
  const w = ct.w;
  let sink = 0;
  for (let i = 0; i < n; i++) sink += w[ids[i]! * CONN_STRIDE]!;
  core.pfSink = sink;
}

/** The full path for slot i of a batch; moves the slot's off/len when the packet changed size. */
export function processSlot(
  core: EngineCore,
  batch: PacketBatch,
  i: number,
  off: number,
  len: number,
): number {
  const slot = i * batch.slotSize;
  core.roomFront = off - slot;
  core.roomBack = slot + batch.slotSize - off - len;
  core.partial = batch.csum[i] === 1;
  const v = processOne(core, batch.dv, off, len);
  if (core.txLen !== len || core.txOff !== off) {
    batch.off[i] = core.txOff;
    batch.len[i] = core.txLen;
  }
  batch.verdict[i] = v;
  batch.csum[i] = core.partial ? 1 : 0;
  return v;
}

/** Sends the client segments SYNPROXY kept for sp.releaseId through the engine into txq. */
function releaseKept(core: EngineCore): void {
  const sp = core.sp;
  const id = sp.releaseId;
  sp.releaseId = 0;
  const q = core.txq;
  for (let len = sp.takeKept(id, q); len >= 0; len = sp.takeKept(id, q)) {
    const i = q.count;
    if (processSlot(core, q, i, q.off[i]!, len) === VERDICT_TX) q.count++;
  }
}

/** Expires connections and templates whose time has come, and runs the rate estimators. */
export function tickEngine(core: EngineCore, now: number): void {
  core.now = now;
  core.wheel.sweep(now, core.conns.f64, F64_STRIDE, F_EXPIRES, core.cfg.expireBudget, core.expireCb);
  core.persist.sweep(now, core.cfg.expireBudget);
  syncStats(core);
  core.svcStats.tick(now);
  core.destStats.tick(now);
  core.totalStats.tick(now);
}
