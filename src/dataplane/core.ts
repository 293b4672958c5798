// The packet path: lookup, connection creation, FULLNAT rewrite, state tracking and expiry.
// Everything here runs per packet, so it allocates nothing: typed-array tables, one reusable
// PacketInfo and scheduler context, verdicts as numbers and drop reasons as counters.
// Control operations (engine.ts) build the tables this class reads.

import { type Family, formatIp } from '../common/addr.js';
import { S_CLOSE, S_ESTABLISHED, S_LAST, S_NONE, S_TIME_WAIT, S_UDP } from '../common/vocabulary.js';
import { Addr4Map } from './addr4-map.js';
import { PacketBatch, VERDICT_DROP, VERDICT_TX } from './batch.js';
import type { EngineConfig } from './config.js';
import {
  CONN_F_INACTIVE,
  CONN_F_IPV6,
  CONN_F_PERSIST,
  CONN_F_SP_WAIT,
  CONN_F_SYNPROXY,
  CONN_F_TOA,
  CONN_F_TOA_SENT,
  CONN_F_TOA_SEQ,
  CONN_F_UDP,
  CONN_F_USED,
  CONN_STRIDE,
  ConnTable,
  F_EXPIRES,
  F64_STRIDE,
  W_CADDR,
  W_CVPORT,
  W_DEST,
  W_FLAGS,
  W_INNEXT,
  W_LADDR,
  W_LDPORT,
  W_SP_A,
  W_SVC,
  W_TOA_SEQ,
} from './conn/table.js';
import { DIR_IN, DIR_OUT, TCP_FLAGS_NEXT, tcpEvent, tcpNextState } from './conn/tcp-states.js';
import { ExpiryWheel } from './conn/timers.js';
import {
  C_COUNT,
  C_DROP,
  C_RX,
  C_TX,
  D_CONN_LIMIT,
  D_FRAG_UNKNOWN,
  D_NO_CONN,
  D_NO_DEST,
  D_NO_LADDR,
  D_NO_LPORT,
  D_NO_SERVICE,
  D_NO_TEMPLATE,
  D_NOT_LOCAL,
  D_OUT_NO_CONN,
  D_PROTO_UNSUPPORTED,
  D_TTL_EXPIRED,
  E_CONN_EXPIRED,
  E_CONN_NEW,
  E_CONN_REUSED,
  E_FRAG_FWD,
  E_LADDR_PORTS_LOW,
  E_PERSIST_HIT,
  E_SP_REUSED,
  E_TOA_FAIL_LEN,
  E_TOA_HEAD_FULL,
  E_TOA_OK,
} from './counters.js';
import { FK_EXTRA, FK_PORT, FlowMap, flowKeyPort } from './flow-map.js';
import { FragCache } from './frag-cache.js';
import { rewrite4, rewrite6 } from './fullnat.js';
import { IcmpTranslator } from './icmp-xlate.js';
import { LaddrPool } from './laddr-pool.js';
import { LOCAL_VIP } from './local-addrs.js';
import { IPV4_TTL } from './packet/ipv4.js';
import { IPV6_HOP_LIMIT } from './packet/ipv6.js';
import { ipv4HeaderSum, PacketInfo, parsePacket } from './packet/parse.js';
import { PersistTable } from './persistence.js';
import { newSchedCtx } from './sched/scheduler.js';
import {
  DEST_F_AVAILABLE,
  DEST_F_OVERLOAD,
  type Dest,
  PROTO_TCP,
  PROTO_UDP,
  type Service,
} from './service.js';
import { ST_CONNS, ST_INBYTES, ST_INPKTS, ST_OUTBYTES, ST_OUTPKTS, ST_STRIDE, Stats } from './stats.js';
import { Synproxy } from './synproxy.js';
import {
  lowerMss,
  TOA_FAIL_LEN,
  TOA_LEN4,
  TOA_LEN6,
  TOA_OK,
  ToaWriter,
  tcpChecksumFull,
  udpChecksumFull,
} from './toa.js';

const PROTO_ICMP = 1;
const PROTO_ICMPV6 = 58;

const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_ACK = 0x10;

export class EngineCore {
  readonly cfg: EngineConfig;
  readonly counters = new Float64Array(C_COUNT);
  readonly conns: ConnTable;
  readonly wheel: ExpiryWheel;
  readonly laddrs: LaddrPool;
  readonly persist: PersistTable;
  /**
   * Per-dest counters are the only ones the packet path touches. Service and total counters are
   * sums over dests, rebuilt by syncStats(); what a freed dest or service had counted moves into
   * the retired arrays so the sums never go back.
   */
  readonly destStats: Stats;
  readonly svcStats: Stats;
  readonly totalStats: Stats;
  protected readonly svcRetired: Float64Array;
  protected readonly totalRetired = new Float64Array(ST_STRIDE);
  /** Persistence template id per connection (0 = none). */
  readonly connTmpl: Uint32Array;
  /** Flat copies of service / dest addresses for the packet path (4 words per slot). */
  readonly svcAddr: Uint32Array;
  readonly destAddr: Uint32Array;
  readonly destPort: Uint16Array;
  readonly svcs: (Service | undefined)[];
  readonly dests: (Dest | undefined)[];
  /** (VIP, port, proto, family) -> service slot. */
  readonly svcMap: FlowMap;
  /** IPv6 address -> LIP slot, or LOCAL_VIP (IPv4 addresses are in local4). */
  readonly localMap: FlowMap;
  /** IPv4 address -> LIP slot, or LOCAL_VIP. */
  readonly local4: Addr4Map;
  /** Timeout per state in ms. */
  readonly timeoutMs = new Float64Array(S_LAST);
  protected readonly pi = new PacketInfo();
  private readonly sctx = newSchedCtx();
  private readonly icmp: IcmpTranslator;
  private readonly frags: FragCache;
  private readonly toa = new ToaWriter();
  /** SYNPROXY state machine, knobs and cookies. */
  readonly sp: Synproxy;
  /**
   * Packets the engine makes itself (SYN retransmissions, released SYNPROXY segments), to be
   * written out after process() or tick() and then cleared by the caller.
   */
  readonly txq: PacketBatch;
  /** The (LIP slot, dest index, rport) that last reached laddr_ports_low (see portsLow()). */
  private portsLowLaddr = -1;
  private portsLowDest = -1;
  private portsLowRport = 0;
  /** Where the packet being processed lies after processing (TOA may move and grow it). */
  txOff = 0;
  txLen = 0;
  /** Free bytes before and after the packet being processed, in its batch slot. */
  private roomFront = 0;
  private roomBack = 0;
  private readonly expireCb = (id: number): void => {
    // A SYNPROXY connection waiting for its RS wakes for SYN retransmissions first.
    if ((this.conns.w[id * CONN_STRIDE + W_FLAGS]! & CONN_F_SP_WAIT) !== 0 && this.sp.onTimer(id)) return;
    this.expireConn(id);
  };
  /** Engine time of the packets being processed (ms). */
  now: number;
  /**
   * The packet being processed has a partial L4 checksum (offload, PacketBatch.csum): rewrites
   * patch the pseudo-header sum only. Paths that build or keep packets complete it first.
   */
  partial = false;

