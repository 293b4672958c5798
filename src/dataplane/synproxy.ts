// SYNPROXY (Alibaba LVS): the LB answers SYNs itself with a syncookie SYN-ACK, keeps no state for
// them, and opens the real-server side only for a client ACK that returns a valid cookie. Then
// every segment's sequence numbers are shifted by delta = cookie ISN - RS ISN: RS->client seq
// += delta, client->RS ack (and SACK edges) -= delta. Client data that arrives before the RS has
// answered waits in a small bounded pool; the RS SYN is retransmitted a bounded number of times.
// With the timestamp knob, TSval/TSecr are translated too (synproxy-ts.ts).

import type { EngineKnobs } from '../common/vocabulary.js';
import { S_CLOSE, S_ESTABLISHED, S_SYN_SENT } from '../common/vocabulary.js';
import { type PacketBatch, VERDICT_DROP, VERDICT_STOLEN, VERDICT_TX } from './batch.js';
import {
  CONN_F_IPV6,
  CONN_F_SP_TS,
  CONN_F_SP_WAIT,
  CONN_F_SYNPROXY,
  CONN_F_TOA,
  CONN_F_TOA_SENT,
  CONN_F_TOA_SEQ,
  CONN_STRIDE,
  F_EXPIRES,
  F64_STRIDE,
  W_CADDR,
  W_CVPORT,
  W_DEST,
  W_FLAGS,
  W_LADDR,
  W_LDPORT,
  W_SP_A,
  W_SP_B,
  W_SVC,
  W_TOA_SEQ,
} from './conn/table.js';
import { setState } from './conn-lifecycle.js';
import type { EngineCore } from './core.js';
import {
  D_SP_ACK_STORM,
  D_SP_BAD_ACK,
  D_SP_DEFER,
  D_SP_QUEUE_FULL,
  D_SP_WAIT,
  D_TXQ_FULL,
  E_SP_ACK_OK,
  E_SP_CLIENT_RST,
  E_SP_QUEUED,
  E_SP_RS_NO_TS,
  E_SP_RS_RST,
  E_SP_RS_TIMEOUT,
  E_SP_SYN,
  E_SP_SYN_RETRANS,
  E_TOA_OK,
} from './counters.js';
import { csumAdjust, negWord, oddWordDiff, sumWord } from './packet/checksum.js';
import type { PacketInfo } from './packet/parse.js';
import { TH_ACK, TH_RST, TH_SYN } from './packet/tcp.js';
import { TCPOPT_SACK, TCPOPT_TOA, tcpFindOption, tcpNextOption } from './packet/tcp-options.js';
import { SynCookies, WSCALE_NONE } from './syncookie.js';
import { emitTcp, OptWriter, SynOptions } from './synproxy-packets.js';
import { findTs, SynproxyTimestamps } from './synproxy-ts.js';

const QUEUE_SLOT = 2048;
/** W_FLAGS top byte while waiting: low nibble retransmissions, high nibble queued segments. */
const CNT_SHIFT = 24;
/** W_SP_A while waiting: MSS (bits 0-15), wscale (16-19), SACK-OK (20), timestamps (21). */
const SPA_SACK = 1 << 20;
const SPA_TS = 1 << 21;

/**
 * What SYNPROXY uses of the engine core (core.ts): the connection tables and addresses it builds
 * segments from, the output queue for retransmissions, counters, and the packet being processed.
 */
export type SynproxyHost = Pick<
  EngineCore,
  | 'conns'
  | 'wheel'
  | 'dests'
  | 'timeoutMs'
  | 'laddrs'
  | 'destAddr'
  | 'svcAddr'
  | 'txq'
  | 'counters'
  | 'drop'
  | 'now'
  | 'txOff'
  | 'txLen'
  | 'partial'
>;

export class Synproxy {
  /** Changed through setKnobs(). */
  knobs: EngineKnobs;
  readonly cookies: SynCookies;
  readonly ts: SynproxyTimestamps;
  private readonly core: SynproxyHost;
  private readonly syn = new SynOptions();
  private readonly opts = new OptWriter();
  private readonly toaBytes = new Uint8Array(18);
  // Queue of client segments waiting for their RS handshake.
  private readonly qBuf: Uint8Array;
  private readonly qLen: Uint16Array;
  private readonly qOwner: Uint32Array;
  private readonly qOrder: Float64Array;
  private qSeq = 0;
  private qUsed = 0;
  /** Connection whose queued segments are to be released after the current packet (0 = none). */
  releaseId = 0;

