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
 * Offset of the first option at or after `i` (its kind byte; its length byte follows), or -1 at
 * EOL, at the end or at a malformed length (< 2 or past `end`), so a bad header never loops.
 * The option area ends at `end`; only bytes before `lim` (<= end) are read, for a header cut
 * short (an ICMP quote) whose lengths still count against the whole header. NOPs are skipped.
 * The one option walker: step with `tcpNextOption(dv, i + dv.getUint8(i + 1), lim, end)`.
 */
export function tcpNextOption(dv: DataView, i: number, lim: number, end: number): number {
  while (i < lim) {
    const k = dv.getUint8(i);
    if (k === TCPOPT_EOL) return -1;
    if (k === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= lim) return -1;
    const len = dv.getUint8(i + 1);
    if (len < 2 || i + len > end) return -1;
    return i;
  }
  return -1;
}

/** Finds option `kind` in the option area [from, end); returns its offset or -1 (tcpNextOption). */
export function tcpFindOption(dv: DataView, from: number, end: number, kind: number): number {
  for (
    let i = tcpNextOption(dv, from, end, end);
    i >= 0;
    i = tcpNextOption(dv, i + dv.getUint8(i + 1), end, end)
  )
    if (dv.getUint8(i) === kind) return i;
  return -1;
}
