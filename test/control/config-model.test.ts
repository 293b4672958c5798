// The configuration model, the only validator: what it accepts compiles into the engine's tables
// (which then hold the same configuration), exact undo, inverses that undo exactly on an engine
// (order included), canonical addresses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LvsError } from '../../src/common/errors.js';
import { defaultSysctls, knobsToSysctls, SYSCTL_NAMES, type SysctlValues } from '../../src/common/sysctls.js';
import {
  BatchError,
  type Config,
  ConfigModel,
  configToRequests,
  DEFAULT_TIMEOUTS,
  type Undo,
} from '../../src/control/config-model.js';
import { applyNow, EngineTables } from '../../src/control/engine-tables.js';
import type { Request } from '../../src/control/protocol.js';
import { changeArb, changesArb } from './arbitraries.js';
import {
  engineConfig,
  LIP,
  LIP6,
  normalize,
  outcome,
  RS1,
  RS2,
  RS6,
  SVC,
  smallEngine,
  VIP,
  VIP6,
} from './helpers.js';

describe('model vs engine', () => {
  test('random request sequences: what the model accepts the engine holds, in the same order', () => {
    let refused = 0;
    let accepted = 0;
    fc.assert(
      fc.property(changesArb(10, 40), (reqs) => {
        const engine = smallEngine();
        const model = new ConfigModel(engine.getTimeouts());
        const tables = new EngineTables(engine);
        for (const r of reqs) {
          const probe = model.clone();
          const m = outcome(() => probe.apply(r));
          const e = outcome(() => applyNow(model, tables, r));
          // The engine refuses nothing the model accepts here (the tables are large enough).
          assert.equal(e, m, `verdicts differ for ${JSON.stringify(r)}`);
          if (m === 'ok') accepted++;
          else refused++;
        }
        assert.deepEqual(normalize(engineConfig(engine)), normalize(model.toConfig()));
        assert.deepEqual(model.timeouts, engine.getTimeouts());
      }),
      { numRuns: 300, seed: 20240501 },
    );
    // The generators must exercise both sides.
    assert.ok(
      accepted > 1000 && refused > 1000 && accepted + refused > 5000,
      `accepted ${accepted}, refused ${refused}`,
    );
  });

  test('inverses derived from the model undo each request on a real engine', () => {
    fc.assert(
      fc.property(changesArb(0, 30), changeArb, (setup, r) => {
        const engine = smallEngine();
        const model = new ConfigModel(engine.getTimeouts());
        const tables = new EngineTables(engine);
        for (const s of setup) outcome(() => applyNow(model, tables, s));
        // Exactly: dests and LIPs in their order.
        const before = normalize(engineConfig(engine));
        const probe = model.clone();
        if (outcome(() => probe.apply(r)) !== 'ok') return;
        const inverse = model.inverse(r);
        tables.write(model.resolve(r));
        for (const inv of inverse) tables.write(inv, true);
        tables.commit();
        assert.deepEqual(normalize(engineConfig(engine)), before);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  test('undo closures restore the model exactly, order included', () => {
    fc.assert(
      fc.property(changesArb(0, 30), fc.array(changeArb, { maxLength: 30 }), (setup, more) => {
        const model = new ConfigModel();
        for (const s of setup) outcome(() => model.apply(s));
        const before = JSON.stringify(model.toConfig());
        const vipsBefore = model.vips();
        const lipsBefore = model.lips();
        const log: Undo[] = [];
        for (const r of more) outcome(() => model.apply(r, log));
        for (let i = log.length - 1; i >= 0; i--) log[i]!();
        assert.equal(JSON.stringify(model.toConfig()), before);
        assert.deepEqual(model.vips(), vipsBefore);
        assert.deepEqual(model.lips(), lipsBefore);
      }),
      { numRuns: 300, seed: 99 },
    );
  });
});

describe('model semantics', () => {
  test('addresses are canonical: any spelling finds the same service, dest and LIP', () => {
    const m = new ConfigModel();
    m.apply({ op: 'addService', svc: { proto: 'tcp', addr: '2001:DB8:203:0::10', port: 80 }, opts: {} });
    const key = { proto: 'tcp' as const, addr: VIP6, port: 80 };
    assert.equal(m.service(key)?.svc.addr, VIP6);
    m.apply({ op: 'addDest', svc: key, dest: { addr: '2001:0db8:2::21', port: 80 } });
    assert.throws(() => m.apply({ op: 'addDest', svc: key, dest: { addr: RS6, port: 80 } }), {
      code: 'DEST_EXISTS',
    });
    m.apply({ op: 'addLaddr', svc: key, addr: '2001:db8:2:0:0::200' });
    assert.deepEqual(m.service(key)?.laddrs, [LIP6]);
    assert.deepEqual(m.lips(), [LIP6]);
    assert.deepEqual(m.vips(), [VIP6]);
  });

  test('defaults are filled in and edits change only what they name', () => {
    const m = new ConfigModel();
    m.apply({ op: 'addService', svc: SVC, opts: { sched: 'rr' } });
    assert.deepEqual(m.service(SVC)?.opts, {
      sched: 'rr',
      schedFlags: 0,
      persistTimeout: 0,
      persistPrefix: 32,
      synproxy: false,
      toa: true,
    });
    m.apply({ op: 'editService', svc: SVC, opts: { synproxy: true, persistTimeout: 60 } });
    assert.deepEqual(m.service(SVC)?.opts, {
      sched: 'rr',
      schedFlags: 0,
      persistTimeout: 60,
      persistPrefix: 32,
      synproxy: true,
      toa: true,
    });
    m.apply({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80, uThreshold: 10 } });
    m.apply({ op: 'editDest', svc: SVC, addr: RS1, port: 80, change: { weight: 3 } });
    assert.deepEqual(m.service(SVC)?.dests, [
      { addr: RS1, port: 80, weight: 3, uThreshold: 10, lThreshold: 0 },
    ]);
    assert.throws(
      () => m.apply({ op: 'editDest', svc: SVC, addr: RS1, port: 80, change: { lThreshold: 11 } }),
      /lower threshold is above the upper threshold/,
    );
  });

  test('a VIP cannot be a LIP and the other way round, across services', () => {
    const m = new ConfigModel();
    m.apply({ op: 'addService', svc: SVC, opts: {} });
    m.apply({ op: 'addLaddr', svc: SVC, addr: LIP });
    assert.throws(() => m.apply({ op: 'addService', svc: { proto: 'udp', addr: LIP, port: 53 }, opts: {} }), {
      code: 'EINVAL',
      message: `${LIP} is a local address (LIP) and cannot be a VIP`,
    });
    assert.throws(() => m.apply({ op: 'addLaddr', svc: SVC, addr: VIP }), {
      code: 'EINVAL',
      message: `${VIP} is a virtual service address and cannot be a local address`,
    });
    // Once no service lists the LIP, it may become a VIP.
    m.apply({ op: 'delService', svc: SVC });
    m.apply({ op: 'addService', svc: { proto: 'udp', addr: LIP, port: 53 }, opts: {} });
    assert.deepEqual(m.vips(), [LIP]);
    assert.deepEqual(m.lips(), []);
  });

  test('the ipvsadm words: service, destination, local address', () => {
    const m = new ConfigModel();
    const words = (r: Request) => outcome(() => m.apply(r));
    assert.equal(words({ op: 'delService', svc: SVC }), 'SVC_NOT_FOUND: Service not defined');
    m.apply({ op: 'addService', svc: SVC, opts: {} });
    assert.equal(words({ op: 'addService', svc: SVC, opts: {} }), 'SVC_EXISTS: Service already exists');
    assert.equal(
      words({ op: 'delDest', svc: SVC, addr: RS1, port: 80 }),
      'DEST_NOT_FOUND: No such destination',
    );
    m.apply({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } });
    assert.equal(
      words({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } }),
      'DEST_EXISTS: Destination already exists',
    );
    assert.equal(words({ op: 'delLaddr', svc: SVC, addr: LIP }), 'LADDR_NOT_FOUND: No such local address');
    m.apply({ op: 'addLaddr', svc: SVC, addr: LIP });
    assert.equal(
      words({ op: 'addLaddr', svc: SVC, addr: LIP }),
      'LADDR_EXISTS: Local address already exists',
    );
    assert.equal(
      words({ op: 'editService', svc: SVC, opts: { sched: 'xx' } }),
      'SCHED_NOT_FOUND: Scheduler not found: xx',
    );
    assert.equal(words({ op: 'list' }), 'EINVAL: list is not a configuration change');
  });

  test('a batch is all-or-nothing and its refusal names the position', () => {
    const m = new ConfigModel();
    m.apply({ op: 'addService', svc: SVC, opts: {} });
    const before = JSON.stringify(m.toConfig());
    const batch: Request = {
      op: 'batch',
      requests: [
        { op: 'delService', svc: SVC },
        { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
        { op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } },
        { op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } },
      ],
    };
    assert.throws(
      () => m.apply(batch),
      (e: unknown) => {
        assert.ok(e instanceof BatchError);
        assert.ok(LvsError.is(e));
        assert.equal(e.code, 'DEST_EXISTS');
        assert.equal(e.index, 3);
        assert.equal(e.message, 'Destination already exists');
        assert.equal(e.op, 'addDest');
        assert.equal(e.refusal.message, 'Destination already exists');
        return true;
      },
    );
    assert.equal(JSON.stringify(m.toConfig()), before);
    assert.throws(
      () => m.apply({ op: 'batch', requests: [{ op: 'batch', requests: [] }] }),
      /cannot be nested/,
    );
  });

  test('configToRequests and fromConfig round-trip; clone is independent', () => {
    const m = new ConfigModel();
    m.apply({ op: 'setTimeouts', timeouts: { tcp: 100 } });
    m.apply({ op: 'addService', svc: SVC, opts: { sched: 'mh', schedFlags: 2 } });
    m.apply({ op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80, weight: 4 } });
    m.apply({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } });
    m.apply({ op: 'addLaddr', svc: SVC, addr: LIP });
    m.apply({
      op: 'addService',
      svc: { proto: 'udp', addr: VIP6, port: 0 },
      opts: { persistTimeout: 30, persistPrefix: 64 },
    });
    const cfg = m.toConfig();
    assert.equal(configToRequests(cfg)[0]!.op, 'setTimeouts');
    assert.deepEqual(ConfigModel.fromConfig(cfg).toConfig(), cfg);
    const c = m.clone();
    c.apply({ op: 'flush' });
    assert.equal(c.serviceCount, 0);
    assert.equal(m.serviceCount, 2);
    assert.deepEqual(new ConfigModel().timeouts, DEFAULT_TIMEOUTS);
    // A stored configuration that contradicts itself is refused.
    const dup = { ...cfg, services: [cfg.services[0]!, cfg.services[0]!] };
    assert.throws(() => ConfigModel.fromConfig(dup), { code: 'SVC_EXISTS' });
  });
});

