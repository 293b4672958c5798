// Never queue (ip_vs_nq.c): the first usable idle dest (no active connections), else as sed.
import { destUsable, type Scheduler } from './scheduler.js';
import { sedLeast } from './sed.js';

export const nq: Scheduler = {
  name: 'nq',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc) {
    const dests = svc.dests;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (d.activeConns === 0 && destUsable(d)) return d;
    }
    return sedLeast(svc);
  },
};
