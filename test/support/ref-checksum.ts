// Reference RFC 1071 Internet checksum for tests. Deliberately simple and slow: one byte at a
// time, end-around carry folded at every step, no tricks. The engine's fast checksums
// (src/dataplane/packet/) are compared against this; nothing here may import from src/.
//
// Vocabulary:
//   sum      = the 16-bit one's complement sum of the data (RFC 1071 "sum"), never complemented
//   checksum = ~sum & 0xffff, the value that goes into a header's checksum field
// A buffer that already contains a correct checksum field sums to 0xffff, so its
// refChecksum() is 0: that is how a checksum is verified.

/** Protocol numbers used with pseudo-headers. */
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

function foldOnce(sum: number): number {
  // End-around carry: 0x10000 + x is congruent to 1 + x in one's complement arithmetic.
  return sum > 0xffff ? sum - 0xffff : sum;
}

/**
 * One's complement sum of `bytes` taken as big-endian 16-bit words (an odd last byte is the
 * high half of a word whose low half is zero), added to `initial`, a partial sum from an
 * earlier call (e.g. a pseudo-header). Result is in 0..0xffff.
 */
export function refSum(bytes: Uint8Array, initial = 0): number {
  if (!Number.isInteger(initial) || initial < 0) throw new RangeError(`bad initial sum ${initial}`);
  let sum = 0;
  // Fold an over-wide initial value 16 bits at a time.
  for (let rest = initial; rest > 0; rest = Math.floor(rest / 0x10000)) {
    sum = foldOnce(sum + (rest % 0x10000));
  }
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const value = i % 2 === 0 ? byte * 256 : byte; // even offset = high byte of the word
    sum = foldOnce(sum + value);
  }
  return sum;
}

/**
 * RFC 1071 Internet checksum of `bytes`, continuing from the partial sum `initial` (not
 * complemented, e.g. refPseudoSum4(...)). Returns the 16-bit value for a checksum field;
 * over data that includes a correct checksum field the result is 0.
 */
export function refChecksum(bytes: Uint8Array, initial = 0): number {
  return ~refSum(bytes, initial) & 0xffff;
}

function need(addr: Uint8Array, len: number, what: string): void {
  if (addr.length !== len) throw new RangeError(`${what} must be ${len} bytes, got ${addr.length}`);
}

/**
 * IPv4 pseudo-header (RFC 793 / RFC 768): src(4) dst(4) zero(1) proto(1) length(2),
 * where length is the L4 length (header + data) in bytes.
 */
export function pseudoHeader4(src: Uint8Array, dst: Uint8Array, proto: number, l4Length: number): Uint8Array {
  need(src, 4, 'IPv4 source');
  need(dst, 4, 'IPv4 destination');
  const out = new Uint8Array(12);
  out.set(src, 0);
  out.set(dst, 4);
  out[8] = 0;
  out[9] = proto & 0xff;
  out[10] = (l4Length >>> 8) & 0xff;
  out[11] = l4Length & 0xff;
  return out;
}

/**
 * IPv6 pseudo-header (RFC 8200 section 8.1): src(16) dst(16) upper-layer length(4) zero(3)
 * next header(1). `dst` is the final destination (the last Routing header address if any).
 */
export function pseudoHeader6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  l4Length: number,
): Uint8Array {
  need(src, 16, 'IPv6 source');
  need(dst, 16, 'IPv6 destination');
  const out = new Uint8Array(40);
  out.set(src, 0);
  out.set(dst, 16);
  out[32] = (l4Length >>> 24) & 0xff;
  out[33] = (l4Length >>> 16) & 0xff;
  out[34] = (l4Length >>> 8) & 0xff;
  out[35] = l4Length & 0xff;
  out[39] = nextHeader & 0xff;
  return out;
}

/** Partial (uncomplemented) sum of the IPv4 pseudo-header, for refChecksum's `initial`. */
export function refPseudoSum4(src: Uint8Array, dst: Uint8Array, proto: number, l4Length: number): number {
  return refSum(pseudoHeader4(src, dst, proto, l4Length));
}

/** Partial (uncomplemented) sum of the IPv6 pseudo-header, for refChecksum's `initial`. */
export function refPseudoSum6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  l4Length: number,
): number {
  return refSum(pseudoHeader6(src, dst, nextHeader, l4Length));
}

/**
 * Checksum of an L4 segment (TCP, UDP, ICMPv6) with the pseudo-header of its addresses;
 * the family follows the address length (4 or 16 bytes). The pseudo-header length is
 * `segment.length`. With the segment's checksum field zeroed this is the value to write;
 * over a segment with a correct checksum it is 0.
 */
export function refL4Checksum(src: Uint8Array, dst: Uint8Array, proto: number, segment: Uint8Array): number {
  if (src.length !== dst.length) throw new RangeError('source and destination of different families');
  const pseudo =
    src.length === 4
      ? refPseudoSum4(src, dst, proto, segment.length)
      : refPseudoSum6(src, dst, proto, segment.length);
  return refChecksum(segment, pseudo);
}
