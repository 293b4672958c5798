// Internet checksum (RFC 1071) and incremental updates (RFC 1624 eqn. 3).
// Sums are kept unfolded as plain numbers; fold() brings them back to 16 bits.

/** One's-complement sum of big-endian 16-bit words in buf[off, off+len), odd byte padded with zero. */
export function sum16(buf: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) s += buf[i]! << 8;
  return s;
}

/** sum16 over a DataView (the engine's view of a batch buffer). */
export function sum16dv(dv: DataView, off: number, len: number, initial: number): number {
  let s = initial;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) s += dv.getUint16(i);
  if (i === end) s += dv.getUint8(i) << 8;
  return s;
}

/** checksum() over a DataView. */
export function checksumDv(dv: DataView, off: number, len: number, initial: number): number {
  return ~fold(sum16dv(dv, off, len, initial)) & 0xffff;
}

/** Folds a (possibly > 32-bit) sum to 16 bits with end-around carry. */
export function fold(s: number): number {
  while (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum field value for the bytes (complement of the folded sum). */
export function checksum(buf: Uint8Array, off: number, len: number, initial: number): number {
  return ~fold(sum16(buf, off, len, initial)) & 0xffff;
}

/** Sum of the two 16-bit halves of a 32-bit word (an IPv4 address in a pseudo-header). */
export function sumWord(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}

/** Contribution that removes `w` (a 32-bit word) from a sum: ~hi + ~lo. */
export function negWord(w: number): number {
  return (~w >>> 16) + (~w & 0xffff);
}

/**
 * Difference (as for csumAdjust) of a 32-bit field that starts at an odd offset from the header:
 * its bytes straddle three checksum words (low byte, one whole word, high byte).
 */
export function oddWordDiff(ov: number, nv: number): number {
  return (
    (0xffff ^ (ov >>> 24)) +
    (0xffff ^ ((ov >>> 8) & 0xffff)) +
    (0xffff ^ ((ov & 0xff) << 8)) +
    (nv >>> 24) +
    ((nv >>> 8) & 0xffff) +
    ((nv & 0xff) << 8)
  );
}

/** Difference (as for csumAdjust) of the 32-bit field at `e` of a header at `hdr`, from ov to nv. */
export function fieldDiff(hdr: number, e: number, ov: number, nv: number): number {
  return ((e - hdr) & 1) === 0 ? negWord(ov) + sumWord(nv) : oddWordDiff(ov, nv);
}

/**
 * Applies an accumulated difference to a checksum field value (RFC 1624 eqn. 3:
 * HC' = ~(~HC + ~m + m')). `diff` is the sum of the removed words' complements and the added words.
 */
export function csumAdjust(csum: number, diff: number): number {
  return ~fold((~csum & 0xffff) + diff) & 0xffff;
}

/** IPv4 pseudo-header sum for TCP/UDP (RFC 793/768). */
export function pseudoSum4(src: number, dst: number, proto: number, l4len: number): number {
  return sumWord(src) + sumWord(dst) + proto + l4len;
}

/** IPv6 pseudo-header sum (RFC 8200 8.1); addresses read from the packet. */
export function pseudoSum6(
  dv: DataView,
  srcOff: number,
  dstOff: number,
  proto: number,
  l4len: number,
): number {
  return sum16dv(dv, srcOff, 16, 0) + sum16dv(dv, dstOff, 16, 0) + sumWord(l4len) + proto;
}
