// Test-support packet decoder: bytes -> plain object, for assertions on what the engine
// emitted. Reference implementation: it must not import anything from src/. Never throws on
// short or malformed input: it decodes as far as the bytes go, sets `truncated` when the
// capture is shorter than the lengths the headers declare, and lists other problems in
// `errors`.
//
// Shapes follow the builder: decoded TCP options, IPv6 extension headers and flag strings can
// be compared with deepEqual against the builder's input. Normalisation: trailing zero
// padding after the TCP options (under 4 bytes) is not reported as an 'eol' option, Pad1/PadN
// are not reported among IPv6 options, and addresses are in canonical text.

import { hexDiff, toHex } from './hex.js';
import {
  formatIp,
  IPV6_EXT_DST,
  IPV6_EXT_FRAG,
  IPV6_EXT_HBH,
  IPV6_EXT_ROUTING,
  IPV6_EXT_SET,
  type Ipv6Ext,
  type Ipv6Option,
  TCPOPT_EOL,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_SACK_OK,
  TCPOPT_TOA,
  TCPOPT_TS,
  TCPOPT_WSCALE,
  type TcpOption,
  tcpFlagString,
} from './packet-builder.js';
import {
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  refChecksum,
  refL4Checksum,
} from './ref-checksum.js';

export interface DecodedTcp {
  sport: number;
  dport: number;
  seq: number;
  /** fields below are absent when the capture stops before them (e.g. an ICMP quote) */
  ack?: number;
  /** raw data offset field (32-bit words) */
  dataOffset?: number;
  /** the 4 bits after the data offset */
  reserved?: number;
  /** canonical letters in FSRPAUEC order: 'S', 'SA', 'PA', 'FA', 'RA', '' */
  flags?: string;
  flagBits?: number;
  window?: number;
  checksum?: number;
  urg?: number;
  /** dataOffset * 4 */
  headerLength?: number;
  /** decoded in the builder's shape; unknown or malformed options come as { kind: 'raw' } */
  options?: TcpOption[];
  /** the option area as on the wire, padding included */
  optionBytes?: Uint8Array;
  /** an option's length was < 2, ran past the header, or did not fit its kind */
  optionsMalformed?: boolean;
  payload?: Uint8Array;
  payloadLength?: number;
  truncated: boolean;
}

export interface DecodedUdp {
  sport: number;
  dport: number;
  /** the length field */
  length: number;
  checksum: number;
  payload?: Uint8Array;
  payloadLength?: number;
  truncated: boolean;
}

export interface DecodedIcmp {
  /** 4 for ICMPv4 (proto 1), 6 for ICMPv6 (proto 58) */
  version: 4 | 6;
  type: number;
  code: number;
  checksum: number;
  /** the 32-bit word after the checksum (echo id/seq, MTU, pointer, unused) */
  rest: number;
  /** the message body (after the first 8 bytes) */
  data: Uint8Array;
  /** for error messages: the quoted packet, decoded as far as it goes (usually truncated) */
  inner?: DecodedPacket;
  truncated: boolean;
}

export interface DecodedPacket {
  /** 0 when the bytes are not IPv4/IPv6 (or empty) */
  family: 4 | 6 | 0;
  /** the version nibble */
  version: number;
  /** the capture is shorter than a header or a declared length */
  truncated: boolean;
  /** malformations found (bad IHL, length inconsistencies, bad options...) */
  errors: string[];
  /** bytes given */
  captureLength: number;
  /** '' when the fixed header is incomplete */
  src: string;
  dst: string;
  /** IPv4 TTL or IPv6 hop limit (the same value under both names) */
  ttl: number;
  hopLimit: number;
  // IPv4 only
  tos?: number;
  /** raw IHL field (32-bit words) */
  ihl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  reservedFlag?: boolean;
  /** 8-byte blocks; IPv6: from the Fragment header */
  fragOffset?: number;
  ipChecksum?: number;
  /** raw option bytes (padding included) */
  ipOptions?: Uint8Array;
  // IPv6 only
  trafficClass?: number;
  flowLabel?: number;
  /** the payload length field */
  payloadLength?: number;
  /** the fixed header's next header field */
  nextHeader?: number;
  /** extension headers in the builder's shape */
  ext?: Ipv6Ext[];
  /** fragment id of an IPv6 Fragment header */
  fragId?: number;
  // both
  /** upper-layer protocol (after IPv6 extension headers) */
  proto: number;
  /** bytes before the L4 header: IHL*4, or 40 + extension headers */
  headerLength: number;
  /** declared: IPv4 total length, IPv6 40 + payload length */
  totalLength: number;
  /** captured bytes after the declared length */
  trailing: number;
  /** MF set or a non-zero offset (the L4 checksum can't be checked then) */
  isFragment: boolean;
  /** IPv4 header checksum verifies; always true for IPv6 (no header checksum) */
  ipCsumOk: boolean;
  /** L4 checksum verifies; null when it can't be checked (truncated, fragment, unknown proto) */
  l4CsumOk: boolean | null;
  /** the L4 bytes present (within the declared length) */
  l4: Uint8Array;
  tcp?: DecodedTcp;
  udp?: DecodedUdp;
  icmp?: DecodedIcmp;
}