  constructor(core: SynproxyHost, knobs: EngineKnobs, secret: Uint32Array, queueSlots: number) {
    this.core = core;
    this.knobs = knobs;
    this.cookies = new SynCookies(secret);
    this.ts = new SynproxyTimestamps(core.conns.capacity, secret);
    if (knobs.timestamp) this.ts.enable();
    this.qBuf = new Uint8Array(queueSlots * QUEUE_SLOT);
    this.qLen = new Uint16Array(queueSlots);
    this.qOwner = new Uint32Array(queueSlots);
    this.qOrder = new Float64Array(queueSlots);
  }

  /** New knobs, already validated (by the control model: checkSysctls). */
  setKnobs(k: EngineKnobs): void {
    if (k.timestamp) this.ts.enable();
    this.knobs = k;
  }

  private minute(): number {
    return Math.floor(this.core.now / 60_000) & 0xff;
  }

  /** A client SYN to a SYNPROXY service: answered in place with a cookie SYN-ACK. */
  answerSyn(dv: DataView, pi: PacketInfo): number {
    const core = this.core;
    const k = this.knobs;
    const v6 = pi.family === 6;
    const l4 = pi.l4;
    const thl = (dv.getUint8(l4 + 12) >>> 4) << 2;
    const syn = this.syn;
    syn.parse(dv, l4, thl);
    const sack = k.sack && syn.sack;
    const ws = k.wscale > 0 && syn.wscale !== WSCALE_NONE ? syn.wscale : WSCALE_NONE;
    const ts = k.timestamp && syn.ts;
    const isn = dv.getUint32(l4 + 4);
    this.cookies.setTuple(v6, pi.saddr, pi.daddr, pi.sport, pi.dport);
    const cookie = this.cookies.make(isn, this.minute(), syn.mss === 0 ? 536 : syn.mss, ws, sack, ts);
    // Never more than the client's own MSS; init_mss (1452 = 1500 - 40 - TOA 8) is for IPv4, an
    // IPv6 segment needs 32 bytes more room (20 of header, 12 more of TOA).
    const cap = v6 ? k.initMss - 32 : k.initMss;
    const o = this.opts.reset().mss(syn.mss === 0 ? cap : Math.min(syn.mss, cap));
    if (sack) o.sackPerm();
    if (ws !== WSCALE_NONE) o.wscale(k.wscale);
    if (ts) o.ts(this.ts.clock(core.now), syn.tsVal);
    o.pad();
    const len = emitTcp(
      dv,
      pi.l3,
      v6,
      pi.daddr,
      0,
      pi.saddr,
      0,
      pi.dport,
      pi.sport,
      cookie,
      (isn + 1) >>> 0,
      TH_SYN | TH_ACK,
      65535,
      k.synackTtl,
      o,
    );
    core.txOff = pi.l3;
    core.txLen = len;
    core.counters[E_SP_SYN]! += 1;
    return VERDICT_TX;
  }

  /** True when the ACK in `pi` carries a valid cookie; the options are then in cookies.data. */
  validAck(dv: DataView, pi: PacketInfo): boolean {
    if ((pi.tcpFlags & (TH_SYN | TH_RST | TH_ACK)) !== TH_ACK) return false;
    this.cookies.setTuple(pi.family === 6, pi.saddr, pi.daddr, pi.sport, pi.dport);
    const seq = dv.getUint32(pi.l4 + 4);
    const ack = dv.getUint32(pi.l4 + 8);
    return this.cookies.check((ack - 1) >>> 0, (seq - 1) >>> 0, this.minute());
  }

