// ControlService: reads, changes, all-or-nothing batches (including the engine refusing midway
// and the rollback), persistence and change listeners.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LvsError } from '../../src/common/errors.js';
import { defaultSysctls, knobsToSysctls, SYSCTL_NAMES, type SysctlValues } from '../../src/common/sysctls.js';
import { defaultEngineKnobs, type EngineKnobs } from '../../src/common/vocabulary.js';
import { BatchError, type Config, ConfigModel } from '../../src/control/config-model.js';
import { ControlFailure, ControlService } from '../../src/control/control-service.js';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { MemoryLog } from '../../src/control/log.js';
import type { Request } from '../../src/control/protocol.js';
import { StateStore } from '../../src/control/state-store.js';
import { PacketBatch } from '../../src/dataplane/batch.js';
import { COUNTER_NAMES } from '../../src/dataplane/counters.js';
import { tcp4 } from '../support/packet-builder.js';
import { changeArb, changesArb } from './arbitraries.js';
import {
  engineConfig,
  LIP,
  LIP2,
  normalize,
  RS1,
  RS2,
  RS3,
  SVC,
  smallEngine,
  tempDir,
  VIP,
  VIP2,
} from './helpers.js';

const SVC2 = { proto: 'tcp', addr: VIP2, port: 443 } as const;

/** Counts the engine's mutating calls. */
function spied(e: Engine): { engine: Engine; calls: string[] } {
  const calls: string[] = [];
  const engine = new Proxy(e, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (
          /^(create|update|delete|attach|detach|zeroStats|setTimeoutsTriple|setKnobs|commit)/.test(
            String(prop),
          )
        )
          calls.push(String(prop));
        return v.apply(target, args);
      };
    },
  });
  return { engine, calls };
}

async function refused(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  let err: unknown;
  await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => {
      err = e;
    },
  );
  assert.ok(err instanceof Error);
  assert.equal((err as { code?: string }).code, code, String(err));
  if (message) assert.match(err.message, message);
  return err;
}

async function base(svc = new ControlService({ engine: smallEngine() })): Promise<ControlService> {
  await svc.execute({ op: 'addService', svc: SVC, opts: { sched: 'rr' } });
  await svc.execute({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } });
  await svc.execute({ op: 'addLaddr', svc: SVC, addr: LIP });
  return svc;
}

describe('ControlService: reads and single changes', () => {
  test('a change reaches engine and model; reads come from the engine (list, conns, timeouts, counters, status)', async () => {
    const e = smallEngine();
    let t = 5_000;
    const cs = new ControlService({ engine: e, version: '1.2.3', tun: 'lvs0', now: () => t });
    await base(cs);
    assert.deepEqual(normalize(cs.model.toConfig()), normalize(engineConfig(e)));
    const dump = await cs.execute({ op: 'dump' });
    assert.equal(dump.services.length, 1);
    assert.deepEqual(dump.services[0]!.dests, [
      { addr: RS1, port: 80, weight: 1, uThreshold: 0, lThreshold: 0 },
    ]);

    // One connection through the engine, so the listings have something live to show.
    const batch = new PacketBatch(1);
    batch.push(tcp4('198.51.100.2', 40000, VIP, 80, 'S', { seq: 1 }));
    e.process(batch, 1000);
    const list = await cs.execute({ op: 'list' });
    assert.equal(list.services.length, 1);
    assert.equal(list.services[0]!.dests[0]!.activeConns + list.services[0]!.dests[0]!.inactConns, 1);
    assert.ok(list.totals && list.totals.conns === 1);
    const one = await cs.execute({ op: 'list', svc: { proto: 'tcp', addr: VIP, port: 80 } });
    assert.equal(one.services[0]!.sched, 'rr');
    await refused(cs.execute({ op: 'list', svc: SVC2 }), 'SVC_NOT_FOUND', /^Service not defined$/);
    const conns = await cs.execute({ op: 'listConns' });
    assert.equal(conns.total, 1);
    assert.equal(conns.conns[0]!.daddr, RS1);
    assert.equal((await cs.execute({ op: 'listConns', limit: 0 })).conns.length, 0);

    await cs.execute({ op: 'setTimeouts', timeouts: { tcp: 100, udp: 0 } });
    assert.deepEqual(await cs.execute({ op: 'getTimeouts' }), { tcp: 100, tcpfin: 120, udp: 300 });
    assert.deepEqual(cs.model.timeouts, { tcp: 100, tcpfin: 120, udp: 300 });
    const counters = await cs.execute({ op: 'counters' });
    assert.equal(typeof counters, 'object');
    assert.ok(Object.keys(counters).length > 5);
    t += 61_000;
    const st = await cs.execute({ op: 'status' });
    assert.deepEqual(st, {
      version: '1.2.3',
      pid: process.pid,
      uptimeS: 61,
      tun: 'lvs0',
      connCount: 1,
      connCapacity: 256,
    });
    await cs.execute({ op: 'zero' });
    assert.equal((await cs.execute({ op: 'list' })).totals!.conns, 0);
  });

  test('a refused single change leaves engine and model as they were', async () => {
    const { engine, calls } = spied(smallEngine());
    const cs = await base(new ControlService({ engine }));
    const before = JSON.stringify(cs.model.toConfig());
    const n = calls.length;
    await refused(
      cs.execute({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } }),
      'DEST_EXISTS',
      /^Destination already exists$/,
    );
    await refused(cs.execute({ op: 'delLaddr', svc: SVC, addr: LIP2 }), 'LADDR_NOT_FOUND');
    assert.equal(calls.length, n, 'the engine was not asked');
    assert.equal(JSON.stringify(cs.model.toConfig()), before);
  });

  test('an engine-only refusal of a single change (table full) leaves the model as it was', async () => {
    const e = smallEngine({ maxServices: 1 });
    const cs = await base(new ControlService({ engine: e }));
    const before = JSON.stringify(cs.model.toConfig());
    await refused(cs.execute({ op: 'addService', svc: SVC2, opts: {} }), 'NO_MEMORY', /too many services/);
    assert.equal(JSON.stringify(cs.model.toConfig()), before);
    assert.deepEqual(normalize(cs.model.toConfig()), normalize(engineConfig(e)));
  });
});