function get16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

function get32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Decodes TCP options; never throws. */
export function decodeTcpOptions(area: Uint8Array): { options: TcpOption[]; malformed: boolean } {
  const options: TcpOption[] = [];
  let malformed = false;
  let i = 0;
  while (i < area.length) {
    const kind = area[i]!;
    if (kind === TCPOPT_EOL) {
      const rest = area.subarray(i);
      const allZero = rest.every((b) => b === 0);
      // Under 4 zero bytes at the end is the builder's (and everyone's) padding.
      if (!(allZero && rest.length < 4)) options.push({ kind: 'eol' });
      if (!allZero) options.push({ kind: 'raw', bytes: area.slice(i + 1) });
      break;
    }
    if (kind === TCPOPT_NOP) {
      options.push({ kind: 'nop' });
      i++;
      continue;
    }
    const len = i + 1 < area.length ? area[i + 1]! : 0;
    if (len < 2 || i + len > area.length) {
      malformed = true;
      options.push({ kind: 'raw', bytes: area.slice(i) });
      break;
    }
    const o = area.subarray(i, i + len);
    const sized = (want: boolean): boolean => {
      if (!want) malformed = true;
      return want;
    };
    if (kind === TCPOPT_MSS && sized(len === 4)) options.push({ kind: 'mss', value: get16(o, 2) });
    else if (kind === TCPOPT_WSCALE && sized(len === 3)) options.push({ kind: 'wscale', value: o[2]! });
    else if (kind === TCPOPT_SACK_OK && sized(len === 2)) options.push({ kind: 'sackOk' });
    else if (kind === TCPOPT_TS && sized(len === 10)) {
      options.push({ kind: 'ts', val: get32(o, 2), ecr: get32(o, 6) });
    } else if (kind === TCPOPT_SACK && sized(len >= 10 && (len - 2) % 8 === 0)) {
      const blocks: [number, number][] = [];
      for (let j = 2; j < len; j += 8) blocks.push([get32(o, j), get32(o, j + 4)]);
      options.push({ kind: 'sack', blocks });
    } else if (kind === TCPOPT_TOA && (len === 8 || len === 20)) {
      options.push({ kind: 'toa', port: get16(o, 2), addr: formatIp(o.subarray(4)) });
    } else {
      options.push({ kind: 'raw', bytes: o.slice() });
    }
    i += len;
  }
  return { options, malformed };
}

