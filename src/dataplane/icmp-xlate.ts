// ICMP errors about tracked connections, translated both ways with their quoted inner headers
// (so PMTU discovery works through FULLNAT), and echo replies for VIPs and LIPs.
// Errors are matched by the embedded header, never by the ICMP source: the kernel reports a
// too-big packet written into the TUN from the LB's own interface address.
// SYNPROXY: the quoted segment is one the LB translated, so its translation is undone, field by
// field as far as the quote goes: the receiver (Linux tcp_v4_err / tcp_v6_err) ignores an error
// whose quoted seq is outside its send window, and PMTU discovery would stall.
import { VERDICT_TX } from './batch.js';
import { CONN_F_SP_TS, CONN_F_SP_WAIT, CONN_F_SYNPROXY, CONN_STRIDE, W_FLAGS, W_SP_A } from './conn/table.js';
import { lookupIn, lookupOut } from './conn-lookup.js';
import type { EngineCore } from './core.js';
import {
  D_ICMP_NO_CONN,
  D_ICMP_UNSUPPORTED,
  D_NOT_LOCAL,
  D_TTL_EXPIRED,
  E_ICMP_ECHO_REPLY,
  E_ICMP_XLATE_IN,
  E_ICMP_XLATE_OUT,
} from './counters.js';
import { adjustL4Csum, replaceAddr6, rewrite4, rewrite6 } from './fullnat.js';
import { LOCAL_VIP, localGet } from './local-addrs.js';
import { checksumDv, csumAdjust, fieldDiff, negWord, pseudoSum6, sumWord } from './packet/checksum.js';
import {
  ICMP_CSUM,
  ICMP_HDR_LEN,
  ICMP_TYPE,
  ICMP4_ECHO_REPLY,
  ICMP4_ECHO_REQUEST,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  icmp4IsError,
  icmp6IsError,
  PROTO_ICMPV6,
} from './packet/icmp.js';
import { IPV4_CSUM, IPV4_DST, IPV4_SRC, IPV4_TTL } from './packet/ipv4.js';
import { IPV6_DST, IPV6_HOP_LIMIT, IPV6_SRC, NH_DSTOPTS, NH_HOPOPTS, NH_ROUTING } from './packet/ipv6.js';
import type { PacketInfo } from './packet/parse.js';
import { TH_ACK } from './packet/tcp.js';
import { TCPOPT_SACK, TCPOPT_TIMESTAMP, tcpNextOption } from './packet/tcp-options.js';
import { PROTO_TCP, PROTO_UDP } from './service.js';
import { ST_INBYTES, ST_INPKTS, ST_OUTBYTES, ST_OUTPKTS } from './stats.js';
import { account } from './stats-rollup.js';
import type { SynproxyTimestamps } from './synproxy-ts.js';

/** What ICMP translation uses of the engine core (core.ts): lookups, addresses, counters. */
export type IcmpTables = Pick<
  EngineCore,
  'conns' | 'laddrs' | 'destAddr' | 'svcAddr' | 'local4' | 'localMap' | 'destStats' | 'counters' | 'drop'
>;

export class IcmpTranslator {
  private readonly core: IcmpTables;
  /** SYNPROXY's timestamp offsets, to undo in quoted segments. */
  private readonly ts: SynproxyTimestamps;
  /** Inner header fields of the packet being translated. */
  private readonly isrc = new Uint32Array(4);
  private readonly idst = new Uint32Array(4);

  constructor(core: IcmpTables, ts: SynproxyTimestamps) {
    this.core = core;
    this.ts = ts;
  }

  handle(dv: DataView, pi: PacketInfo): number {
    const core = this.core;
    if (pi.isFrag) return core.drop(D_ICMP_UNSUPPORTED);
    const local = localGet(core, pi.family, pi.daddr);
    if (local === -1) return core.drop(D_NOT_LOCAL);
    const type = dv.getUint8(pi.l4 + ICMP_TYPE);
    if (pi.family === 4) {
      if (type === ICMP4_ECHO_REQUEST) return this.echo4(dv, pi);
      if (!icmp4IsError(type)) return core.drop(D_ICMP_UNSUPPORTED);
    } else {
      if (type === ICMP6_ECHO_REQUEST) return this.echo6(dv, pi);
      if (!icmp6IsError(type)) return core.drop(D_ICMP_UNSUPPORTED);
    }
    return this.xlateError(dv, pi, local);
  }

