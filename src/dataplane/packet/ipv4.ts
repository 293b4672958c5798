// IPv4 header view (RFC 791). Accessors take (buf, off) and do no bounds checks:
// parse.ts validates a packet once at entry, after which they are trusted.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |Type of Service|          Total Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Identification        |Flags|      Fragment Offset    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Time to Live |    Protocol   |         Header Checksum       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Source Address                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Destination Address                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options                    |    Padding    |
import { checksum } from './checksum.js';

export const IPV4_MIN_LEN = 20;
export const IPV4_VIHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_ID = 4;
export const IPV4_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;

export const IPV4_F_DF = 0x4000;
export const IPV4_F_MF = 0x2000;
export const IPV4_FRAG_OFF_MASK = 0x1fff;

export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export function ipv4HeaderLen(b: Uint8Array, o: number): number {
  return (b[o]! & 0x0f) << 2;
}
export function ipv4TotalLen(b: Uint8Array, o: number): number {
  return rd16(b, o + IPV4_TOTAL_LEN);
}
export function ipv4Src(b: Uint8Array, o: number): number {
  return rd32(b, o + IPV4_SRC);
}
export function ipv4Dst(b: Uint8Array, o: number): number {
  return rd32(b, o + IPV4_DST);
}
export function ipv4SetSrc(b: Uint8Array, o: number, v: number): void {
  wr32(b, o + IPV4_SRC, v);
}
export function ipv4SetDst(b: Uint8Array, o: number, v: number): void {
  wr32(b, o + IPV4_DST, v);
}

/** Recomputes the header checksum in place (cheap: 10 words, options included). */
export function ipv4UpdateChecksum(b: Uint8Array, o: number): void {
  b[o + IPV4_CSUM] = 0;
  b[o + IPV4_CSUM + 1] = 0;
  wr16(b, o + IPV4_CSUM, checksum(b, o, ipv4HeaderLen(b, o), 0));
}