function decodeIpv6Options(area: Uint8Array): Ipv6Option[] | null {
  const out: Ipv6Option[] = [];
  let i = 0;
  while (i < area.length) {
    const type = area[i]!;
    if (type === 0) {
      i++;
      continue;
    }
    if (i + 2 > area.length || i + 2 + area[i + 1]! > area.length) return null;
    const len = area[i + 1]!;
    if (type !== 1) out.push({ type, data: area.slice(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  return out;
}

/** Where an L4 checksum can be checked: addresses for the pseudo-header. */
interface Ctx {
  src: Uint8Array;
  dst: Uint8Array;
}

function decodeTcp(l4: Uint8Array, cut: boolean, errors: string[]): DecodedTcp | undefined {
  if (l4.length < 8) return undefined;
  const t: DecodedTcp = { sport: get16(l4, 0), dport: get16(l4, 2), seq: get32(l4, 4), truncated: false };
  if (l4.length < 20) {
    t.truncated = cut;
    if (!cut) errors.push(`tcp: ${l4.length} bytes, shorter than a TCP header`);
    return t;
  }
  t.ack = get32(l4, 8);
  t.dataOffset = l4[12]! >> 4;
  t.reserved = l4[12]! & 0x0f;
  t.flagBits = l4[13]!;
  t.flags = tcpFlagString(t.flagBits);
  t.window = get16(l4, 14);
  t.checksum = get16(l4, 16);
  t.urg = get16(l4, 18);
  t.headerLength = t.dataOffset * 4;
  if (t.dataOffset < 5) {
    errors.push(`tcp: data offset ${t.dataOffset} < 5`);
    return t;
  }
  const avail = Math.min(t.headerLength, l4.length);
  t.optionBytes = l4.slice(20, avail);
  const { options, malformed } = decodeTcpOptions(t.optionBytes);
  t.options = options;
  if (malformed) {
    t.optionsMalformed = true;
    errors.push('tcp: malformed options');
  }
  if (t.headerLength > l4.length) {
    t.truncated = cut;
    if (!cut) errors.push(`tcp: data offset ${t.dataOffset} runs past the segment (${l4.length} bytes)`);
    return t;
  }
  t.payload = l4.slice(t.headerLength);
  t.payloadLength = t.payload.length;
  t.truncated = cut;
  return t;
}

function decodeUdp(l4: Uint8Array, cut: boolean, errors: string[]): DecodedUdp | undefined {
  if (l4.length < 8) return undefined;
  const u: DecodedUdp = {
    sport: get16(l4, 0),
    dport: get16(l4, 2),
    length: get16(l4, 4),
    checksum: get16(l4, 6),
    truncated: cut,
  };
  if (u.length < 8) errors.push(`udp: length field ${u.length} < 8`);
  else if (u.length > l4.length && !cut)
    errors.push(`udp: length field ${u.length} > ${l4.length} bytes present`);
  else if (u.length < l4.length && !cut)
    errors.push(`udp: length field ${u.length} < ${l4.length} bytes present`);
  const end = Math.max(8, Math.min(u.length, l4.length));
  u.payload = l4.slice(8, end);
  u.payloadLength = u.payload.length;
  return u;
}

function isIcmpError(version: 4 | 6, type: number): boolean {
  return version === 4 ? [3, 4, 5, 11, 12].includes(type) : type < 128;
}

function decodeIcmp(version: 4 | 6, l4: Uint8Array, cut: boolean): DecodedIcmp | undefined {
  if (l4.length < 8) return undefined;
  const m: DecodedIcmp = {
    version,
    type: l4[0]!,
    code: l4[1]!,
    checksum: get16(l4, 2),
    rest: get32(l4, 4),
    data: l4.slice(8),
    truncated: cut,
  };
  if (isIcmpError(version, m.type) && m.data.length > 0) m.inner = decodePacket(m.data);
  return m;
}

function l4Checksum(d: DecodedPacket, ctx: Ctx, cut: boolean): boolean | null {
  const l4 = d.l4;
  if (cut || d.isFragment) return null;
  switch (d.proto) {
    case PROTO_TCP:
      if (l4.length < 20) return false;
      return refL4Checksum(ctx.src, ctx.dst, PROTO_TCP, l4) === 0;
    case PROTO_UDP: {
      const u = d.udp;
      if (!u) return false;
      if (u.length < 8 || u.length > l4.length) return false;
      if (u.checksum === 0) return d.family === 4; // "no checksum": allowed over IPv4 only
      return refL4Checksum(ctx.src, ctx.dst, PROTO_UDP, l4.subarray(0, u.length)) === 0;
    }
    case PROTO_ICMP:
      if (l4.length < 8) return false;
      return refChecksum(l4) === 0;
    case PROTO_ICMPV6:
      if (l4.length < 8) return false;
      return refL4Checksum(ctx.src, ctx.dst, PROTO_ICMPV6, l4) === 0;
    default:
      return null;
  }
}

function decodeL4(d: DecodedPacket, ctx: Ctx, cut: boolean): void {
  const l4 = d.l4;
  if (d.isFragment && (d.fragOffset ?? 0) > 0) return; // no L4 header in a later fragment
  const l4cut = cut || d.isFragment; // a first fragment holds only the start of the segment
  switch (d.proto) {
    case PROTO_TCP:
      d.tcp = decodeTcp(l4, l4cut, d.errors);
      break;
    case PROTO_UDP:
      d.udp = decodeUdp(l4, l4cut, d.errors);
      break;
    case PROTO_ICMP:
      d.icmp = decodeIcmp(4, l4, l4cut);
      break;
    case PROTO_ICMPV6:
      d.icmp = decodeIcmp(6, l4, l4cut);
      break;
    default:
      return;
  }
  if (!d.tcp && !d.udp && !d.icmp && l4.length < 8) {
    if (cut) d.truncated = true;
    else d.errors.push(`L4: ${l4.length} bytes, too short for protocol ${d.proto}`);
  }
  d.l4CsumOk = l4Checksum(d, ctx, cut);
}

function blank(bytes: Uint8Array): DecodedPacket {
  return {
    family: 0,
    version: bytes.length > 0 ? bytes[0]! >> 4 : 0,
    truncated: false,
    errors: [],
    captureLength: bytes.length,
    src: '',
    dst: '',
    ttl: 0,
    hopLimit: 0,
    proto: 0,
    headerLength: 0,
    totalLength: 0,
    trailing: 0,
    isFragment: false,
    ipCsumOk: false,
    l4CsumOk: null,
    l4: new Uint8Array(0),
  };
}

function decode4(bytes: Uint8Array, d: DecodedPacket): void {
  d.family = 4;
  if (bytes.length < 20) {
    d.truncated = true;
    return;
  }
  d.ihl = bytes[0]! & 0x0f;
  d.tos = bytes[1]!;
  d.totalLength = get16(bytes, 2);
  d.id = get16(bytes, 4);
  const ff = get16(bytes, 6);
  d.reservedFlag = (ff & 0x8000) !== 0;
  d.df = (ff & 0x4000) !== 0;
  d.mf = (ff & 0x2000) !== 0;
  d.fragOffset = ff & 0x1fff;
  d.isFragment = d.mf || d.fragOffset > 0;
  d.ttl = d.hopLimit = bytes[8]!;
  d.proto = bytes[9]!;
  d.ipChecksum = get16(bytes, 10);
  const src = bytes.slice(12, 16);
  const dst = bytes.slice(16, 20);
  d.src = formatIp(src);
  d.dst = formatIp(dst);
  const hlen = d.ihl * 4;
  d.headerLength = hlen;
  if (d.ihl < 5) {
    d.errors.push(`ipv4: IHL ${d.ihl} < 5`);
    return;
  }
  if (hlen > bytes.length) {
    d.truncated = true;
    d.ipOptions = bytes.slice(20);
    return;
  }
  d.ipOptions = bytes.slice(20, hlen);
  d.ipCsumOk = refChecksum(bytes.subarray(0, hlen)) === 0;
  if (d.totalLength < hlen) {
    d.errors.push(`ipv4: total length ${d.totalLength} < header length ${hlen}`);
    return;
  }
  const cut = d.totalLength > bytes.length;
  if (cut) d.truncated = true;
  d.trailing = Math.max(0, bytes.length - d.totalLength);
  d.l4 = bytes.slice(hlen, Math.min(d.totalLength, bytes.length));
  decodeL4(d, { src, dst }, cut);
}

function decode6(bytes: Uint8Array, d: DecodedPacket): void {
  d.family = 6;
  d.ipCsumOk = true;
  if (bytes.length < 40) {
    d.truncated = true;
    return;
  }
  const w0 = get32(bytes, 0);
  d.trafficClass = (w0 >>> 20) & 0xff;
  d.flowLabel = w0 & 0xfffff;
  d.payloadLength = get16(bytes, 4);
  d.nextHeader = bytes[6]!;
  d.ttl = d.hopLimit = bytes[7]!;
  const src = bytes.slice(8, 24);
  const dst = bytes.slice(24, 40);
  d.src = formatIp(src);
  d.dst = formatIp(dst);
  d.totalLength = 40 + d.payloadLength;
  const cut = d.totalLength > bytes.length;
  if (cut) d.truncated = true;
  d.trailing = Math.max(0, bytes.length - d.totalLength);
  const end = Math.min(d.totalLength, bytes.length);
  const ext: Ipv6Ext[] = [];
  d.ext = ext;
  let pseudoDst = dst;
  let off = 40;
  let next = d.nextHeader;
  while (IPV6_EXT_SET.has(next)) {
    if (off + 2 > end) {
      if (cut) d.truncated = true;
      else d.errors.push(`ipv6: extension header ${next} runs past the packet`);
      d.headerLength = off;
      d.proto = next;
      return;
    }
    const len =
      next === IPV6_EXT_FRAG ? 8 : next === 51 ? (bytes[off + 1]! + 2) * 4 : (bytes[off + 1]! + 1) * 8;
    if (off + len > end) {
      if (cut) d.truncated = true;
      else d.errors.push(`ipv6: extension header ${next} (${len} bytes) runs past the packet`);
      d.headerLength = off;
      d.proto = next;
      return;
    }
    const h = bytes.subarray(off, off + len);
    if (next === IPV6_EXT_HBH || next === IPV6_EXT_DST) {
      const kind = next === IPV6_EXT_HBH ? 'hbh' : 'dst';
      const options = decodeIpv6Options(h.subarray(2));
      if (options) ext.push({ kind, options });
      else {
        d.errors.push(`ipv6: malformed ${kind} options`);
        ext.push({ kind, raw: h.slice(2) });
      }
    } else if (next === IPV6_EXT_ROUTING) {
      const routingType = h[2]!;
      const segmentsLeft = h[3]!;
      if ((routingType === 0 || routingType === 2) && (len - 8) % 16 === 0) {
        const addresses: string[] = [];
        for (let a = 8; a < len; a += 16) addresses.push(formatIp(h.subarray(a, a + 16)));
        ext.push({ kind: 'routing', routingType, segmentsLeft, addresses });
        if (segmentsLeft > 0 && addresses.length > 0) pseudoDst = h.slice(len - 16, len);
      } else {
        ext.push({ kind: 'routing', routingType, segmentsLeft, data: h.slice(4) });
      }
    } else if (next === IPV6_EXT_FRAG) {
      const fo = get16(h, 2);
      const e = { kind: 'frag' as const, fragOffset: fo >> 3, mf: (fo & 1) !== 0, id: get32(h, 4) };
      ext.push(e);
      d.fragOffset = e.fragOffset;
      d.mf = e.mf;
      d.fragId = e.id;
      d.isFragment = e.mf || e.fragOffset > 0;
    } else {
      ext.push({ kind: 'raw', headerType: next, bytes: h.slice(1) });
    }
    next = h[0]!;
    off += len;
    if ((d.fragOffset ?? 0) > 0) break; // after a non-first Fragment header all is fragment data
  }
  d.proto = next;
  d.headerLength = off;
  d.l4 = bytes.slice(off, end);
  decodeL4(d, { src, dst: pseudoDst }, cut);
}

/** Decodes an IPv4 or IPv6 packet. Never throws. */
export function decodePacket(bytes: Uint8Array): DecodedPacket {
  const d = blank(bytes);
  if (bytes.length === 0) {
    d.truncated = true;
    d.errors.push('empty');
    return d;
  }
  if (d.version === 4) decode4(bytes, d);
  else if (d.version === 6) decode6(bytes, d);
  else d.errors.push(`not IP: version ${d.version}`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Descriptions and diffs for assertion messages

function optionText(o: TcpOption): string {
  switch (o.kind) {
    case 'mss':
    case 'wscale':
      return `${o.kind} ${o.value}`;
    case 'ts':
      return `ts ${o.val}:${o.ecr}`;
    case 'sack':
      return `sack ${o.blocks.map(([l, r]) => `${l}:${r}`).join(',')}`;
    case 'toa':
      return `toa ${o.addr}:${o.port}`;
    case 'raw':
      return `raw ${toHex(o.bytes)}`;
    default:
      return o.kind;
  }
}

/** One tcpdump-like line, e.g. `IP 198.51.100.2.40000 > 203.0.113.10.80: tcp [S] seq 0 ack 0 win 65535 <mss 1460> len 0`. */
export function describePacket(bytes: Uint8Array): string {
  const d = decodePacket(bytes);
  if (d.family === 0) return `not IP (${bytes.length} bytes)`;
  const ip = d.family === 4 ? 'IP' : 'IP6';
  const flags: string[] = [];
  if (d.truncated) flags.push('truncated');
  if (!d.ipCsumOk) flags.push('bad ip csum');
  if (d.l4CsumOk === false) flags.push('bad l4 csum');
  if (d.isFragment) flags.push(`frag off ${d.fragOffset}${d.mf ? ' MF' : ''}`);
  if (d.errors.length > 0) flags.push(...d.errors);
  const tail = flags.length > 0 ? ` {${flags.join('; ')}}` : '';
  const head = `${ip} ttl ${d.ttl}`;
  if (d.tcp) {
    const t = d.tcp;
    const opts = t.options && t.options.length > 0 ? ` <${t.options.map(optionText).join(',')}>` : '';
    return `${head} ${d.src}.${t.sport} > ${d.dst}.${t.dport}: tcp [${t.flags ?? '?'}] seq ${t.seq} ack ${t.ack ?? '?'} win ${t.window ?? '?'}${opts} len ${t.payloadLength ?? '?'}${tail}`;
  }
  if (d.udp) {
    return `${head} ${d.src}.${d.udp.sport} > ${d.dst}.${d.udp.dport}: udp len ${d.udp.payloadLength ?? '?'}${tail}`;
  }
  if (d.icmp) {
    const inner = d.icmp.inner ? ` quoting [${describeDecoded(d.icmp.inner)}]` : '';
    return `${head} ${d.src} > ${d.dst}: icmp${d.icmp.version === 6 ? '6' : ''} type ${d.icmp.type} code ${d.icmp.code} rest ${d.icmp.rest}${inner}${tail}`;
  }
  return `${head} ${d.src} > ${d.dst}: proto ${d.proto} len ${d.l4.length}${tail}`;
}

function describeDecoded(d: DecodedPacket): string {
  const ports = d.tcp ?? d.udp;
  const p = ports ? [`.${ports.sport}`, `.${ports.dport}`] : ['', ''];
  return `${d.family === 6 ? 'IP6' : 'IP'} ${d.src}${p[0]} > ${d.dst}${p[1]} proto ${d.proto}`;
}

function flatten(value: unknown, path: string, out: Map<string, string>): void {
  if (value instanceof Uint8Array) out.set(path, toHex(value));
  else if (Array.isArray(value)) {
    out.set(`${path}.length`, String(value.length));
    for (let i = 0; i < value.length; i++) flatten(value[i], `${path}[${i}]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'l4') continue; // covered by the fields and the hex diff
      flatten(v, path ? `${path}.${k}` : k, out);
    }
  } else out.set(path, String(value));
}

/**
 * '' when the packets are byte-identical. Otherwise the decoded fields that differ
 * (`tcp.seq: actual 1001, expected 1000`) followed by hexDiff: for assertion messages,
 * `assert.equal(diffPackets(out, expected), '')`.
 */
export function diffPackets(actual: Uint8Array, expected: Uint8Array): string {
  const hex = hexDiff(actual, expected);
  if (hex === '') return '';
  const a = new Map<string, string>();
  const e = new Map<string, string>();
  flatten(decodePacket(actual), '', a);
  flatten(decodePacket(expected), '', e);
  const lines: string[] = [];
  for (const key of new Set([...e.keys(), ...a.keys()])) {
    const av = a.get(key) ?? '(absent)';
    const ev = e.get(key) ?? '(absent)';
    if (av !== ev) lines.push(`${key}: actual ${av}, expected ${ev}`);
  }
  return [...lines, hex].join('\n');
}