  /**
   * A cookie-checked client ACK created connection `id`: mark it SYNPROXY, keep the client's
   * data if any, and turn the packet into the SYN to the real server.
   */
  openRs(dv: DataView, pi: PacketInfo, id: number): number {
    const core = this.core;
    const ct = core.conns;
    const w = ct.w;
    const o = id * CONN_STRIDE;
    const d = this.cookies.data;
    const seq = dv.getUint32(pi.l4 + 4);
    const ack = dv.getUint32(pi.l4 + 8);
    const thl = (dv.getUint8(pi.l4 + 12) >>> 4) << 2;
    let a = (d.mss & 0xffff) | (d.wscale << 16) | (d.sack ? SPA_SACK : 0);
    // The cookie says the client got our timestamps (whatever the knob says now); an ACK that
    // carries none all the same opens the RS side without them.
    if (d.ts && this.ts.ready) {
      const i = findTs(dv, pi.l4, thl);
      if (i >= 0) {
        this.ts.open(dv, i, id);
        a |= SPA_TS;
      }
    }
    w[o + W_SP_A] = a;
    w[o + W_SP_B] = (seq - 1) >>> 0;
    w[o + W_TOA_SEQ] = (ack - 1) >>> 0;
    w[o + W_FLAGS] = (w[o + W_FLAGS]! & 0xffff) | CONN_F_SYNPROXY | CONN_F_SP_WAIT;
    setState(core, id, S_SYN_SENT);
    if (pi.end - pi.l4 > thl) this.enqueue(dv, pi.l3, pi.end - pi.l3, id);
    core.counters[E_SP_ACK_OK]! += 1;
    core.txOff = pi.l3;
    core.txLen = this.writeRsSyn(dv, pi.l3, id);
    this.arm(id, 1000);
    return VERDICT_TX;
  }

  /** Re-files the connection to wake after `ms` (retransmission timer). */
  private arm(id: number, ms: number): void {
    const core = this.core;
    const at = core.now + ms;
    core.conns.f64[id * F64_STRIDE + F_EXPIRES] = at;
    core.wheel.move(id, at);
  }

  private writeRsSyn(dv: DataView, off: number, id: number): number {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const a = w[o + W_SP_A]!;
    const opt = this.opts.reset().mss(a & 0xffff);
    if ((a & SPA_SACK) !== 0) opt.sackPerm();
    const ws = (a >>> 16) & 15;
    if (ws !== WSCALE_NONE) opt.wscale(ws);
    // The client's own TSval: what the RS echoes and checks later client segments against.
    if ((a & SPA_TS) !== 0) opt.ts(this.ts.clientVal(id), 0);
    opt.pad();
    return this.emitToRs(dv, off, id, w[o + W_SP_B]!, 0, TH_SYN, opt);
  }

  /** A segment of connection `id` from its LIP:lport to its RS:rport, written at `off`. */
  private emitToRs(
    dv: DataView,
    off: number,
    id: number,
    seq: number,
    ack: number,
    flags: number,
    opt: OptWriter,
  ): number {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const ld = w[o + W_LDPORT]!;
    const v6 = (w[o + W_FLAGS]! & CONN_F_IPV6) !== 0;
    const la = w[o + W_LADDR]! * 4;
    const d = w[o + W_DEST]! * 4;
    return emitTcp(
      dv,
      off,
      v6,
      core.laddrs.addr,
      la,
      core.destAddr,
      d,
      ld >>> 16,
      ld & 0xffff,
      seq,
      ack,
      flags,
      65535,
      64,
      opt,
    );
  }

  private clientRst(dv: DataView, pi: PacketInfo, id: number): number {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const next = (w[o + W_SP_B]! + 1) >>> 0;
    // Only a RST at or just past the sequence the client is at counts (RFC 5961): a blind one
    // cannot abort the connection. Client sequence numbers are the same on both legs.
    if ((dv.getUint32(pi.l4 + 4) - next) >>> 0 > 0xffff) return core.drop(D_SP_WAIT);
    // The RS is in SYN_RECV on our SYN (seq = client ISN): a RST at ISN + 1 is exactly in window.
    const len = this.emitToRs(dv, pi.l3, id, next, 0, TH_RST, this.opts.reset());
    core.txOff = pi.l3;
    core.txLen = len;
    w[o + W_FLAGS] = w[o + W_FLAGS]! & ~CONN_F_SP_WAIT & 0x00ffffff;
    w[o + W_SP_A] = 0; // no delta: the RS side never completed
    this.discard(id);
    setState(core, id, S_CLOSE);
    core.counters[E_SP_CLIENT_RST]! += 1;
    return VERDICT_TX;
  }

  /** Wheel callback for a connection still waiting for its RS: retransmit or give up. */
  onTimer(id: number): boolean {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    const tries = (fw >>> CNT_SHIFT) & 15;
    if (tries >= this.knobs.synRetry) {
      core.counters[E_SP_RS_TIMEOUT]! += 1;
      return false;
    }
    const q = core.txq;
    if (q.count < q.capacity) {
      const i = q.count++;
      const off = q.slotStart(i);
      q.place(i, off, this.writeRsSyn(q.dv, off, id), VERDICT_TX);
      core.counters[E_SP_SYN_RETRANS]! += 1;
    } else {
      core.counters[D_TXQ_FULL]! += 1;
    }
    w[o + W_FLAGS] = (fw & ~(15 << CNT_SHIFT)) | ((tries + 1) << CNT_SHIFT);
    core.wheel.unlink(id);
    const at = core.now + 1000 * 2 ** (tries + 1);
    core.conns.f64[id * F64_STRIDE + F_EXPIRES] = at;
    core.wheel.insert(id, at);
    return true;
  }

