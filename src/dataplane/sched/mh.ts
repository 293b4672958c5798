// Maglev hashing (ip_vs_mh.c, NSDI'16 §3.4): every dest walks its own permutation of a prime-sized
// lookup table (offset and skip from two hashes of its address and port) and claims the first free
// slot of it in turn until the table is full; schedule is one lookup by client address (plus
// client port with mh-port). Removing one of N dests moves about 1/N of the keys.
//
// Weights: instead of IPVS's consecutive turns of (weight / gcd) >> rshift per round (which rounds
// small weights together), the next slot always goes to the dest with the least (claimed + 1) /
// weight, so each dest ends with a share exactly proportional to its weight; with equal weights
// this is plain Maglev round robin. Weight-0 dests get no slots.
import { type Dest, SCHED_F_FALLBACK, SCHED_F_PORT, type Service } from '../service.js';
import { destUsable, hashAddr, type Scheduler } from './scheduler.js';

/** Largest accepted table size (64 MiB of lookup table). */
export const MH_TAB_SIZE_MAX = 1 << 24;
const MH_SEED_OFFSET = 0x3c6ef372;
const MH_SEED_SKIP = 0x510e527f;
const MH_SEED_KEY = 0x1f83d9ab;

class MhState {
  dests: Dest[] = [];
  /** svc.dests changed since the table was built: rebuilt once before the next schedule. */
  dirty = true;
  readonly size: number;
  /** Slot -> position in dests, -1 = empty (no dest with weight > 0). */
  readonly lookup: Int32Array;
  constructor(size: number) {
    this.size = size;
    this.lookup = new Int32Array(size).fill(-1);
  }
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false;
  return true;
}

/** Tables built so far (all services); lets tests check a batch builds each table once. */
export let mhBuilds = 0;

// Each add/del/upd only marks the table stale: a batch of N dests then costs one O(size) build
// instead of N, and the build happens at most once per change burst.
function markDirty(svc: Service): void {
  (svc.schedData as MhState).dirty = true;
}

function populate(svc: Service): void {
  const st = svc.schedData as MhState;
  st.dirty = false;
  mhBuilds++;
  const dests = svc.dests.slice();
  st.dests = dests;
  const m = st.size;
  const lookup = st.lookup;
  lookup.fill(-1);
  const n = dests.length;
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n);
  const claimed = new Float64Array(n);
  const weight = new Float64Array(n);
  const heap = new Int32Array(n);
  let hn = 0;
  // Min-heap on (claimed + 1) / weight, by cross-multiplication; lower position first on ties.
  const before = (a: number, b: number): boolean => {
    const x = (claimed[a]! + 1) * weight[b]!;
    const y = (claimed[b]! + 1) * weight[a]!;
    return x < y || (x === y && a < b);
  };
  for (let i = 0; i < n; i++) {
    const d = dests[i]!;
    if (d.weight <= 0) continue;
    weight[i] = d.weight;
    next[i] = hashAddr(d.family, d.addr, d.port, MH_SEED_OFFSET) % m;
    skip[i] = m > 1 ? (hashAddr(d.family, d.addr, d.port, MH_SEED_SKIP) % (m - 1)) + 1 : 1;
    // Sift up.
    let k = hn++;
    heap[k] = i;
    while (k > 0) {
      const up = (k - 1) >> 1;
      if (!before(heap[k]!, heap[up]!)) break;
      const t = heap[up]!;
      heap[up] = heap[k]!;
      heap[k] = t;
      k = up;
    }
  }
  if (hn === 0) return;
  for (let filled = 0; filled < m; filled++) {
    const i = heap[0]!;
    // skip is coprime with the prime m, so the walk reaches every slot.
    let c = next[i]!;
    while (lookup[c]! >= 0) {
      c += skip[i]!;
      if (c >= m) c -= m;
    }
    lookup[c] = i;
    next[i] = c;
    claimed[i] = claimed[i]! + 1;
    // Sift the root down.
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= hn) break;
      const r = l + 1;
      const s = r < hn && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[s]!, heap[k]!)) break;
      const t = heap[s]!;
      heap[s] = heap[k]!;
      heap[k] = t;
      k = s;
    }
  }
}

/** The lookup table, built first if stale (tests and listings; schedule() does the same). */
export function mhLookup(svc: Service): Int32Array {
  const st = svc.schedData as MhState;
  if (st.dirty) populate(svc);
  return st.lookup;
}

function usable(d: Dest): boolean {
  return d.available && destUsable(d);
}

export const mh: Scheduler = {
  name: 'mh',
  initService(svc) {
    const size = svc.mhTableSize;
    if (!isPrime(size) || size > MH_TAB_SIZE_MAX) {
      throw new Error(`mh table size must be a prime <= ${MH_TAB_SIZE_MAX}, got ${size}`);
    }
    svc.schedData = new MhState(size);
  },
  doneService(svc) {
    svc.schedData = null;
  },
  addDest: markDirty,
  delDest: markDirty,
  updDest: markDirty,
  schedule(svc, ctx) {
    const st = svc.schedData as MhState;
    if (st.dirty) populate(svc);
    const port = (svc.schedFlags & SCHED_F_PORT) !== 0 ? ctx.sport : 0;
    const p = st.lookup[hashAddr(ctx.family, ctx.saddr, port, MH_SEED_KEY) % st.size]!;
    if (p < 0) return null;
    const d = st.dests[p]!;
    if (usable(d)) return d;
    if ((svc.schedFlags & SCHED_F_FALLBACK) === 0) return null;
    // Rehash with other seeds, as IPVS does with offsets: the same key always falls back to the
    // same dest. At most `size` tries; skip them when nothing is usable at all.
    let any = false;
    for (let i = 0; i < st.dests.length && !any; i++) any = usable(st.dests[i]!);
    if (!any) return null;
    for (let k = 1; k <= st.size; k++) {
      const h = hashAddr(ctx.family, ctx.saddr, port, (MH_SEED_KEY + k) | 0) % st.size;
      const f = st.dests[st.lookup[h]!]!;
      if (usable(f)) return f;
    }
    return null;
  },
};
