// The host check (src/host/host-check.ts) and how the control service uses it: what the host
// cannot carry out is refused with the reason, and a refusal changes nothing (engine, model,
// state file). No root needed: the host's view is given.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LvsError } from '../../src/common/errors.js';
import { BatchError, ConfigModel } from '../../src/control/config-model.js';
import { ControlService } from '../../src/control/control-service.js';
import { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { Request } from '../../src/control/protocol.js';
import { StateStore } from '../../src/control/state-store.js';
import { checkRequests, type HostView, needsHostCheck, requestChecker } from '../../src/host/host-check.js';

const VIEW: HostView = {
  tun: 'lvs0',
  local: new Map([
    ['127.0.0.1', 'lo'],
    ['198.51.100.1', 'out0'],
    ['192.0.2.1', 'br0'],
    ['2001:db8:2::1', 'br0'],
  ]),
  routes: new Map([['203.0.113.50', 'dev out0']]),
  subnets: [
    { family: 4, addr: '198.51.100.1', prefixLen: 24, dev: 'out0' },
    { family: 4, addr: '192.0.2.1', prefixLen: 24, dev: 'br0' },
    { family: 6, addr: '2001:db8:2::1', prefixLen: 64, dev: 'br0' },
  ],
};
const SVC = { proto: 'tcp', addr: '203.0.113.10', port: 80 } as const;
const base = (): Request[] => [
  { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
  { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80 } },
];

function modelWith(reqs: readonly Request[]): ConfigModel {
  const m = new ConfigModel();
  for (const r of reqs) m.apply(r);
  return m;
}

const refused = (reqs: readonly Request[], m = new ConfigModel()) => {
  const r = checkRequests(reqs, m, VIEW);
  return r ? `${r.index}: ${r.error.message}` : null;
};

describe('host check', () => {
  test('a VIP that is an address of the host is refused', () => {
    assert.match(
      refused([{ op: 'addService', svc: { ...SVC, addr: '198.51.100.1' }, opts: {} }]) ?? '',
      /^0: virtual address 198\.51\.100\.1 is an address of out0 on this host: the kernel delivers its packets locally, not into lvs0/,
    );
    assert.equal(refused(base()), null);
  });

  test('a VIP with a host route lvsadm did not install is refused', () => {
    assert.match(
      refused([{ op: 'addService', svc: { ...SVC, addr: '203.0.113.50' }, opts: {} }]) ?? '',
      /^0: virtual address 203\.0\.113\.50 already has a route in the main table that lvsadm did not install \(203\.0\.113\.50 dev out0\)/,
    );
  });

  test('LIPs: unspecified, the host own, outside every subnet, a real server: refused with the reason', () => {
    const m = modelWith(base());
    const lip = (addr: string) => refused([{ op: 'addLaddr', svc: SVC, addr }], m);
    assert.match(lip('0.0.0.0') ?? '', /0\.0\.0\.0 cannot be a local address/);
    assert.match(lip('192.0.2.1') ?? '', /local address 192\.0\.2\.1 is an address of br0 on this host/);
    assert.match(
      lip('203.0.113.200') ?? '',
      /local address 203\.0\.113\.200 is outside every connected subnet of this host \(198\.51\.100\.1\/24 on out0, 192\.0\.2\.1\/24 on br0\)/,
    );
    assert.match(
      lip('192.0.2.21') ?? '',
      /local address 192\.0\.2\.21 is a real server's address \(of TCP 203\.0\.113\.10:80\)/,
    );
    assert.equal(lip('192.0.2.200'), null);
  });

  test('within one batch: earlier requests count, deleted ones no longer do; the model is left as it was', () => {
    const batch: Request[] = [
      ...base(),
      { op: 'addLaddr', svc: SVC, addr: '192.0.2.200' },
      { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.200', port: 80 } },
    ];
    assert.match(refused(batch) ?? '', /^3: real server 192\.0\.2\.200 is a local address \(-z\)/);
    const m = modelWith(base());
    const before = JSON.stringify(m.toConfig());
    const ok: Request[] = [
      { op: 'delDest', svc: SVC, addr: '192.0.2.21', port: 80 },
      { op: 'addLaddr', svc: SVC, addr: '192.0.2.21' },
    ];
    assert.equal(checkRequests(ok, m, VIEW), null);
    assert.equal(JSON.stringify(m.toConfig()), before);
    assert.ok(needsHostCheck({ op: 'batch', requests: ok }));
    assert.ok(!needsHostCheck({ op: 'zero' }));
  });
});

describe('control service with a host check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-hostcheck-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a refused change: exit words reach the caller; engine, model and state file unchanged', async () => {
    const engine = new Engine({ maxServices: 8, maxDests: 8, connCapacity: 64 });
    const store = new StateStore(dir);
    const svc = new ControlService({
      engine,
      store,
      hostCheck: async (reqs, model) => requestChecker(reqs, model, VIEW),
    });
    await assert.rejects(
      svc.execute({ op: 'addService', svc: { ...SVC, addr: '198.51.100.1' }, opts: {} }),
      (e: unknown) => LvsError.is(e) && /is an address of out0/.test(e.message),
    );
    assert.deepEqual(engine.listServices(), []);
    assert.equal(svc.model.serviceCount, 0);
    assert.ok(!existsSync(store.file), 'nothing saved');
    await assert.rejects(
      svc.execute({ op: 'batch', requests: [...base(), { op: 'addLaddr', svc: SVC, addr: '198.18.9.9' }] }),
      (e: unknown) =>
        e instanceof BatchError && e.index === 2 && /outside every connected subnet/.test(e.message),
    );
    assert.deepEqual(engine.listServices(), []);
    assert.equal(svc.model.serviceCount, 0);
    await svc.execute({ op: 'batch', requests: base() });
    assert.equal(engine.listServices().length, 1);
  });

  test('two changes at once: the second is checked against the model the first left', async () => {
    const engine = new Engine({ maxServices: 8, maxDests: 8, connCapacity: 64 });
    const svc = new ControlService({
      engine,
      hostCheck: async (reqs, model) => {
        // The LIP's check is slow: the RS request arrives while it runs.
        if (reqs[0]!.op === 'addLaddr') await new Promise((r) => setTimeout(r, 50));
        return requestChecker(reqs, model, VIEW);
      },
    });
    await svc.execute({ op: 'batch', requests: base() });
    // One client makes 192.0.2.203 a LIP, another a real server of the same service.
    const asLip = svc.execute({ op: 'addLaddr', svc: SVC, addr: '192.0.2.203' });
    const asRs = svc.execute({ op: 'addDest', svc: SVC, dest: { addr: '192.0.2.203', port: 80 } });
    const [a, b] = await Promise.allSettled([asLip, asRs]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected', 'the RS check saw the LIP the first change added');
    assert.deepEqual(
      engine.listServices()[0]!.dests.map((d) => d.addr),
      ['192.0.2.21'],
    );
  });
});