  private echo4(dv: DataView, pi: PacketInfo): number {
    const l3 = pi.l3;
    const s = dv.getUint32(l3 + IPV4_SRC);
    dv.setUint32(l3 + IPV4_SRC, dv.getUint32(l3 + IPV4_DST));
    dv.setUint32(l3 + IPV4_DST, s);
    dv.setUint8(l3 + IPV4_TTL, 64);
    dv.setUint16(l3 + IPV4_CSUM, 0);
    dv.setUint16(l3 + IPV4_CSUM, checksumDv(dv, l3, (dv.getUint8(l3) & 15) << 2, 0));
    this.retypeEcho(dv, pi.l4, ICMP4_ECHO_REPLY);
    this.core.counters[E_ICMP_ECHO_REPLY]! += 1;
    return VERDICT_TX;
  }

  private echo6(dv: DataView, pi: PacketInfo): number {
    const l3 = pi.l3;
    // Swapping source and destination leaves the pseudo-header sum unchanged.
    for (let i = 0; i < 16; i += 4) {
      const t = dv.getUint32(l3 + IPV6_SRC + i);
      dv.setUint32(l3 + IPV6_SRC + i, dv.getUint32(l3 + IPV6_DST + i));
      dv.setUint32(l3 + IPV6_DST + i, t);
    }
    dv.setUint8(l3 + IPV6_HOP_LIMIT, 64);
    this.retypeEcho(dv, pi.l4, ICMP6_ECHO_REPLY);
    this.core.counters[E_ICMP_ECHO_REPLY]! += 1;
    return VERDICT_TX;
  }

  private retypeEcho(dv: DataView, l4: number, type: number): void {
    const oldWord = dv.getUint16(l4);
    dv.setUint8(l4, type);
    const diff = (oldWord ^ 0xffff) + dv.getUint16(l4);
    dv.setUint16(l4 + ICMP_CSUM, csumAdjust(dv.getUint16(l4 + ICMP_CSUM), diff));
  }

  /**
   * Inner header offsets: returns the inner transport offset (ports readable) or -1.
   * Fills isrc/idst and leaves the inner protocol in `this.iproto`.
   */
  private iproto = 0;
  private innerL4(dv: DataView, q: number, end: number, v6: boolean): number {
    if (!v6) {
      if (q + 20 > end || dv.getUint8(q) >>> 4 !== 4) return -1;
      const hl = (dv.getUint8(q) & 15) << 2;
      // Only a first fragment (or whole datagram) quotes the ports.
      if (hl < 20 || q + hl + 8 > end || (dv.getUint16(q + 6) & 0x1fff) !== 0) return -1;
      this.isrc[0] = dv.getUint32(q + IPV4_SRC);
      this.idst[0] = dv.getUint32(q + IPV4_DST);
      this.isrc[1] = this.isrc[2] = this.isrc[3] = 0;
      this.idst[1] = this.idst[2] = this.idst[3] = 0;
      this.iproto = dv.getUint8(q + 9);
      return q + hl;
    }
    if (q + 40 > end || dv.getUint8(q) >>> 4 !== 6) return -1;
    for (let i = 0; i < 4; i++) {
      this.isrc[i] = dv.getUint32(q + IPV6_SRC + 4 * i);
      this.idst[i] = dv.getUint32(q + IPV6_DST + 4 * i);
    }
    let nh = dv.getUint8(q + 6);
    let p = q + 40;
    for (let n = 0; n < 4 && (nh === NH_HOPOPTS || nh === NH_ROUTING || nh === NH_DSTOPTS); n++) {
      if (p + 8 > end) return -1;
      nh = dv.getUint8(p);
      p += (dv.getUint8(p + 1) + 1) << 3;
    }
    if (p + 8 > end) return -1;
    this.iproto = nh;
    return p;
  }

