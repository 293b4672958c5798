// Shortest expected delay (ip_vs_sed.c): least (active + 1) / weight among usable dests, compared
// by cross-multiplication; inactive connections do not count.
import type { Dest, Service } from '../service.js';
import { destUsable, type Scheduler } from './scheduler.js';

export function sedLeast(svc: Service): Dest | null {
  const dests = svc.dests;
  let least: Dest | null = null;
  let loh = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i]!;
    if (!destUsable(d)) continue;
    const doh = d.activeConns + 1;
    if (least === null || loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export const sed: Scheduler = {
  name: 'sed',
  initService(svc) {
    svc.schedData = null;
  },
  schedule: sedLeast,
};