  /**
   * A client segment for a connection whose RS handshake is pending: keep data; a client RST
   * aborts the RS side too (the RS got our SYN and would otherwise sit half-open); drop the rest.
   */
  clientWhileWaiting(dv: DataView, pi: PacketInfo, id: number): number {
    if ((pi.tcpFlags & TH_RST) !== 0) return this.clientRst(dv, pi, id);
    const thl = (dv.getUint8(pi.l4 + 12) >>> 4) << 2;
    if ((pi.tcpFlags & (TH_SYN | TH_RST)) === 0 && pi.end - pi.l4 > thl) {
      // Kept (or refused and counted by enqueue): not written now either way.
      return this.enqueue(dv, pi.l3, pi.end - pi.l3, id) ? VERDICT_STOLEN : VERDICT_DROP;
    }
    return this.core.drop(D_SP_WAIT);
  }

  private enqueue(dv: DataView, off: number, len: number, id: number): boolean {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const fw = w[o + W_FLAGS]!;
    const n = (fw >>> (CNT_SHIFT + 4)) & 15;
    if (n >= this.knobs.maxSavedAcks || len > QUEUE_SLOT || this.qUsed === this.qLen.length) {
      core.counters[D_SP_QUEUE_FULL]! += 1;
      return false;
    }
    let s = 0;
    while (this.qOwner[s] !== 0) s++;
    const base = s * QUEUE_SLOT;
    for (let i = 0; i < len; i++) this.qBuf[base + i] = dv.getUint8(off + i);
    this.qLen[s] = len;
    this.qOwner[s] = id;
    this.qOrder[s] = ++this.qSeq;
    this.qUsed++;
    w[o + W_FLAGS] = (fw & ~(15 << (CNT_SHIFT + 4))) | ((n + 1) << (CNT_SHIFT + 4));
    core.counters[E_SP_QUEUED]! += 1;
    return true;
  }

  /** Frees the queued segments of a connection that ends while waiting. */
  discard(id: number): void {
    if (this.qUsed === 0) return;
    for (let s = 0; s < this.qOwner.length; s++) {
      if (this.qOwner[s] === id) {
        this.qOwner[s] = 0;
        this.qUsed--;
      }
    }
  }