  constructor(cfg: EngineConfig, now: number) {
    this.cfg = cfg;
    this.now = now;
    this.conns = new ConnTable(cfg.connCapacity, cfg.seed);
    this.wheel = new ExpiryWheel(cfg.connCapacity, cfg.wheelSlots, cfg.wheelGranularityMs, now);
    this.persist = new PersistTable(cfg.maxTemplates, now, cfg.seed ^ 0x5bd1e995);
    this.persist.onRelease = (d) => this.releaseTemplateDest(d);
    this.svcStats = new Stats(cfg.maxServices);
    this.destStats = new Stats(cfg.maxDests);
    this.totalStats = new Stats(1);
    this.svcRetired = new Float64Array(cfg.maxServices * ST_STRIDE);
    this.connTmpl = new Uint32Array(cfg.connCapacity + 1);
    this.svcAddr = new Uint32Array(cfg.maxServices * 4);
    this.destAddr = new Uint32Array(cfg.maxDests * 4);
    this.laddrs = new LaddrPool(
      cfg.maxLaddrs,
      cfg.lportMin,
      cfg.lportMax,
      this.conns.w,
      this.destAddr,
      cfg.maxLaddrTuples,
      cfg.lportRandomStart ? cfg.seed : null,
    );
    this.destPort = new Uint16Array(cfg.maxDests);
    this.svcs = new Array<Service | undefined>(cfg.maxServices).fill(undefined);
    this.dests = new Array<Dest | undefined>(cfg.maxDests).fill(undefined);
    let cap = 16;
    while (cap * 3 < cfg.maxServices * 4) cap *= 2;
    this.svcMap = new FlowMap(cap, cfg.seed ^ 0x27d4eb2f);
    cap = 16;
    while (cap * 3 < (cfg.maxServices + cfg.maxLaddrs) * 4) cap *= 2;
    this.localMap = new FlowMap(cap, cfg.seed ^ 0x165667b1);
    this.local4 = new Addr4Map(cap);
    // FULLNAT's closing timeouts are sysctls (timeout_timewait, timeout_close), held with the knobs.
    cfg.timeouts[S_TIME_WAIT] = cfg.knobs.timeoutTimeWait;
    cfg.timeouts[S_CLOSE] = cfg.knobs.timeoutClose;
    this.setTimeouts(cfg.timeouts);
    this.icmp = new IcmpTranslator(this);
    this.frags = new FragCache(cfg.fragEntries, 30_000, cfg.seed ^ 0x3c6ef372);
    this.txq = new PacketBatch(cfg.txqSize);
    this.sp = new Synproxy(this, { ...cfg.knobs }, cfg.cookieSecret, cfg.synproxyQueueSlots);
  }

  setTimeouts(seconds: readonly number[]): void {
    for (let s = 0; s < S_LAST; s++) this.timeoutMs[s] = seconds[s]! * 1000;
  }

  /**
   * Processes every packet of the batch at engine time `now` (ms): each slot gets VERDICT_TX
   * (rewritten in place, to be written back) or VERDICT_DROP (with its reason counted).
   */
  process(batch: PacketBatch, now: number): void {
    this.now = now;
    const dv = batch.dv;
    const n = batch.count;
    if (n > 1) this.prefetch(batch);
    const fast = this.cfg.fastPath;
    let tx = 0;
    let stolen = 0;
    for (let i = 0; i < n; i++) {
      const off = batch.off[i]!;
      const len = batch.len[i]!;
      let v = fast ? this.fast4(dv, off, len, batch.csum[i] === 1) : -1;
      if (v < 0) {
        v = this.processSlot(batch, i, off, len);
        if (this.sp.releaseId !== 0) this.sp.release();
      }
      batch.verdict[i] = v;
      tx += v & 1;
      stolen += v >>> 1;
    }
    const c = this.counters;
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
  private prefetch(batch: PacketBatch): void {
    const dv = batch.dv;
    const ct = this.conns;
    const head = ct.inHead;
    const s = this.pfSrc;
    const d = this.pfDst;
    const ids = this.pfIds;
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
      const local = this.local4.get(dst);
      if (local >= 0) {
        ids[i] = this.laddrs.out[local * 2 + (proto === PROTO_UDP ? 1 : 0)]![dport]!;
      } else {
        s[0] = dv.getUint32(o + 12);
        d[0] = dst;
        ids[i] = head[ct.hashIn(proto, s, 0, sport, d, 0, dport, false)]!;
      }
    }
    const w = ct.w;
    let sink = 0;
    for (let i = 0; i < n; i++) sink += w[ids[i]! * CONN_STRIDE]!;
    this.pfSink = sink;
  }

  private readonly pfIds = new Uint32Array(256);
  /** Scratch for prefetch(); pfSink keeps its loads from being optimised away. */
  private readonly pfSrc = new Uint32Array(4);
  private readonly pfDst = new Uint32Array(4);
  pfSink = 0;

  /** Expires connections and templates whose time has come, and runs the rate estimators. */
  tick(now: number): void {
    this.now = now;
    this.wheel.sweep(now, this.conns.f64, F64_STRIDE, F_EXPIRES, this.cfg.expireBudget, this.expireCb);
    this.persist.sweep(now, this.cfg.expireBudget);
    this.syncStats();
    this.svcStats.tick(now);
    this.destStats.tick(now);
    this.totalStats.tick(now);
  }

  drop(reason: number): number {
    this.counters[reason]! += 1;
    return VERDICT_DROP;
  }

