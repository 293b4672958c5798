// FULLNAT local addresses (LIPs), their ports and the "out" index.
//
// On the real-server side a connection is (LIP, proto, lport, RIP, rport). As in Alibaba's
// FULLNAT, one lport serves every real-server tuple at once: a port is taken only for the
// (RIP, rport) the connection goes to, so a LIP carries a full port range *per real server* and
// capacity grows with the servers instead of being shared by all of them. The out index is a
// chain per (LIP, proto, lport) through `outNext`; chains stay short because a cursor spreads the
// connections over the whole range.
//
// Allocation walks a cursor per (LIP, proto) over the range and takes the first port whose chain
// holds no connection to this tuple. A tuple therefore comes back only after the cursor has gone
// round the whole range, the longest reuse distance there is, which keeps a new connection away
// from the TIME_WAIT entry the real server still holds for the previous one. `tuples` counts the
// connections of each (LIP, RS tuple): a full tuple is refused without a scan, -G shows how full
// the busiest is, and crossing 7/8 is counted (laddr_ports_low) before the tuple runs dry.
import type { Family } from '../common/addr.js';
import { CONN_STRIDE, W_DEST, W_LDPORT } from './conn/table.js';
import { FK_EXTRA, FK_PORT, FlowMap, flowKeyPort } from './flow-map.js';

export const PROTO_IDX_TCP = 0;
export const PROTO_IDX_UDP = 1;

/** Ports one allocation looks at before giving up on a LIP (the tuple count says one is free). */
const PROBE_MAX = 8192;

const EMPTY = new Uint32Array(0);

export class LaddrPool {
  readonly max: number;
  readonly portMin: number;
  readonly portMax: number;
  readonly family: Uint8Array;
  readonly addr: Uint32Array;
  /** Live connections using each LIP. */
  readonly conns: Uint32Array;
  /** Services whose pool lists each LIP. */
  readonly svcRefs: Uint32Array;
  /** Allocation failures (no port free for the tuple), Alibaba's CONFLICTS column. */
  readonly conflicts: Float64Array;
  /** Indexed la*2 + protoIdx: lport -> first connection of that port's chain (0 = none). */
  readonly out: Uint32Array[];
  /** Next connection of the same (LIP, proto, lport) chain, by connection id. */
  readonly outNext: Uint32Array;
  /**
   * (RS address, RS port | proto | family, LIP) -> connections through that LIP to that tuple,
   * i.e. ports of the LIP the tuple holds. Bounded: a pair that finds the map full is not
   * counted (its connections still get ports by scanning) and `untracked` says so.
   */
  readonly tuples: FlowMap;
  /** Connections made while `tuples` was full (their pair's count is an undercount). */
  untracked = 0;
  /** Tuple occupancy at which laddr_ports_low counts (7/8 of the range). */
  readonly lowMark: number;
  private readonly cursor: Uint32Array;
  private readonly freeSlots: number[] = [];
  private readonly startSeed: number | null;
  /** Connection records (ConnTable.w) and real-server addresses (4 words per dest), for probing. */
  private readonly w: Uint32Array;
  private readonly destAddr: Uint32Array;

