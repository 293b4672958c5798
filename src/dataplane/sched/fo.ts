// Weighted failover (ip_vs_fo.c): the usable dest with the highest weight, first on ties.
import type { Dest } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

export const fo: Scheduler = {
  name: 'fo',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc) {
    const dests = svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (destUsable(d) && d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  },
};
