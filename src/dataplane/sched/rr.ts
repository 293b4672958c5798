// Round robin (ip_vs_rr.c): continue after the last chosen dest, skipping unusable ones.
//
// Schedules over svc.dests itself (no copy): adds append, so the position of the last chosen dest
// stays valid, and a removal shifts it by at most one, which delDest settles in O(1). A batch of N
// added dests costs O(N), not O(N^2).
import type { Dest } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

class RrState {
  /** The last chosen dest and its position in svc.dests; null / -1 = list head. */
  last: Dest | null = null;
  pos = -1;
}

export const rr: Scheduler = {
  name: 'rr',
  initService(svc) {
    svc.schedData = new RrState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  delDest(svc, dest) {
    const st = svc.schedData as RrState;
    if (st.last === null) return;
    // svc.dests has lost exactly one entry: `last` is where it was or one step before.
    if (st.last === dest) {
      // As ip_vs_rr_del_dest: step back so the dest after the removed one comes next.
      st.pos -= 1;
      st.last = st.pos >= 0 ? svc.dests[st.pos]! : null;
    } else if (svc.dests[st.pos] !== st.last) {
      st.pos -= 1;
    }
  },
  schedule(svc) {
    const st = svc.schedData as RrState;
    const dests = svc.dests;
    const n = dests.length;
    let i = st.pos;
    for (let k = 0; k < n; k++) {
      i = i + 1 < n ? i + 1 : 0;
      const d = dests[i]!;
      if (destUsable(d)) {
        st.pos = i;
        st.last = d;
        return d;
      }
    }
    return null;
  },
};