/** setSysctl requests: a few names, values around the bounds (many refused). */
const sysctlArb: fc.Arbitrary<Request> = fc
  .array(
    fc.tuple(
      fc.constantFrom(...SYSCTL_NAMES),
      fc.oneof(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 60, max: 70000 }),
      ),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((pairs) => ({ op: 'setSysctl', values: Object.fromEntries(pairs) }) as Request);

describe('sysctls in the model', () => {
  test('defaults; set, all or nothing; toConfig and clone carry them; flush leaves them', () => {
    const m = new ConfigModel();
    assert.deepEqual(m.sysctl, defaultSysctls());
    assert.deepEqual(m.toConfig().sysctl, defaultSysctls());
    m.apply({ op: 'setSysctl', values: { synproxy_init_mss: 1400, synproxy_sack: 0 } });
    const want = { ...defaultSysctls(), synproxy_init_mss: 1400, synproxy_sack: 0 };
    assert.deepEqual(m.sysctl, want);
    // One bad value refuses the whole request.
    assert.equal(
      outcome(() => m.apply({ op: 'setSysctl', values: { synproxy_wscale: 7, synproxy_defer: 2 } })),
      'EINVAL: synproxy_defer must be 0 or 1',
    );
    assert.equal(
      outcome(() => m.apply({ op: 'setSysctl', values: { synproxy_syn_retry: 5, synproxy_timestamp: 2 } })),
      'EINVAL: synproxy_timestamp must be 0 or 1',
    );
    assert.equal(
      outcome(() =>
        m.apply({ op: 'setSysctl', values: { synproxy_sack: 1, bogus: 1 } as Partial<SysctlValues> }),
      ),
      "EINVAL: unknown sysctl 'bogus'",
    );
    assert.deepEqual(m.sysctl, want);
    const c = m.clone();
    c.apply({ op: 'setSysctl', values: { synproxy_init_mss: 536 } });
    assert.equal(m.sysctl.synproxy_init_mss, 1400, 'clone is independent');
    m.apply({ op: 'flush' });
    assert.deepEqual(m.sysctl, want, '-C keeps the sysctls (as it keeps the timeouts)');
    const cfg = m.toConfig();
    assert.deepEqual(cfg.sysctl, want);
    assert.deepEqual(ConfigModel.fromConfig(cfg).sysctl, want);
    // A model started from an engine's values.
    assert.deepEqual(new ConfigModel(DEFAULT_TIMEOUTS, want).sysctl, want);
  });

  test('configToRequests sets every sysctl (a missing one is its default), right after the timeouts', () => {
    const m = new ConfigModel();
    m.apply({ op: 'setSysctl', values: { synproxy_defer: 1 } });
    const reqs = configToRequests(m.toConfig());
    assert.deepEqual(reqs[1], { op: 'setSysctl', values: { ...defaultSysctls(), synproxy_defer: 1 } });
    // A configuration from before the sysctls (an old state file read loosely) gets the defaults.
    const old = { services: [], timeouts: { ...DEFAULT_TIMEOUTS } } as unknown as Config;
    assert.deepEqual(configToRequests(old)[1], { op: 'setSysctl', values: defaultSysctls() });
    assert.deepEqual(ConfigModel.fromConfig(old).sysctl, defaultSysctls());
  });

  test('in a batch: refused later, the sysctls are back as they were', () => {
    const m = new ConfigModel();
    const before = JSON.stringify(m.toConfig());
    assert.throws(
      () =>
        m.apply({
          op: 'batch',
          requests: [
            { op: 'setSysctl', values: { synproxy_init_mss: 1000 } },
            { op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } },
          ],
        }),
      (e: unknown) => e instanceof BatchError && e.index === 1 && e.code === 'SVC_NOT_FOUND',
    );
    assert.equal(JSON.stringify(m.toConfig()), before);
  });

  test('undo closures and inverses with sysctls mixed in (on a real engine)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(changeArb, sysctlArb), { maxLength: 25 }),
        fc.oneof(changeArb, sysctlArb),
        (setup, r) => {
          const engine = smallEngine();
          const model = new ConfigModel(engine.getTimeouts());
          const tables = new EngineTables(engine);
          for (const s of setup) outcome(() => applyNow(model, tables, s));
          assert.deepEqual(model.sysctl, knobsToSysctls(engine.getKnobs()));
          const before = normalize(engineConfig(engine));
          const modelBefore = JSON.stringify(model.toConfig());
          const log: Undo[] = [];
          if (outcome(() => model.apply(r, log)) !== 'ok') {
            assert.equal(log.length, 0);
            assert.equal(JSON.stringify(model.toConfig()), modelBefore);
            return;
          }
          for (let i = log.length - 1; i >= 0; i--) log[i]!();
          assert.equal(JSON.stringify(model.toConfig()), modelBefore);
          const inverse = model.inverse(r);
          tables.write(model.resolve(r));
          for (const inv of inverse) tables.write(inv, true);
          tables.commit();
          assert.deepEqual(normalize(engineConfig(engine)), before);
        },
      ),
      { numRuns: 300, seed: 4242 },
    );
  });
});
