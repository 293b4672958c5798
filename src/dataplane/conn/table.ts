// The connection table. Everything the packet path reads or writes for a connection sits in one
// 64-byte record (16 words of one Uint32Array, with a Float64Array view for the deadline), so a
// packet of a random flow costs two cache misses (bucket head, record) instead of one per field:
// measured 1.8 -> see bench:engine for 100k flows with a struct-of-arrays layout. Columns touched only
// when a connection starts, changes state or ends (wheel links, template id) stay separate arrays.
// Ids are 1..capacity (0 = none); a free-id stack hands them out; the "in" index (client tuple ->
// id) is hash chains over power-of-two buckets with a random seed. The "out" index lives in
// laddr-pool.ts: (LIP, lport) identifies a connection without hashing.

/** Words per record. */
export const CONN_STRIDE = 16;
/** Client address, 4 words (IPv4 in the first). */
export const W_CADDR = 0;
/** cport << 16 | vport */
export const W_CVPORT = 4;
/** lport << 16 | dport */
export const W_LDPORT = 5;
/** flags (bits 0-15) | state << 16 (bits 16-23) | a small counter << 24 (SYNPROXY) */
export const W_FLAGS = 6;
export const W_SVC = 7;
export const W_DEST = 8;
export const W_LADDR = 9;
/** Next id in the in-index chain. */
export const W_INNEXT = 10;
/** TOA: the ack value (client's sequence space) of segments that get the option. */
export const W_TOA_SEQ = 11;
/** SYNPROXY: the client's options while waiting for the RS, then the sequence delta. */
export const W_SP_A = 14;
/** SYNPROXY: the client's ISN while waiting for the RS, then a digest of the last RS (seq, ack). */
export const W_SP_B = 15;
/** Deadline in engine ms: a float64 at words 12-13, i.e. f64[id * F64_STRIDE + F_EXPIRES]. */
export const F64_STRIDE = CONN_STRIDE / 2;
export const F_EXPIRES = 6;

/** Connection flags (low half of W_FLAGS). */
export const CONN_F_IPV6 = 0x01;
export const CONN_F_UDP = 0x02;
/** Counted in the dest's inactConns (IPVS: every connection starts inactive). */
export const CONN_F_INACTIVE = 0x04;
/** The connection holds a persistence template reference. */
export const CONN_F_PERSIST = 0x08;
/** The slot is in use. */
export const CONN_F_USED = 0x10;
/** The service inserts TOA for this connection. */
export const CONN_F_TOA = 0x20;
/** W_TOA_SEQ holds the RS's first data sequence: client ACKs that carry it get TOA. */
export const CONN_F_TOA_SEQ = 0x40;
/** A SYNPROXY connection: sequence numbers are translated (W_SP_A holds the delta). */
export const CONN_F_SYNPROXY = 0x80;
/** SYNPROXY: waiting for the RS's SYN-ACK (W_SP_A options, W_SP_B client ISN, W_TOA_SEQ cookie). */
export const CONN_F_SP_WAIT = 0x100;
/** SYNPROXY with timestamps: TSval/TSecr are shifted by the offset in Synproxy's TS column. */
export const CONN_F_SP_TS = 0x200;
/** TOA went out on a segment of this connection: later candidates that cannot take it are no loss. */
export const CONN_F_TOA_SENT = 0x400;

export class ConnTable {
  readonly capacity: number;
  /** Records, CONN_STRIDE words per id. */
  readonly w: Uint32Array;
  /** Same memory as float64, F64_STRIDE per id. */
  readonly f64: Float64Array;
  readonly inHead: Uint32Array;
  readonly mask: number;
  readonly seed: number;
  private readonly free: Uint32Array;
  private freeTop: number;