  /**
   * @param connRecords the connection table's records (chains and probing read W_DEST, W_LDPORT)
   * @param destAddr real-server addresses, 4 words per dest index
   * @param maxTuples most (LIP, RS tuple) pairs counted at once
   * @param startSeed when not null, each LIP's cursor starts at a pseudo-random port derived from
   *   it instead of the lowest: a restarted daemon (new seed) then does not hand out the (LIP,
   *   lport) -> RS tuples its predecessor used seconds ago, which the RS still holds in TIME_WAIT.
   */
  constructor(
    max: number,
    portMin: number,
    portMax: number,
    connRecords: Uint32Array,
    destAddr: Uint32Array,
    maxTuples: number,
    startSeed: number | null = null,
  ) {
    this.startSeed = startSeed;
    if (!(portMin >= 1 && portMax <= 65535 && portMin <= portMax)) {
      throw new RangeError(`bad local port range ${portMin}-${portMax}`);
    }
    this.max = max;
    this.portMin = portMin;
    this.portMax = portMax;
    this.w = connRecords;
    this.destAddr = destAddr;
    this.family = new Uint8Array(max);
    this.addr = new Uint32Array(max * 4);
    this.conns = new Uint32Array(max);
    this.svcRefs = new Uint32Array(max);
    this.conflicts = new Float64Array(max);
    this.out = new Array<Uint32Array>(max * 2).fill(EMPTY);
    this.outNext = new Uint32Array(connRecords.length / CONN_STRIDE);
    this.cursor = new Uint32Array(max * 2);
    let cap = 16;
    while (cap * 3 < maxTuples * 4) cap *= 2;
    this.tuples = new FlowMap(cap);
    this.lowMark = this.portCount - (this.portCount >>> 3);
    for (let i = max - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** Number of usable ports per (LIP, protocol, RS tuple). */
  get portCount(): number {
    return this.portMax - this.portMin + 1;
  }

  /** Creates a LIP slot (control path: allocates its tables). Returns -1 when all slots are used. */
  create(family: Family, words: Uint32Array): number {
    const la = this.freeSlots.pop();
    if (la === undefined) return -1;
    this.family[la] = family;
    this.addr.set(words.subarray(0, 4), la * 4);
    this.conns[la] = 0;
    this.svcRefs[la] = 0;
    this.conflicts[la] = 0;
    const n = this.portCount;
    for (let p = 0; p < 2; p++) {
      const start = this.startSeed === null ? 0 : mix(this.startSeed, words[0]! ^ words[3]!, la * 2 + p) % n;
      this.cursor[la * 2 + p] = start;
      this.out[la * 2 + p] = new Uint32Array(65536);
    }
    return la;
  }

  /** Frees a LIP slot; only when no service lists it and no connection uses it. */
  destroy(la: number): void {
    for (let p = 0; p < 2; p++) this.out[la * 2 + p] = EMPTY;
    this.family[la] = 0;
    this.freeSlots.push(la);
  }

  /** Fills the tuple map's key for (LIP la, proto index, RS address words at a[ai..], rport). */
  private tupleKey(
    la: number,
    pi: number,
    family: number,
    a: Uint32Array,
    ai: number,
    rport: number,
  ): Uint32Array {
    const k = this.tuples.key;
    k[0] = a[ai]!;
    k[1] = a[ai + 1]!;
    k[2] = a[ai + 2]!;
    k[3] = a[ai + 3]!;
    k[FK_PORT] = flowKeyPort(rport, pi, family);
    k[FK_EXTRA] = la;
    return k;
  }

  /** Ports of LIP `la` that connections to (RS dest `d`, rport) hold. */
  tupleUse(la: number, pi: number, d: number, rport: number): number {
    // New connections to a busy tuple cost no hashing: a small cache maps (dest, LIP, proto,
    // rport) to the tuple's slot. Entries stay put while mapGen holds (no insert, no deletion,
    // no dest slot reused: see invalidateTuples()).
    const id = (d * this.max + la) * 2 + pi; // past 2^31 it never matches the Int32 cache: no false hit
    const c = (Math.imul(id, 0x9e3779b1) ^ Math.imul(rport, 0x85ebca6b)) >>> 20;
    const m = this.tuples;
    this.pendingGen = this.mapGen;
    const k = this.cache;
    const e = c * 4;
    if (k[e] === this.mapGen && k[e + 1] === id && k[e + 2] === rport) {
      const i = k[e + 3]!;
      this.pendingSlot = i;
      return m.slotValue(i);
    }
    this.tupleKey(la, pi, this.family[la]!, this.destAddr, d * 4, rport);
    const i = m.find();
    this.pendingSlot = i;
    if (i < 0) return 0;
    k[e] = this.mapGen;
    k[e + 1] = id;
    k[e + 2] = rport;
    k[e + 3] = i;
    return m.slotValue(i);
  }

  /** A dest slot now names another real server: cached tuple slots may be wrong. */
  invalidateTuples(): void {
    this.mapGen++;
  }

  /** 4096 entries of (mapGen, dest/LIP/proto id, rport, slot), one cache line per lookup. */
  private readonly cache = new Int32Array(4096 * 4).fill(-1);

  /**
   * What the last tupleUse() (so allocPort()) found: the tuple's slot, or -1 with the tuple's key
   * in the scratch. take() right after it uses them instead of hashing again; valid while mapGen
   * is pendingGen.
   */
  private pendingSlot = -1;
  private pendingGen = -1;
  /** Bumped whenever entries of `tuples` are inserted or move (deletion shifts them). */
  private mapGen = 0;

  /**
   * A port of LIP `la` free for connections to (dest `d`'s address, rport), or 0 when there is
   * none (counted as a conflict). The caller links the connection with take().
   */
  allocPort(la: number, pi: number, d: number, rport: number): number {
    const n = this.portCount;
    if (this.tupleUse(la, pi, d, rport) >= n) {
      this.conflicts[la]! += 1;
      return 0;
    }
    const k = la * 2 + pi;
    const heads = this.out[k]!;
    const next = this.outNext;
    const w = this.w;
    const da = this.destAddr;
    const d4 = d * 4;
    const a0 = da[d4]!;
    const a1 = da[d4 + 1]!;
    const a2 = da[d4 + 2]!;
    const a3 = da[d4 + 3]!;
    let c = this.cursor[k]!;
    const limit = Math.min(n, PROBE_MAX);
    for (let t = 0; t < limit; t++) {
      const port = this.portMin + c;
      c = c + 1 === n ? 0 : c + 1;
      let held = false;
      for (let id = heads[port]!; id !== 0; id = next[id]!) {
        const o = id * CONN_STRIDE;
        if ((w[o + W_LDPORT]! & 0xffff) !== rport) continue;
        const e = w[o + W_DEST]! * 4;
        if (da[e] === a0 && da[e + 1] === a1 && da[e + 2] === a2 && da[e + 3] === a3) {
          held = true;
          break;
        }
      }
      if (!held) {
        this.cursor[k] = c;
        return port;
      }
    }
    this.cursor[k] = c;
    this.conflicts[la]! += 1;
    return 0;
  }

  /**
   * Links connection `id` (its W_DEST and W_LDPORT already written) into the chain of `port` and
   * counts it for its tuple. Call it right after the allocPort() that returned `port`, with
   * nothing else on this pool in between (as newConn does). Returns true when the tuple just
   * reached lowMark.
   */
  take(la: number, pi: number, port: number, id: number): boolean {
    const heads = this.out[la * 2 + pi]!;
    this.outNext[id] = heads[port]!;
    heads[port] = id;
    this.conns[la]! += 1;
    const m = this.tuples;
    let i: number;
    if (this.pendingGen === this.mapGen) {
      i = this.pendingSlot;
    } else {
      const o = id * CONN_STRIDE;
      const d4 = this.w[o + W_DEST]! * 4;
      this.tupleKey(la, pi, this.family[la]!, this.destAddr, d4, this.w[o + W_LDPORT]! & 0xffff);
      i = m.find();
    }
    this.pendingGen = -1;
    if (i >= 0) {
      const v = m.slotValue(i) + 1;
      m.setSlotValue(i, v);
      return v === this.lowMark;
    }
    this.mapGen++;
    if (!m.set(1)) this.untracked++;
    return this.lowMark <= 1;
  }

  /** Unlinks connection `id` from the chain of `port` and uncounts it. */
  give(la: number, pi: number, port: number, id: number): void {
    const heads = this.out[la * 2 + pi]!;
    const next = this.outNext;
    if (heads[port] === id) {
      heads[port] = next[id]!;
    } else {
      let p = heads[port]!;
      while (p !== 0 && next[p] !== id) p = next[p]!;
      if (p !== 0) next[p] = next[id]!;
    }
    next[id] = 0;
    this.conns[la]! -= 1;
    const o = id * CONN_STRIDE;
    this.tupleKey(
      la,
      pi,
      this.family[la]!,
      this.destAddr,
      this.w[o + W_DEST]! * 4,
      this.w[o + W_LDPORT]! & 0xffff,
    );
    const m = this.tuples;
    const i = m.find();
    if (i < 0) return; // counted while the map was full
    const v = m.slotValue(i) - 1;
    if (v > 0) {
      m.setSlotValue(i, v);
      return;
    }
    m.deleteSlot(i);
    this.mapGen++;
  }

  /**
   * Control path, one pass over the tuple map: for each (LIP, proto index) at la*2 + pi, the
   * most ports any one RS tuple holds.
   */
  busiestTuples(): Uint32Array {
    const m = this.tuples;
    const most = new Uint32Array(this.max * 2);
    for (let i = 0; i < m.slotCount; i++) {
      if (!m.slotUsed(i)) continue;
      const k = m.slotKeyWord(i, FK_EXTRA) * 2 + ((m.slotKeyWord(i, FK_PORT) >>> 16) & 0xff);
      const v = m.slotValue(i);
      if (v > most[k]!) most[k] = v;
    }
    return most;
  }
}

/** A 32-bit mix of three words (for cursor start offsets; not on the packet path). */
function mix(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ c;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}
