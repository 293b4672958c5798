// Building the TCP packets SYNPROXY sends itself (SYN-ACK to the client; SYN, ACK to the RS; RST
// to the client) into a buffer through a DataView, with full checksums. No allocation.
import { checksumDv, sumWord } from './packet/checksum.js';
import {
  TCPOPT_EOL,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_SACK_PERM,
  TCPOPT_TIMESTAMP,
  TCPOPT_WSCALE,
} from './packet/tcp-options.js';
import { WSCALE_NONE } from './syncookie.js';

/** Options of a client SYN, as far as SYNPROXY cares. */
export class SynOptions {
  mss = 0;
  wscale = WSCALE_NONE;
  sack = false;
  ts = false;
  tsVal = 0;

  /** Reads the option area [l4+20, l4+thl); malformed options end the walk. */
  parse(dv: DataView, l4: number, thl: number): void {
    this.mss = 0;
    this.wscale = WSCALE_NONE;
    this.sack = false;
    this.ts = false;
    const end = l4 + thl;
    for (let i = l4 + 20; i < end; ) {
      const k = dv.getUint8(i);
      if (k === TCPOPT_EOL) return;
      if (k === TCPOPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return;
      const len = dv.getUint8(i + 1);
      if (len < 2 || i + len > end) return;
      if (k === TCPOPT_MSS && len === 4) this.mss = dv.getUint16(i + 2);
      else if (k === TCPOPT_WSCALE && len === 3) this.wscale = Math.min(14, dv.getUint8(i + 2));
      else if (k === TCPOPT_SACK_PERM && len === 2) this.sack = true;
      else if (k === TCPOPT_TIMESTAMP && len === 10) {
        this.ts = true;
        this.tsVal = dv.getUint32(i + 2);
      }
      i += len;
    }
  }
}

/** An options area being written (up to 40 bytes), padded with NOPs to a multiple of 4. */
export class OptWriter {
  readonly bytes = new Uint8Array(40);
  len = 0;

  reset(): this {
    this.len = 0;
    return this;
  }

  mss(v: number): this {
    const b = this.bytes;
    b[this.len] = TCPOPT_MSS;
    b[this.len + 1] = 4;
    b[this.len + 2] = v >>> 8;
    b[this.len + 3] = v & 0xff;
    this.len += 4;
    return this;
  }

  sackPerm(): this {
    this.bytes[this.len++] = TCPOPT_NOP;
    this.bytes[this.len++] = TCPOPT_NOP;
    this.bytes[this.len++] = TCPOPT_SACK_PERM;
    this.bytes[this.len++] = 2;
    return this;
  }

  wscale(v: number): this {
    this.bytes[this.len++] = TCPOPT_NOP;
    this.bytes[this.len++] = TCPOPT_WSCALE;
    this.bytes[this.len++] = 3;
    this.bytes[this.len++] = v;
    return this;
  }

  /** NOP NOP TS: the layout Linux uses and findTs() checks first. */
  ts(val: number, ecr: number): this {
    const b = this.bytes;
    const n = this.len;
    b[n] = TCPOPT_NOP;
    b[n + 1] = TCPOPT_NOP;
    b[n + 2] = TCPOPT_TIMESTAMP;
    b[n + 3] = 10;
    for (let k = 0; k < 4; k++) {
      b[n + 4 + k] = (val >>> (24 - 8 * k)) & 0xff;
      b[n + 8 + k] = (ecr >>> (24 - 8 * k)) & 0xff;
    }
    this.len = n + 12;
    return this;
  }

  /** Raw option bytes (e.g. TOA). */
  raw(kind: number, data: Uint8Array, dlen: number): this {
    this.bytes[this.len++] = kind;
    this.bytes[this.len++] = dlen + 2;
    for (let i = 0; i < dlen; i++) this.bytes[this.len++] = data[i]!;
    return this;
  }

  pad(): this {
    while (this.len % 4 !== 0) this.bytes[this.len++] = TCPOPT_NOP;
    return this;
  }
}

/**
 * Writes a complete IPv4 or IPv6 TCP packet at `off` and returns its length. Addresses are read
 * from (sA, si) and (dA, di) as address words.
 */
export function emitTcp(
  dv: DataView,
  off: number,
  v6: boolean,
  sA: Uint32Array,
  si: number,
  dA: Uint32Array,
  di: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  ttl: number,
  opts: OptWriter,
): number {
  const l3len = v6 ? 40 : 20;
  const tcpLen = 20 + opts.len;
  const total = l3len + tcpLen;
  let pseudo: number;
  if (v6) {
    dv.setUint32(off, 0x60000000);
    dv.setUint16(off + 4, tcpLen);
    dv.setUint8(off + 6, 6);
    dv.setUint8(off + 7, ttl);
    pseudo = 6 + tcpLen;
    for (let i = 0; i < 4; i++) {
      dv.setUint32(off + 8 + 4 * i, sA[si + i]!);
      dv.setUint32(off + 24 + 4 * i, dA[di + i]!);
      pseudo += sumWord(sA[si + i]!) + sumWord(dA[di + i]!);
    }
  } else {
    dv.setUint16(off, 0x4500);
    dv.setUint16(off + 2, total);
    dv.setUint32(off + 4, 0x00004000); // id 0, DF
    dv.setUint8(off + 8, ttl);
    dv.setUint8(off + 9, 6);
    dv.setUint16(off + 10, 0);
    dv.setUint32(off + 12, sA[si]!);
    dv.setUint32(off + 16, dA[di]!);
    dv.setUint16(off + 10, checksumDv(dv, off, 20, 0));
    pseudo = sumWord(sA[si]!) + sumWord(dA[di]!) + 6 + tcpLen;
  }
  const t = off + l3len;
  dv.setUint16(t, sport);
  dv.setUint16(t + 2, dport);
  dv.setUint32(t + 4, seq >>> 0);
  dv.setUint32(t + 8, ack >>> 0);
  dv.setUint8(t + 12, (tcpLen >>> 2) << 4);
  dv.setUint8(t + 13, flags);
  dv.setUint16(t + 14, window);
  dv.setUint16(t + 16, 0);
  dv.setUint16(t + 18, 0);
  for (let i = 0; i < opts.len; i++) dv.setUint8(t + 20 + i, opts.bytes[i]!);
  dv.setUint16(t + 16, checksumDv(dv, t, tcpLen, pseudo));
  return total;
}
