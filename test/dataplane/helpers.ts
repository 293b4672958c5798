// Engine fixtures for tests: a small engine with one service, and a way to push one packet
// through it and get the verdict and a copy of the bytes that came out.

import { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { ServiceKey } from '../../src/control/protocol.js';
import { PacketBatch, VERDICT_TX } from '../../src/dataplane/batch.js';
import type { EngineConfig } from '../../src/dataplane/config.js';
import { type DecodedPacket, decodePacket } from '../support/packet-decoder.js';

export const CIP = '198.51.100.2';
export const VIP = '203.0.113.10';
export const LIP = '192.0.2.200';
export const RS1 = '192.0.2.21';
export const RS2 = '192.0.2.22';
export const CIP6 = '2001:db8:100::2';
export const VIP6 = '2001:db8:203::10';
export const LIP6 = '2001:db8:2::200';
export const RS6 = '2001:db8:2::21';

export const SVC: ServiceKey = { proto: 'tcp', addr: VIP, port: 80 };
export const SVC6: ServiceKey = { proto: 'tcp', addr: VIP6, port: 80 };

export function engine(cfg: Partial<EngineConfig> = {}): Engine {
  return new Engine(
    { connCapacity: 1024, maxServices: 16, maxDests: 64, maxLaddrs: 8, seed: 7, ...cfg },
    1000,
  );
}

/** One service with the given real servers and LIPs (rr, so picks are predictable). */
export function fixture(
  opts: {
    key?: ServiceKey;
    rs?: string[];
    lips?: string[];
    sched?: string;
    cfg?: Partial<EngineConfig>;
  } = {},
): Engine {
  const e = engine(opts.cfg);
  const key = opts.key ?? SVC;
  e.addService(key, { sched: opts.sched ?? 'rr' });
  for (const r of opts.rs ?? [RS1]) e.addDest(key, { addr: r, port: key.port === 0 ? 0 : 80 });
  for (const l of opts.lips ?? [LIP]) e.addLaddr(key, l);
  return e;
}

export interface Sent {
  tx: boolean;
  out: Uint8Array;
  d: DecodedPacket;
}

const batch = new PacketBatch(4);

/** Pushes one packet through the engine at time `now` (ms). */
export function send(e: Engine, pkt: Uint8Array, now = 1000): Sent {
  batch.clear();
  if (batch.push(pkt) < 0) throw new Error('packet does not fit a batch slot');
  e.process(batch, now);
  const out = batch.packet(0).slice();
  return { tx: batch.verdict[0] === VERDICT_TX, out, d: decodePacket(out) };
}

export function counter(e: Engine, name: string): number {
  const v = e.counterValues()[name];
  if (v === undefined) throw new Error(`no counter ${name}`);
  return v;
}

/** Like send(), plus whatever the engine queued by itself (SYN retransmissions, released data). */
export function sendAll(e: Engine, pkt: Uint8Array, now = 1000): { main: Sent; extra: DecodedPacket[] } {
  const main = send(e, pkt, now);
  return { main, extra: drainTxq(e) };
}

/** The engine's own output queue, decoded, then emptied. */
export function drainTxq(e: Engine): DecodedPacket[] {
  const out: DecodedPacket[] = [];
  for (let i = 0; i < e.txq.count; i++)
    if (e.txq.verdict[i] === VERDICT_TX) out.push(decodePacket(e.txq.packet(i).slice()));
  e.txq.clear();
  return out;
}
