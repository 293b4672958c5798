// Weighted round robin (ip_vs_wrr.c): passes over the dests with a required weight cw that steps
// down by the gcd of the weights from the maximum; a dest is taken when its weight >= cw.
import { DEST_F_OVERLOAD, type Dest, type Service } from '../service.js';
import type { Scheduler } from './scheduler.js';

class WrrState {
  /** Position of the current dest in svc.dests; -1 = list head. */
  cl = -1;
  /** Current required weight. */
  cw = 0;
  /** Max weight minus (di - 1), so the last pass runs with cw = 1 as in IPVS. */
  mw = 0;
  /** Step: gcd of the positive weights (1 if none). */
  di = 1;
  /**
   * Weight -> number of dests with it, and each dest's weight as counted: max and gcd come from
   * the distinct weights (a handful), so a change costs O(distinct weights) rather than O(dests),
   * and a batch of N added dests O(N). The control path only; schedule() reads svc.dests.
   */
  readonly weights = new Map<number, number>();
  readonly counted = new Map<Dest, number>();
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function count(st: WrrState, w: number, by: number): void {
  const n = (st.weights.get(w) ?? 0) + by;
  if (n <= 0) st.weights.delete(w);
  else st.weights.set(w, n);
}

/** Brings the weight counts up to date for one dest (gone: removed). */
function track(st: WrrState, d: Dest, gone: boolean): void {
  const old = st.counted.get(d);
  if (old !== undefined) count(st, old, -1);
  if (gone) {
    st.counted.delete(d);
  } else {
    st.counted.set(d, d.weight);
    count(st, d.weight, 1);
  }
}

function recalc(st: WrrState): void {
  let g = 0;
  let max = 0;
  for (const w of st.weights.keys()) {
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > max) max = w;
  }
  st.cl = -1;
  st.di = g > 0 ? g : 1;
  st.mw = max - (st.di - 1);
}

/** ip_vs_wrr_dest_changed: restart from the head, keep cw where it still makes sense. */
function changed(svc: Service, d: Dest, gone: boolean): void {
  const st = svc.schedData as WrrState;
  track(st, d, gone);
  recalc(st);
  if (st.cw > st.mw || st.cw === 0) st.cw = st.mw;
  else if (st.di > 1) st.cw = Math.floor(st.cw / st.di) * st.di + 1;
}

export const wrr: Scheduler = {
  name: 'wrr',
  initService(svc) {
    const st = new WrrState();
    svc.schedData = st;
    for (const d of svc.dests) track(st, d, false);
    recalc(st);
    st.cw = st.mw;
  },
  doneService(svc) {
    svc.schedData = null;
  },
  position(svc) {
    const st = svc.schedData as WrrState;
    return { cl: st.cl, cw: st.cw };
  },
  setPosition(svc, at) {
    const st = svc.schedData as WrrState;
    const p = at as { cl: number; cw: number };
    if (p.cl < svc.dests.length && p.cw <= st.mw) {
      st.cl = p.cl;
      st.cw = p.cw;
    }
  },
  addDest: (svc, d) => changed(svc, d, false),
  delDest: (svc, d) => changed(svc, d, true),
  updDest: (svc, d) => changed(svc, d, false),
  schedule(svc) {
    const st = svc.schedData as WrrState;
    if (st.mw <= 0) return null;
    const dests = svc.dests;
    const n = dests.length;
    const last = st.cl;
    let i = last;
    let stop = -2; // none yet
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (i = i + 1; i < n; i++) {
        const d = dests[i]!;
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight >= st.cw) {
          st.cl = i;
          return d;
        }
        if (i === stop) {
          st.cl = i;
          return null; // every dest checked down to weight 1: all overloaded
        }
      }
      i = -1; // back at the head
      st.cw -= st.di;
      if (st.cw <= 0) {
        st.cw = st.mw;
        // A full pass at weight >= 1 has already covered every dest.
        if (lastPass || last === -1) {
          st.cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = st.cw <= st.di;
      // The first pass at weight >= 1 began after `last`; finish the dests up to it.
      if (lastPass && restarted && last !== -1) stop = last;
    }
  },
};
