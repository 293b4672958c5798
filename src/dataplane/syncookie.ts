// SYN cookies in the layout of Linux syncookies v1 (as Alibaba LVS and DPVS use them):
//   cookie = H(k0; saddr, daddr, ports) + client ISN + (count << 24)
//          + ((H(k1; saddr, daddr, ports, count) + data) & 0xffffff)
// where count is a minute counter and the 24 data bits carry what the SYN asked for:
//   bit 21 SACK-OK, bit 20 TS-OK, bits 19-16 client wscale (15 = none), bits 15-12 MSS index,
//   bits 11-0 zero. A cookie is accepted for MAX_AGE minutes. H is HalfSipHash-2-4 (a PRF on
// 32-bit words, so no 64-bit arithmetic in JS); two secret generations allow rotation.

export const MSS_TABLE: readonly number[] = [64, 256, 512, 536, 1024, 1280, 1440, 1452, 1460, 4312];
export const COOKIE_MAX_AGE = 4;
export const WSCALE_NONE = 15;

/** Decoded cookie data. */
export interface CookieData {
  mss: number;
  wscale: number;
  sack: boolean;
  ts: boolean;
}

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/** HalfSipHash-2-4 over `n` 32-bit words with a 64-bit key; no allocation. */
export function halfSipHash(k0: number, k1: number, m: Uint32Array, n: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  // Steps 0..n-1 compress the words, step n the length block (as in SipHash), step n+1 finalises.
  for (let step = 0; step <= n + 1; step++) {
    const fin = step === n + 1;
    const w = step < n ? m[step]! | 0 : (n * 4) << 24;
    if (fin) v2 ^= 0xff;
    else v3 ^= w;
    for (let r = fin ? 4 : 2; r > 0; r--) {
      v0 = (v0 + v1) | 0;
      v1 = rotl(v1, 5) ^ v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) | 0;
      v3 = rotl(v3, 8) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = rotl(v3, 7) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = rotl(v1, 13) ^ v2;
      v2 = rotl(v2, 16);
    }
    if (!fin) v0 ^= w;
  }
  return (v1 ^ v3) >>> 0;
}

/** Index of the largest table MSS not above `mss`. */
export function mssIndex(mss: number): number {
  let i = 0;
  while (i + 1 < MSS_TABLE.length && MSS_TABLE[i + 1]! <= mss) i++;
  return i;
}

export class SynCookies {
  /** Secrets: [k0, k1, k2, k3] current, then the previous generation. */
  private readonly keys = new Uint32Array(8);
  private readonly msg = new Uint32Array(10);
  private n = 0;
  /** Filled by check() on success. */
  readonly data: CookieData = { mss: 0, wscale: WSCALE_NONE, sack: false, ts: false };

  constructor(secret: Uint32Array) {
    this.rotate(secret);
    this.rotate(secret);
  }

  /** New secrets become current; cookies made with the previous ones stay valid. */
  rotate(secret: Uint32Array): void {
    this.keys.copyWithin(4, 0, 4);
    for (let i = 0; i < 4; i++) this.keys[i] = secret[i]!;
  }

  /** Loads the connection identity: client address and port, VIP and port. */
  setTuple(v6: boolean, s: Uint32Array, d: Uint32Array, sport: number, dport: number): void {
    const m = this.msg;
    if (v6) {
      for (let i = 0; i < 4; i++) {
        m[i] = s[i]!;
        m[4 + i] = d[i]!;
      }
      m[8] = ((sport << 16) | dport) >>> 0;
      this.n = 9;
    } else {
      m[0] = s[0]!;
      m[1] = d[0]!;
      m[2] = ((sport << 16) | dport) >>> 0;
      this.n = 3;
    }
  }

  private h1(g: number): number {
    return halfSipHash(this.keys[g]!, this.keys[g + 1]!, this.msg, this.n);
  }

  private h2(g: number, count: number): number {
    this.msg[this.n] = count;
    return halfSipHash(this.keys[g + 2]!, this.keys[g + 3]!, this.msg, this.n + 1);
  }

  /** The cookie ISN for the tuple set with setTuple(), the client ISN and the SYN's options. */
  make(isn: number, count: number, mss: number, wscale: number, sack: boolean, ts: boolean): number {
    const data =
      ((sack ? 1 : 0) << 21) | ((ts ? 1 : 0) << 20) | ((wscale & 15) << 16) | (mssIndex(mss) << 12);
    const c = count & 0xff;
    return (this.h1(0) + isn + (c << 24) + ((this.h2(0, c) + data) & 0xffffff)) >>> 0;
  }

  /**
   * Checks `cookie` (the ACK's ack - 1) for the tuple and client ISN (the ACK's seq - 1) at
   * minute `count`. True when valid; the decoded options are then in `this.data`.
   */
  check(cookie: number, isn: number, count: number): boolean {
    for (let g = 0; g <= 4; g += 4) {
      const diff = (cookie - this.h1(g) - isn) >>> 0;
      const c = diff >>> 24;
      if (((count - c) & 0xff) >= COOKIE_MAX_AGE) continue;
      const data = (diff - this.h2(g, c)) & 0xffffff;
      const mi = (data >>> 12) & 15;
      if ((data & 0xfff) !== 0 || mi >= MSS_TABLE.length || (data & 0xc00000) !== 0) continue;
      const d = this.data;
      d.mss = MSS_TABLE[mi]!;
      d.wscale = (data >>> 16) & 15;
      d.ts = (data & (1 << 20)) !== 0;
      d.sack = (data & (1 << 21)) !== 0;
      return true;
    }
    return false;
  }
}
