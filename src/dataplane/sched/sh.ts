// Source hashing (ip_vs_sh.c): 256 buckets, each dest taking `weight` consecutive buckets in turn
// (ip_vs_sh_reassign; weight-0 dests take none), keyed by the client address (plus the client
// port with sh-port). An unusable bucket gives null, or with sh-fallback the next usable bucket.
import { type Dest, SCHED_F_FALLBACK, SCHED_F_PORT, type Service } from '../service.js';
import { destUsable, hashAddr, type Scheduler } from './scheduler.js';

const SH_TAB_SIZE = 256;
const SH_TAB_MASK = SH_TAB_SIZE - 1;
const SH_SEED = 0x6a09e667;

class ShState {
  dests: Dest[] = [];
  /** svc.dests changed since the buckets were filled: refilled once before the next schedule
   *  (the buckets depend only on the final dests, so a batch of N dests costs one refill). */
  dirty = true;
  /** Bucket -> position in dests, -1 = empty. */
  readonly buckets = new Int32Array(SH_TAB_SIZE).fill(-1);
}

function markDirty(svc: Service): void {
  (svc.schedData as ShState).dirty = true;
}

function reassign(svc: Service): void {
  const st = svc.schedData as ShState;
  st.dirty = false;
  const dests = svc.dests.slice();
  st.dests = dests;
  st.buckets.fill(-1);
  const n = dests.length;
  let any = false;
  for (const d of dests) if (d.weight > 0) any = true;
  if (!any) return;
  let p = 0;
  let turns = 0;
  for (let b = 0; b < SH_TAB_SIZE; b++) {
    while (dests[p]!.weight <= 0) p = p + 1 < n ? p + 1 : 0;
    st.buckets[b] = p;
    if (++turns >= dests[p]!.weight) {
      p = p + 1 < n ? p + 1 : 0;
      turns = 0;
    }
  }
}

function usable(d: Dest): boolean {
  return d.available && destUsable(d);
}

export const sh: Scheduler = {
  name: 'sh',
  initService(svc) {
    svc.schedData = new ShState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  addDest: markDirty,
  delDest: markDirty,
  updDest: markDirty,
  schedule(svc, ctx) {
    const st = svc.schedData as ShState;
    if (st.dirty) reassign(svc);
    const port = (svc.schedFlags & SCHED_F_PORT) !== 0 ? ctx.sport : 0;
    const h = hashAddr(ctx.family, ctx.saddr, port, SH_SEED) & SH_TAB_MASK;
    const p = st.buckets[h]!;
    if (p < 0) return null;
    const d = st.dests[p]!;
    if (usable(d)) return d;
    if ((svc.schedFlags & SCHED_F_FALLBACK) === 0) return null;
    // Probe the following buckets, wrapping once around the table.
    for (let k = 1; k < SH_TAB_SIZE; k++) {
      const f = st.dests[st.buckets[(h + k) & SH_TAB_MASK]!]!;
      if (usable(f)) return f;
    }
    return null;
  },
};
