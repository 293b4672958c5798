// bench:e2e's sustained-rate run: short connections at a fixed rate for a long time through ONE
// local (SNAT) address, clients closing first (close-first-client.mjs). It shows whether the
// balancer keeps opening connections once closed ones pile up in TIME_WAIT: lvsadm holds each
// closed connection's (LIP, lport) toward its real server for timeout_timewait (IPVS: 120 s),
// so one LIP toward N real servers sustains N x 64511 / timeout_timewait new connections/s
// (1612/s for 3 servers at 120 s). drop_no_lport must stay 0.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../../src/control/client.js';
import { sleep, type Topology } from '../../test/e2e/topology.js';
import type { LbName, LoadBalancer } from './lbs.js';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'close-first-client.mjs');
/** Client source addresses (added to the client's eth0 for the run): 4 x 64k client ports. */
export const SUSTAIN_SOURCES = ['198.51.100.11', '198.51.100.12', '198.51.100.13', '198.51.100.14'];

export interface SustainedResult {
  name: LbName;
  seconds: number;
  rate: number;
  started: number | null;
  ok: number | null;
  failed: number | null;
  errors: Record<string, number>;
  /** lvsadm only: engine counters over the run and the most ports one RS held on the LIP. */
  dropNoLport: number | null;
  portsLow: number | null;
  portsPeak: number | null;
  portCount: number | null;
  error: string | null;
}

/** Counters and -G's busiest tuple, from the daemon. */
async function lvsadmState(
  net: Topology,
): Promise<{ noLport: number; low: number; peak: number; count: number }> {
  const c = new ControlClient(net.socket, { timeoutMs: 10_000 });
  try {
    const k = await c.request({ op: 'counters' });
    const l = await c.request({ op: 'list' });
    let peak = 0;
    let count = 0;
    for (const s of l.services)
      for (const la of s.laddrs) {
        peak = Math.max(peak, la.tcpPortsUsed);
        count = la.portCount;
      }
    return { noLport: k.drop_no_lport ?? 0, low: k.laddr_ports_low ?? 0, peak, count };
  } finally {
    await c.close();
  }
}

/** Adds the client's extra source addresses and widens its port range (undone by the topology). */
export async function prepareClient(net: Topology): Promise<void> {
  for (const a of SUSTAIN_SOURCES) await net.exec(net.client, 'ip', 'addr', 'add', `${a}/24`, 'dev', 'eth0');
  await net.exec(net.client, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65535');
}

export async function sustain(
  net: Topology,
  lb: LoadBalancer,
  url: string,
  rate: number,
  seconds: number,
  log: (s: string) => void,
): Promise<SustainedResult> {
  const r: SustainedResult = {
    name: lb.name,
    seconds,
    rate,
    started: null,
    ok: null,
    failed: null,
    errors: {},
    dropNoLport: null,
    portsLow: null,
    portsPeak: null,
    portCount: null,
    error: null,
  };
  try {
    log(`${lb.name}: up for the sustained run (${lb.what})`);
    await lb.up();
    const before = lb.name === 'lvsadm' ? await lvsadmState(net) : null;
    log(`${lb.name}: ${rate} new connections/s for ${seconds} s, clients closing first`);
    const client = net.run(
      net.client,
      process.execPath,
      [CLIENT, url, String(rate), String(seconds), SUSTAIN_SOURCES.join(',')],
      (seconds + 30) * 1000,
    );
    let done = false;
    void client.finally(() => {
      done = true;
    });
    // -G every 5 s: the busiest real server's port use on the LIP climbs, then levels off.
    while (before && !done) {
      await sleep(5000);
      if (done) break;
      const s = await lvsadmState(net);
      r.portsPeak = Math.max(r.portsPeak ?? 0, s.peak);
      r.portCount = s.count;
    }
    const out = await client;
    if (out.code !== 0) throw new Error(`close-first-client -> exit ${out.code}: ${out.stderr.trim()}`);
    const j = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as {
      started: number;
      ok: number;
      failed: number;
      errors: Record<string, number>;
    };
    r.started = j.started;
    r.ok = j.ok;
    r.failed = j.failed;
    r.errors = j.errors;
    if (before) {
      const after = await lvsadmState(net);
      r.dropNoLport = after.noLport - before.noLport;
      r.portsLow = after.low - before.low;
      r.portsPeak = Math.max(r.portsPeak ?? 0, after.peak);
      r.portCount = after.count;
    }
  } catch (e) {
    r.error = (e as Error).message;
  }
  return r;
}

export function sustainedLines(rs: readonly SustainedResult[], rsCount: number): string[] {
  const out: string[] = [];
  if (rs.length === 0) return out;
  const s = rs[0]!;
  out.push('');
  out.push(
    `sustained: ${s.rate} new connections/s for ${s.seconds} s, one local address, ${rsCount} real servers, ` +
      `clients close first (close-first-client.mjs, ${SUSTAIN_SOURCES.length} client addresses); ` +
      `lvsadm capacity by its rule: ${rsCount} x 64511 / timeout_timewait 120 = ${Math.floor((rsCount * 64511) / 120)}/s`,
  );
  out.push(
    `${'lb'.padEnd(10)}${'ok'.padStart(9)}${'failed'.padStart(8)}${'ok/s'.padStart(8)}${'drop_no_lport'.padStart(15)}` +
      `${'ports_low'.padStart(11)}${'ports_peak'.padStart(16)}  errors`,
  );
  const n = (v: number | null, w: number) => (v === null ? '-' : String(v)).padStart(w);
  for (const x of rs) {
    const errs = Object.entries(x.errors)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    out.push(
      `${x.name.padEnd(10)}${n(x.ok, 9)}${n(x.failed, 8)}${n(x.ok === null ? null : Math.round(x.ok / x.seconds), 8)}` +
        `${n(x.dropNoLport, 15)}${n(x.portsLow, 11)}${(x.portsPeak === null ? '-' : `${x.portsPeak}/${x.portCount}`).padStart(16)}  ${errs}${x.error ? ` ERROR ${x.error}` : ''}`,
    );
  }
  return out;
}