  constructor(capacity: number, seed: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x3fffffff) {
      throw new RangeError(`connection capacity must be 1..${0x3fffffff}`);
    }
    const n = capacity + 1;
    this.capacity = capacity;
    const ab = new ArrayBuffer(n * CONN_STRIDE * 4);
    this.w = new Uint32Array(ab);
    this.f64 = new Float64Array(ab);
    let buckets = 1;
    while (buckets < capacity) buckets *= 2;
    this.inHead = new Uint32Array(buckets);
    this.mask = buckets - 1;
    this.seed = seed >>> 0;
    this.free = new Uint32Array(capacity);
    // Lowest ids on top: a lightly loaded table stays dense in memory.
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - i;
    this.freeTop = capacity;
  }

  get count(): number {
    return this.capacity - this.freeTop;
  }

  get full(): boolean {
    return this.freeTop === 0;
  }

  /** Takes a free id (0 when full) and marks it used; the caller fills the record. */
  alloc(): number {
    if (this.freeTop === 0) return 0;
    const id = this.free[--this.freeTop]!;
    this.w[id * CONN_STRIDE + W_FLAGS] = CONN_F_USED;
    return id;
  }

  release(id: number): void {
    this.w.fill(0, id * CONN_STRIDE, (id + 1) * CONN_STRIDE);
    this.free[this.freeTop++] = id;
  }

  flags(id: number): number {
    return this.w[id * CONN_STRIDE + W_FLAGS]! & 0xffff;
  }

  state(id: number): number {
    return (this.w[id * CONN_STRIDE + W_FLAGS]! >>> 16) & 0xff;
  }

  svc(id: number): number {
    return this.w[id * CONN_STRIDE + W_SVC]!;
  }
  dest(id: number): number {
    return this.w[id * CONN_STRIDE + W_DEST]!;
  }
  laddr(id: number): number {
    return this.w[id * CONN_STRIDE + W_LADDR]!;
  }
  cport(id: number): number {
    return this.w[id * CONN_STRIDE + W_CVPORT]! >>> 16;
  }
  vport(id: number): number {
    return this.w[id * CONN_STRIDE + W_CVPORT]! & 0xffff;
  }
  lport(id: number): number {
    return this.w[id * CONN_STRIDE + W_LDPORT]! >>> 16;
  }
  dport(id: number): number {
    return this.w[id * CONN_STRIDE + W_LDPORT]! & 0xffff;
  }
  /** Offset of the client address words in `w`. */
  caddrOff(id: number): number {
    return id * CONN_STRIDE + W_CADDR;
  }

  expires(id: number): number {
    return this.f64[id * F64_STRIDE + F_EXPIRES]!;
  }

  /** Hash of the client-side tuple; vaddr words are the service address. */
  hashIn(
    proto: number,
    caddr: Uint32Array,
    ci: number,
    cport: number,
    vaddr: Uint32Array,
    vi: number,
    vport: number,
    v6: boolean,
  ): number {
    let h = this.seed ^ proto;
    h = Math.imul(h ^ caddr[ci]!, 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
    h = Math.imul(h ^ vaddr[vi]!, 0x1b873593);
    if (v6) {
      h = Math.imul(h ^ caddr[ci + 1]!, 0xcc9e2d51);
      h = Math.imul(h ^ caddr[ci + 2]!, 0x1b873593);
      h = Math.imul(h ^ caddr[ci + 3]!, 0xcc9e2d51);
      h = Math.imul(h ^ vaddr[vi + 3]!, 0x1b873593);
    }
    h = Math.imul(h ^ ((cport << 16) | vport), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  linkIn(id: number, bucket: number): void {
    this.w[id * CONN_STRIDE + W_INNEXT] = this.inHead[bucket]!;
    this.inHead[bucket] = id;
  }

  unlinkIn(id: number, bucket: number): void {
    const w = this.w;
    let c = this.inHead[bucket]!;
    const next = w[id * CONN_STRIDE + W_INNEXT]!;
    if (c === id) {
      this.inHead[bucket] = next;
    } else {
      while (c !== 0) {
        const n = w[c * CONN_STRIDE + W_INNEXT]!;
        if (n === id) {
          w[c * CONN_STRIDE + W_INNEXT] = next;
          break;
        }
        c = n;
      }
    }
    w[id * CONN_STRIDE + W_INNEXT] = 0;
  }
}
