// Test-support packet builder: complete IPv4/IPv6 packets with TCP, UDP, ICMPv4 or ICMPv6 from
// plain field objects, checksums computed with the reference checksum (ref-checksum.ts).
// This is a reference implementation that the engine's tests compare against: it must not
// import anything from src/.
//
//   const syn = ipv4({ src: '198.51.100.2', dst: '203.0.113.10', payload: tcp({ sport: 40000, dport: 80, flags: 'S' }) });
//   const same = tcp4('198.51.100.2', 40000, '203.0.113.10', 80, 'S');
//
// Every field has a default except addresses and ports. Fields meant to make malformed packets
// (a given wrong checksum, overridden lengths, truncation) are grouped at the end of each
// field interface. Units follow the wire: fragment offsets are in 8-byte blocks, IHL and TCP
// data offset in 32-bit words.

import {
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  refChecksum,
  refL4Checksum,
} from './ref-checksum.js';

// ---------------------------------------------------------------------------------------------
// Addresses (own parser: no src/ imports)

const V4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Dotted-quad IPv4 text to 4 bytes; throws on anything else (no leading zeros). */
export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => V4_PART.test(p))) {
    throw new SyntaxError(`bad IPv4 address ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts.map(Number));
}

/** IPv6 text (with `::`, optional dotted-quad tail, no zone) to 16 bytes; throws on bad text. */
export function parseIPv6(text: string): Uint8Array {
  const bad = () => new SyntaxError(`bad IPv6 address ${JSON.stringify(text)}`);
  const groupsOf = (s: string, allowV4Tail: boolean): number[] => {
    if (s === '') return [];
    const parts = s.split(':');
    const out: number[] = [];
    parts.forEach((p, i) => {
      if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(Number.parseInt(p, 16));
      } else {
        throw bad();
      }
    });
    return out;
  };
  let groups: number[];
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    if (text.indexOf('::', dbl + 1) >= 0) throw bad();
    const head = groupsOf(text.slice(0, dbl), false);
    const tail = groupsOf(text.slice(dbl + 2), true);
    if (head.length + tail.length > 7) throw bad();
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = groupsOf(text, true);
    if (groups.length !== 8) throw bad();
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** IPv4 or IPv6 text to 4 or 16 bytes (IPv4 if it contains no ':'). */
export function parseIp(text: string): Uint8Array {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/** 4 or 16 bytes to text; IPv6 per RFC 5952 (lower case, longest run >= 2 zero groups as ::). */
export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return Array.from(addr).join('.');
  if (addr.length !== 16) throw new RangeError(`address of ${addr.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((addr[2 * i]! << 8) | addr[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** The canonical text of an address, as the decoder reports it. */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

// ---------------------------------------------------------------------------------------------
// Small byte helpers

function checkUint(value: number, bits: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RangeError(`${what} out of range for ${bits} bits: ${value}`);
  }
  return value;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function padTo(bytes: Uint8Array, multiple: number): Uint8Array {
  const rem = bytes.length % multiple;
  if (rem === 0) return bytes;
  return concatBytes(bytes, new Uint8Array(multiple - rem));
}

/** Payload given as bytes or as text (UTF-8). */
export type PayloadData = Uint8Array | string;

function dataBytes(data: PayloadData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

// ---------------------------------------------------------------------------------------------
// TCP

/** TCP options, in wire order. `raw` is written verbatim (kind and length included). */
export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; value: number }
  | { kind: 'sackOk' }
  | { kind: 'sack'; blocks: [number, number][] }
  | { kind: 'ts'; val: number; ecr: number }
  /** TOA (kind 254): length 8 with an IPv4 address, 20 with an IPv6 address. */
  | { kind: 'toa'; port: number; addr: string }
  | { kind: 'raw'; bytes: Uint8Array };

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_OK = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TS = 8;
export const TCPOPT_TOA = 254;

/** Encodes options without padding (the TCP builder pads with zero bytes to 4). */
export function encodeTcpOptions(options: readonly TcpOption[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const o of options) {
    switch (o.kind) {
      case 'eol':
        parts.push(Uint8Array.of(TCPOPT_EOL));
        break;
      case 'nop':
        parts.push(Uint8Array.of(TCPOPT_NOP));
        break;
      case 'mss': {
        const b = Uint8Array.of(TCPOPT_MSS, 4, 0, 0);
        put16(b, 2, checkUint(o.value, 16, 'mss'));
        parts.push(b);
        break;
      }
      case 'wscale':
        parts.push(Uint8Array.of(TCPOPT_WSCALE, 3, checkUint(o.value, 8, 'wscale')));
        break;
      case 'sackOk':
        parts.push(Uint8Array.of(TCPOPT_SACK_OK, 2));
        break;
      case 'sack': {
        const b = new Uint8Array(2 + 8 * o.blocks.length);
        b[0] = TCPOPT_SACK;
        b[1] = checkUint(b.length, 8, 'sack option length');
        o.blocks.forEach(([l, r], i) => {
          put32(b, 2 + 8 * i, checkUint(l, 32, 'sack left edge'));
          put32(b, 6 + 8 * i, checkUint(r, 32, 'sack right edge'));
        });
        parts.push(b);
        break;
      }
      case 'ts': {
        const b = new Uint8Array(10);
        b[0] = TCPOPT_TS;
        b[1] = 10;
        put32(b, 2, checkUint(o.val, 32, 'ts val'));
        put32(b, 6, checkUint(o.ecr, 32, 'ts ecr'));
        parts.push(b);
        break;
      }
      case 'toa': {
        const addr = parseIp(o.addr);
        const b = new Uint8Array(4 + addr.length);
        b[0] = TCPOPT_TOA;
        b[1] = b.length;
        put16(b, 2, checkUint(o.port, 16, 'toa port'));
        b.set(addr, 4);
        parts.push(b);
        break;
      }
      case 'raw':
        parts.push(o.bytes);
        break;
      default:
        throw new TypeError(`unknown TCP option ${JSON.stringify(o)}`);
    }
  }
  return concatBytes(...parts);
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** Flag letters in the order the decoder prints them: 'SA', 'PA', 'FA', 'RA'... */
export const TCP_FLAG_LETTERS = 'FSRPAUEC';

export interface TcpFlagBits {
  fin?: boolean;
  syn?: boolean;
  rst?: boolean;
  psh?: boolean;
  ack?: boolean;
  urg?: boolean;
  ece?: boolean;
  cwr?: boolean;
}

/** Letters from FSRPAUEC in any order (e.g. 'SA', 'PA', ''), a flag byte, or booleans. */
export type TcpFlags = string | number | TcpFlagBits;

/** The flag byte for a TcpFlags value. */
export function tcpFlagBits(flags: TcpFlags): number {
  if (typeof flags === 'number') return checkUint(flags, 8, 'tcp flags');
  if (typeof flags === 'string') {
    let bits = 0;
    for (const ch of flags) {
      const i = TCP_FLAG_LETTERS.indexOf(ch);
      if (i < 0)
        throw new SyntaxError(`bad TCP flag letter ${JSON.stringify(ch)} in ${JSON.stringify(flags)}`);
      bits |= 1 << i;
    }
    return bits;
  }
  const names: (keyof TcpFlagBits)[] = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'];
  return names.reduce((bits, name, i) => (flags[name] ? bits | (1 << i) : bits), 0);
}

/** The canonical letter string of a flag byte ('SA' for SYN+ACK). */
export function tcpFlagString(bits: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) if (bits & (1 << i)) s += TCP_FLAG_LETTERS[i];
  return s;
}

export interface TcpFields {
  sport: number;
  dport: number;
  /** default 0 */
  seq?: number;
  /** default 0 */
  ack?: number;
  /** default 'S' */
  flags?: TcpFlags;
  /** default 65535 */
  window?: number;
  /** urgent pointer, default 0 */
  urg?: number;
  /** encoded in order, padded with zero bytes to a multiple of 4 */
  options?: TcpOption[];
  data?: PayloadData;
  // --- malformation knobs ---
  /** data offset field (32-bit words) written instead of the computed one; layout unchanged */
  dataOffset?: number;
  /** the 4 bits after the data offset (reserved / AE), default 0 */
  reserved?: number;
  /** written verbatim instead of the computed checksum */
  checksum?: number;
}

export interface TcpSpec extends TcpFields {
  kind: 'tcp';
}

export function tcp(fields: TcpFields): TcpSpec {
  return { kind: 'tcp', ...fields };
}

// ---------------------------------------------------------------------------------------------
// UDP

export interface UdpFields {
  sport: number;
  dport: number;
  data?: PayloadData;
  // --- malformation knobs ---
  /** length field written instead of 8 + data length */
  length?: number;
  /** written verbatim instead of the computed checksum (0 = "no checksum" over IPv4) */
  checksum?: number;
}

export interface UdpSpec extends UdpFields {
  kind: 'udp';
}

export function udp(fields: UdpFields): UdpSpec {
  return { kind: 'udp', ...fields };
}

// ---------------------------------------------------------------------------------------------
// ICMP

export interface IcmpFields {
  type: number;
  /** default 0 */
  code?: number;
  /**
   * The 32-bit word after the checksum, default 0: (id << 16 | seq) for echo, the next-hop
   * MTU (low 16 bits) for ICMPv4 frag-needed, the MTU for ICMPv6 Packet Too Big, the pointer
   * (high byte) for ICMPv4 parameter problem.
   */
  rest?: number;
  /** the body, e.g. quote(originalPacket) for errors */
  data?: PayloadData;
  // --- malformation knobs ---
  /** written verbatim instead of the computed checksum */
  checksum?: number;
}

export interface Icmp4Spec extends IcmpFields {
  kind: 'icmp4';
}

export interface Icmp6Spec extends IcmpFields {
  kind: 'icmp6';
}

/** ICMPv4 message; checksum over the message only. */
export function icmp4(fields: IcmpFields): Icmp4Spec {
  return { kind: 'icmp4', ...fields };
}

/** ICMPv6 message; checksum includes the IPv6 pseudo-header. */
export function icmp6(fields: IcmpFields): Icmp6Spec {
  return { kind: 'icmp6', ...fields };
}

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_PARAM_PROBLEM = 12;
export const ICMP4_CODE_FRAG_NEEDED = 4;
export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

/** The `rest` word of an echo request/reply. */
export function echoRest(id: number, seq: number): number {
  return ((checkUint(id, 16, 'echo id') << 16) | checkUint(seq, 16, 'echo seq')) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// L4 encoding

export type L4Spec = TcpSpec | UdpSpec | Icmp4Spec | Icmp6Spec;

/** The IP protocol number of an L4 spec. */
export function l4Proto(spec: L4Spec): number {
  switch (spec.kind) {
    case 'tcp':
      return PROTO_TCP;
    case 'udp':
      return PROTO_UDP;
    case 'icmp4':
      return PROTO_ICMP;
    case 'icmp6':
      return PROTO_ICMPV6;
  }
}

/** Addresses for the pseudo-header: 4-byte pair for IPv4, 16-byte pair for IPv6. */
export interface PseudoAddrs {
  src: Uint8Array;
  dst: Uint8Array;
}

function finishChecksum(
  seg: Uint8Array,
  csumOff: number,
  given: number | undefined,
  compute: () => number,
  what: string,
): void {
  if (given !== undefined) put16(seg, csumOff, checkUint(given, 16, `${what} checksum`));
  else put16(seg, csumOff, compute());
}

function needAddrs(addrs: PseudoAddrs | undefined, what: string): PseudoAddrs {
  if (!addrs) throw new TypeError(`${what} checksum needs pseudo-header addresses (or give checksum)`);
  return addrs;
}

/**
 * Serialises an L4 spec. TCP, UDP and ICMPv6 checksums need the pseudo-header addresses
 * (`addrs`) unless the spec gives `checksum`. A computed UDP checksum of 0 is sent as 0xffff.
 */
export function encodeL4(spec: L4Spec, addrs?: PseudoAddrs): Uint8Array {
  switch (spec.kind) {
    case 'tcp': {
      const opts = padTo(encodeTcpOptions(spec.options ?? []), 4);
      const hlen = 20 + opts.length;
      if (hlen > 60 && spec.dataOffset === undefined) {
        throw new RangeError(
          `TCP options too long: header would be ${hlen} bytes (give dataOffset to force)`,
        );
      }
      const data = dataBytes(spec.data);
      const seg = new Uint8Array(hlen + data.length);
      put16(seg, 0, checkUint(spec.sport, 16, 'sport'));
      put16(seg, 2, checkUint(spec.dport, 16, 'dport'));
      put32(seg, 4, checkUint(spec.seq ?? 0, 32, 'seq'));
      put32(seg, 8, checkUint(spec.ack ?? 0, 32, 'ack'));
      const doff = spec.dataOffset ?? hlen / 4;
      seg[12] = (checkUint(doff, 4, 'data offset') << 4) | checkUint(spec.reserved ?? 0, 4, 'reserved bits');
      seg[13] = tcpFlagBits(spec.flags ?? 'S');
      put16(seg, 14, checkUint(spec.window ?? 65535, 16, 'window'));
      put16(seg, 18, checkUint(spec.urg ?? 0, 16, 'urgent pointer'));
      seg.set(opts, 20);
      seg.set(data, hlen);
      finishChecksum(
        seg,
        16,
        spec.checksum,
        () => {
          const a = needAddrs(addrs, 'TCP');
          return refL4Checksum(a.src, a.dst, PROTO_TCP, seg);
        },
        'TCP',
      );
      return seg;
    }
    case 'udp': {
      const data = dataBytes(spec.data);
      const seg = new Uint8Array(8 + data.length);
      put16(seg, 0, checkUint(spec.sport, 16, 'sport'));
      put16(seg, 2, checkUint(spec.dport, 16, 'dport'));
      put16(seg, 4, checkUint(spec.length ?? seg.length, 16, 'UDP length'));
      seg.set(data, 8);
      finishChecksum(
        seg,
        6,
        spec.checksum,
        () => {
          const a = needAddrs(addrs, 'UDP');
          const c = refL4Checksum(a.src, a.dst, PROTO_UDP, seg);
          return c === 0 ? 0xffff : c; // RFC 768: a computed 0 is transmitted as all ones
        },
        'UDP',
      );
      return seg;
    }
    case 'icmp4':
    case 'icmp6': {
      const data = dataBytes(spec.data);
      const seg = new Uint8Array(8 + data.length);
      seg[0] = checkUint(spec.type, 8, 'ICMP type');
      seg[1] = checkUint(spec.code ?? 0, 8, 'ICMP code');
      put32(seg, 4, checkUint(spec.rest ?? 0, 32, 'ICMP rest of header'));
      seg.set(data, 8);
      finishChecksum(
        seg,
        2,
        spec.checksum,
        () => {
          if (spec.kind === 'icmp4') return refChecksum(seg);
          const a = needAddrs(addrs, 'ICMPv6');
          return refL4Checksum(a.src, a.dst, PROTO_ICMPV6, seg);
        },
        'ICMP',
      );
      return seg;
    }
    default:
      throw new TypeError(`unknown L4 spec ${JSON.stringify(spec)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// IPv4

export interface Ipv4Fields {
  src: string;
  dst: string;
  /** default 0 */
  tos?: number;
  /** default 0 */
  id?: number;
  /** default false */
  df?: boolean;
  /** default false */
  mf?: boolean;
  /** the reserved ("evil") flag bit, default false */
  reservedFlag?: boolean;
  /** in 8-byte blocks (the raw 13-bit field), default 0 */
  fragOffset?: number;
  /** default 64 */
  ttl?: number;
  /** protocol field; default from the payload spec (required for raw payload bytes) */
  proto?: number;
  /** raw IPv4 options, padded with zero (EOL) bytes to a multiple of 4 */
  options?: Uint8Array;
  /** an L4 spec (serialised with this packet's pseudo-header) or raw bytes */
  payload?: L4Spec | Uint8Array;
  // --- malformation knobs ---
  /** version nibble, default 4 */
  version?: number;
  /** IHL field (32-bit words) written instead of the computed one; layout unchanged */
  ihl?: number;
  /** total length field written instead of the real length */
  totalLength?: number;
  /** written verbatim instead of the computed header checksum */
  checksum?: number;
  /** bytes appended after the packet and not counted in the total length (e.g. link padding) */
  trailer?: Uint8Array;
  /** cut the finished packet (trailer included) to this many bytes */
  truncate?: number;
}

function payloadOf(
  payload: L4Spec | Uint8Array | undefined,
  proto: number | undefined,
  addrs: PseudoAddrs,
): { bytes: Uint8Array; proto: number } {
  if (payload === undefined || payload instanceof Uint8Array) {
    if (proto === undefined) throw new TypeError('proto is required with a raw (or no) payload');
    return { bytes: payload ?? new Uint8Array(0), proto };
  }
  return { bytes: encodeL4(payload, addrs), proto: proto ?? l4Proto(payload) };
}

function finishPacket(
  pkt: Uint8Array,
  trailer: Uint8Array | undefined,
  truncate: number | undefined,
): Uint8Array {
  let out = trailer ? concatBytes(pkt, trailer) : pkt;
  if (truncate !== undefined) {
    checkUint(truncate, 32, 'truncate');
    out = out.slice(0, truncate);
  }
  return out;
}

export function ipv4(f: Ipv4Fields): Uint8Array {
  const src = parseIPv4(f.src);
  const dst = parseIPv4(f.dst);
  const opts = padTo(f.options ?? new Uint8Array(0), 4);
  const hlen = 20 + opts.length;
  if (hlen > 60 && f.ihl === undefined) {
    throw new RangeError(`IPv4 options too long: header would be ${hlen} bytes (give ihl to force)`);
  }
  const { bytes: l4, proto } = payloadOf(f.payload, f.proto, { src, dst });
  const total = hlen + l4.length;
  if (total > 0xffff && f.totalLength === undefined) throw new RangeError(`IPv4 packet of ${total} bytes`);
  const pkt = new Uint8Array(total);
  pkt[0] = (checkUint(f.version ?? 4, 4, 'version') << 4) | checkUint(f.ihl ?? hlen / 4, 4, 'IHL');
  pkt[1] = checkUint(f.tos ?? 0, 8, 'tos');
  put16(pkt, 2, checkUint(f.totalLength ?? total, 16, 'total length'));
  put16(pkt, 4, checkUint(f.id ?? 0, 16, 'id'));
  const flagsFrag =
    (f.reservedFlag ? 0x8000 : 0) |
    (f.df ? 0x4000 : 0) |
    (f.mf ? 0x2000 : 0) |
    checkUint(f.fragOffset ?? 0, 13, 'fragment offset');
  put16(pkt, 6, flagsFrag);
  pkt[8] = checkUint(f.ttl ?? 64, 8, 'ttl');
  pkt[9] = checkUint(proto, 8, 'proto');
  pkt.set(src, 12);
  pkt.set(dst, 16);
  pkt.set(opts, 20);
  put16(pkt, 10, f.checksum !== undefined ? checkUint(f.checksum, 16, 'IPv4 checksum') : 0);
  if (f.checksum === undefined) put16(pkt, 10, refChecksum(pkt.subarray(0, hlen)));
  pkt.set(l4, hlen);
  return finishPacket(pkt, f.trailer, f.truncate);
}

// ---------------------------------------------------------------------------------------------
// IPv6

export const IPV6_EXT_HBH = 0;
export const IPV6_EXT_ROUTING = 43;
export const IPV6_EXT_FRAG = 44;
export const IPV6_EXT_DST = 60;

/** A hop-by-hop or destination option (TLV). Type 0 (Pad1) is one byte; Pad1/PadN are added for alignment. */
export interface Ipv6Option {
  type: number;
  data?: Uint8Array;
}

export type Ipv6Ext =
  /** Hop-by-hop options (next header 0). `raw` replaces the option area verbatim. */
  | { kind: 'hbh'; options?: Ipv6Option[]; raw?: Uint8Array; hdrExtLen?: number }
  /** Destination options (next header 60). */
  | { kind: 'dst'; options?: Ipv6Option[]; raw?: Uint8Array; hdrExtLen?: number }
  /**
   * Routing header (next header 43). With `addresses` the type 0/2 layout is used (4 reserved
   * bytes, then the addresses); otherwise `data` follows the first 4 bytes. When segmentsLeft > 0
   * the L4 pseudo-header uses the final destination: the last address (type 0) or the only
   * address (type 2), unless `finalDst` says otherwise.
   */
  | {
      kind: 'routing';
      routingType?: number;
      segmentsLeft?: number;
      addresses?: string[];
      data?: Uint8Array;
      finalDst?: string;
      hdrExtLen?: number;
    }
  /** Fragment header (next header 44); fragOffset in 8-byte blocks. */
  | { kind: 'frag'; fragOffset?: number; mf?: boolean; id?: number }
  /** Any other header: `bytes` is the whole header after its next-header byte. */
  | { kind: 'raw'; headerType: number; bytes: Uint8Array };

export function extHeaderType(ext: Ipv6Ext): number {
  switch (ext.kind) {
    case 'hbh':
      return IPV6_EXT_HBH;
    case 'dst':
      return IPV6_EXT_DST;
    case 'routing':
      return IPV6_EXT_ROUTING;
    case 'frag':
      return IPV6_EXT_FRAG;
    case 'raw':
      return ext.headerType;
  }
}

function encodeTlvOptions(options: readonly Ipv6Option[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const o of options) {
    if (o.type === 0) {
      parts.push(Uint8Array.of(0));
    } else {
      const data = o.data ?? new Uint8Array(0);
      parts.push(
        Uint8Array.of(checkUint(o.type, 8, 'option type'), checkUint(data.length, 8, 'option length')),
      );
      parts.push(data);
    }
  }
  return concatBytes(...parts);
}

/** Pads an option area so that 2 + length is a multiple of 8, with Pad1 or PadN. */
function padOptionArea(area: Uint8Array): Uint8Array {
  const need = (8 - ((2 + area.length) % 8)) % 8;
  if (need === 0) return area;
  if (need === 1) return concatBytes(area, Uint8Array.of(0));
  return concatBytes(area, Uint8Array.of(1, need - 2), new Uint8Array(need - 2));
}

/** Encodes one extension header with the given next header value. */
function encodeExt(ext: Ipv6Ext, next: number): Uint8Array {
  switch (ext.kind) {
    case 'hbh':
    case 'dst': {
      const area = ext.raw ?? padOptionArea(encodeTlvOptions(ext.options ?? []));
      const body = padTo(concatBytes(Uint8Array.of(next, 0), area), 8);
      body[1] = checkUint(ext.hdrExtLen ?? body.length / 8 - 1, 8, 'hdr ext len');
      return body;
    }
    case 'routing': {
      const rest = ext.addresses
        ? concatBytes(new Uint8Array(4), ...ext.addresses.map(parseIPv6))
        : (ext.data ?? new Uint8Array(4));
      const body = padTo(
        concatBytes(
          Uint8Array.of(
            next,
            0,
            checkUint(ext.routingType ?? 0, 8, 'routing type'),
            checkUint(ext.segmentsLeft ?? 0, 8, 'segments left'),
          ),
          rest,
        ),
        8,
      );
      body[1] = checkUint(ext.hdrExtLen ?? body.length / 8 - 1, 8, 'hdr ext len');
      return body;
    }
    case 'frag': {
      const b = new Uint8Array(8);
      b[0] = next;
      put16(b, 2, (checkUint(ext.fragOffset ?? 0, 13, 'fragment offset') << 3) | (ext.mf ? 1 : 0));
      put32(b, 4, checkUint(ext.id ?? 0, 32, 'fragment id'));
      return b;
    }
    case 'raw':
      return concatBytes(Uint8Array.of(next), ext.bytes);
    default:
      throw new TypeError(`unknown IPv6 extension header ${JSON.stringify(ext)}`);
  }
}

/** The L4 pseudo-header destination for an extension chain (RFC 8200 section 8.1). */
function finalDestination(dst: Uint8Array, exts: readonly Ipv6Ext[]): Uint8Array {
  let final = dst;
  for (const e of exts) {
    if (e.kind !== 'routing') continue;
    if (e.finalDst !== undefined) final = parseIPv6(e.finalDst);
    else if ((e.segmentsLeft ?? 0) > 0 && e.addresses && e.addresses.length > 0) {
      final = parseIPv6(e.addresses[e.addresses.length - 1]!);
    }
  }
  return final;
}

export interface Ipv6Fields {
  src: string;
  dst: string;
  /** default 0 */
  trafficClass?: number;
  /** default 0 */
  flowLabel?: number;
  /** default 64 */
  hopLimit?: number;
  /** extension headers in order; each one's next header is filled in */
  ext?: Ipv6Ext[];
  /** upper-layer protocol (last next header); default from the payload spec */
  proto?: number;
  /** an L4 spec (serialised with this packet's pseudo-header) or raw bytes */
  payload?: L4Spec | Uint8Array;
  // --- malformation knobs ---
  /** version nibble, default 6 */
  version?: number;
  /** payload length field written instead of the real length */
  payloadLength?: number;
  /** bytes appended after the packet and not counted in the payload length */
  trailer?: Uint8Array;
  /** cut the finished packet (trailer included) to this many bytes */
  truncate?: number;
}

export function ipv6(f: Ipv6Fields): Uint8Array {
  const src = parseIPv6(f.src);
  const dst = parseIPv6(f.dst);
  const exts = f.ext ?? [];
  const { bytes: l4, proto } = payloadOf(f.payload, f.proto, { src, dst: finalDestination(dst, exts) });
  const extBytes: Uint8Array[] = exts.map((e, i) =>
    encodeExt(e, i + 1 < exts.length ? extHeaderType(exts[i + 1]!) : checkUint(proto, 8, 'proto')),
  );
  const payloadLen = extBytes.reduce((n, b) => n + b.length, 0) + l4.length;
  if (payloadLen > 0xffff && f.payloadLength === undefined) {
    throw new RangeError(`IPv6 payload of ${payloadLen} bytes (jumbograms not supported)`);
  }
  const hdr = new Uint8Array(40);
  const word0 =
    (checkUint(f.version ?? 6, 4, 'version') * 2 ** 28 +
      checkUint(f.trafficClass ?? 0, 8, 'traffic class') * 2 ** 20 +
      checkUint(f.flowLabel ?? 0, 20, 'flow label')) >>>
    0;
  put32(hdr, 0, word0);
  put16(hdr, 4, checkUint(f.payloadLength ?? payloadLen, 16, 'payload length'));
  hdr[6] = exts.length > 0 ? extHeaderType(exts[0]!) : proto;
  hdr[7] = checkUint(f.hopLimit ?? 64, 8, 'hop limit');
  hdr.set(src, 8);
  hdr.set(dst, 24);
  return finishPacket(concatBytes(hdr, ...extBytes, l4), f.trailer, f.truncate);
}

// ---------------------------------------------------------------------------------------------
// Convenience

/** Extra TCP fields for tcp4/tcp6, plus `ip` for the IP header. */
export type TcpExtra<Ip> = Partial<TcpFields> & { ip?: Partial<Ip> };
export type UdpExtra<Ip> = Partial<UdpFields> & { ip?: Partial<Ip> };

/** tcp4('198.51.100.2', 40000, '203.0.113.10', 80, 'S', { seq: 1, options: [{ kind: 'mss', value: 1460 }] }) */
export function tcp4(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  flags: TcpFlags = 'S',
  extra: TcpExtra<Ipv4Fields> = {},
): Uint8Array {
  const { ip, ...t } = extra;
  return ipv4({ src, dst, ...ip, payload: tcp({ sport, dport, flags, ...t }) });
}

/** tcp6('2001:db8:100::2', 40000, '2001:db8:203::10', 80, 'SA', { ack: 1 }) */
export function tcp6(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  flags: TcpFlags = 'S',
  extra: TcpExtra<Ipv6Fields> = {},
): Uint8Array {
  const { ip, ...t } = extra;
  return ipv6({ src, dst, ...ip, payload: tcp({ sport, dport, flags, ...t }) });
}

/** udp4('198.51.100.2', 5353, '203.0.113.10', 53, 'query') */
export function udp4(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  data?: PayloadData,
  extra: UdpExtra<Ipv4Fields> = {},
): Uint8Array {
  const { ip, ...u } = extra;
  return ipv4({ src, dst, ...ip, payload: udp({ sport, dport, data, ...u }) });
}

/** udp6('2001:db8:100::2', 5353, '2001:db8:203::10', 53, 'query') */
export function udp6(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  data?: PayloadData,
  extra: UdpExtra<Ipv6Fields> = {},
): Uint8Array {
  const { ip, ...u } = extra;
  return ipv6({ src, dst, ...ip, payload: udp({ sport, dport, data, ...u }) });
}

/**
 * The start of `packet` as an ICMP error quotes it: the IP header (IPv4 with options; IPv6
 * with its extension headers) plus `l4Bytes` bytes of what follows (8 as RFC 792 requires;
 * Infinity for all of it, capped at the packet length).
 */
export function quote(packet: Uint8Array, l4Bytes = 8): Uint8Array {
  if (packet.length === 0) return packet.slice();
  const version = packet[0]! >> 4;
  let hlen: number;
  if (version === 4) {
    hlen = (packet[0]! & 0x0f) * 4;
  } else if (version === 6) {
    hlen = 40;
    let next = packet[6]!;
    while (IPV6_EXT_SET.has(next) && hlen + 2 <= packet.length) {
      const len =
        next === IPV6_EXT_FRAG ? 8 : next === 51 ? (packet[hlen + 1]! + 2) * 4 : (packet[hlen + 1]! + 1) * 8;
      next = packet[hlen]!;
      hlen += len;
    }
  } else {
    throw new TypeError(`quote: not an IP packet (version ${version})`);
  }
  return packet.slice(0, Math.min(packet.length, hlen + l4Bytes));
}

/** Next-header values treated as IPv6 extension headers (as Linux's ipv6_ext_hdr, plus mobility/HIP/shim6). */
export const IPV6_EXT_SET: ReadonlySet<number> = new Set([0, 43, 44, 51, 60, 135, 139, 140]);

/**
 * Splits a built IPv4 packet into fragments carrying at most `maxData` bytes of payload each
 * (rounded down to a multiple of 8 except the last). Header fields are copied, MF and the
 * offset set, checksums recomputed. The packet's own offset/MF are honoured, so fragments can
 * be fragmented again.
 */
export function fragment4(packet: Uint8Array, maxData: number): Uint8Array[] {
  const hlen = (packet[0]! & 0x0f) * 4;
  const total = (packet[2]! << 8) | packet[3]!;
  const data = packet.subarray(hlen, total);
  const step = Math.floor(maxData / 8) * 8;
  if (step <= 0) throw new RangeError('fragment4: maxData below 8');
  const baseOff = ((packet[6]! << 8) | packet[7]!) & 0x1fff;
  const origMf = (packet[6]! & 0x20) !== 0;
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length || off === 0; off += step) {
    const chunk = data.subarray(off, Math.min(off + step, data.length));
    const last = off + step >= data.length;
    const frag = concatBytes(packet.subarray(0, hlen), chunk);
    put16(frag, 2, frag.length);
    const flags = (packet[6]! & 0xc0) << 8; // reserved + DF kept
    put16(frag, 6, flags | (last && !origMf ? 0 : 0x2000) | (baseOff + off / 8));
    put16(frag, 10, 0);
    put16(frag, 10, refChecksum(frag.subarray(0, hlen)));
    out.push(frag);
    if (last) break;
  }
  return out;
}

/**
 * Splits a built IPv6 packet (without a Fragment header) into fragments with at most
 * `maxData` bytes of fragmentable part each. The unfragmentable part is the IPv6 header plus a
 * leading hop-by-hop header, any destination options header right before a routing header,
 * and the routing header (RFC 8200 section 4.5).
 */
export function fragment6(packet: Uint8Array, maxData: number, id = 0): Uint8Array[] {
  const step = Math.floor(maxData / 8) * 8;
  if (step <= 0) throw new RangeError('fragment6: maxData below 8');
  // Walk the unfragmentable headers: hbh first, then dst/routing up to the last routing header.
  let off = 40;
  let nextOff = 6; // where the next-header byte that will point at the Fragment header lives
  let next = packet[6]!;
  const headers: { type: number; off: number; len: number }[] = [];
  let scan = 40;
  let t = next;
  while (IPV6_EXT_SET.has(t) && t !== IPV6_EXT_FRAG && scan + 2 <= packet.length) {
    const len = t === 51 ? (packet[scan + 1]! + 2) * 4 : (packet[scan + 1]! + 1) * 8;
    headers.push({ type: t, off: scan, len });
    t = packet[scan]!;
    scan += len;
  }
  let lastUnfrag = -1;
  headers.forEach((h, i) => {
    if ((h.type === IPV6_EXT_HBH && i === 0) || h.type === IPV6_EXT_ROUTING) lastUnfrag = i;
  });
  for (let i = 0; i <= lastUnfrag; i++) {
    nextOff = headers[i]!.off;
    next = packet[nextOff]!;
    off = headers[i]!.off + headers[i]!.len;
  }
  const plen = (packet[4]! << 8) | packet[5]!;
  const unfrag = packet.subarray(0, off);
  const fragmentable = packet.subarray(off, 40 + plen);
  const out: Uint8Array[] = [];
  for (let o = 0; o < fragmentable.length || o === 0; o += step) {
    const chunk = fragmentable.subarray(o, Math.min(o + step, fragmentable.length));
    const last = o + step >= fragmentable.length;
    const fh = new Uint8Array(8);
    fh[0] = next;
    put16(fh, 2, ((o / 8) << 3) | (last ? 0 : 1));
    put32(fh, 4, id >>> 0);
    const frag = concatBytes(unfrag, fh, chunk);
    frag[nextOff] = IPV6_EXT_FRAG;
    put16(frag, 4, frag.length - 40);
    out.push(frag);
    if (last) break;
  }
  return out;
}