describe('ControlService: batches are all-or-nothing', () => {
  test('refused by the model: the engine is never touched; the error names the request', async () => {
    const { engine, calls } = spied(smallEngine());
    const cs = await base(new ControlService({ engine }));
    const before = JSON.stringify(cs.model.toConfig());
    const n = calls.length;
    const err = await refused(
      cs.execute({
        op: 'batch',
        requests: [
          { op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80 } },
          { op: 'editService', svc: SVC, opts: { sched: 'wlc' } },
          { op: 'delDest', svc: SVC, addr: RS3, port: 80 },
        ],
      }),
      'DEST_NOT_FOUND',
      /^No such destination$/,
    );
    assert.ok(err instanceof BatchError);
    assert.equal(err.index, 2);
    assert.equal(calls.length, n);
    assert.equal(JSON.stringify(cs.model.toConfig()), before);
  });

  test('refused by the engine midway (maxDests 2): the applied requests are undone, engine and model as before', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const e = smallEngine({ maxDests: 2 });
      const store = new StateStore(dir);
      const cs = new ControlService({ engine: e, store });
      const seen: string[][] = [];
      cs.onChange((m) => {
        seen.push(m.vips());
      });
      await base(cs);
      await cs.execute({ op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80, weight: 3 } });
      const saved = readFileSync(store.file, 'utf8');
      const modelBefore = JSON.stringify(cs.model.toConfig());
      const engineBefore = normalize(engineConfig(e));
      const listBefore = JSON.stringify(
        e.listServices().map((s) => [s.addr, s.port, s.sched, s.dests.map((d) => d.addr)]),
      );
      seen.length = 0;

      const requests: Request[] = [
        { op: 'editService', svc: SVC, opts: { sched: 'wlc', synproxy: true } },
        { op: 'editDest', svc: SVC, addr: RS2, port: 80, change: { weight: 9 } },
        { op: 'addLaddr', svc: SVC, addr: LIP2 },
        { op: 'setTimeouts', timeouts: { tcp: 33 } },
        { op: 'addService', svc: SVC2, opts: { sched: 'sh', schedFlags: 1 } },
        { op: 'delDest', svc: SVC, addr: RS2, port: 80 },
        // RS2 freed a slot: this one fits.
        { op: 'addDest', svc: SVC2, dest: { addr: RS3, port: 443 } },
        // The table holds 2 real servers: the engine refuses this one (the model does not know).
        { op: 'addDest', svc: SVC2, dest: { addr: RS2, port: 443 } },
        { op: 'addLaddr', svc: SVC2, addr: LIP },
      ];
      const probe = cs.model.clone();
      probe.apply({ op: 'batch', requests });
      const err = await refused(
        cs.execute({ op: 'batch', requests }),
        'NO_MEMORY',
        /^too many real servers$/,
      );
      assert.ok(err instanceof BatchError && err.index === 7);
      assert.equal(JSON.stringify(cs.model.toConfig()), modelBefore, 'model exactly as before');
      assert.deepEqual(
        normalize(engineConfig(e), true),
        normalize(engineBefore, true),
        'engine holds the same configuration',
      );
      assert.deepEqual(e.getTimeouts(), { tcp: 900, tcpfin: 120, udp: 300 });
      assert.equal(e.hasService(SVC2), false);
      // Only RS2, deleted then put back by the rollback, moved to the end of its service's list.
      assert.deepEqual(
        e.listServices()[0]!.dests.map((d) => [d.addr, d.weight]),
        [
          [RS1, 1],
          [RS2, 3],
        ],
      );
      assert.equal(
        JSON.stringify(e.listServices().map((s) => [s.addr, s.port, s.sched, s.dests.map((d) => d.addr)])),
        listBefore,
      );
      assert.equal(readFileSync(store.file, 'utf8'), saved, 'nothing saved');
      assert.deepEqual(seen, [], 'listeners not told');

      // The same batch without the request that does not fit goes through whole.
      await cs.execute({ op: 'batch', requests: requests.filter((_, i) => i !== 7) });
      assert.deepEqual(normalize(cs.model.toConfig()), normalize(engineConfig(e)));
      assert.equal(cs.model.serviceCount, 2);
      assert.deepEqual(seen, [[VIP, VIP2]]);
      const stored = JSON.parse(readFileSync(store.file, 'utf8')) as { config: Config };
      assert.deepEqual(stored.config, cs.model.toConfig());
    } finally {
      cleanup();
    }
  });

  test('random batches on an engine with tiny tables: all applied, or engine and model exactly as before', async () => {
    let rolledBack = 0;
    let applied = 0;
    await fc.assert(
      fc.asyncProperty(
        changesArb(0, 10),
        fc.array(changeArb, { minLength: 1, maxLength: 30 }),
        async (setup, batch) => {
          const e = smallEngine({ maxServices: 2, maxDests: 2, maxLaddrs: 1 });
          const cs = new ControlService({ engine: e });
          for (const r of setup) await cs.execute(r).catch(() => {});
          // Only batches the model accepts reach the engine.
          const valid: Request[] = [];
          const probe = cs.model.clone();
          for (const r of batch) {
            try {
              probe.apply(r);
              valid.push(r);
            } catch {}
          }
          const before = JSON.stringify(cs.model.toConfig());
          const engineBefore = normalize(engineConfig(e), true);
          try {
            await cs.execute({ op: 'batch', requests: valid });
            applied++;
            assert.deepEqual(normalize(cs.model.toConfig()), normalize(engineConfig(e)));
            assert.deepEqual(cs.model.toConfig(), probe.toConfig());
          } catch (err) {
            assert.ok(err instanceof BatchError, String(err));
            assert.equal(err.code, 'NO_MEMORY');
            rolledBack++;
            assert.equal(JSON.stringify(cs.model.toConfig()), before);
            assert.deepEqual(normalize(engineConfig(e), true), engineBefore);
          }
        },
      ),
      { numRuns: 200, seed: 4242 },
    );
    assert.ok(rolledBack > 20 && applied > 20, `rolled back ${rolledBack}, applied ${applied}`);
  });

  test('an engine that cannot take its previous state back: EINTERNAL, the model follows the engine', async () => {
    const e = smallEngine({ maxDests: 2 });
    let failDel = false;
    const engine = new Proxy(e, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv);
        if (prop === 'deleteService')
          return (...a: unknown[]) => {
            if (failDel) throw new LvsError('NO_MEMORY', 'injected');
            return v.apply(target, a);
          };
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const log = new MemoryLog();
    const cs = await base(new ControlService({ engine, log }));
    failDel = true;
    const err = await refused(
      cs.execute({
        op: 'batch',
        requests: [
          { op: 'addService', svc: SVC2, opts: {} },
          { op: 'addDest', svc: SVC2, dest: { addr: RS2, port: 443 } },
          { op: 'addDest', svc: SVC2, dest: { addr: RS3, port: 443 } },
        ],
      }),
      'EINTERNAL',
      /could not undo a partly applied change \(delService refused/,
    );
    assert.ok(err instanceof ControlFailure);
    assert.ok(log.lines.some((l) => l.startsWith('error: could not undo')));
    // The engine kept SVC2 (its dest was removed): the model says so too.
    assert.equal(e.hasService(SVC2), true);
    assert.deepEqual(normalize(cs.model.toConfig()), normalize(engineConfig(e)));
  });
});

