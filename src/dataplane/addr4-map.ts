// A small open-addressing map from an IPv4 address (uint32) to an int, for the per-packet
// "is this a VIP or a LIP?" question: one multiplicative hash and usually one probe, in a table
// small enough to stay in cache. IPv6 addresses use FlowMap.

export class Addr4Map {
  private readonly keys: Uint32Array;
  private readonly vals: Int32Array;
  private readonly used: Uint8Array;
  private readonly shift: number;
  private readonly mask: number;
  private n = 0;

  /** `capacityPow2` slots; at most 3/4 of them are filled. */
  constructor(capacityPow2: number) {
    if (capacityPow2 < 4 || (capacityPow2 & (capacityPow2 - 1)) !== 0)
      throw new RangeError('capacity must be a power of two >= 4');
    this.keys = new Uint32Array(capacityPow2);
    this.vals = new Int32Array(capacityPow2);
    this.used = new Uint8Array(capacityPow2);
    this.mask = capacityPow2 - 1;
    this.shift = 32 - Math.log2(capacityPow2);
  }

  get size(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n * 4 >= this.keys.length * 3;
  }

  private home(a: number): number {
    return Math.imul(a, 0x9e3779b1) >>> this.shift;
  }

  /** Value for address `a`, or -1. */
  get(a: number): number {
    const keys = this.keys;
    const used = this.used;
    for (let i = this.home(a); ; i = (i + 1) & this.mask) {
      if (used[i] === 0) return -1;
      if (keys[i] === a) return this.vals[i]!;
    }
  }

  /** Inserts or overwrites; false when full. */
  set(a: number, v: number): boolean {
    for (let i = this.home(a); ; i = (i + 1) & this.mask) {
      if (this.used[i] === 0) {
        if (this.full) return false;
        this.used[i] = 1;
        this.keys[i] = a;
        this.vals[i] = v;
        this.n++;
        return true;
      }
      if (this.keys[i] === a) {
        this.vals[i] = v;
        return true;
      }
    }
  }

  delete(a: number): boolean {
    let i = this.home(a);
    for (; ; i = (i + 1) & this.mask) {
      if (this.used[i] === 0) return false;
      if (this.keys[i] === a) break;
    }
    // Backward-shift deletion: pull later members of the probe run into the hole.
    let hole = i;
    for (let j = (i + 1) & this.mask; this.used[j] === 1; j = (j + 1) & this.mask) {
      const h = this.home(this.keys[j]!);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      if ((j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j)) {
        this.keys[hole] = this.keys[j]!;
        this.vals[hole] = this.vals[j]!;
        hole = j;
      }
    }
    this.used[hole] = 0;
    this.n--;
    return true;
  }
}
