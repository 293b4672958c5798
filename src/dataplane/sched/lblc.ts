// Locality-based least connection (ip_vs_lblc.c): a table maps the packet destination address to
// the dest last chosen for it. The entry is kept while its dest is usable and not overloaded in
// lblc's sense; otherwise the weighted least-connection dest is chosen and stored. Entries idle
// for 24 h are dropped, and the table is bounded (IPVS's 1024 buckets * 16 entries), evicting
// the least recently used of a small sample when full.
import type { Family } from '../../common/addr.js';
import type { Dest, Service } from '../service.js';
import { destUsable, hashAddr, type Scheduler } from './scheduler.js';
import { wlcLeast } from './wlc.js';

/** Entries per service table (IPVS: IP_VS_LBLC_TAB_SIZE * 16). */
export const LOC_TAB_MAX = 16384;
/** Idle time after which an entry is forgotten (IPVS lblc_expiration default). */
export const LOC_EXPIRE_MS = 24 * 60 * 60 * 1000;
/** Entries examined per new entry for expiry, and per eviction for the oldest. */
const LOC_GC_STEP = 8;
const LOC_EVICT_SAMPLE = 16;
const LOC_SEED = 0x5be0cd19;

/**
 * Address -> entry id map over preallocated typed arrays: linear probing in a power-of-two slot
 * array at most half full, deletion by backward shift (no tombstones). Callers keep their own
 * per-entry columns indexed by id; ids stay put while slots move.
 */
export class LocTable {
  readonly max: number;
  private readonly mask: number;
  /** Slot -> entry id, -1 = empty; and the slot's full hash. */
  private readonly slots: Int32Array;
  private readonly slotHash: Uint32Array;
  /** Per entry id: address words, last use (ms), slot (-1 = free id). */
  private readonly keys: Uint32Array;
  readonly lastUse: Float64Array;
  private readonly slotOf: Int32Array;
  private readonly free: Int32Array;
  private nfree: number;
  count = 0;
  private rover = 0;

  constructor(max: number) {
    let cap = 1;
    while (cap < max * 2) cap <<= 1;
    this.max = max;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(-1);
    this.slotHash = new Uint32Array(cap);
    this.keys = new Uint32Array(max * 4);
    this.lastUse = new Float64Array(max);
    this.slotOf = new Int32Array(max).fill(-1);
    this.free = new Int32Array(max);
    for (let i = 0; i < max; i++) this.free[i] = max - 1 - i;
    this.nfree = max;
  }

  /** Entry id for the address, or -1. */
  find(family: Family, addr: Uint32Array): number {
    const h = hashAddr(family, addr, 0, LOC_SEED);
    const words = family === 6 ? 4 : 1;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const id = this.slots[s]!;
      if (id < 0) return -1;
      if (this.slotHash[s] !== h) continue;
      const o = id * 4;
      let k = 0;
      while (k < words && this.keys[o + k] === addr[k]) k++;
      if (k === words) return id;
    }
  }

  /** Adds an entry (the address must not be present), evicting one when full; returns its id. */
  add(family: Family, addr: Uint32Array, now: number): number {
    if (this.nfree === 0) this.evict();
    const id = this.free[--this.nfree]!;
    const o = id * 4;
    const words = family === 6 ? 4 : 1;
    for (let k = 0; k < 4; k++) this.keys[o + k] = k < words ? addr[k]! : 0;
    this.lastUse[id] = now;
    const h = hashAddr(family, addr, 0, LOC_SEED);
    let s = h & this.mask;
    while (this.slots[s]! >= 0) s = (s + 1) & this.mask;
    this.slots[s] = id;
    this.slotHash[s] = h;
    this.slotOf[id] = s;
    this.count++;
    return id;
  }

  remove(id: number): void {
    const mask = this.mask;
    let hole = this.slotOf[id]!;
    if (hole < 0) return;
    this.slots[hole] = -1;
    // Pull back later entries of the cluster that may live in the hole.
    for (let j = (hole + 1) & mask; this.slots[j]! >= 0; j = (j + 1) & mask) {
      const home = this.slotHash[j]! & mask;
      if (((j - home) & mask) < ((j - hole) & mask)) continue;
      const moved = this.slots[j]!;
      this.slots[hole] = moved;
      this.slotHash[hole] = this.slotHash[j]!;
      this.slotOf[moved] = hole;
      this.slots[j] = -1;
      hole = j;
    }
    this.slotOf[id] = -1;
    this.free[this.nfree++] = id;
    this.count--;
  }

  live(id: number): boolean {
    return this.slotOf[id]! >= 0;
  }

  /** Drops entries idle longer than ttl among the next `steps` ids (amortized sweep). */
  expire(now: number, ttl: number, steps: number): void {
    for (let i = 0; i < steps; i++) {
      const id = this.rover;
      this.rover = id + 1 < this.max ? id + 1 : 0;
      if (this.slotOf[id]! >= 0 && now - this.lastUse[id]! > ttl) this.remove(id);
    }
  }

  /** Table full: drop the least recently used of the next few entries. */
  private evict(): void {
    let victim = -1;
    for (let i = 0; i < LOC_EVICT_SAMPLE; i++) {
      const id = this.rover;
      this.rover = id + 1 < this.max ? id + 1 : 0;
      if (this.slotOf[id]! >= 0 && (victim < 0 || this.lastUse[id]! < this.lastUse[victim]!)) victim = id;
    }
    if (victim >= 0) this.remove(victim);
  }

  /** Entry lookup for schedule: the live id, -1 if absent or idle too long (then dropped). */
  lookup(family: Family, addr: Uint32Array, now: number): number {
    const id = this.find(family, addr);
    if (id < 0) return -1;
    if (now - this.lastUse[id]! > LOC_EXPIRE_MS) {
      this.remove(id);
      return -1;
    }
    this.lastUse[id] = now;
    return id;
  }

  /** New entry for schedule, after an amortized expiry step. */
  insert(family: Family, addr: Uint32Array, now: number): number {
    this.expire(now, LOC_EXPIRE_MS, LOC_GC_STEP);
    return this.add(family, addr, now);
  }
}