describe('ControlService: persistence, listeners, restore', () => {
  test('every change is saved before the answer; concurrent changes share saves', async () => {
    const { dir, cleanup } = tempDir();
    try {
      let writes = 0;
      const store = new StateStore(dir, {
        beforeRename: async () => {
          writes++;
          await new Promise((r) => setTimeout(r, 5));
        },
      });
      const cs = new ControlService({ engine: smallEngine(), store });
      await cs.execute({ op: 'addService', svc: SVC, opts: {} });
      assert.equal(writes, 1);
      const loaded = await store.load();
      assert.deepEqual(loaded, cs.model.toConfig());
      // 30 changes at once: each answer comes after a save that includes it.
      const all = [];
      for (let i = 0; i < 30; i++) {
        all.push(
          cs
            .execute({ op: 'addDest', svc: SVC, dest: { addr: `192.0.2.${30 + i}`, port: 80 } })
            .then(async () => {
              const c = await new StateStore(dir).load();
              assert.ok(c!.services[0]!.dests.some((d) => d.addr === `192.0.2.${30 + i}`));
            }),
        );
      }
      await Promise.all(all);
      assert.ok(writes < 31, `coalesced: ${writes} writes`);
      assert.equal((await store.load())!.services[0]!.dests.length, 30);
      // zero is not a configuration change: no save.
      const w = writes;
      await cs.execute({ op: 'zero' });
      assert.equal(writes, w);
    } finally {
      cleanup();
    }
  });

  test('a failed save is reported (ESTATE) and the change stays in effect', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const notADir = join(dir, 'file');
      writeFileSync(notADir, 'x');
      const log = new MemoryLog();
      const cs = new ControlService({
        engine: smallEngine(),
        store: new StateStore(join(notADir, 'state')),
        log,
      });
      await refused(
        cs.execute({ op: 'addService', svc: SVC, opts: {} }),
        'ESTATE',
        /the change is in effect, but saving .* failed/,
      );
      assert.equal(cs.model.serviceCount, 1);
      assert.equal(cs.tables.listServices().length, 1);
      assert.ok(log.lines.some((l) => l.includes('saving')));
    } finally {
      cleanup();
    }
  });

  test('listeners see each change in order; a failing listener is logged and does not fail the change', async () => {
    const log = new MemoryLog();
    const cs = new ControlService({ engine: smallEngine(), log });
    const seen: string[] = [];
    const off = cs.onChange(async (m) => {
      await new Promise((r) => setTimeout(r, 1));
      seen.push(`${m.vips().join(',')}|${m.lips().join(',')}`);
    });
    cs.onChange(() => {
      throw new Error('netlink says no');
    });
    await base(cs);
    assert.deepEqual(seen, [`${VIP}|`, `${VIP}|`, `${VIP}|${LIP}`]);
    assert.ok(log.lines.some((l) => l.includes('netlink says no')));
    off();
    await cs.execute({ op: 'flush' });
    assert.equal(seen.length, 3);
  });

  test('restore replaces what the engine has with a stored configuration, as one batch', async () => {
    const src = await base();
    await src.execute({ op: 'setTimeouts', timeouts: { tcpfin: 7 } });
    await src.execute({ op: 'addService', svc: SVC2, opts: { persistTimeout: 60, synproxy: true } });
    const cfg = src.model.toConfig();

    const e = smallEngine();
    const cs = new ControlService({ engine: e });
    await cs.execute({ op: 'addService', svc: { proto: 'udp', addr: VIP, port: 53 }, opts: {} });
    let told = 0;
    cs.onChange(() => {
      told++;
    });
    await cs.restore(cfg);
    assert.equal(told, 1);
    assert.deepEqual(cs.model.toConfig(), cfg);
    assert.deepEqual(normalize(engineConfig(e)), normalize(cfg));

    // A configuration the engine cannot hold is refused whole.
    const tiny = smallEngine({ maxServices: 1 });
    const cs2 = new ControlService({ engine: tiny });
    await refused(cs2.restore(cfg), 'NO_MEMORY');
    assert.equal(tiny.listServices().length, 0);
    assert.equal(cs2.model.serviceCount, 0);
    assert.ok(ConfigModel.fromConfig(cfg));
  });
});

