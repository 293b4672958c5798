// FULLNAT local addresses (LIPs) and their ports. Each (LIP, protocol) has a FIFO ring of free
// ports: allocation takes the head, release appends at the tail, so a port is reused only after
// every other free port — the least recently freed last — which keeps a new (LIP, lport) -> RS
// tuple away from the real server's TIME_WAIT entry of the previous user. O(1), no trial and error.
// The same port number is never live twice on one LIP, so (LIP, proto, lport) alone identifies a
// connection: `out` maps it straight to the connection id (the "out" index).
import type { Family } from '../common/addr.js';

export const PROTO_IDX_TCP = 0;
export const PROTO_IDX_UDP = 1;

const EMPTY = new Uint32Array(0);
const EMPTY16 = new Uint16Array(0);

export class LaddrPool {
  readonly max: number;
  readonly portMin: number;
  readonly portMax: number;
  readonly family: Uint8Array;
  readonly addr: Uint32Array;
  /** Live connections using each LIP. */
  readonly conns: Uint32Array;
  /** Services whose pool lists each LIP. */
  readonly svcRefs: Uint32Array;
  /** Allocation failures (pool empty), Alibaba's CONFLICTS column. */
  readonly conflicts: Float64Array;
  /** Indexed la*2 + protoIdx. */
  readonly out: Uint32Array[];
  private readonly ring: Uint16Array[];
  private readonly head: Uint32Array;
  private readonly avail: Uint32Array;
  private readonly freeSlots: number[] = [];
  private readonly startSeed: number | null;

  /**
   * @param startSeed when not null, each LIP's ring starts at a pseudo-random port derived from
   *   it instead of the lowest: a restarted daemon (new seed) then does not hand out the (LIP,
   *   lport) -> RS tuples its predecessor used seconds ago, which the RS still holds in TIME_WAIT.
   */
  constructor(max: number, portMin: number, portMax: number, startSeed: number | null = null) {
    this.startSeed = startSeed;
    if (!(portMin >= 1 && portMax <= 65535 && portMin <= portMax)) {
      throw new RangeError(`bad local port range ${portMin}-${portMax}`);
    }
    this.max = max;
    this.portMin = portMin;
    this.portMax = portMax;
    this.family = new Uint8Array(max);
    this.addr = new Uint32Array(max * 4);
    this.conns = new Uint32Array(max);
    this.svcRefs = new Uint32Array(max);
    this.conflicts = new Float64Array(max);
    this.out = new Array<Uint32Array>(max * 2).fill(EMPTY);
    this.ring = new Array<Uint16Array>(max * 2).fill(EMPTY16);
    this.head = new Uint32Array(max * 2);
    this.avail = new Uint32Array(max * 2);
    for (let i = max - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** Number of usable ports per (LIP, protocol). */
  get portCount(): number {
    return this.portMax - this.portMin + 1;
  }

  /** Creates a LIP slot (control path: allocates its tables). Returns -1 when all slots are used. */
  create(family: Family, words: Uint32Array): number {
    const la = this.freeSlots.pop();
    if (la === undefined) return -1;
    this.family[la] = family;
    this.addr.set(words.subarray(0, 4), la * 4);
    this.conns[la] = 0;
    this.svcRefs[la] = 0;
    this.conflicts[la] = 0;
    const n = this.portCount;
    for (let p = 0; p < 2; p++) {
      const r = new Uint16Array(n);
      const start = this.startSeed === null ? 0 : mix(this.startSeed, words[0]! ^ words[3]!, la * 2 + p) % n;
      for (let i = 0; i < n; i++) r[i] = this.portMin + ((start + i) % n);
      this.ring[la * 2 + p] = r;
      this.head[la * 2 + p] = 0;
      this.avail[la * 2 + p] = n;
      this.out[la * 2 + p] = new Uint32Array(65536);
    }
    return la;
  }

  /** Frees a LIP slot; only when no service lists it and no connection uses it. */
  destroy(la: number): void {
    for (let p = 0; p < 2; p++) {
      this.ring[la * 2 + p] = EMPTY16;
      this.out[la * 2 + p] = EMPTY;
      this.avail[la * 2 + p] = 0;
    }
    this.family[la] = 0;
    this.freeSlots.push(la);
  }

  /** Takes the least recently freed port, or 0 when none is free. */
  allocPort(la: number, pi: number): number {
    const k = la * 2 + pi;
    const n = this.avail[k]!;
    if (n === 0) {
      this.conflicts[la]! += 1;
      return 0;
    }
    const r = this.ring[k]!;
    const h = this.head[k]!;
    const port = r[h]!;
    this.head[k] = h + 1 === r.length ? 0 : h + 1;
    this.avail[k] = n - 1;
    return port;
  }

  releasePort(la: number, pi: number, port: number): void {
    const k = la * 2 + pi;
    const r = this.ring[k]!;
    let t = this.head[k]! + this.avail[k]!;
    if (t >= r.length) t -= r.length;
    r[t] = port;
    this.avail[k]! += 1;
  }

  freePorts(la: number, pi: number): number {
    return this.avail[la * 2 + pi]!;
  }
}

/** A 32-bit mix of three words (for ring start offsets; not on the packet path). */
function mix(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ c;
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}
