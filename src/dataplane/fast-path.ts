// The fast path (fast4): kept one function, inlined by hand, because almost every packet ends here.
import { S_CLOSE, S_LAST, S_TIME_WAIT } from '../common/vocabulary.js';
import { VERDICT_DROP, VERDICT_TX } from './batch.js';
import {
  CONN_F_IPV6,
  CONN_F_SP_WAIT,
  CONN_F_SYNPROXY,
  CONN_F_TOA_SEQ,
  CONN_F_UDP,
  CONN_F_USED,
  CONN_STRIDE,
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
} from './conn/table.js';
import { DIR_IN, DIR_OUT, TCP_FLAGS_NEXT } from './conn/tcp-states.js';
import type { EngineCore } from './core.js';
import { LOCAL_VIP } from './local-addrs.js';
import { ipv4HeaderSum } from './packet/parse.js';
import { TH_ACK, TH_RST, TH_SYN } from './packet/tcp.js';
import { PROTO_TCP, PROTO_UDP } from './service.js';
import { ST_INBYTES, ST_INPKTS, ST_OUTBYTES, ST_OUTPKTS, ST_STRIDE } from './stats.js';

/**
 * The common case in one function: an IPv4 TCP/UDP packet without options or fragmentation,
 * of an established flow, in either direction. Everything is inlined by hand (no PacketInfo,
 * no calls on the way) because this is where the packets are. Returns -1, having changed
 * nothing, for anything else; processOne() (full-path.ts) then handles it fully (new connections, state
 * changes, ICMP, IPv6, drops and their counters).
 */
export function fast4(core: EngineCore, dv: DataView, off: number, len: number, partial: boolean): number {
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
  const ct = core.conns;
  const w = ct.w;
  const local = core.local4.get(dst);
  let id = 0;
  let dir = DIR_IN;
  const want = CONN_F_USED | (udp ? CONN_F_UDP : 0);
  if (local >= 0) {
    dir = DIR_OUT;
    id = core.laddrs.out[local * 2 + (udp ? 1 : 0)]![dport]!;
    if (id === 0) return -1;
    const da = core.destAddr;
    let o = id * CONN_STRIDE;
    if ((w[o + W_LDPORT]! & 0xffff) !== sport || da[w[o + W_DEST]! * 4] !== src) {
      // One lport serves several RS tuples: the rest of its chain, for this one.
      const next = core.laddrs.outNext;
      for (id = next[id]!; id !== 0; id = next[id]!) {
        o = id * CONN_STRIDE;
        if ((w[o + W_LDPORT]! & 0xffff) === sport && da[w[o + W_DEST]! * 4] === src) break;
      }
      if (id === 0) return -1;
    }
    if ((w[o + W_FLAGS]! & (CONN_F_USED | CONN_F_IPV6 | CONN_F_UDP)) !== want) return -1;
  } else if (local === LOCAL_VIP) {
    const s4 = core.pfSrc;
    const d4 = core.pfDst;
    s4[0] = src;
    d4[0] = dst;
    const ports = ((sport << 16) | dport) >>> 0;
    const sa = core.svcAddr;
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
  const exp = core.now + core.timeoutMs[st]!;
  if (exp < ct.f64[fi]!) return -1; // a lowered timeout: track() re-files it
  // Past the last way back to the full path: the ACK-storm guard may drop (and count) now.
  let seqDiff = 0;
  if (spFlow) {
    const delta = w[o + W_SP_A]!;
    if (dir === DIR_OUT) {
      const seq = dv.getUint32(l4 + 4);
      if (core.sp.ackStorm(id, seq, dv.getUint32(l4 + 8), flags, 0)) return VERDICT_DROP; // no options here
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
    nsrc = core.laddrs.addr[w[o + W_LADDR]! * 4]!;
    ndst = core.destAddr[w[o + W_DEST]! * 4]!;
    nsport = ld >>> 16;
    ndport = ld & 0xffff;
  } else {
    const cv = w[o + W_CVPORT]!;
    nsrc = core.svcAddr[w[o + W_SVC]! * 4]!;
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

  const dc = core.destStats.c;
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
