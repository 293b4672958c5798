// Round robin (ip_vs_rr.c): continue after the last chosen dest, skipping unusable ones.
import type { Dest, Service } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

class RrState {
  /** svc.dests as of the last hook; pos indexes into it. */
  dests: Dest[] = [];
  /** Position of the last chosen dest; -1 = list head (start from the first). */
  pos = -1;
}

function sync(svc: Service, removed: Dest | null): void {
  const st = svc.schedData as RrState;
  const last = st.pos >= 0 ? st.dests[st.pos] : undefined;
  if (last === undefined) st.pos = -1;
  // As ip_vs_rr_del_dest: step back so the dest after the removed one comes next.
  else if (last === removed) st.pos = st.pos - 1;
  else st.pos = svc.dests.indexOf(last);
  st.dests = svc.dests.slice();
}

export const rr: Scheduler = {
  name: 'rr',
  initService(svc) {
    svc.schedData = new RrState();
    sync(svc, null);
  },
  doneService(svc) {
    svc.schedData = null;
  },
  addDest(svc) {
    sync(svc, null);
  },
  delDest(svc, dest) {
    sync(svc, dest);
  },
  schedule(svc) {
    const st = svc.schedData as RrState;
    const dests = st.dests;
    const n = dests.length;
    let i = st.pos;
    for (let k = 0; k < n; k++) {
      i = i + 1 < n ? i + 1 : 0;
      const d = dests[i]!;
      if (destUsable(d)) {
        st.pos = i;
        return d;
      }
    }
    return null;
  },
};
