// Entry validation: one pass over the headers fills a reusable PacketInfo, or names a drop reason.
// Everything after this trusts the offsets it recorded (gVisor's "validate once, then trust").

import { PROTO_ICMP, PROTO_ICMPV6 } from './icmp.js';
import {
  IPV4_DST,
  IPV4_F_MF,
  IPV4_FRAG,
  IPV4_FRAG_OFF_MASK,
  IPV4_ID,
  IPV4_MIN_LEN,
  IPV4_PROTO,
  IPV4_SRC,
  IPV4_TOTAL_LEN,
} from './ipv4.js';
import {
  FRAG6_HDR_LEN,
  IPV6_DST,
  IPV6_HDR_LEN,
  IPV6_NEXT_HDR,
  IPV6_PAYLOAD_LEN,
  IPV6_SRC,
  NH_AH,
  NH_DSTOPTS,
  NH_FRAGMENT,
  NH_HOPOPTS,
  NH_ROUTING,
} from './ipv6.js';
import {
  PARSE_BAD_EXT_HDR,
  PARSE_BAD_HDR_LEN,
  PARSE_BAD_IP_CSUM,
  PARSE_BAD_L4_HDR,
  PARSE_BAD_TOTAL_LEN,
  PARSE_BAD_VERSION,
  PARSE_OK,
  PARSE_TRUNCATED,
} from './parse-errors.js';
import { TCP_DOFF, TCP_DPORT, TCP_FLAGS, TCP_MIN_LEN, TCP_SPORT } from './tcp.js';
import { UDP_DPORT, UDP_HDR_LEN, UDP_LEN, UDP_SPORT } from './udp.js';

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const MAX_EXT_HDRS = 8;

/** What the engine needs to know about one packet; a single instance is reused. */
export class PacketInfo {
  family: 4 | 6 = 4;
  /** Offset of the IP header in the buffer. */
  l3: number = 0;
  /** Offset of the transport header (valid unless a non-first fragment). */
  l4: number = 0;
  /** End of the IP datagram (l3 + total length); trailing link padding is excluded. */
  end: number = 0;
  /** Transport protocol (after IPv6 extension headers). */
  proto: number = 0;
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  sport: number = 0;
  dport: number = 0;
  /** TCP flags byte, 0 for other protocols. */
  tcpFlags: number = 0;
  /** This packet is a fragment (first or later). */
  isFrag: boolean = false;
  /** A fragment other than the first: it carries no transport header. */
  fragTail: boolean = false;
  /** Fragment identification (IPv4 16 bits, IPv6 32 bits). */
  fragId: number = 0;
  /** IPv6 offset of the byte holding the next-header value that names `proto` (for rewrites). */
  nhOff: number = 0;
}

/**
 * Validates the packet at bytes [off, off+len) of `dv` and fills `pi`. Returns 0 when the packet may be
 * processed, else a drop-reason counter index. Never throws on any input.
 */