  private xlateError(dv: DataView, pi: PacketInfo, local: number): number {
    const core = this.core;
    const ct = core.conns;
    const v6 = pi.family === 6;
    const q = pi.l4 + ICMP_HDR_LEN;
    const end = pi.end;
    const i4 = this.innerL4(dv, q, end, v6);
    if (i4 < 0) return core.drop(D_ICMP_UNSUPPORTED);
    const proto = this.iproto;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return core.drop(D_ICMP_UNSUPPORTED);
    const isport = dv.getUint16(i4);
    const idport = dv.getUint16(i4 + 2);
    const l3 = pi.l3;
    if (dv.getUint8(l3 + (v6 ? IPV6_HOP_LIMIT : IPV4_TTL)) <= 1) return core.drop(D_TTL_EXPIRED);

    let id: number;
    let toRs: boolean;
    if (local === LOCAL_VIP) {
      // About a packet we sent to the client (VIP:vport -> CIP:cport): goes to the real server.
      const b = ct.hashIn(proto, this.idst, 0, idport, this.isrc, 0, isport, v6);
      id = lookupIn(ct, core.svcAddr, b, proto, v6, this.idst, 0, idport, this.isrc, 0, isport);
      toRs = true;
    } else {
      // About a packet we sent to the real server (LIP:lport -> RIP:rport): goes to the client.
      const la = localGet(core, pi.family, this.isrc);
      id = la >= 0 ? lookupOut(core, la, proto, v6, isport, this.idst, 0, idport) : 0;
      toRs = false;
    }
    if (id === 0) return core.drop(D_ICMP_NO_CONN);

    const la = ct.laddr(id);
    const d = ct.dest(id);
    const s = ct.svc(id);
    const laddr = core.laddrs.addr;
    const inner3 = q;
    // Added to the inner transport checksum with the address and port changes.
    const spDiff =
      proto === PROTO_TCP && (ct.flags(id) & (CONN_F_SYNPROXY | CONN_F_SP_WAIT)) === CONN_F_SYNPROXY
        ? this.innerSynproxy(dv, i4, end, id, toRs)
        : 0;
    if (!v6) {
      // Outer: new addresses, TTL and header checksum. Inner: addresses, ports, both checksums.
      let osrc: number;
      let odst: number;
      let nsrc: number;
      let nsport: number;
      let ndst: number;
      let ndport: number;
      if (toRs) {
        osrc = laddr[la * 4]!;
        odst = core.destAddr[d * 4]!;
        nsrc = odst;
        nsport = ct.dport(id);
        ndst = osrc;
        ndport = ct.lport(id);
      } else {
        osrc = core.svcAddr[s * 4]!;
        odst = ct.w[ct.caddrOff(id)]!;
        nsrc = odst;
        nsport = ct.cport(id);
        ndst = osrc;
        ndport = ct.vport(id);
      }
      rewrite4(dv, l3, pi.l4, 1, false, osrc, 0, odst, 0);
      const addrDiff = negWord(this.isrc[0]!) + negWord(this.idst[0]!) + sumWord(nsrc) + sumWord(ndst);
      dv.setUint32(inner3 + IPV4_SRC, nsrc);
      dv.setUint32(inner3 + IPV4_DST, ndst);
      dv.setUint16(inner3 + IPV4_CSUM, csumAdjust(dv.getUint16(inner3 + IPV4_CSUM), addrDiff));
      this.innerPorts(dv, i4, end, proto, addrDiff + spDiff, nsport, ndport, false);
      dv.setUint16(pi.l4 + ICMP_CSUM, 0);
      dv.setUint16(pi.l4 + ICMP_CSUM, checksumDv(dv, pi.l4, end - pi.l4, 0));
    } else {
      let addrDiff: number;
      let nsport: number;
      let ndport: number;
      if (toRs) {
        rewrite6(dv, l3, pi.l4, PROTO_ICMPV6, false, laddr, la * 4, 0, core.destAddr, d * 4, 0);
        addrDiff = replaceAddr6(dv, inner3 + IPV6_SRC, core.destAddr, d * 4);
        addrDiff += replaceAddr6(dv, inner3 + IPV6_DST, laddr, la * 4);
        nsport = ct.dport(id);
        ndport = ct.lport(id);
      } else {
        rewrite6(dv, l3, pi.l4, PROTO_ICMPV6, false, core.svcAddr, s * 4, 0, ct.w, ct.caddrOff(id), 0);
        addrDiff = replaceAddr6(dv, inner3 + IPV6_SRC, ct.w, ct.caddrOff(id));
        addrDiff += replaceAddr6(dv, inner3 + IPV6_DST, core.svcAddr, s * 4);
        nsport = ct.cport(id);
        ndport = ct.vport(id);
      }
      this.innerPorts(dv, i4, end, proto, addrDiff + spDiff, nsport, ndport, true);
      const len = end - pi.l4;
      dv.setUint16(pi.l4 + ICMP_CSUM, 0);
      dv.setUint16(
        pi.l4 + ICMP_CSUM,
        checksumDv(dv, pi.l4, len, pseudoSum6(dv, l3 + IPV6_SRC, l3 + IPV6_DST, PROTO_ICMPV6, len)),
      );
    }
    const len = end - l3;
    if (toRs) {
      account(ct, core.destStats, id, len, ST_INPKTS, ST_INBYTES);
      core.counters[E_ICMP_XLATE_IN]! += 1;
    } else {
      account(ct, core.destStats, id, len, ST_OUTPKTS, ST_OUTBYTES);
      core.counters[E_ICMP_XLATE_OUT]! += 1;
    }
    return VERDICT_TX;
  }