  /**
   * The common case in one function: an IPv4 TCP/UDP packet without options or fragmentation,
   * of an established flow, in either direction. Everything is inlined by hand (no PacketInfo,
   * no calls on the way) because this is where the packets are. Returns -1, having changed
   * nothing, for anything else; processOne() then handles it fully (new connections, state
   * changes, ICMP, IPv6, drops and their counters).
   */
  fast4(dv: DataView, off: number, len: number, partial: boolean): number {
    if (len < 28 || dv.getUint8(off) !== 0x45) return -1;
    const tot = dv.getUint16(off + 2);
    if (tot > len || tot < 28 || (dv.getUint16(off + 6) & 0x3fff) !== 0) return -1;
    const proto = dv.getUint8(off + 9);
    const l4 = off + 20;
    let flags = 0;
    let udp = false;
    let thl = 0;
    if (proto === PROTO_TCP) {
      if (tot < 40) return -1;
      thl = (dv.getUint8(l4 + 12) >>> 4) << 2;
      if (thl < 20 || thl > tot - 20) return -1;
      flags = dv.getUint8(l4 + 13);
      // SYN and RST may create, reuse or end connections: the full path decides.
      if ((flags & (TH_SYN | TH_RST)) !== 0) return -1;
    } else if (proto === PROTO_UDP) {
      const ulen = dv.getUint16(l4 + 4);
      if (ulen < 8 || ulen > tot - 20) return -1;
      udp = true;
    } else {
      return -1;
    }
    const ttl = dv.getUint8(off + 8);
    if (ttl <= 1) return -1;
    if (ipv4HeaderSum(dv, off, 20) !== 0xffff) return -1;

    const src = dv.getUint32(off + 12);
    const dst = dv.getUint32(off + 16);
    const sport = dv.getUint16(l4);
    const dport = dv.getUint16(l4 + 2);
    const ct = this.conns;
    const w = ct.w;
    const local = this.local4.get(dst);
    let id = 0;
    let dir = DIR_IN;
    const want = CONN_F_USED | (udp ? CONN_F_UDP : 0);
    if (local >= 0) {
      dir = DIR_OUT;
      // One lport serves several RS tuples: its chain is walked for this one.
      const next = this.laddrs.outNext;
      const da = this.destAddr;
      for (id = this.laddrs.out[local * 2 + (udp ? 1 : 0)]![dport]!; id !== 0; id = next[id]!) {
        const o = id * CONN_STRIDE;
        if ((w[o + W_LDPORT]! & 0xffff) === sport && da[w[o + W_DEST]! * 4] === src) break;
      }
      if (id === 0 || (w[id * CONN_STRIDE + W_FLAGS]! & (CONN_F_USED | CONN_F_IPV6 | CONN_F_UDP)) !== want)
        return -1;
    } else if (local === LOCAL_VIP) {
      const s4 = this.pfSrc;
      const d4 = this.pfDst;
      s4[0] = src;
      d4[0] = dst;
      const ports = ((sport << 16) | dport) >>> 0;
      const sa = this.svcAddr;
      for (let c = ct.inHead[ct.hashIn(proto, s4, 0, sport, d4, 0, dport, false)]!; c !== 0; ) {
        const o = c * CONN_STRIDE;
        if (
          w[o + W_CVPORT] === ports &&
          w[o] === src &&
          (w[o + W_FLAGS]! & (CONN_F_USED | CONN_F_IPV6 | CONN_F_UDP)) === want &&
          sa[w[o + W_SVC]! * 4] === dst
        ) {
          id = c;
          break;
        }
        c = w[o + W_INNEXT]!;
      }
      if (id === 0) return -1;
    } else {
      return -1;
    }

    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    if ((fw & (CONN_F_TOA_SEQ | CONN_F_SP_WAIT)) !== 0) return -1;
    // SYNPROXY flows shift seq/ack here too; segments with options (SACK edges to shift,
    // timestamps to translate) take the full path.
    const spFlow = (fw & CONN_F_SYNPROXY) !== 0;
    if (spFlow && thl !== 20) return -1;
    const st = (fw >>> 16) & 0xff;
    if (!udp && TCP_FLAGS_NEXT[(dir * 32 + (flags & 0x17)) * S_LAST + st] !== st) return -1;
    // A client ACK on a closing SYNPROXY flow may carry a new cookie (conn reuse): full path.
    if (spFlow && dir === DIR_IN && (st === S_CLOSE || st === S_TIME_WAIT)) return -1;
    const fi = id * F64_STRIDE + F_EXPIRES;
    const exp = this.now + this.timeoutMs[st]!;
    if (exp < ct.f64[fi]!) return -1; // a lowered timeout: track() re-files it
    // Past the last way back to the full path: the ACK-storm guard may drop (and count) now.
    let seqDiff = 0;
    if (spFlow) {
      const delta = w[o + W_SP_A]!;
      if (dir === DIR_OUT) {
        const seq = dv.getUint32(l4 + 4);
        if (this.sp.ackStorm(id, seq, dv.getUint32(l4 + 8), flags, 0)) return VERDICT_DROP; // no options here
        const ns = (seq + delta) >>> 0;
        dv.setUint32(l4 + 4, ns);
        seqDiff = (~seq >>> 16) + (~seq & 0xffff) + (ns >>> 16) + (ns & 0xffff);
      } else if ((flags & TH_ACK) !== 0) {
        const ack = dv.getUint32(l4 + 8);
        const na = (ack - delta) >>> 0;
        dv.setUint32(l4 + 8, na);
        seqDiff = (~ack >>> 16) + (~ack & 0xffff) + (na >>> 16) + (na & 0xffff);
      }
    }
    ct.f64[fi] = exp;

    // Rewrite: in = (LIP:lport -> RS:rport), out = (VIP:vport -> CIP:cport).
    let nsrc: number;
    let ndst: number;
    let nsport: number;
    let ndport: number;
    if (dir === DIR_IN) {
      const ld = w[o + W_LDPORT]!;
      nsrc = this.laddrs.addr[w[o + W_LADDR]! * 4]!;
      ndst = this.destAddr[w[o + W_DEST]! * 4]!;
      nsport = ld >>> 16;
      ndport = ld & 0xffff;
    } else {
      const cv = w[o + W_CVPORT]!;
      nsrc = this.svcAddr[w[o + W_SVC]! * 4]!;
      ndst = w[o + W_CADDR]!;
      nsport = cv & 0xffff;
      ndport = cv >>> 16;
    }
    const addrDiff =
      (~src >>> 16) +
      (~src & 0xffff) +
      (~dst >>> 16) +
      (~dst & 0xffff) +
      (nsrc >>> 16) +
      (nsrc & 0xffff) +
      (ndst >>> 16) +
      (ndst & 0xffff);
    dv.setUint32(off + 12, nsrc);
    dv.setUint32(off + 16, ndst);
    dv.setUint16(l4, nsport);
    dv.setUint16(l4 + 2, ndport);
    const co = udp ? l4 + 6 : l4 + 16;
    const oc = dv.getUint16(co);
    if (partial) {
      // The field holds the pseudo-header sum: only the addresses are in it.
      let x = oc + addrDiff;
      x = (x & 0xffff) + (x >>> 16);
      x = (x & 0xffff) + (x >>> 16);
      dv.setUint16(co, x);
    } else if (!(udp && oc === 0)) {
      const l4Diff = addrDiff + (sport ^ 0xffff) + (dport ^ 0xffff) + nsport + ndport + seqDiff;
      let x = (~oc & 0xffff) + l4Diff;
      x = (x & 0xffff) + (x >>> 16);
      x = (x & 0xffff) + (x >>> 16);
      x = ~x & 0xffff;
      dv.setUint16(co, udp && x === 0 ? 0xffff : x);
    }
    // TTL - 1 and the header checksum: the TTL/proto word loses 0x100.
    const tw = (ttl << 8) | proto;
    dv.setUint8(off + 8, ttl - 1);
    let y = (~dv.getUint16(off + 10) & 0xffff) + addrDiff + (tw ^ 0xffff) + (tw - 0x100);
    y = (y & 0xffff) + (y >>> 16);
    y = (y & 0xffff) + (y >>> 16);
    dv.setUint16(off + 10, ~y & 0xffff);

    const dc = this.destStats.c;
    const so = w[o + W_DEST]! * ST_STRIDE;
    if (dir === DIR_IN) {
      dc[so + ST_INPKTS]! += 1;
      dc[so + ST_INBYTES]! += len;
    } else {
      dc[so + ST_OUTPKTS]! += 1;
      dc[so + ST_OUTBYTES]! += len;
    }
    return VERDICT_TX;
  }