describe('ControlService: SYNPROXY sysctls and counters', () => {
  test('valid values reach the engine, the model and the state file; reads come from the engine', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const e = smallEngine();
      const store = new StateStore(dir);
      const cs = new ControlService({ engine: e, store });
      let told = 0;
      cs.onChange(() => {
        told++;
      });
      assert.deepEqual(await cs.execute({ op: 'getSysctl' }), defaultSysctls());
      assert.deepEqual(Object.keys(await cs.execute({ op: 'getSysctl' })), SYSCTL_NAMES);
      const r = await cs.execute({
        op: 'setSysctl',
        values: { synproxy_init_mss: 1400, synproxy_sack: 0, synproxy_dup_ack_thresh: 0, synproxy_defer: 1 },
      });
      assert.equal(r, null);
      assert.deepEqual(e.getKnobs(), {
        ...defaultEngineKnobs(),
        initMss: 1400,
        sack: false,
        ackStormThresh: 0,
        defer: true,
      });
      const want = {
        ...defaultSysctls(),
        synproxy_init_mss: 1400,
        synproxy_sack: 0,
        synproxy_dup_ack_thresh: 0,
        synproxy_defer: 1,
      };
      assert.deepEqual(cs.model.sysctl, want);
      assert.deepEqual(await cs.execute({ op: 'getSysctl' }), want);
      assert.deepEqual(
        await cs.execute({ op: 'getSysctl', names: ['synproxy_defer', 'synproxy_init_mss'] }),
        {
          synproxy_defer: 1,
          synproxy_init_mss: 1400,
        },
      );
      assert.deepEqual((await cs.execute({ op: 'dump' })).sysctl, want);
      assert.equal(told, 1);
      const stored = JSON.parse(readFileSync(store.file, 'utf8')) as { config: Config };
      assert.deepEqual(stored.config.sysctl, want);

      // A restart: a fresh engine, the stored configuration restored into it.
      const e2 = smallEngine();
      const cs2 = new ControlService({ engine: e2, store: new StateStore(dir) });
      await cs2.restore((await new StateStore(dir).load())!);
      assert.deepEqual(knobsToSysctls(e2.getKnobs()), want);
      assert.deepEqual(cs2.model.sysctl, want);
    } finally {
      cleanup();
    }
  });

  test('synproxy_timestamp=1 reaches the engine, is stored and survives a restart', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const e = smallEngine();
      const cs = new ControlService({ engine: e, store: new StateStore(dir) });
      assert.equal(await cs.execute({ op: 'setSysctl', values: { synproxy_timestamp: 1 } }), null);
      assert.equal(e.getKnobs().timestamp, true);
      assert.deepEqual(await cs.execute({ op: 'getSysctl', names: ['synproxy_timestamp'] }), {
        synproxy_timestamp: 1,
      });
      const stored = JSON.parse(readFileSync(new StateStore(dir).file, 'utf8')) as { config: Config };
      assert.equal(stored.config.sysctl.synproxy_timestamp, 1);
      const e2 = smallEngine();
      const cs2 = new ControlService({ engine: e2, store: new StateStore(dir) });
      await cs2.restore((await new StateStore(dir).load())!);
      assert.equal(e2.getKnobs().timestamp, true);
      assert.equal(cs2.model.sysctl.synproxy_timestamp, 1);
      // and off again
      await cs2.execute({ op: 'setSysctl', values: { synproxy_timestamp: 0 } });
      assert.equal(e2.getKnobs().timestamp, false);
    } finally {
      cleanup();
    }
  });

  test('an invalid value changes nothing, not even the valid values beside it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { engine, calls } = spied(smallEngine());
      const store = new StateStore(dir);
      const cs = await base(new ControlService({ engine, store }));
      const saved = readFileSync(store.file, 'utf8');
      const before = engine.getKnobs();
      const n = calls.length;
      const cases: [Partial<SysctlValues>, string, RegExp][] = [
        [
          { synproxy_init_mss: 1400, synproxy_wscale: 15 },
          'EINVAL',
          /^synproxy_wscale must be an integer from 0 to 14$/,
        ],
        [{ synproxy_sack: 0, synproxy_defer: 2 }, 'EINVAL', /^synproxy_defer must be 0 or 1$/],
        [{ synproxy_synack_ttl: 0 }, 'EINVAL', /^synproxy_synack_ttl must be an integer from 1 to 255$/],
        [{ synproxy_syn_retry: 2, synproxy_timestamp: 2 }, 'EINVAL', /^synproxy_timestamp must be 0 or 1$/],
      ];
      for (const [values, code, re] of cases) {
        await refused(cs.execute({ op: 'setSysctl', values }), code, re);
        assert.deepEqual(engine.getKnobs(), before, JSON.stringify(values));
        assert.deepEqual(cs.model.sysctl, defaultSysctls());
      }
      assert.equal(calls.length, n, 'the engine was not asked');
      assert.equal(readFileSync(store.file, 'utf8'), saved, 'nothing saved');
    } finally {
      cleanup();
    }
  });

  test('the engine refusing sysctls inside a batch undoes the requests before them', async () => {
    const e = smallEngine();
    // An engine that refuses what the model accepts (as a newer engine bound might).
    const engine = new Proxy(e, {
      get(target, prop, recv) {
        if (prop === 'setKnobs') {
          return (k: Partial<EngineKnobs>) => {
            if (k.initMss === 1000) throw new LvsError('EINVAL', 'engine says no');
            target.setKnobs(k);
          };
        }
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const cs = await base(new ControlService({ engine }));
    await cs.execute({ op: 'setSysctl', values: { synproxy_wscale: 7 } });
    const before = JSON.stringify(cs.model.toConfig());
    const err = await refused(
      cs.execute({
        op: 'batch',
        requests: [
          { op: 'setSysctl', values: { synproxy_wscale: 2, synproxy_sack: 0 } },
          { op: 'addService', svc: SVC2, opts: {} },
          { op: 'setSysctl', values: { synproxy_init_mss: 1000 } },
        ],
      }),
      'EINVAL',
      /^engine says no$/,
    );
    assert.ok(err instanceof BatchError && err.index === 2);
    assert.equal(JSON.stringify(cs.model.toConfig()), before);
    assert.deepEqual(e.getKnobs(), { ...defaultEngineKnobs(), wscale: 7 });
    assert.equal(e.hasService(SVC2), false);
  });

  test('restore sets every sysctl: a configuration without any (an old state file) means the defaults', async () => {
    const e = smallEngine();
    const cs = new ControlService({ engine: e });
    await cs.execute({ op: 'setSysctl', values: { synproxy_init_mss: 900, synproxy_defer: 1 } });
    const old = { services: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 } } as unknown as Config;
    await cs.restore(old);
    assert.deepEqual(e.getKnobs(), defaultEngineKnobs());
    assert.deepEqual(cs.model.sysctl, defaultSysctls());
    // A ControlService starts from what its engine has.
    e.setKnobs({ synRetry: 5 });
    assert.equal(new ControlService({ engine: e }).model.sysctl.synproxy_syn_retry, 5);
  });

  test('counters: every engine counter by name, in the engine order', async () => {
    const e = smallEngine();
    const cs = new ControlService({ engine: e });
    const batch = new PacketBatch(1);
    batch.push(tcp4('198.51.100.2', 40000, VIP, 80, 'S', { seq: 1 }));
    e.process(batch, 1000);
    const counters = await cs.execute({ op: 'counters' });
    assert.deepEqual(Object.keys(counters), COUNTER_NAMES);
    assert.equal(counters.rx_pkts, 1);
    assert.equal(counters.drop_pkts, 1);
    assert.equal(counters.drop_not_local, 1, 'no service: the VIP is not ours');
    for (const v of Object.values(counters)) assert.equal(typeof v, 'number');
  });
});
