// Transmit, as ip_vs_xmit.c: the FULLNAT rewrite of a packet of a known connection in either
// direction (in: CIP:cport -> VIP:vport becomes LIP:lport -> RIP:rport; out: the reverse), with
// state tracking, SYNPROXY's sequence shift, TOA on the first client ACK, the RS SYN-ACK's MSS
// lowered for TOA, and fragments without transport header that follow their first fragment.
import { VERDICT_DROP, VERDICT_TX } from './batch.js';
import {
  CONN_F_IPV6,
  CONN_F_SP_WAIT,
  CONN_F_SYNPROXY,
  CONN_F_TOA,
  CONN_F_TOA_SENT,
  CONN_F_TOA_SEQ,
  CONN_F_UDP,
  CONN_F_USED,
  CONN_STRIDE,
  W_CADDR,
  W_CVPORT,
  W_DEST,
  W_FLAGS,
  W_LADDR,
  W_LDPORT,
  W_SVC,
  W_TOA_SEQ,
} from './conn/table.js';
import { DIR_IN, DIR_OUT } from './conn/tcp-states.js';
import { track } from './conn-lifecycle.js';
import type { EngineCore } from './core.js';
import {
  D_FRAG_UNKNOWN,
  D_TTL_EXPIRED,
  E_FRAG_FWD,
  E_TOA_FAIL_LEN,
  E_TOA_HEAD_FULL,
  E_TOA_OK,
} from './counters.js';
import { rewrite4, rewrite6 } from './fullnat.js';
import { IPV4_TTL } from './packet/ipv4.js';
import { IPV6_HOP_LIMIT } from './packet/ipv6.js';
import type { PacketInfo } from './packet/parse.js';
import { TCP_ACK, TCP_DOFF, TCP_SEQ, TH_ACK, TH_RST, TH_SYN } from './packet/tcp.js';
import { PROTO_TCP, PROTO_UDP } from './service.js';
import { ST_INBYTES, ST_INPKTS, ST_OUTBYTES, ST_OUTPKTS } from './stats.js';
import { account } from './stats-rollup.js';
import {
  lowerMss,
  TOA_FAIL_LEN,
  TOA_LEN4,
  TOA_LEN6,
  TOA_OK,
  tcpChecksumFull,
  udpChecksumFull,
} from './toa.js';

/** Client -> RS: packet `core.pi` of connection `id`, `len` bytes. */
export function forwardIn(core: EngineCore, dv: DataView, id: number, len: number): number {
  const pi = core.pi;
  const l3 = pi.l3;
  const v6 = pi.family === 6;
  const w = core.conns.w;
  const o = id * CONN_STRIDE;
  const fw = w[o + W_FLAGS]!;
  if ((fw & CONN_F_SP_WAIT) !== 0) {
    completeL4(core, dv, pi);
    return core.sp.clientWhileWaiting(dv, pi, id);
  }
  if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return core.drop(D_TTL_EXPIRED);
  track(core, id, DIR_IN, pi.tcpFlags, pi.proto === PROTO_TCP);
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
      core.laddrs.addr,
      la * 4,
      ld >>> 16,
      core.destAddr,
      d * 4,
      ld & 0xffff,
      core.partial,
    );
  } else {
    rewrite4(
      dv,
      l3,
      pi.l4,
      pi.proto,
      true,
      core.laddrs.addr[la * 4]!,
      ld >>> 16,
      core.destAddr[d * 4]!,
      ld & 0xffff,
      core.partial,
    );
  }
  if ((fw & CONN_F_SYNPROXY) !== 0 && pi.proto === PROTO_TCP) core.sp.translateIn(dv, pi, id);
  account(core.conns, core.destStats, id, len, ST_INPKTS, ST_INBYTES);
  if (pi.isFrag) core.frags.add(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, id, DIR_IN, core.now);
  else if ((w[o + W_FLAGS]! & CONN_F_TOA_SEQ) !== 0 && pi.proto === PROTO_TCP) maybeToa(core, dv, id, v6);
  return VERDICT_TX;
}

/** TOA on a client -> RS segment that acks the RS's first data byte (handshake ACK, first data). */
function maybeToa(core: EngineCore, dv: DataView, id: number, v6: boolean): void {
  const pi = core.pi;
  if ((pi.tcpFlags & (TH_SYN | TH_RST | TH_ACK)) !== TH_ACK) return;
  const w = core.conns.w;
  const o = id * CONN_STRIDE;
  if (dv.getUint32(pi.l4 + TCP_ACK) !== w[o + W_TOA_SEQ]) {
    // The client acked RS data: the handshake is behind us, stop looking.
    w[o + W_FLAGS] = w[o + W_FLAGS]! & ~CONN_F_TOA_SEQ;
    return;
  }
  const toa = core.toa;
  const r = toa.insert(
    dv,
    pi.l3,
    pi.l4,
    pi.end,
    v6,
    w,
    o + W_CADDR,
    w[o + W_CVPORT]! >>> 16,
    core.roomFront,
    core.roomBack + (core.txOff + core.txLen - pi.end),
    core.cfg.mtu,
    core.partial,
  );
  if (r === TOA_OK) {
    core.txOff = toa.start;
    core.txLen = toa.end - toa.start;
    core.counters[E_TOA_OK]! += 1;
    w[o + W_FLAGS] = w[o + W_FLAGS]! | CONN_F_TOA_SENT;
  } else if ((w[o + W_FLAGS]! & CONN_F_TOA_SENT) === 0) {
    // Only a connection whose RS has not seen TOA yet loses something: coalesced (GSO) client
    // segments after the handshake ACK carried it are not failures.
    core.counters[r === TOA_FAIL_LEN ? E_TOA_FAIL_LEN : E_TOA_HEAD_FULL]! += 1;
  }
}