export function parsePacket(dv: DataView, off: number, len: number, pi: PacketInfo): number {
  if (len < 1) return PARSE_TRUNCATED;
  const ver = dv.getUint8(off) >>> 4;
  pi.l3 = off;
  pi.isFrag = false;
  pi.fragTail = false;
  pi.tcpFlags = 0;
  pi.sport = 0;
  pi.dport = 0;
  let l4len: number;
  if (ver === 4) {
    if (len < IPV4_MIN_LEN) return PARSE_TRUNCATED;
    const hl = (dv.getUint8(off) & 0x0f) << 2;
    if (hl < IPV4_MIN_LEN || hl > len) return PARSE_BAD_HDR_LEN;
    const tot = dv.getUint16(off + IPV4_TOTAL_LEN);
    if (tot < hl || tot > len) return PARSE_BAD_TOTAL_LEN;
    if (ipv4HeaderSum(dv, off, hl) !== 0xffff) return PARSE_BAD_IP_CSUM;
    pi.family = 4;
    pi.end = off + tot;
    pi.proto = dv.getUint8(off + IPV4_PROTO);
    // Words 1-3 must be zero for IPv4: lookups compare all four against zero-padded tables.
    const sa = pi.saddr;
    const da = pi.daddr;
    sa[0] = dv.getUint32(off + IPV4_SRC);
    da[0] = dv.getUint32(off + IPV4_DST);
    sa[1] = sa[2] = sa[3] = 0;
    da[1] = da[2] = da[3] = 0;
    pi.l4 = off + hl;
    l4len = tot - hl;
    const frag = dv.getUint16(off + IPV4_FRAG);
    if ((frag & (IPV4_F_MF | IPV4_FRAG_OFF_MASK)) !== 0) {
      pi.isFrag = true;
      pi.fragId = dv.getUint16(off + IPV4_ID);
      if ((frag & IPV4_FRAG_OFF_MASK) !== 0) {
        pi.fragTail = true;
        return PARSE_OK;
      }
    }
  } else if (ver === 6) {
    if (len < IPV6_HDR_LEN) return PARSE_TRUNCATED;
    const plen = dv.getUint16(off + IPV6_PAYLOAD_LEN);
    // Jumbograms (payload length 0 + hop-by-hop option) never cross a TUN: treated as malformed.
    if (plen === 0 || IPV6_HDR_LEN + plen > len) return PARSE_BAD_TOTAL_LEN;
    pi.family = 6;
    pi.end = off + IPV6_HDR_LEN + plen;
    for (let i = 0; i < 4; i++) {
      pi.saddr[i] = dv.getUint32(off + IPV6_SRC + 4 * i);
      pi.daddr[i] = dv.getUint32(off + IPV6_DST + 4 * i);
    }
    let nhOff = off + IPV6_NEXT_HDR;
    let nh = dv.getUint8(nhOff);
    let p = off + IPV6_HDR_LEN;
    for (let n = 0; ; n++) {
      if (nh === NH_HOPOPTS || nh === NH_ROUTING || nh === NH_DSTOPTS) {
        // Hop-by-hop options may only follow the fixed header (RFC 8200 4.1).
        if (n === MAX_EXT_HDRS || p + 8 > pi.end || (nh === NH_HOPOPTS && n > 0)) return PARSE_BAD_EXT_HDR;
        // A routing header still steering elsewhere means we are not the final destination.
        if (nh === NH_ROUTING && dv.getUint8(p + 3) !== 0) return PARSE_BAD_EXT_HDR;
        const hl = (dv.getUint8(p + 1) + 1) << 3;
        if (p + hl > pi.end) return PARSE_BAD_EXT_HDR;
        nhOff = p;
        nh = dv.getUint8(p);
        p += hl;
      } else if (nh === NH_AH) {
        if (n === MAX_EXT_HDRS || p + 8 > pi.end) return PARSE_BAD_EXT_HDR;
        const hl = (dv.getUint8(p + 1) + 2) << 2;
        if (p + hl > pi.end) return PARSE_BAD_EXT_HDR;
        nhOff = p;
        nh = dv.getUint8(p);
        p += hl;
      } else if (nh === NH_FRAGMENT) {
        if (n === MAX_EXT_HDRS || p + FRAG6_HDR_LEN > pi.end) return PARSE_BAD_EXT_HDR;
        const fo = dv.getUint16(p + 2);
        nhOff = p;
        nh = dv.getUint8(p);
        pi.isFrag = true;
        pi.fragId = dv.getUint32(p + 4);
        p += FRAG6_HDR_LEN;
        if ((fo & 0xfff8) !== 0) {
          pi.proto = nh;
          pi.nhOff = nhOff;
          pi.l4 = p;
          pi.fragTail = true;
          return PARSE_OK;
        }
        // An atomic fragment (offset 0, M clear) is a whole datagram.
        if ((fo & 1) === 0) pi.isFrag = false;
      } else {
        break;
      }
    }
    pi.proto = nh;
    pi.nhOff = nhOff;
    pi.l4 = p;
    l4len = pi.end - p;
  } else {
    return PARSE_BAD_VERSION;
  }

  const l4 = pi.l4;
  const proto = pi.proto;
  if (proto === PROTO_TCP) {
    if (l4len < TCP_MIN_LEN) return pi.isFrag ? PARSE_BAD_L4_HDR : PARSE_TRUNCATED;
    const thl = (dv.getUint8(l4 + TCP_DOFF) >>> 4) << 2;
    if (thl < TCP_MIN_LEN || thl > l4len) return PARSE_BAD_L4_HDR;
    pi.sport = dv.getUint16(l4 + TCP_SPORT);
    pi.dport = dv.getUint16(l4 + TCP_DPORT);
    pi.tcpFlags = dv.getUint8(l4 + TCP_FLAGS);
  } else if (proto === PROTO_UDP) {
    if (l4len < UDP_HDR_LEN) return pi.isFrag ? PARSE_BAD_L4_HDR : PARSE_TRUNCATED;
    const ulen = dv.getUint16(l4 + UDP_LEN);
    // A first fragment carries only part of the datagram the length describes.
    if (ulen < UDP_HDR_LEN || (!pi.isFrag && ulen > l4len)) return PARSE_BAD_L4_HDR;
    pi.sport = dv.getUint16(l4 + UDP_SPORT);
    pi.dport = dv.getUint16(l4 + UDP_DPORT);
  } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    if (l4len < 8) return PARSE_TRUNCATED;
  }
  return PARSE_OK;
}

/** Folded one's-complement sum of an IPv4 header (0xffff when its checksum is right). */
export function ipv4HeaderSum(dv: DataView, off: number, hl: number): number {
  let s =
    dv.getUint16(off) +
    dv.getUint16(off + 2) +
    dv.getUint16(off + 4) +
    dv.getUint16(off + 6) +
    dv.getUint16(off + 8) +
    dv.getUint16(off + 10) +
    dv.getUint16(off + 12) +
    dv.getUint16(off + 14) +
    dv.getUint16(off + 16) +
    dv.getUint16(off + 18);
  for (let i = 20; i < hl; i += 2) s += dv.getUint16(off + i);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}