  /**
   * Undoes the SYNPROXY translation of the quoted TCP header at i4 (quote ends at `end`), each
   * field only when quoted whole; returns the checksum difference. toRs: the quote is an RS
   * segment sent on to the client (seq += delta, TSval += tsoff), so the RS gets its own values
   * back; else a client segment sent on to the RS (ack, SACK edges -= delta, TSecr -= tsoff).
   */
  private innerSynproxy(dv: DataView, i4: number, end: number, id: number, toRs: boolean): number {
    const core = this.core;
    const w = core.conns.w;
    const o = id * CONN_STRIDE;
    const delta = w[o + W_SP_A]!;
    let diff = 0;
    if (toRs) {
      // The quote has at least the 8 bytes with the ports and seq (innerL4).
      const ov = dv.getUint32(i4 + 4);
      const nv = (ov - delta) >>> 0;
      dv.setUint32(i4 + 4, nv);
      diff = negWord(ov) + sumWord(nv);
    }
    // The flags tell whether the forward path touched the segment: translateIn leaves one
    // without ACK alone (options included).
    if (i4 + 14 > end) return diff;
    const ack = !toRs;
    if (ack) {
      if ((dv.getUint8(i4 + 13) & TH_ACK) === 0) return 0;
      const ov = dv.getUint32(i4 + 8);
      const nv = (ov + delta) >>> 0;
      dv.setUint32(i4 + 8, nv);
      diff += negWord(ov) + sumWord(nv);
    }
    const tsoff = (w[o + W_FLAGS]! & CONN_F_SP_TS) !== 0 ? this.ts.offset(id) : 0;
    if (!ack && tsoff === 0) return diff; // no option carries anything translated
    const hend = i4 + ((dv.getUint8(i4 + 12) >>> 4) << 2);
    // Lengths are checked against the header, not the quote: a cut option still has its first
    // edges quoted.
    const lim = Math.min(hend, end);
    for (let i = tcpNextOption(dv, i4 + 20, lim, hend); i >= 0; ) {
      const k = dv.getUint8(i);
      const len = dv.getUint8(i + 1);
      if (k === TCPOPT_SACK && ack) {
        for (let e = i + 2; e + 4 <= i + len && e + 4 <= end; e += 4) {
          const ov = dv.getUint32(e);
          const nv = (ov + delta) >>> 0;
          dv.setUint32(e, nv);
          diff += fieldDiff(i4, e, ov, nv);
        }
      } else if (k === TCPOPT_TIMESTAMP && len === 10 && tsoff !== 0 && i + 10 <= end) {
        // As SynproxyTimestamps: TSval shifted out, TSecr back in unless 0 (nothing echoed).
        const e = toRs ? i + 2 : i + 6;
        const ov = dv.getUint32(e);
        if (toRs || ov !== 0) {
          const nv = toRs ? (ov - tsoff) >>> 0 : (ov + tsoff) >>> 0;
          dv.setUint32(e, nv);
          diff += fieldDiff(i4, e, ov, nv);
        }
      }
      i = tcpNextOption(dv, i + len, lim, hend);
    }
    return diff;
  }

  /** Rewrites the quoted ports and, when the quote reaches it, the quoted transport checksum. */
  private innerPorts(
    dv: DataView,
    i4: number,
    end: number,
    proto: number,
    addrDiff: number,
    sport: number,
    dport: number,
    v6: boolean,
  ): void {
    const osp = dv.getUint16(i4);
    const odp = dv.getUint16(i4 + 2);
    dv.setUint16(i4, sport);
    dv.setUint16(i4 + 2, dport);
    const diff = addrDiff + (osp ^ 0xffff) + (odp ^ 0xffff) + sport + dport;
    const csumEnd = proto === PROTO_TCP ? i4 + 18 : i4 + 8;
    if (csumEnd <= end) adjustL4Csum(dv, i4, proto, diff, v6);
  }
}
