// IPv6 header view (RFC 8200) and extension-header constants.
//
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Source Address (128)                      |
// |                  Destination Address (128)                    |
import { rd32, wr32 } from './ipv4.js';

export const IPV6_HDR_LEN = 40;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HDR = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export const NH_HOPOPTS = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ESP = 50;
export const NH_AH = 51;
export const NH_ICMPV6 = 58;
export const NH_NONE = 59;
export const NH_DSTOPTS = 60;

/** Fragment header: next(1) reserved(1) offset<<3|M(2) identification(4). */
export const FRAG6_HDR_LEN = 8;

/** Reads 4 address words starting at byte offset `ao` into out[oi..oi+3]. */
export function rdAddr6(b: Uint8Array, ao: number, out: Uint32Array, oi: number): void {
  out[oi] = rd32(b, ao);
  out[oi + 1] = rd32(b, ao + 4);
  out[oi + 2] = rd32(b, ao + 8);
  out[oi + 3] = rd32(b, ao + 12);
}

/** Writes 4 address words from src[si..si+3] at byte offset `ao`. */
export function wrAddr6(b: Uint8Array, ao: number, src: Uint32Array, si: number): void {
  wr32(b, ao, src[si]!);
  wr32(b, ao + 4, src[si + 1]!);
  wr32(b, ao + 8, src[si + 2]!);
  wr32(b, ao + 12, src[si + 3]!);
}