  /** The full path for slot i of a batch; moves the slot's off/len when the packet changed size. */
  processSlot(batch: PacketBatch, i: number, off: number, len: number): number {
    const slot = i * batch.slotSize;
    this.roomFront = off - slot;
    this.roomBack = slot + batch.slotSize - off - len;
    this.partial = batch.csum[i] === 1;
    const v = this.processOne(batch.dv, off, len);
    if (this.txLen !== len || this.txOff !== off) {
      batch.off[i] = this.txOff;
      batch.len[i] = this.txLen;
    }
    batch.verdict[i] = v;
    batch.csum[i] = this.partial ? 1 : 0;
    return v;
  }

  /** Verdict for one packet at bytes [off, off+len) of `dv`. */
  processOne(dv: DataView, off: number, len: number): number {
    const pi = this.pi;
    this.txOff = off;
    this.txLen = len;
    const r = parsePacket(dv, off, len, pi);
    if (r !== 0) return this.drop(r);
    const proto = pi.proto;
    if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
      this.partial = false; // ICMP is never offloaded; replies are built whole
      return this.icmp.handle(dv, pi);
    }
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return this.drop(D_PROTO_UNSUPPORTED);
    if (pi.fragTail) return this.forwardFragTail(dv, len);

    const v6 = pi.family === 6;
    const local = v6 ? this.localGet6(pi.daddr) : this.local4.get(pi.daddr[0]!);
    if (local >= 0) {
      // RS -> client traffic arrives at a LIP; (LIP, proto, lport) names the connection.
      const oid = this.lookupOut(local, proto, v6, pi.dport, pi.saddr, 0, pi.sport);
      if (oid === 0) return this.drop(D_OUT_NO_CONN);
      return this.forwardOut(dv, oid, len);
    }
    // Connections of a deleted service still drain through an address that is no longer a VIP.
    const ct = this.conns;
    const bucket = ct.hashIn(proto, pi.saddr, 0, pi.sport, pi.daddr, 0, pi.dport, v6);
    let id = this.lookupIn(bucket, proto, v6, pi.saddr, 0, pi.sport, pi.daddr, 0, pi.dport);
    if (id !== 0) {
      const st = (ct.w[id * CONN_STRIDE + W_FLAGS]! >>> 16) & 0xff;
      if (proto === PROTO_TCP && (st === S_TIME_WAIT || st === S_CLOSE)) {
        // A new SYN on a closing connection: IPVS's conn_reuse — end the old one, schedule anew.
        // With SYNPROXY the new connection shows itself by an ACK with a valid cookie instead.
        const f = pi.tcpFlags & (TH_SYN | TH_ACK | TH_RST);
        if (
          f === TH_SYN ||
          (f === TH_ACK && this.svcs[ct.w[id * CONN_STRIDE + W_SVC]!]!.synproxy && this.sp.validAck(dv, pi))
        ) {
          this.counters[f === TH_SYN ? E_CONN_REUSED : E_SP_REUSED]! += 1;
          this.expireConn(id);
          id = 0;
        }
      }
      if (id !== 0) return this.forwardIn(dv, id, len);
    }

