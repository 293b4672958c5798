// TOA (TCP Option Address): the client's address and port carried to the real server in a TCP
// option, kind 254, right after the fixed 20-byte TCP header:
//   IPv4: [254][8][port:2][addr:4]    IPv6: [254][20][port:2][addr:16]   (network byte order)
// It goes on client->RS ACK/data segments whose ack is the RS's first data sequence number, i.e.
// those that complete or directly follow the handshake, where the RS's TOA reader looks for it.
// The RS SYN-ACK's MSS is lowered by the option's length so a full-sized segment still fits.
import { checksumDv, fold, pseudoSum6, sumWord } from './packet/checksum.js';
import { TCPOPT_EOL, TCPOPT_MSS, TCPOPT_NOP, TCPOPT_TOA, tcpFindOption } from './packet/tcp-options.js';

export const TOA_LEN4 = 8;
export const TOA_LEN6 = 20;
const TCP_MAX_HDR = 60;

/** Outcomes of insertToa (counter names follow Alibaba LVS). */
export const TOA_OK = 0;
/** The packet would exceed the MTU or the buffer slot. */
export const TOA_FAIL_LEN = 1;
/** No room in the 60-byte TCP header even without NOPs. */
export const TOA_HEAD_FULL = 2;

/** Pseudo-header sum (unfolded) of the IPv4/IPv6 packet at l3 for `len` bytes of protocol `proto`. */
function pseudoSum(dv: DataView, l3: number, proto: number, len: number, v6: boolean): number {
  return v6
    ? pseudoSum6(dv, l3 + 8, l3 + 24, proto, len)
    : sumWord(dv.getUint32(l3 + 12)) + sumWord(dv.getUint32(l3 + 16)) + proto + len;
}

/** Recomputes the TCP checksum of the segment at [l4, end) (IPv4 or IPv6 pseudo-header). */
export function tcpChecksumFull(dv: DataView, l3: number, l4: number, end: number, v6: boolean): void {
  dv.setUint16(l4 + 16, 0);
  dv.setUint16(l4 + 16, checksumDv(dv, l4, end - l4, pseudoSum(dv, l3, 6, end - l4, v6)));
}

/** Recomputes the UDP checksum of the datagram at [l4, end) (0 becomes 0xffff). */
export function udpChecksumFull(dv: DataView, l3: number, l4: number, end: number, v6: boolean): void {
  dv.setUint16(l4 + 6, 0);
  const c = checksumDv(dv, l4, end - l4, pseudoSum(dv, l3, 17, end - l4, v6));
  dv.setUint16(l4 + 6, c === 0 ? 0xffff : c);
}

/** Sets the TCP checksum field of [l4, end) to its partial form: the folded pseudo-header sum. */
export function tcpChecksumPartial(dv: DataView, l3: number, l4: number, end: number, v6: boolean): void {
  dv.setUint16(l4 + 16, fold(pseudoSum(dv, l3, 6, end - l4, v6)));
}

/** Lowers the MSS option of a SYN-ACK by `by` bytes (not below 536 / 1220). True if one was found. */
export function lowerMss(dv: DataView, l4: number, thl: number, by: number, v6: boolean): boolean {
  const i = tcpFindOption(dv, l4 + 20, l4 + thl, TCPOPT_MSS);
  if (i < 0 || dv.getUint8(i + 1) !== 4) return false;
  const floor = v6 ? 1220 : 536;
  dv.setUint16(i + 2, Math.max(floor, dv.getUint16(i + 2) - by));
  return true;
}

/**
 * The header length [l4, l4+thl) would have without its NOP bytes, padded to a multiple of 4;
 * thl when the options are malformed (they are then left as they are). Reads only: the caller
 * compacts (compactOptions) only once it knows the option will fit, so a segment that cannot
 * take TOA goes out exactly as it came.
 */
function compactedLength(dv: DataView, l4: number, thl: number): number {
  let n = 20;
  const end = l4 + thl;
  for (let r = l4 + 20; r < end; ) {
    const k = dv.getUint8(r);
    if (k === TCPOPT_NOP) {
      r++;
      continue;
    }
    if (k === TCPOPT_EOL) break;
    if (r + 1 >= end) return thl;
    const len = dv.getUint8(r + 1);
    if (len < 2 || r + len > end) return thl;
    n += len;
    r += len;
  }
  return (n + 3) & ~3;
}

