// Round robin (ip_vs_rr.c): continue after the last chosen dest, skipping unusable ones.
//
// Schedules over svc.dests itself (no copy): an add appends (or, a revived dest, goes back to its
// old place) and a removal shifts the last chosen dest by at most one, settled in O(1). A batch of N
// added dests costs O(N), not O(N^2).
import type { Dest } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

class RrState {
  /** The last chosen dest and its position in svc.dests; null / -1 = list head. */
  last: Dest | null = null;
  pos = -1;
  /**
   * The last chosen dest when it was deleted, until the next pick: reviving it right away (a
   * refused batch undone) makes it the last chosen again, so the order goes on exactly.
   */
  ghost: Dest | null = null;
}

export const rr: Scheduler = {
  name: 'rr',
  initService(svc) {
    svc.schedData = new RrState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  position(svc) {
    const st = svc.schedData as RrState;
    return { last: st.last, pos: st.pos };
  },
  setPosition(svc, at) {
    const st = svc.schedData as RrState;
    const p = at as { last: Dest | null; pos: number };
    if (p.last === null || svc.dests[p.pos] === p.last) {
      st.last = p.last;
      st.pos = p.pos;
      st.ghost = null;
    }
  },
  addDest(svc, dest) {
    // A revived dest goes back to its old place: one inserted before `last` shifts it by one.
    const st = svc.schedData as RrState;
    if (dest === st.ghost) {
      st.ghost = null;
      st.last = dest;
      st.pos = svc.dests[st.pos + 1] === dest ? st.pos + 1 : svc.dests.indexOf(dest);
      return;
    }
    if (st.last === null || svc.dests[st.pos] === st.last) return;
    st.pos = svc.dests[st.pos + 1] === st.last ? st.pos + 1 : svc.dests.indexOf(st.last);
  },
  delDest(svc, dest) {
    const st = svc.schedData as RrState;
    if (st.last === null) return;
    // svc.dests has lost exactly one entry: `last` is where it was or one step before.
    if (st.last === dest) {
      // As ip_vs_rr_del_dest: step back so the dest after the removed one comes next.
      st.ghost = dest;
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
        st.ghost = null;
        return d;
      }
    }
    return null;
  },
};
