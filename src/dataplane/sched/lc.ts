// Least connection (ip_vs_lc.c): the usable dest with the least overhead, first on ties.
import type { Dest } from '../service.js';
import { destOverhead, destUsable, type Scheduler } from './scheduler.js';

export const lc: Scheduler = {
  name: 'lc',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc) {
    const dests = svc.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!destUsable(d)) continue;
      const doh = destOverhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  },
};
