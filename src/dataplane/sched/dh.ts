// Destination hashing (ip_vs_dh.c): 256 buckets filled from the dests in turn (weights ignored, as
// in IPVS), keyed by the packet destination address. No fallback: an unusable bucket gives null.
import type { Dest, Service } from '../service.js';
import { destUsable, hashAddr, type Scheduler } from './scheduler.js';

const DH_TAB_SIZE = 256;
const DH_TAB_MASK = DH_TAB_SIZE - 1;
const DH_SEED = 0x2d4b1c3e;

class DhState {
  dests: Dest[] = [];
  /** svc.dests changed since the buckets were filled: refilled before the next schedule. */
  dirty = true;
  /** Bucket -> position in dests, -1 = empty. */
  readonly buckets = new Int32Array(DH_TAB_SIZE).fill(-1);
}

function markDirty(svc: Service): void {
  (svc.schedData as DhState).dirty = true;
}

function reassign(svc: Service): void {
  const st = svc.schedData as DhState;
  st.dirty = false;
  st.dests = svc.dests.slice();
  const n = st.dests.length;
  for (let b = 0; b < DH_TAB_SIZE; b++) st.buckets[b] = n === 0 ? -1 : b % n;
}

export const dh: Scheduler = {
  name: 'dh',
  initService(svc) {
    svc.schedData = new DhState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  addDest: markDirty,
  delDest: markDirty,
  updDest: markDirty,
  schedule(svc, ctx) {
    const st = svc.schedData as DhState;
    if (st.dirty) reassign(svc);
    const p = st.buckets[hashAddr(ctx.family, ctx.daddr, 0, DH_SEED) & DH_TAB_MASK]!;
    if (p < 0) return null;
    const d = st.dests[p]!;
    return d.available && destUsable(d) ? d : null;
  },
};
