// A log line when a LIP is running out of local ports toward a real server: the engine counts
// each (LIP, real-server tuple) reaching 7/8 of the port range (laddr_ports_low); this turns
// new counts into at most one warning per interval, naming the last pair and what to do.

import { formatIp } from '../common/addr.js';
import type { Log } from '../control/log.js';
import { E_LADDR_PORTS_LOW } from '../dataplane/counters.js';
import type { Engine } from '../dataplane/engine.js';
import { portsLow } from '../dataplane/engine-readout.js';

export function portsLowWarner(engine: Engine, log: Log, intervalMs = 10_000): (now: number) => void {
  let seen = engine.counters[E_LADDR_PORTS_LOW]!;
  let last = Number.NEGATIVE_INFINITY;
  return (now) => {
    const n = engine.counters[E_LADDR_PORTS_LOW]!;
    if (n === seen || now - last < intervalMs) return;
    const more = n - seen;
    seen = n;
    last = now;
    const p = portsLow(engine);
    if (p === null) return;
    const addr = formatIp(p.family, p.rs);
    const rs = p.family === 6 ? `[${addr}]:${p.rport}` : `${addr}:${p.rport}`;
    log.warn(
      `local address ${formatIp(p.family, p.laddr)} has used 7/8 of its ports toward ${rs}${more > 1 ? ` (and ${more - 1} more such warnings)` : ''}: add local addresses (-P ... -z) or lower timeout_timewait (lvsadm --sysctl)`,
    );
  };
}
