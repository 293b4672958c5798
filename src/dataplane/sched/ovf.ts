// Overflow (ip_vs_ovf.c): the usable dest with the highest weight (first on ties) that is not
// over capacity. As in IPVS, a dest overflows only when activeConns exceeds its weight, so it
// still takes a connection at activeConns == weight.
import type { Dest } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

export const ovf: Scheduler = {
  name: 'ovf',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc) {
    const dests = svc.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!destUsable(d) || d.activeConns > d.weight) continue;
      if (d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  },
};
