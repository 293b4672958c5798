// A lazy timing wheel over connection ids (after undici's coarse timers and the kernel's timer wheel).
// The packet path only writes `expires[id]`; sweep() re-files entries whose deadline moved later, so an
// established flow costs one store per packet and a few re-files per lifetime, never a table scan.
// Slot lists are circular and doubly linked through sentinel nodes (ids capacity+1 .. capacity+slots),
// so an entry can be unlinked in O(1) without knowing its slot.

export class ExpiryWheel {
  readonly slots: number;
  /** Milliseconds covered by one slot. */
  readonly granularity: number;
  readonly next: Uint32Array;
  readonly prev: Uint32Array;
  private readonly sentinel0: number;
  /** Sentinel of the list being swept. */
  private readonly tmp: number;
  /** Last slot number (time / granularity) fully swept. */
  private swept: number;

  constructor(capacity: number, slotsPow2: number, granularityMs: number, now: number) {
    this.slots = slotsPow2;
    this.granularity = granularityMs;
    this.sentinel0 = capacity + 1;
    const n = capacity + 2 + slotsPow2;
    this.tmp = n - 1;
    this.next = new Uint32Array(n);
    this.prev = new Uint32Array(n);
    for (let s = 0; s <= slotsPow2; s++) {
      const h = this.sentinel0 + s;
      this.next[h] = h;
      this.prev[h] = h;
    }
    this.swept = Math.floor(now / granularityMs);
  }

  /** Files `id` under the slot of time `at` (ms). The id must not be linked. */
  insert(id: number, at: number): void {
    let slot = Math.floor(at / this.granularity);
    if (slot <= this.swept) slot = this.swept + 1;
    const h = this.sentinel0 + (slot & (this.slots - 1));
    const last = this.prev[h]!;
    this.next[last] = id;
    this.prev[id] = last;
    this.next[id] = h;
    this.prev[h] = id;
  }

  unlink(id: number): void {
    const n = this.next[id]!;
    const p = this.prev[id]!;
    this.next[p] = n;
    this.prev[n] = p;
    this.next[id] = 0;
    this.prev[id] = 0;
  }

  /** Moves `id` to the slot of time `at` (for a deadline that moved earlier). */
  move(id: number, at: number): void {
    this.unlink(id);
    this.insert(id, at);
  }

  /**
   * Visits the slots up to time `now`. Deadlines are read at expires[id * stride + offset].
   * For each entry, a deadline <= now calls onExpire(id) (which must unlink it); otherwise the
   * entry is re-filed under its current deadline. Stops after `budget` entries so one tick stays
   * short; the rest is picked up by the next call. Returns the number of entries expired.
   */
  sweep(
    now: number,
    expires: Float64Array,
    stride: number,
    offset: number,
    budget: number,
    onExpire: (id: number) => void,
  ): number {
    const target = Math.floor(now / this.granularity);
    // After a long pause every slot is visited once, not once per missed revolution.
    if (target - this.swept > this.slots) this.swept = target - this.slots;
    const tmp = this.tmp;
    let expired = 0;
    let visited = 0;
    for (;;) {
      // The slot being visited sits on `tmp`, detached: entries re-filed a revolution ahead land
      // in its bucket again and must not be met twice. A visit cut short by the budget stays on
      // `tmp` and is finished first by the next call, so one crowded slot cannot stall the wheel.
      let id = this.next[tmp]!;
      while (id !== tmp) {
        if (visited >= budget) return expired;
        const nx = this.next[id]!;
        const at = expires[id * stride + offset]!;
        if (at <= now) {
          onExpire(id);
          expired++;
        } else {
          this.unlink(id);
          this.insert(id, at);
        }
        visited++;
        id = nx;
      }
      if (this.swept >= target) return expired;
      this.swept++;
      this.splice(this.sentinel0 + (this.swept & (this.slots - 1)), tmp);
    }
  }

  /** Moves every entry of list `from` to the front of list `to` (both sentinels). */
  private splice(from: number, to: number): void {
    const first = this.next[from]!;
    if (first === from) return;
    const last = this.prev[from]!;
    const toFirst = this.next[to]!;
    this.next[to] = first;
    this.prev[first] = to;
    this.next[last] = toFirst;
    this.prev[toFirst] = last;
    this.next[from] = from;
    this.prev[from] = from;
  }
}