    // A new connection to a VIP.
    if (local !== LOCAL_VIP) return this.drop(D_NOT_LOCAL);
    const svcIdx = this.findService(proto, pi.family, pi.daddr, pi.dport);
    if (proto === PROTO_TCP) {
      const f = pi.tcpFlags & (TH_SYN | TH_ACK | TH_RST | TH_FIN);
      const sp = svcIdx >= 0 && this.svcs[svcIdx]!.synproxy;
      if (sp && f === TH_SYN) {
        this.partial = false; // the SYN-ACK is built whole in its place
        return this.sp.answerSyn(dv, pi);
      }
      if (sp && (f & ~TH_FIN) === TH_ACK) return this.synproxyAck(dv, pi, svcIdx, bucket);
      if (f !== TH_SYN) return this.drop(D_NO_CONN);
    }
    if (svcIdx < 0) return this.drop(D_NO_SERVICE);
    id = this.newConn(svcIdx, bucket);
    if (id === 0) return VERDICT_DROP;
    return this.forwardIn(dv, id, len);
  }

  /** A client ACK with no connection to a SYNPROXY service: a cookie opens the RS side. */
  private synproxyAck(dv: DataView, pi: PacketInfo, svcIdx: number, bucket: number): number {
    // Its data may be kept for later, when no offload flag goes with it.
    this.completeL4(dv, pi);
    if ((pi.tcpFlags & TH_FIN) !== 0 || !this.sp.validAck(dv, pi)) return this.sp.badAck();
    const thl = (dv.getUint8(pi.l4 + 12) >>> 4) << 2;
    if (this.sp.knobs.defer && pi.end - pi.l4 === thl) return this.sp.deferDrop();
    const id = this.newConn(svcIdx, bucket);
    if (id === 0) return VERDICT_DROP;
    return this.sp.openRs(dv, pi, id);
  }

  /**
   * Control path: the LIP and real-server tuple that last reached 7/8 of the LIP's ports
   * (laddr_ports_low), for the daemon's warning; null before the first time.
   */
  portsLow(): { laddr: string; rs: string; rport: number } | null {
    const la = this.portsLowLaddr;
    const d = this.dests[this.portsLowDest];
    if (la < 0 || d === undefined) return null;
    const lp = this.laddrs;
    return {
      laddr: formatIp(lp.family[la] as Family, lp.addr.subarray(la * 4, la * 4 + 4)),
      rs: formatIp(d.family, d.addr),
      rport: this.portsLowRport,
    };
  }

  /** Makes a partial TCP/UDP checksum whole (for paths that build, keep or re-send packets). */
  private completeL4(dv: DataView, pi: PacketInfo): void {
    if (!this.partial) return;
    this.partial = false;
    const v6 = pi.family === 6;
    if (pi.proto === PROTO_TCP) tcpChecksumFull(dv, pi.l3, pi.l4, pi.end, v6);
    else if (pi.proto === PROTO_UDP) udpChecksumFull(dv, pi.l3, pi.l4, pi.end, v6);
  }

  /** LIP slot, LOCAL_VIP or -1 for an address of either family (control path and ICMP). */
  localGet(family: number, a: Uint32Array): number {
    return family === 6 ? this.localGet6(a) : this.local4.get(a[0]!);
  }

  private localGet6(a: Uint32Array): number {
    const m = this.localMap;
    this.setAddrKey(m.key, a, 6);
    return m.get();
  }

  /** Maps a local address; false when the table is full. */
  localSet(family: number, a: Uint32Array, v: number): boolean {
    if (family === 4) return this.local4.set(a[0]!, v);
    this.setAddrKey(this.localMap.key, a, 6);
    return this.localMap.set(v);
  }

  localDelete(family: number, a: Uint32Array): void {
    if (family === 4) {
      this.local4.delete(a[0]!);
      return;
    }
    this.setAddrKey(this.localMap.key, a, 6);
    this.localMap.delete();
  }

  /** Room for one more local address (VIP or LIP) of this family. */
  localFull(family: number): boolean {
    return family === 4 ? this.local4.full : this.localMap.size >= this.localMap.maxSize;
  }

  setAddrKey(k: Uint32Array, a: Uint32Array, family: number): void {
    k[0] = a[0]!;
    k[1] = a[1]!;
    k[2] = a[2]!;
    k[3] = a[3]!;
    k[FK_PORT] = family << 24;
    k[FK_EXTRA] = 0;
  }

  /** Service slot for (proto, family, vaddr, vport), falling back to a port-0 service; -1 if none. */
  findService(proto: number, family: number, addr: Uint32Array, port: number): number {
    const m = this.svcMap;
    const k = m.key;
    this.setAddrKey(k, addr, family);
    k[FK_PORT] = flowKeyPort(port, proto, family);
    let s = m.get();
    if (s < 0 && port !== 0) {
      k[FK_PORT] = flowKeyPort(0, proto, family);
      s = m.get();
    }
    return s;
  }

  /** Walks in-index chain `bucket` for (caddr:cport -> vaddr:vport); 0 when absent. */
  lookupIn(
    bucket: number,
    proto: number,
    v6: boolean,
    c: Uint32Array,
    ci: number,
    cport: number,
    v: Uint32Array,
    vi: number,
    vport: number,
  ): number {
    const ct = this.conns;
    const w = ct.w;
    const want = CONN_F_USED | (v6 ? CONN_F_IPV6 : 0) | (proto === PROTO_UDP ? CONN_F_UDP : 0);
    const ports = ((cport << 16) | vport) >>> 0;
    const sa = this.svcAddr;
    for (let id = ct.inHead[bucket]!; id !== 0; ) {
      const o = id * CONN_STRIDE;
      if (
        w[o + W_CVPORT] === ports &&
        w[o + W_CADDR] === c[ci] &&
        (w[o + W_FLAGS]! & (CONN_F_USED | CONN_F_IPV6 | CONN_F_UDP)) === want
      ) {
        const so = w[o + W_SVC]! * 4;
        if (
          sa[so] === v[vi] &&
          (!v6 ||
            (w[o + 1] === c[ci + 1] &&
              w[o + 2] === c[ci + 2] &&
              w[o + 3] === c[ci + 3] &&
              sa[so + 1] === v[vi + 1] &&
              sa[so + 2] === v[vi + 2] &&
              sa[so + 3] === v[vi + 3]))
        ) {
          return id;
        }
      }
      id = w[o + W_INNEXT]!;
    }
    return 0;
  }

  /** The connection of LIP slot `la` whose lport is `lport` and whose RS is raddr:rport; 0 if none. */
  lookupOut(
    la: number,
    proto: number,
    v6: boolean,
    lport: number,
    raddr: Uint32Array,
    ri: number,
    rport: number,
  ): number {
    const lp = this.laddrs;
    const next = lp.outNext;
    for (let id = lp.out[la * 2 + (proto === PROTO_UDP ? 1 : 0)]![lport]!; id !== 0; id = next[id]!) {
      if (this.outMatches(id, proto, v6, raddr, ri, rport)) return id;
    }
    return 0;
  }

  /** Connection `id` is of this protocol/family and its real server is raddr:rport. */
  outMatches(id: number, proto: number, v6: boolean, raddr: Uint32Array, ri: number, rport: number): boolean {
    const w = this.conns.w;
    const o = id * CONN_STRIDE;
    const f = w[o + W_FLAGS]!;
    if (((f & CONN_F_UDP) !== 0) !== (proto === PROTO_UDP) || ((f & CONN_F_IPV6) !== 0) !== v6) return false;
    if ((w[o + W_LDPORT]! & 0xffff) !== rport) return false;
    const da = this.destAddr;
    const d = w[o + W_DEST]! * 4;
    return (
      da[d] === raddr[ri] &&
      da[d + 1] === raddr[ri + 1] &&
      da[d + 2] === raddr[ri + 2] &&
      da[d + 3] === raddr[ri + 3]
    );
  }

  private forwardIn(dv: DataView, id: number, len: number): number {
    const pi = this.pi;
    const l3 = pi.l3;
    const v6 = pi.family === 6;
    const w = this.conns.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    if ((fw & CONN_F_SP_WAIT) !== 0) {
      this.completeL4(dv, pi);
      return this.sp.clientWhileWaiting(dv, pi, id);
    }
    if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return this.drop(D_TTL_EXPIRED);
    this.track(id, DIR_IN, pi.tcpFlags, pi.proto === PROTO_TCP);
    const la = w[o + W_LADDR]!;
    const d = w[o + W_DEST]!;
    const ld = w[o + W_LDPORT]!;
    if (v6) {
      rewrite6(
        dv,
        l3,
        pi.l4,
        pi.proto,
        true,
        this.laddrs.addr,
        la * 4,
        ld >>> 16,
        this.destAddr,
        d * 4,
        ld & 0xffff,
        this.partial,
      );
    } else {
      rewrite4(
        dv,
        l3,
        pi.l4,
        pi.proto,
        true,
        this.laddrs.addr[la * 4]!,
        ld >>> 16,
        this.destAddr[d * 4]!,
        ld & 0xffff,
        this.partial,
      );
    }
    if ((fw & CONN_F_SYNPROXY) !== 0 && pi.proto === PROTO_TCP) this.sp.translateIn(dv, pi, id);
    this.account(id, len, ST_INPKTS, ST_INBYTES);
    if (pi.isFrag) this.frags.add(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, id, DIR_IN, this.now);
    else if ((w[o + W_FLAGS]! & CONN_F_TOA_SEQ) !== 0 && pi.proto === PROTO_TCP) this.maybeToa(dv, id, v6);
    return VERDICT_TX;
  }

  /** TOA on a client -> RS segment that acks the RS's first data byte (handshake ACK, first data). */
  private maybeToa(dv: DataView, id: number, v6: boolean): void {
    const pi = this.pi;
    if ((pi.tcpFlags & (TH_SYN | TH_RST | TH_ACK)) !== TH_ACK) return;
    const w = this.conns.w;
    const o = id * CONN_STRIDE;
    if (dv.getUint32(pi.l4 + 8) !== w[o + W_TOA_SEQ]) {
      // The client acked RS data: the handshake is behind us, stop looking.
      w[o + W_FLAGS] = w[o + W_FLAGS]! & ~CONN_F_TOA_SEQ;
      return;
    }
    const r = this.toa.insert(
      dv,
      pi.l3,
      pi.l4,
      pi.end,
      v6,
      w,
      o + W_CADDR,
      w[o + W_CVPORT]! >>> 16,
      this.roomFront,
      this.roomBack + (this.txOff + this.txLen - pi.end),
      this.cfg.mtu,
      this.partial,
    );
    if (r === TOA_OK) {
      this.txOff = this.toa.start;
      this.txLen = this.toa.end - this.toa.start;
      this.counters[E_TOA_OK]! += 1;
      w[o + W_FLAGS] = w[o + W_FLAGS]! | CONN_F_TOA_SENT;
    } else if ((w[o + W_FLAGS]! & CONN_F_TOA_SENT) === 0) {
      // Only a connection whose RS has not seen TOA yet loses something: coalesced (GSO) client
      // segments after the handshake ACK carried it are not failures.
      this.counters[r === TOA_FAIL_LEN ? E_TOA_FAIL_LEN : E_TOA_HEAD_FULL]! += 1;
    }
  }

  private forwardOut(dv: DataView, id: number, len: number): number {
    const pi = this.pi;
    const l3 = pi.l3;
    const v6 = pi.family === 6;
    const w = this.conns.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    if ((fw & CONN_F_SP_WAIT) !== 0) {
      this.completeL4(dv, pi);
      return this.sp.rsWhileWaiting(dv, pi, id);
    }
    if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return this.drop(D_TTL_EXPIRED);
    if ((fw & CONN_F_SYNPROXY) !== 0 && pi.proto === PROTO_TCP && !this.sp.translateOut(dv, pi, id))
      return VERDICT_DROP;
    this.track(id, DIR_OUT, pi.tcpFlags, pi.proto === PROTO_TCP);
    const sv = w[o + W_SVC]!;
    const cv = w[o + W_CVPORT]!;
    if (v6) {
      rewrite6(
        dv,
        l3,
        pi.l4,
        pi.proto,
        true,
        this.svcAddr,
        sv * 4,
        cv & 0xffff,
        w,
        o + W_CADDR,
        cv >>> 16,
        this.partial,
      );
    } else {
      const s = this.svcAddr[sv * 4]!;
      rewrite4(dv, l3, pi.l4, pi.proto, true, s, cv & 0xffff, w[o + W_CADDR]!, cv >>> 16, this.partial);
    }
    this.account(id, len, ST_OUTPKTS, ST_OUTBYTES);
    if (pi.isFrag) {
      this.frags.add(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, id, DIR_OUT, this.now);
    } else if (
      (pi.tcpFlags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK) &&
      (fw & (CONN_F_TOA | CONN_F_SYNPROXY)) === CONN_F_TOA
    ) {
      // The RS's SYN-ACK: remember its first data sequence and make room for TOA in its MSS.
      w[o + W_TOA_SEQ] = (dv.getUint32(pi.l4 + 4) + 1) >>> 0;
      w[o + W_FLAGS] = w[o + W_FLAGS]! | CONN_F_TOA_SEQ;
      const thl = (dv.getUint8(pi.l4 + 12) >>> 4) << 2;
      if (lowerMss(dv, pi.l4, thl, v6 ? TOA_LEN6 : TOA_LEN4, v6) && !this.partial)
        tcpChecksumFull(dv, l3, pi.l4, pi.end, v6);
    }
    return VERDICT_TX;
  }

  /** A fragment without transport header: follows its first fragment's connection, addresses only. */
  private forwardFragTail(dv: DataView, len: number): number {
    const pi = this.pi;
    const v6 = pi.family === 6;
    const id = this.frags.find(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, this.now);
    if (id === 0) return this.drop(D_FRAG_UNKNOWN);
    const w = this.conns.w;
    const o = id * CONN_STRIDE;
    const dir = this.frags.lastDir;
    // The connection may have ended and its id been reused: check it still has these addresses.
    const f = w[o + W_FLAGS]!;
    if (
      (f & CONN_F_USED) === 0 ||
      ((f & CONN_F_IPV6) !== 0) !== v6 ||
      ((f & CONN_F_UDP) !== 0) !== (pi.proto === PROTO_UDP)
    ) {
      return this.drop(D_FRAG_UNKNOWN);
    }
    const la = w[o + W_LADDR]! * 4;
    const d = w[o + W_DEST]! * 4;
    const sv = w[o + W_SVC]! * 4;
    const lA = this.laddrs.addr;
    const dA = this.destAddr;
    const sA = this.svcAddr;
    const s = pi.saddr;
    const t = pi.daddr;
    const ok =
      dir === DIR_IN
        ? w[o] === s[0] &&
          w[o + 1] === s[1] &&
          w[o + 2] === s[2] &&
          w[o + 3] === s[3] &&
          sA[sv] === t[0] &&
          sA[sv + 1] === t[1] &&
          sA[sv + 2] === t[2] &&
          sA[sv + 3] === t[3]
        : dA[d] === s[0] &&
          dA[d + 1] === s[1] &&
          dA[d + 2] === s[2] &&
          dA[d + 3] === s[3] &&
          lA[la] === t[0] &&
          lA[la + 1] === t[1] &&
          lA[la + 2] === t[2] &&
          lA[la + 3] === t[3];
    if (!ok) return this.drop(D_FRAG_UNKNOWN);
    const l3 = pi.l3;
    if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return this.drop(D_TTL_EXPIRED);
    if (dir === DIR_IN) {
      if (v6) rewrite6(dv, l3, pi.l4, pi.proto, false, lA, la, 0, dA, d, 0);
      else rewrite4(dv, l3, pi.l4, pi.proto, false, lA[la]!, 0, dA[d]!, 0);
      this.account(id, len, ST_INPKTS, ST_INBYTES);
    } else {
      if (v6) rewrite6(dv, l3, pi.l4, pi.proto, false, sA, sv, 0, w, o + W_CADDR, 0);
      else rewrite4(dv, l3, pi.l4, pi.proto, false, sA[sv]!, 0, w[o + W_CADDR]!, 0);
      this.account(id, len, ST_OUTPKTS, ST_OUTBYTES);
    }
    this.counters[E_FRAG_FWD]! += 1;
    return VERDICT_TX;
  }

  /** Adds one packet of `len` bytes to the connection's dest counters. */
  account(id: number, len: number, pk: number, by: number): void {
    const dc = this.destStats.c;
    const dO = this.conns.w[id * CONN_STRIDE + W_DEST]! * ST_STRIDE;
    dc[dO + pk]! += 1;
    dc[dO + by]! += len;
  }

  /** Rebuilds service and total counters from the dests (control path, every tick and listing). */
  syncStats(): void {
    const sc = this.svcStats.c;
    const tc = this.totalStats.c;
    sc.set(this.svcRetired);
    tc.set(this.totalRetired);
    const dc = this.destStats.c;
    for (const d of this.dests) {
      if (d === undefined) continue;
      const so = d.svc.idx * ST_STRIDE;
      const dO = d.idx * ST_STRIDE;
      for (let k = 0; k < ST_STRIDE; k++) sc[so + k]! += dc[dO + k]!;
    }
    for (const svc of this.svcs) {
      if (svc === undefined) continue;
      const so = svc.idx * ST_STRIDE;
      for (let k = 0; k < ST_STRIDE; k++) tc[k]! += sc[so + k]!;
    }
  }

  /** A dest slot is being freed: keep what it counted in its service's (or the total's) sums. */
  protected retireDestStats(d: Dest): void {
    const dc = this.destStats.c;
    const dO = d.idx * ST_STRIDE;
    const svcAlive = this.svcs[d.svc.idx] === d.svc;
    const target = svcAlive ? this.svcRetired : this.totalRetired;
    const to = svcAlive ? d.svc.idx * ST_STRIDE : 0;
    for (let k = 0; k < ST_STRIDE; k++) target[to + k]! += dc[dO + k]!;
    this.destStats.reset(d.idx);
  }

  /** A service slot is being freed: its sums move into the total's retired counters. */
  protected retireSvcStats(svc: Service): void {
    const so = svc.idx * ST_STRIDE;
    for (let k = 0; k < ST_STRIDE; k++) this.totalRetired[k]! += this.svcRetired[so + k]!;
    this.svcRetired.fill(0, so, so + ST_STRIDE);
    this.svcStats.reset(svc.idx);
  }

  /** State transition (TCP) and timeout refresh; keeps the dest's active/inactive counts right. */
  track(id: number, dir: number, flags: number, tcp: boolean): void {
    const ct = this.conns;
    const w = ct.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    const old = (fw >>> 16) & 0xff;
    const st = tcp ? tcpNextState(dir, tcpEvent(flags), old) : old;
    const exp = this.now + this.timeoutMs[st]!;
    const fi = id * F64_STRIDE + F_EXPIRES;
    const prev = ct.f64[fi]!;
    ct.f64[fi] = exp;
    if (st === old) {
      // Only a lowered timeout (--set) moves a deadline earlier than where it is filed.
      if (exp < prev) this.wheel.move(id, exp);
      return;
    }
    this.setState(id, st);
  }

  /**
   * Moves a connection to state `st` with that state's timeout, and keeps the dest's
   * active/inactive counts right (IPVS counts only ESTABLISHED as active).
   */
  setState(id: number, st: number): void {
    const ct = this.conns;
    const w = ct.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    const exp = this.now + this.timeoutMs[st]!;
    ct.f64[id * F64_STRIDE + F_EXPIRES] = exp;
    // The deadline may have moved earlier than the slot the connection is filed under.
    this.wheel.move(id, exp);
    const dest = this.dests[w[o + W_DEST]!]!;
    let f = fw & 0xffff;
    if ((f & CONN_F_INACTIVE) === 0 && st !== S_ESTABLISHED) {
      dest.activeConns--;
      dest.inactConns++;
      f |= CONN_F_INACTIVE;
    } else if ((f & CONN_F_INACTIVE) !== 0 && st === S_ESTABLISHED) {
      dest.activeConns++;
      dest.inactConns--;
      f &= ~CONN_F_INACTIVE;
    }
    w[o + W_FLAGS] = (fw & 0xff000000) | f | (st << 16);
  }

  /** Creates a connection for the packet in this.pi to service `svcIdx`; 0 (counted) on failure. */
  private newConn(svcIdx: number, bucket: number): number {
    const ct = this.conns;
    if (ct.full) {
      this.drop(D_CONN_LIMIT);
      return 0;
    }
    const pi = this.pi;
    const svc = this.svcs[svcIdx]!;
    const ctx = this.sctx;
    ctx.family = pi.family;
    ctx.saddr.set(pi.saddr);
    ctx.daddr.set(pi.daddr);
    ctx.sport = pi.sport;
    ctx.dport = pi.dport;
    ctx.now = this.now;

    let tmpl = 0;
    let dest: Dest | null = null;
    if (svc.persistTimeout > 0) {
      const pt = this.persist;
      pt.setKey(pi.family, pi.saddr, 0, svc.persistMask, svcIdx);
      tmpl = pt.lookup();
      if (tmpl !== 0) {
        const d = this.dests[pt.dest[tmpl]!]!;
        // As ip_vs_check_template: a removed dest is not followed; a quiesced (weight 0) one only
        // with expire_quiescent_template off (IPVS's default), so persistent clients drain with
        // their sessions; an overloaded one is followed (the threshold limits new clients).
        if ((d.flags & DEST_F_AVAILABLE) !== 0 && (d.weight > 0 || !this.sp.knobs.expireQuiescentTemplate)) {
          dest = d;
          this.counters[E_PERSIST_HIT]! += 1;
        }
      }
    }
    if (dest === null) dest = svc.sched.schedule(svc, ctx);
    if (dest === null) {
      this.drop(D_NO_DEST);
      return 0;
    }

    // Local address and port: round robin over the service's pool, skipping exhausted LIPs.
    const nl = svc.laddrs.length;
    if (nl === 0) {
      this.drop(D_NO_LADDR);
      return 0;
    }
    const pIdx = pi.proto === PROTO_UDP ? 1 : 0;
    const lp = this.laddrs;
    let la = -1;
    let lport = 0;
    const rport = dest.port === 0 ? pi.dport : dest.port;
    for (let t = 0; t < nl; t++) {
      const cand = svc.laddrs[svc.laddrNext]!;
      svc.laddrNext = svc.laddrNext + 1 === nl ? 0 : svc.laddrNext + 1;
      lport = lp.allocPort(cand, pIdx, dest.idx, rport);
      if (lport !== 0) {
        la = cand;
        break;
      }
    }
    if (la < 0) {
      this.drop(D_NO_LPORT);
      return 0;
    }

    if (svc.persistTimeout > 0) {
      const pt = this.persist;
      if (tmpl === 0) {
        // setKey still holds this client's key: findIn/findService used other maps.
        tmpl = pt.create(svcIdx, dest.idx, svc.persistTimeout * 1000, this.now);
        if (tmpl === 0) {
          this.drop(D_NO_TEMPLATE);
          return 0;
        }
        dest.persistConns++;
      } else if (pt.dest[tmpl] !== dest.idx) {
        this.dests[pt.dest[tmpl]!]!.persistConns--;
        this.releaseTemplateDestIfIdle(pt.dest[tmpl]!);
        pt.dest[tmpl] = dest.idx;
        dest.persistConns++;
      }
      pt.use(tmpl, this.now);
    }

    const id = ct.alloc();
    const v6 = pi.family === 6;
    const tcp = pi.proto === PROTO_TCP;
    const w = ct.w;
    const o = id * CONN_STRIDE;
    const st = tcp ? S_NONE : S_UDP;
    const flags =
      CONN_F_USED |
      CONN_F_INACTIVE |
      (v6 ? CONN_F_IPV6 : 0) |
      (tcp ? (svc.toa ? CONN_F_TOA : 0) : CONN_F_UDP) |
      (tmpl !== 0 ? CONN_F_PERSIST : 0);
    w[o + W_FLAGS] = flags | (st << 16);
    this.connTmpl[id] = tmpl;
    w.set(pi.saddr, o + W_CADDR);
    w[o + W_CVPORT] = (pi.sport << 16) | pi.dport;
    w[o + W_LDPORT] = (lport << 16) | rport;
    w[o + W_SVC] = svcIdx;
    w[o + W_DEST] = dest.idx;
    w[o + W_LADDR] = la;
    const exp = this.now + this.timeoutMs[st]!;
    ct.f64[id * F64_STRIDE + F_EXPIRES] = exp;
    ct.linkIn(id, bucket);
    if (lp.take(la, pIdx, lport, id)) {
      this.counters[E_LADDR_PORTS_LOW]! += 1;
      this.portsLowLaddr = la;
      this.portsLowDest = dest.idx;
      this.portsLowRport = rport;
    }
    this.wheel.insert(id, exp);

    svc.refs++;
    dest.inactConns++;
    if (dest.uThreshold > 0 && dest.activeConns + dest.inactConns >= dest.uThreshold)
      dest.flags |= DEST_F_OVERLOAD;
    this.destStats.c[dest.idx * ST_STRIDE + ST_CONNS]! += 1;
    this.counters[E_CONN_NEW]! += 1;
    return id;
  }

  /** Removes connection `id` everywhere and returns its resources (wheel callback, reuse, flush). */
  expireConn(id: number): void {
    const ct = this.conns;
    const w = ct.w;
    const o = id * CONN_STRIDE;
    const f = w[o + W_FLAGS]! & 0xffff;
    const v6 = (f & CONN_F_IPV6) !== 0;
    const udp = (f & CONN_F_UDP) !== 0;
    const svcIdx = w[o + W_SVC]!;
    const cv = w[o + W_CVPORT]!;
    const b = ct.hashIn(
      udp ? PROTO_UDP : PROTO_TCP,
      w,
      o + W_CADDR,
      cv >>> 16,
      this.svcAddr,
      svcIdx * 4,
      cv & 0xffff,
      v6,
    );
    ct.unlinkIn(id, b);
    const la = w[o + W_LADDR]!;
    const lport = w[o + W_LDPORT]! >>> 16;
    const pIdx = udp ? 1 : 0;
    const lp = this.laddrs;
    lp.give(la, pIdx, lport, id);
    this.wheel.unlink(id);

    const dest = this.dests[w[o + W_DEST]!]!;
    if ((f & CONN_F_INACTIVE) !== 0) dest.inactConns--;
    else dest.activeConns--;
    if ((dest.flags & DEST_F_OVERLOAD) !== 0) {
      const total = dest.activeConns + dest.inactConns;
      // As ip_vs_unbind_dest: strictly below the lower threshold, or below 3/4 of the upper.
      const clear =
        dest.lThreshold > 0
          ? total < dest.lThreshold
          : dest.uThreshold > 0
            ? total * 4 < dest.uThreshold * 3
            : true;
      if (clear) dest.flags &= ~DEST_F_OVERLOAD;
    }
    if ((f & CONN_F_PERSIST) !== 0) this.persist.unref(this.connTmpl[id]!, this.now);
    if ((f & CONN_F_SP_WAIT) !== 0) this.sp.discard(id);
    this.connTmpl[id] = 0;
    ct.release(id);
    this.counters[E_CONN_EXPIRED]! += 1;

    const svc = this.svcs[svcIdx]!;
    svc.refs--;
    this.onConnGone(svc, dest, la);
  }

  /** Hook for engine.ts: frees slots of deleted services, dests and LIPs once unused. */
  protected onConnGone(_svc: Service, _dest: Dest, _la: number): void {}

  private releaseTemplateDest(destIdx: number): void {
    const d = this.dests[destIdx];
    if (d === undefined) return;
    d.persistConns--;
    this.releaseTemplateDestIfIdle(destIdx);
  }

  protected releaseTemplateDestIfIdle(_destIdx: number): void {}
}