/** RS -> client: packet `core.pi` of connection `id`, `len` bytes. */
export function forwardOut(core: EngineCore, dv: DataView, id: number, len: number): number {
  const pi = core.pi;
  const l3 = pi.l3;
  const v6 = pi.family === 6;
  const w = core.conns.w;
  const o = id * CONN_STRIDE;
  const fw = w[o + W_FLAGS]!;
  if ((fw & CONN_F_SP_WAIT) !== 0) {
    completeL4(core, dv, pi);
    return core.sp.rsWhileWaiting(dv, pi, id);
  }
  if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return core.drop(D_TTL_EXPIRED);
  if ((fw & CONN_F_SYNPROXY) !== 0 && pi.proto === PROTO_TCP && !core.sp.translateOut(dv, pi, id))
    return VERDICT_DROP;
  track(core, id, DIR_OUT, pi.tcpFlags, pi.proto === PROTO_TCP);
  const sv = w[o + W_SVC]!;
  const cv = w[o + W_CVPORT]!;
  if (v6) {
    rewrite6(
      dv,
      l3,
      pi.l4,
      pi.proto,
      true,
      core.svcAddr,
      sv * 4,
      cv & 0xffff,
      w,
      o + W_CADDR,
      cv >>> 16,
      core.partial,
    );
  } else {
    const s = core.svcAddr[sv * 4]!;
    rewrite4(dv, l3, pi.l4, pi.proto, true, s, cv & 0xffff, w[o + W_CADDR]!, cv >>> 16, core.partial);
  }
  account(core.conns, core.destStats, id, len, ST_OUTPKTS, ST_OUTBYTES);
  if (pi.isFrag) {
    core.frags.add(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, id, DIR_OUT, core.now);
  } else if (
    (pi.tcpFlags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK) &&
    (fw & (CONN_F_TOA | CONN_F_SYNPROXY)) === CONN_F_TOA
  ) {
    // The RS's SYN-ACK: remember its first data sequence and make room for TOA in its MSS.
    w[o + W_TOA_SEQ] = (dv.getUint32(pi.l4 + TCP_SEQ) + 1) >>> 0;
    w[o + W_FLAGS] = w[o + W_FLAGS]! | CONN_F_TOA_SEQ;
    const thl = (dv.getUint8(pi.l4 + TCP_DOFF) >>> 4) << 2;
    if (lowerMss(dv, pi.l4, thl, v6 ? TOA_LEN6 : TOA_LEN4, v6) && !core.partial)
      tcpChecksumFull(dv, l3, pi.l4, pi.end, v6);
  }
  return VERDICT_TX;
}

/** A fragment without transport header: follows its first fragment's connection, addresses only. */
export function forwardFragTail(core: EngineCore, dv: DataView, len: number): number {
  const pi = core.pi;
  const v6 = pi.family === 6;
  const frags = core.frags;
  const id = frags.find(pi.family, pi.proto, pi.saddr, pi.daddr, pi.fragId, core.now);
  if (id === 0) return core.drop(D_FRAG_UNKNOWN);
  const w = core.conns.w;
  const o = id * CONN_STRIDE;
  const dir = frags.lastDir;
  // The connection may have ended and its id been reused: check it still has these addresses.
  const f = w[o + W_FLAGS]!;
  if (
    (f & CONN_F_USED) === 0 ||
    ((f & CONN_F_IPV6) !== 0) !== v6 ||
    ((f & CONN_F_UDP) !== 0) !== (pi.proto === PROTO_UDP)
  ) {
    return core.drop(D_FRAG_UNKNOWN);
  }
  const la = w[o + W_LADDR]! * 4;
  const d = w[o + W_DEST]! * 4;
  const sv = w[o + W_SVC]! * 4;
  const lA = core.laddrs.addr;
  const dA = core.destAddr;
  const sA = core.svcAddr;
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
  if (!ok) return core.drop(D_FRAG_UNKNOWN);
  const l3 = pi.l3;
  if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return core.drop(D_TTL_EXPIRED);
  if (dir === DIR_IN) {
    if (v6) rewrite6(dv, l3, pi.l4, pi.proto, false, lA, la, 0, dA, d, 0);
    else rewrite4(dv, l3, pi.l4, pi.proto, false, lA[la]!, 0, dA[d]!, 0);
    account(core.conns, core.destStats, id, len, ST_INPKTS, ST_INBYTES);
  } else {
    if (v6) rewrite6(dv, l3, pi.l4, pi.proto, false, sA, sv, 0, w, o + W_CADDR, 0);
    else rewrite4(dv, l3, pi.l4, pi.proto, false, sA[sv]!, 0, w[o + W_CADDR]!, 0);
    account(core.conns, core.destStats, id, len, ST_OUTPKTS, ST_OUTBYTES);
  }
  core.counters[E_FRAG_FWD]! += 1;
  return VERDICT_TX;
}

/** Makes a partial TCP/UDP checksum whole (for paths that build, keep or re-send packets). */
export function completeL4(core: EngineCore, dv: DataView, pi: PacketInfo): void {
  if (!core.partial) return;
  core.partial = false;
  const v6 = pi.family === 6;
  if (pi.proto === PROTO_TCP) tcpChecksumFull(dv, pi.l3, pi.l4, pi.end, v6);
  else if (pi.proto === PROTO_UDP) udpChecksumFull(dv, pi.l3, pi.l4, pi.end, v6);
}
