// Shared pieces of the control-plane tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LvsError } from '../../src/common/errors.js';
import type { Config } from '../../src/control/config-model.js';
import { EngineTables } from '../../src/control/engine-tables.js';
import { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { ServiceConfig } from '../../src/control/protocol.js';
import type { EngineConfig } from '../../src/dataplane/config.js';

export const VIP = '203.0.113.10';
export const VIP2 = '203.0.113.11';
export const LIP = '192.0.2.200';
export const LIP2 = '192.0.2.201';
export const RS1 = '192.0.2.21';
export const RS2 = '192.0.2.22';
export const RS3 = '192.0.2.23';
export const VIP6 = '2001:db8:203::10';
export const RS6 = '2001:db8:2::21';
export const LIP6 = '2001:db8:2::200';

export const SVC = { proto: 'tcp', addr: VIP, port: 80 } as const;

/** A small engine (cheap to make in property tests). */
export function smallEngine(cfg: Partial<EngineConfig> = {}): Engine {
  return new Engine(
    {
      connCapacity: 256,
      maxServices: 64,
      maxDests: 256,
      maxLaddrs: 16,
      maxTemplates: 64,
      fragEntries: 16,
      wheelSlots: 64,
      mhTableSize: 251,
      seed: 11,
      ...cfg,
    },
    1000,
  );
}

/** What a call did: 'ok' or the refusal's code and message. */
export function outcome(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (LvsError.is(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
}

const svcSortKey = (s: ServiceConfig) => `${s.svc.proto}/${s.svc.addr}/${s.svc.port}`;

/** The configuration with services sorted (engines list in slot order); dests kept in order unless `setLike`. */
export function normalize(c: Config, setLike = false): Config {
  const services = c.services
    .map((s) => ({
      ...s,
      dests: setLike
        ? s.dests.slice().sort((a, b) => `${a.addr}/${a.port}`.localeCompare(`${b.addr}/${b.port}`))
        : s.dests,
      laddrs: setLike ? s.laddrs.slice().sort() : s.laddrs,
    }))
    .sort((a, b) => svcSortKey(a).localeCompare(svcSortKey(b)));
  return { services, timeouts: c.timeouts, sysctl: c.sysctl };
}

/** The configuration an engine's tables hold, read back from them (whoever wrote them). */
export function engineConfig(e: Engine): Config {
  return new EngineTables(e).config();
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix = 'lvsadm-ctl-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
