// Weighted least connection (ip_vs_wlc.c): least overhead/weight among usable dests, compared by
// cross-multiplication (loh * dw > doh * lw); first on ties. lblc and lblcr reuse wlcLeast.
import type { Dest } from '../service.js';
import { destOverhead, destUsable, type Scheduler } from './scheduler.js';

/** Position of the weighted least-connection usable dest in `dests`, or -1. */
export function wlcLeast(dests: readonly Dest[]): number {
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i]!;
    if (!destUsable(d)) continue;
    const doh = destOverhead(d);
    // Overheads reach 256 * conns, times a weight: past 2^31, but exact in doubles.
    if (least < 0 || loh * d.weight > doh * lw) {
      least = i;
      loh = doh;
      lw = d.weight;
    }
  }
  return least;
}

export const wlc: Scheduler = {
  name: 'wlc',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc) {
    const i = wlcLeast(svc.dests);
    return i < 0 ? null : svc.dests[i]!;
  },
};
