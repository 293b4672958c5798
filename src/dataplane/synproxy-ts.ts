// SYNPROXY with TCP timestamps (RFC 7323). The client negotiates timestamps with the LB, whose
// SYN-ACK carries the LB's TSval; the RS, opened later, runs its own TS clock. So that each end
// sees one continuous clock (PAWS, RTT measurement), once the RS has answered every RS->client
// TSval gets tsoff = lbTsval - rsTsval added and every client->RS TSecr loses it (uint32).
// The LB's clock is engine time in ms plus a secret offset, so it does not give away uptime.
// Per connection: the LB's TSval while the RS handshake is pending, then tsoff (`val`), and the
// client's TSval from its cookie ACK (`cval`), which the SYN and the ACK to the RS carry. Both
// columns exist only once the knob has been on (control path), and are only read for connections
// that wrote them first (CONN_F_SP_TS, or the TS bit of W_SP_A while waiting): no reset needed.
import { fieldDiff } from './packet/checksum.js';
import { TCPOPT_TIMESTAMP, tcpFindOption } from './packet/tcp-options.js';
import { halfSipHash } from './syncookie.js';

/** First word of the usual option layout of a segment with timestamps: NOP NOP kind 8 len 10. */
const NOP_NOP_TS = 0x0101080a;
const EMPTY = new Uint32Array(0);

/**
 * Offset of the timestamp option (its kind byte) in the TCP header at l4 of length thl, or -1.
 * The common layout (NOP NOP TS right after the fixed header) is checked before walking.
 */
export function findTs(dv: DataView, l4: number, thl: number): number {
  if (thl >= 32 && dv.getUint32(l4 + 20) === NOP_NOP_TS) return l4 + 22;
  const i = tcpFindOption(dv, l4 + 20, l4 + thl, TCPOPT_TIMESTAMP);
  return i >= 0 && dv.getUint8(i + 1) === 10 ? i : -1;
}

export class SynproxyTimestamps {
  /** Per connection id: the LB's TSval while waiting for the RS, then tsoff. */
  private val = EMPTY;
  /** Per connection id: the client's TSval from its cookie ACK. */
  private cval = EMPTY;
  private readonly size: number;
  /** Secret offset of the LB's TS clock. */
  private readonly base: number;

  constructor(capacity: number, secret: Uint32Array) {
    this.size = capacity + 1;
    // Fixed for the engine's life (cookie rotation must not make the clock jump); 'TSCK' keeps
    // it apart from the cookie hashes made with the same key.
    const m = Uint32Array.of(secret[2]!, secret[3]!, 0x5453434b);
    this.base = halfSipHash(secret[0]!, secret[1]!, m, 3);
  }

  /** True once the columns exist (the knob was turned on at least once). */
  get ready(): boolean {
    return this.val.length !== 0;
  }

  /** Allocates the per-connection columns (control path). */
  enable(): void {
    if (this.ready) return;
    this.val = new Uint32Array(this.size);
    this.cval = new Uint32Array(this.size);
  }

  /** The LB's TSval at engine time `now` (ms): a 1 kHz clock, as Linux's. */
  clock(now: number): number {
    return (now + this.base) >>> 0;
  }

  /** A cookie ACK with timestamps opened connection `id`: its TS option is at `i`. */
  open(dv: DataView, i: number, id: number): void {
    this.cval[id] = dv.getUint32(i + 2);
    this.val[id] = dv.getUint32(i + 6);
  }

  /** The client's TSval kept for the RS handshake. */
  clientVal(id: number): number {
    return this.cval[id]!;
  }

  /** tsoff of an established connection with timestamps (ICMP quotes are translated by it). */
  offset(id: number): number {
    return this.val[id]!;
  }

  /** The RS's SYN-ACK carried `rsTsval`: from now on `val` is the offset between the clocks. */
  established(id: number, rsTsval: number): void {
    this.val[id] = (this.val[id]! - rsTsval) >>> 0;
  }

  /**
   * Client -> RS: TSecr back onto the RS's clock. Returns the checksum difference (0 when the
   * segment has no timestamps). TSecr 0 means "nothing to echo" and stays 0.
   */
  inbound(dv: DataView, l4: number, thl: number, id: number): number {
    const i = findTs(dv, l4, thl);
    if (i < 0) return 0;
    const e = i + 6;
    const ov = dv.getUint32(e);
    if (ov === 0) return 0;
    const nv = (ov - this.val[id]!) >>> 0;
    dv.setUint32(e, nv);
    return fieldDiff(l4, e, ov, nv);
  }

  /** RS -> client: TSval onto the LB's clock. Returns the checksum difference. */
  outbound(dv: DataView, l4: number, thl: number, id: number): number {
    const i = findTs(dv, l4, thl);
    if (i < 0) return 0;
    const e = i + 2;
    const ov = dv.getUint32(e);
    const nv = (ov + this.val[id]!) >>> 0;
    dv.setUint32(e, nv);
    return fieldDiff(l4, e, ov, nv);
  }
}