  /**
   * An RS segment for a connection still waiting: the SYN-ACK completes the handshake (turned
   * into the ACK to the RS, with TOA); an RST is passed to the client; anything else is dropped.
   */
  rsWhileWaiting(dv: DataView, pi: PacketInfo, id: number): number {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const l4 = pi.l4;
    const v6 = pi.family === 6;
    const cisn = w[o + W_SP_B]!;
    const cookie = w[o + W_TOA_SEQ]!;
    const cv = w[o + W_CVPORT]!;
    if ((pi.tcpFlags & TH_RST) !== 0) {
      // The RS refused: tell the client in its own sequence space, then let the entry close.
      const len = emitTcp(
        dv,
        pi.l3,
        v6,
        core.svcAddr,
        w[o + W_SVC]! * 4,
        w,
        o + W_CADDR,
        cv & 0xffff,
        cv >>> 16,
        (cookie + 1) >>> 0,
        0,
        TH_RST,
        0,
        64,
        this.opts.reset(),
      );
      core.txOff = pi.l3;
      core.txLen = len;
      w[o + W_FLAGS] = w[o + W_FLAGS]! & ~CONN_F_SP_WAIT & 0x00ffffff;
      w[o + W_SP_A] = 0; // it held the client's options, not a delta: the RS side never opened
      this.discard(id);
      setState(core, id, S_CLOSE);
      core.counters[E_SP_RS_RST]! += 1;
      return VERDICT_TX;
    }
    if (
      (pi.tcpFlags & (TH_SYN | TH_ACK)) !== (TH_SYN | TH_ACK) ||
      dv.getUint32(l4 + 8) !== (cisn + 1) >>> 0
    ) {
      return core.drop(D_SP_WAIT);
    }
    const rsIsn = dv.getUint32(l4 + 4);
    const spa = w[o + W_SP_A]!;
    w[o + W_SP_A] = (cookie - rsIsn) >>> 0;
    w[o + W_SP_B] = 0;
    let f = w[o + W_FLAGS]! & ~CONN_F_SP_WAIT & 0x00ffffff;
    // The ACK we send now completes the RS handshake and carries TOA itself.
    const opt = this.opts.reset();
    if ((f & CONN_F_TOA) !== 0) {
      const t = this.toaBytes;
      t[0] = cv >>> 24;
      t[1] = (cv >>> 16) & 0xff;
      if (v6) {
        for (let i = 0; i < 4; i++) {
          const a = w[o + W_CADDR + i]!;
          t[2 + 4 * i] = a >>> 24;
          t[3 + 4 * i] = (a >>> 16) & 0xff;
          t[4 + 4 * i] = (a >>> 8) & 0xff;
          t[5 + 4 * i] = a & 0xff;
        }
        opt.raw(TCPOPT_TOA, t, 18);
      } else {
        const a = w[o + W_CADDR]!;
        t[2] = a >>> 24;
        t[3] = (a >>> 16) & 0xff;
        t[4] = (a >>> 8) & 0xff;
        t[5] = a & 0xff;
        opt.raw(TCPOPT_TOA, t, 6);
      }
      w[o + W_TOA_SEQ] = (rsIsn + 1) >>> 0;
      f |= CONN_F_TOA_SEQ | CONN_F_TOA_SENT;
      core.counters[E_TOA_OK]! += 1;
    }
    if ((spa & SPA_TS) !== 0) {
      const i = findTs(dv, l4, (dv.getUint8(l4 + 12) >>> 4) << 2);
      if (i >= 0) {
        const rsTsval = dv.getUint32(i + 2);
        this.ts.established(id, rsTsval);
        f |= CONN_F_SP_TS;
        // The cookie ACK's TSval, not a later one: the queued segments released next must not
        // look older to the RS than what it has seen (PAWS).
        opt.ts(this.ts.clientVal(id), rsTsval);
      } else {
        core.counters[E_SP_RS_NO_TS]! += 1;
      }
    }
    w[o + W_FLAGS] = f;
    const len = this.emitToRs(dv, pi.l3, id, (cisn + 1) >>> 0, (rsIsn + 1) >>> 0, TH_ACK, opt.pad());
    core.txOff = pi.l3;
    core.txLen = len;
    setState(core, id, S_ESTABLISHED);
    if (((w[o + W_FLAGS]! >>> (CNT_SHIFT + 4)) & 15) !== 0 || this.qUsed !== 0) this.releaseId = id;
    return VERDICT_TX;
  }

  /**
   * Moves the oldest segment kept for connection `id` into slot q.count of `q` (placed, not yet
   * counted in: the caller runs it through the engine and keeps it if it is to be sent) and
   * returns its length; -1 when none is left. A segment that finds `q` full is dropped, counted.
   */
  takeKept(id: number, q: PacketBatch): number {
    for (;;) {
      let best = -1;
      for (let s = 0; s < this.qOwner.length; s++) {
        if (this.qOwner[s] === id && (best < 0 || this.qOrder[s]! < this.qOrder[best]!)) best = s;
      }
      if (best < 0) return -1;
      this.qOwner[best] = 0;
      this.qUsed--;
      if (q.count === q.capacity) {
        this.core.counters[D_TXQ_FULL]! += 1;
        continue;
      }
      const i = q.count;
      const off = q.slotStart(i);
      const len = this.qLen[best]!;
      const qb = this.qBuf;
      const base = best * QUEUE_SLOT;
      for (let k = 0; k < len; k++) q.buf[off + k] = qb[base + k]!;
      // Kept segments were made whole before they were kept. processSlot() moves off/len only
      // when the packet changes size, so they are set here first.
      q.place(i, off, len, VERDICT_DROP);
      return len;
    }
  }

