// An allocation-free hash map from a 6-word key (address tuple) to an int32 value.
//
// Open addressing with linear probing over a power-of-two table, backward-shift deletion (no
// tombstones, so probe lengths never degrade after churn) and a maximum load of 3/4. The key is
// written by the caller into the reusable scratch `map.key` before get/set/delete, so no call
// allocates. Typical layout of a key (FK_* below):
//
//   word 0-3  an address (IPv4 in word 0, words 1-3 zero; IPv6 as four network-order words)
//   word 4    port | proto << 16 | family << 24   (flowKeyPort())
//   word 5    a free extra: a service index, a second port, ...
//
// The hash is MurmurHash3 (x86, 32-bit) over the six words with a random per-instance seed, so
// collisions cannot be aimed at the table from outside (as IPVS's ip_vs_conn_rnd). Each slot keeps
// its full hash: comparisons check it before the key words, and deletion reads home slots from it.
import { getRandomValues } from 'node:crypto';

/** Number of uint32 words in a key. */
export const FK_WORDS = 6;
/** Key word offsets for the usual address-tuple layout. */
export const FK_ADDR = 0;
export const FK_PORT = 4;
export const FK_EXTRA = 5;

/** Word 4 of the usual layout: `port | proto << 16 | family << 24` as a uint32. */
export function flowKeyPort(port: number, proto: number, family: number): number {
  return ((port & 0xffff) | ((proto & 0xff) << 16) | ((family & 0xff) << 24)) >>> 0;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

export class FlowMap {
  /** Key scratch: the caller fills these 6 words before get/set/delete/find. */
  readonly key = new Uint32Array(FK_WORDS);
  /** Number of slots (a power of two). */
  readonly capacity: number;
  /** Most entries the table accepts (3/4 of the capacity). */
  readonly maxSize: number;

  private readonly mask: number;
  private readonly seed: number;
  private readonly keys: Uint32Array; // capacity * FK_WORDS
  private readonly hashes: Uint32Array;
  private readonly values: Int32Array;
  private readonly used: Uint8Array;
  private count = 0;

  /**
   * @param capacity number of slots, a power of two (2 .. 2^28); fixed for the map's life.
   * @param seed hash seed; random (crypto.getRandomValues) when omitted. Pass one only in tests.
   */
  constructor(capacity: number, seed?: number) {
    if (
      !Number.isInteger(capacity) ||
      capacity < 2 ||
      capacity > 2 ** 28 ||
      (capacity & (capacity - 1)) !== 0
    ) {
      throw new RangeError(`FlowMap capacity must be a power of two in 2..2^28, got ${capacity}`);
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxSize = (capacity * 3) >>> 2;
    this.seed = seed === undefined ? getRandomValues(new Uint32Array(1))[0]! : seed >>> 0;
    this.keys = new Uint32Array(capacity * FK_WORDS);
    this.hashes = new Uint32Array(capacity);
    this.values = new Int32Array(capacity);
    this.used = new Uint8Array(capacity);
  }

  /** Number of entries. */
  get size(): number {
    return this.count;
  }

  /** MurmurHash3_x86_32 of the key scratch (24 bytes) with this map's seed. */
  hash(): number {
    const k = this.key;
    let h = this.seed;
    for (let w = 0; w < FK_WORDS; w++) {
      let x = Math.imul(k[w]!, C1);
      x = (x << 15) | (x >>> 17);
      x = Math.imul(x, C2);
      h ^= x;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= FK_WORDS * 4;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  /** The slot where the key scratch's probe sequence starts. */
  homeSlot(): number {
    return this.hash() & this.mask;
  }

  /** Slot holding the key scratch, or -1 when absent. */
  find(): number {
    return this.findHashed(this.hash());
  }

  /** Value for the key scratch, or -1 when absent (so store non-negative values). */
  get(): number {
    const i = this.findHashed(this.hash());
    return i < 0 ? -1 : this.values[i]!;
  }

  /** True when the key scratch is present. */
  has(): boolean {
    return this.findHashed(this.hash()) >= 0;
  }

  /**
   * Inserts the key scratch with `value`, or overwrites the value if the key is present.
   * Returns false (and changes nothing) when the key is new and the table holds maxSize entries.
   */
  set(value: number): boolean {
    const h = this.hash();
    const k = this.key;
    const keys = this.keys;
    const mask = this.mask;
    let i = h & mask;
    while (this.used[i] === 1) {
      if (this.hashes[i] === h && this.keyAt(i)) {
        this.values[i] = value;
        return true;
      }
      i = (i + 1) & mask;
    }
    if (this.count >= this.maxSize) return false;
    const o = i * FK_WORDS;
    keys[o] = k[0]!;
    keys[o + 1] = k[1]!;
    keys[o + 2] = k[2]!;
    keys[o + 3] = k[3]!;
    keys[o + 4] = k[4]!;
    keys[o + 5] = k[5]!;
    this.hashes[i] = h;
    this.values[i] = value;
    this.used[i] = 1;
    this.count++;
    return true;
  }

  /** Removes the key scratch; false when it was absent. */
  delete(): boolean {
    const i = this.findHashed(this.hash());
    if (i < 0) return false;
    this.deleteSlot(i);
    return true;
  }

  /**
   * Removes the entry in slot `i` (which must be used) by backward shift: later entries of the
   * same probe run move back so no probe sequence crosses an empty slot. Returns true when slot
   * `i` holds another entry afterwards, which a sweep must look at again before moving on.
   * Entries may move from the table's start to its end (wrap-around), so a sweep that deletes may
   * see such an entry twice, never zero times.
   */
  deleteSlot(i: number): boolean {
    const mask = this.mask;
    const used = this.used;
    const hashes = this.hashes;
    const keys = this.keys;
    const hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (used[j] === 0) break;
      const home = hashes[j]! & mask;
      // The entry at j may fill the hole at i only if i lies cyclically within [home, j].
      if (((j - home) & mask) < ((j - i) & mask)) continue;
      const s = j * FK_WORDS;
      const d = i * FK_WORDS;
      keys[d] = keys[s]!;
      keys[d + 1] = keys[s + 1]!;
      keys[d + 2] = keys[s + 2]!;
      keys[d + 3] = keys[s + 3]!;
      keys[d + 4] = keys[s + 4]!;
      keys[d + 5] = keys[s + 5]!;
      hashes[i] = hashes[j]!;
      this.values[i] = this.values[j]!;
      i = j;
    }
    used[i] = 0;
    this.count--;
    return i !== hole;
  }

  /** Removes every entry (O(capacity)). */
  clear(): void {
    this.used.fill(0);
    this.count = 0;
  }

  // Iteration without allocation: for (let i = 0; i < m.slotCount; i++) if (m.slotUsed(i)) ...

  /** Number of slots to iterate over (= capacity). */
  get slotCount(): number {
    return this.capacity;
  }

  slotUsed(i: number): boolean {
    return this.used[i] === 1;
  }

  /** Word `w` (0..5) of the key in slot `i`. */
  slotKeyWord(i: number, w: number): number {
    return this.keys[i * FK_WORDS + w]!;
  }

  /** Copies the key in slot `i` into the key scratch (e.g. to hash it or delete it by key). */
  loadSlotKey(i: number): void {
    const o = i * FK_WORDS;
    const k = this.key;
    for (let w = 0; w < FK_WORDS; w++) k[w] = this.keys[o + w]!;
  }

  slotValue(i: number): number {
    return this.values[i]!;
  }

  /** Overwrites the value in used slot `i` (e.g. after find()) without hashing again. */
  setSlotValue(i: number, value: number): void {
    this.values[i] = value;
  }

  private findHashed(h: number): number {
    const mask = this.mask;
    let i = h & mask;
    // Terminates: the load limit keeps at least one slot empty.
    while (this.used[i] === 1) {
      if (this.hashes[i] === h && this.keyAt(i)) return i;
      i = (i + 1) & mask;
    }
    return -1;
  }

  private keyAt(i: number): boolean {
    const k = this.key;
    const keys = this.keys;
    const o = i * FK_WORDS;
    return (
      keys[o] === k[0] &&
      keys[o + 1] === k[1] &&
      keys[o + 2] === k[2] &&
      keys[o + 3] === k[3] &&
      keys[o + 4] === k[4] &&
      keys[o + 5] === k[5]
    );
  }
}
