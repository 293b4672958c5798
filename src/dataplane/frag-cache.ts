// Fragments after the first carry no ports, so they cannot be matched to a connection by
// themselves. When a first fragment is forwarded, its (addresses, protocol, fragment id) are
// remembered with the connection and direction; later fragments of the same datagram then get
// the same address rewrite. Fragments that arrive before their first one are dropped and counted
// (drop_frag_unknown): the endpoints retransmit. Bounded: the oldest entries make room.
import { FlowMap } from './flow-map.js';

const KEY_WORDS = 6;

export class FragCache {
  private readonly map: FlowMap;
  private readonly conn: Uint32Array;
  private readonly dir: Uint8Array;
  private readonly at: Float64Array;
  /** Keys in insertion order, to evict the oldest when full. */
  private readonly ringKeys: Uint32Array;
  private ringHead = 0;
  private ringCount = 0;
  private readonly cap: number;
  readonly ttlMs: number;

  constructor(entries: number, ttlMs: number, seed: number) {
    let slots = 4;
    while (slots * 3 < entries * 4) slots *= 2;
    this.map = new FlowMap(slots, seed);
    this.cap = Math.min(entries, this.map.maxSize);
    this.conn = new Uint32Array(this.cap);
    this.dir = new Uint8Array(this.cap);
    this.at = new Float64Array(this.cap);
    this.ringKeys = new Uint32Array(this.cap * KEY_WORDS);
    this.ttlMs = ttlMs;
  }

  /** Fills the key scratch from a datagram's identity (addresses folded for IPv6). */
  private key(family: number, proto: number, s: Uint32Array, d: Uint32Array, id: number): void {
    const k = this.map.key;
    if (family === 4) {
      k[0] = s[0]!;
      k[1] = 0;
      k[2] = d[0]!;
      k[3] = 0;
    } else {
      // The caller checks the full addresses against the connection, so folding is safe.
      k[0] = s[0]! ^ s[1]!;
      k[1] = s[2]! ^ s[3]!;
      k[2] = d[0]! ^ d[1]!;
      k[3] = d[2]! ^ d[3]!;
    }
    k[4] = id;
    k[5] = proto | (family << 8);
  }

  /** Remembers a first fragment forwarded for connection `conn` in direction `dir`. */
  add(
    family: number,
    proto: number,
    s: Uint32Array,
    d: Uint32Array,
    id: number,
    conn: number,
    dir: number,
    now: number,
  ): void {
    this.key(family, proto, s, d, id);
    let slot = this.map.get();
    if (slot < 0) {
      if (this.ringCount === this.cap) this.evictOldest();
      slot = (this.ringHead + this.ringCount) % this.cap;
      this.ringCount++;
      for (let i = 0; i < KEY_WORDS; i++) this.ringKeys[slot * KEY_WORDS + i] = this.map.key[i]!;
      this.map.set(slot);
    }
    this.conn[slot] = conn;
    this.dir[slot] = dir;
    this.at[slot] = now;
  }

  /** Connection id for a later fragment (0 if unknown or stale); `dirOut` receives the direction. */
  find(family: number, proto: number, s: Uint32Array, d: Uint32Array, id: number, now: number): number {
    this.key(family, proto, s, d, id);
    const slot = this.map.get();
    if (slot < 0 || now - this.at[slot]! > this.ttlMs) return 0;
    this.lastDir = this.dir[slot]!;
    return this.conn[slot]!;
  }

  /** Direction of the last successful find(). */
  lastDir = 0;

  private evictOldest(): void {
    const slot = this.ringHead;
    for (let i = 0; i < KEY_WORDS; i++) this.map.key[i] = this.ringKeys[slot * KEY_WORDS + i]!;
    this.map.delete();
    this.ringHead = (this.ringHead + 1) % this.cap;
    this.ringCount--;
  }
}