/**
 * IPVS lblc/lblcr is_overloaded: the dest has more active connections than its weight while
 * some dest of the service is below half of its own.
 */
export function locOverloaded(svc: Service, d: Dest): boolean {
  if (d.activeConns <= d.weight) return false;
  const dests = svc.dests;
  for (let i = 0; i < dests.length; i++) {
    const o = dests[i]!;
    if (o.activeConns * 2 < o.weight) return true;
  }
  return false;
}

/** Old position -> new position (-1 = gone) after svc.dests changed; null when unchanged. */
export function remapDests(old: readonly Dest[], now: readonly Dest[]): Int32Array | null {
  // Additions append: old positions stay valid.
  let same = old.length <= now.length;
  for (let i = 0; same && i < old.length; i++) same = old[i] === now[i];
  if (same) return null;
  const pos = new Map<Dest, number>();
  for (let i = 0; i < now.length; i++) pos.set(now[i]!, i);
  const map = new Int32Array(old.length);
  for (let i = 0; i < old.length; i++) map[i] = pos.get(old[i]!) ?? -1;
  return map;
}

class LblcState {
  dests: Dest[] = [];
  /** Dests were added since the last sync: synced before the next schedule (positions are
   *  remapped by dest identity, so one sync after N changes equals N syncs). */
  dirty = true;
  readonly tbl = new LocTable(LOC_TAB_MAX);
  /** Entry id -> position in dests, -1 = none. */
  readonly dest = new Int32Array(LOC_TAB_MAX);
}

function markDirty(svc: Service): void {
  (svc.schedData as LblcState).dirty = true;
}

function sync(svc: Service): void {
  const st = svc.schedData as LblcState;
  st.dirty = false;
  const map = remapDests(st.dests, svc.dests);
  st.dests = svc.dests.slice();
  if (map === null) return;
  for (let id = 0; id < LOC_TAB_MAX; id++) {
    const p = st.dest[id]!;
    if (st.tbl.live(id) && p >= 0) st.dest[id] = map[p]!;
  }
}

export const lblc: Scheduler = {
  name: 'lblc',
  initService(svc) {
    svc.schedData = new LblcState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  // Adds append (old positions stay valid): synced lazily. A removal remaps the table's entries
  // at once, so that no entry points at a dest that is gone.
  addDest: markDirty,
  delDest: sync,
  updDest: markDirty,
  schedule(svc, ctx) {
    const st = svc.schedData as LblcState;
    if (st.dirty) sync(svc);
    let id = st.tbl.lookup(ctx.family, ctx.daddr, ctx.now);
    if (id >= 0) {
      const p = st.dest[id]!;
      if (p >= 0) {
        const d = st.dests[p]!;
        if (d.available && destUsable(d) && !locOverloaded(svc, d)) return d;
      }
    }
    const p = wlcLeast(st.dests);
    if (p < 0) return null;
    if (id < 0) id = st.tbl.insert(ctx.family, ctx.daddr, ctx.now);
    st.dest[id] = p;
    return st.dests[p]!;
  },
};
