// TCP option iteration (RFC 9293 3.2) without allocation: callers walk with an offset cursor.
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_TOA = 254;

/**
 * Finds option `kind` in the option area [from, end) of the packet under `dv`; returns its
 * offset or -1. Stops at EOL and at a malformed length (< 2 or past the end), so a bad header
 * never loops. The one option walker: every reader of a single option goes through it.
 */
export function tcpFindOption(dv: DataView, from: number, end: number, kind: number): number {
  let i = from;
  while (i < end) {
    const k = dv.getUint8(i);
    if (k === TCPOPT_EOL) return -1;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const len = dv.getUint8(i + 1);
    if (len < 2 || i + len > end) return -1;
    if (k === kind) return i;
    i += len;
  }
  return -1;
}