  /** Client -> RS, after the FULLNAT rewrite: ack and SACK edges into the RS's sequence space. */
  translateIn(dv: DataView, pi: PacketInfo, id: number): void {
    if ((pi.tcpFlags & TH_ACK) === 0) return;
    const w = this.core.conns.w;
    const o = id * CONN_STRIDE;
    const delta = w[o + W_SP_A]!;
    const l4 = pi.l4;
    const old = dv.getUint32(l4 + 8);
    const nw = (old - delta) >>> 0;
    dv.setUint32(l4 + 8, nw);
    let diff = negWord(old) + sumWord(nw);
    const thl = (dv.getUint8(l4 + 12) >>> 4) << 2;
    const end = l4 + thl;
    for (let i = tcpNextOption(dv, l4 + 20, end, end); i >= 0; ) {
      const len = dv.getUint8(i + 1);
      if (dv.getUint8(i) === TCPOPT_SACK) {
        // Edges at odd offsets from the header would straddle checksum words: fix those by bytes.
        const aligned = ((i + 2 - l4) & 1) === 0;
        for (let e = i + 2; e + 4 <= i + len; e += 4) {
          const ov = dv.getUint32(e);
          const nv = (ov - delta) >>> 0;
          dv.setUint32(e, nv);
          if (aligned) diff += negWord(ov) + sumWord(nv);
          else diff += oddWordDiff(ov, nv);
        }
      }
      i = tcpNextOption(dv, i + len, end, end);
    }
    if ((w[o + W_FLAGS]! & CONN_F_SP_TS) !== 0) diff += this.ts.inbound(dv, l4, thl, id);
    // A partial checksum is summed over these bytes by the receiver: nothing to patch.
    if (!this.core.partial) dv.setUint16(l4 + 16, csumAdjust(dv.getUint16(l4 + 16), diff));
  }

  /**
   * RS -> client, before the FULLNAT rewrite: drops the Nth identical segment in a row (ACK storm),
   * else shifts seq into the client's space. Returns false to drop.
   */
  translateOut(dv: DataView, pi: PacketInfo, id: number): boolean {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const l4 = pi.l4;
    const seq = dv.getUint32(l4 + 4);
    // Duplicate ACKs whose SACK blocks move on are loss recovery, not a storm: the first block
    // (the latest segment received, RFC 2018) goes into what makes two segments identical.
    const sack = tcpFindOption(dv, l4 + 20, l4 + ((dv.getUint8(l4 + 12) >>> 4) << 2), TCPOPT_SACK);
    const sackMix =
      sack >= 0 && dv.getUint8(sack + 1) >= 10 ? dv.getUint32(sack + 2) ^ dv.getUint32(sack + 6) : 0;
    if (this.ackStorm(id, seq, dv.getUint32(l4 + 8), pi.tcpFlags, sackMix)) return false;
    const nw = (seq + w[o + W_SP_A]!) >>> 0;
    dv.setUint32(l4 + 4, nw);
    let diff = negWord(seq) + sumWord(nw);
    if ((w[o + W_FLAGS]! & CONN_F_SP_TS) !== 0)
      diff += this.ts.outbound(dv, l4, (dv.getUint8(l4 + 12) >>> 4) << 2, id);
    if (!core.partial) dv.setUint16(l4 + 16, csumAdjust(dv.getUint16(l4 + 16), diff));
    return true;
  }

  /**
   * The ACK-storm guard for an RS -> client segment (seq, ack, flags) of connection `id`: true
   * (and counted as a drop) for the Nth identical ACK in a row. Shared with the fast path.
   */
  /** `sackMix`: the first SACK block's edges folded together, 0 without SACK. */
  ackStorm(id: number, seq: number, ack: number, flags: number, sackMix: number): boolean {
    const thresh = this.knobs.ackStormThresh;
    if (thresh === 0 || (flags & TH_ACK) === 0) return false;
    const w = this.core.conns.w;
    const o = id * CONN_STRIDE;
    const digest = (seq ^ ((ack << 13) | (ack >>> 19)) ^ ((sackMix << 7) | (sackMix >>> 25))) >>> 0;
    const fw = w[o + W_FLAGS]!;
    if (digest === w[o + W_SP_B]) {
      const n = Math.min(255, ((fw >>> CNT_SHIFT) & 0xff) + 1);
      w[o + W_FLAGS] = (fw & 0x00ffffff) | (n << CNT_SHIFT);
      if (n >= thresh) {
        this.core.drop(D_SP_ACK_STORM);
        return true;
      }
    } else {
      w[o + W_SP_B] = digest;
      w[o + W_FLAGS] = fw & 0x00ffffff;
    }
    return false;
  }

  /** Drops counted for an ACK that carried no valid cookie. */
  badAck(): number {
    return this.core.drop(D_SP_BAD_ACK);
  }

  deferDrop(): number {
    return this.core.drop(D_SP_DEFER);
  }
}