/** Removes the NOP bytes of well-formed options (compactedLength checked them), EOL-padded. */
function compactOptions(dv: DataView, l4: number, thl: number, nl: number): void {
  let w = l4 + 20;
  const end = l4 + thl;
  for (let r = l4 + 20; r < end; ) {
    const k = dv.getUint8(r);
    if (k === TCPOPT_NOP) {
      r++;
      continue;
    }
    if (k === TCPOPT_EOL) break;
    const len = dv.getUint8(r + 1);
    for (let j = 0; j < len; j++) dv.setUint8(w + j, dv.getUint8(r + j));
    w += len;
    r += len;
  }
  for (; w < l4 + nl; w++) dv.setUint8(w, TCPOPT_EOL);
}

/**
 * Inserts the TOA option into the TCP segment of the IP packet at [l3, end) and fixes lengths and
 * checksums. The headers move `n` bytes towards the front when `headroom` allows (the payload
 * stays put), else the payload moves back into `tailroom`. On success the packet lies at
 * [start, end) (fields of this writer).
 */
export class ToaWriter {
  /** Where the packet starts and ends after the last successful insert. */
  start = 0;
  end = 0;

  insert(
    dv: DataView,
    l3: number,
    l4: number,
    end: number,
    v6: boolean,
    caddr: Uint32Array,
    ci: number,
    cport: number,
    headroom: number,
    tailroom: number,
    mtu: number,
    partial: boolean,
  ): number {
    const n = v6 ? TOA_LEN6 : TOA_LEN4;
    let thl = (dv.getUint8(l4 + 12) >>> 4) << 2;
    if (end - l3 + n > mtu || (headroom < n && tailroom < n)) return TOA_FAIL_LEN;
    if (thl + n > TCP_MAX_HDR) {
      // NOPs only align options: dropping them may make room.
      const nl = compactedLength(dv, l4, thl);
      if (nl + n > TCP_MAX_HDR) return TOA_HEAD_FULL;
      compactOptions(dv, l4, thl, nl);
      if (nl < thl) {
        // Close the gap the removed NOPs left between the options and the payload.
        const gap = thl - nl;
        for (let i = l4 + thl; i < end; i++) dv.setUint8(i - gap, dv.getUint8(i));
        end -= gap;
        thl = nl;
        dv.setUint8(l4 + 12, ((thl >>> 2) << 4) | (dv.getUint8(l4 + 12) & 0x0f));
      }
    }
    let s = l3;
    let t = l4;
    if (headroom >= n) {
      // Move the IP header and the fixed TCP header forward: the n bytes they free right after
      // the fixed header take the option; old options and payload stay where they are.
      for (let i = l3; i < l4 + 20; i++) dv.setUint8(i - n, dv.getUint8(i));
      s = l3 - n;
      t = l4 - n;
    } else {
      // Move the old options and the payload back by n.
      for (let i = end - 1; i >= l4 + 20; i--) dv.setUint8(i + n, dv.getUint8(i));
    }
    end = end - l3 + s + n;
    // The option itself.
    const o = t + 20;
    dv.setUint8(o, TCPOPT_TOA);
    dv.setUint8(o + 1, n);
    dv.setUint16(o + 2, cport);
    if (v6) {
      for (let i = 0; i < 4; i++) dv.setUint32(o + 4 + 4 * i, caddr[ci + i]!);
    } else {
      dv.setUint32(o + 4, caddr[ci]!);
    }
    const nthl = thl + n;
    dv.setUint8(t + 12, ((nthl >>> 2) << 4) | (dv.getUint8(t + 12) & 0x0f));
    if (v6) {
      dv.setUint16(s + 4, end - s - 40);
    } else {
      dv.setUint16(s + 2, end - s);
      dv.setUint16(s + 10, 0);
      dv.setUint16(s + 10, checksumDv(dv, s, (dv.getUint8(s) & 0x0f) << 2, 0));
    }
    if (partial) tcpChecksumPartial(dv, s, t, end, v6);
    else tcpChecksumFull(dv, s, t, end, v6);
    this.start = s;
    this.end = end;
    return TOA_OK;
  }
}
