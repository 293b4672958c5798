// Control operations: every refused change leaves the engine exactly as it was.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LvsError } from '../../src/common/errors.js';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { tcp4 } from '../support/packet-builder.js';
import { CIP, engine, fixture, LIP, LIP6, RS1, RS2, RS6, SVC, send, VIP } from './helpers.js';

function snapshot(e: Engine): string {
  return JSON.stringify({ s: e.listServices(), c: e.connCount, t: e.getTimeouts() });
}

function refuses(e: Engine, fn: () => void, code: string, message?: RegExp): void {
  const before = snapshot(e);
  assert.throws(fn, (err: unknown) => {
    assert.ok(LvsError.is(err), String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
  assert.equal(snapshot(e), before, 'nothing changed');
}

describe('control operations are all-or-nothing', () => {
  test('services', () => {
    const e = fixture({ rs: [RS1, RS2] });
    refuses(e, () => e.addService(SVC), 'SVC_EXISTS', /^Service already exists$/);
    refuses(
      e,
      () => e.addService({ proto: 'tcp', addr: VIP, port: 81 }, { sched: 'nope' }),
      'SCHED_NOT_FOUND',
    );
    refuses(e, () => e.addService({ proto: 'tcp', addr: '203.0.113.300', port: 81 }), 'EINVAL');
    refuses(e, () => e.addService({ proto: 'tcp', addr: VIP, port: 70000 }), 'EINVAL');
    refuses(e, () => e.addService({ proto: 'tcp', addr: VIP, port: 0 }), 'EINVAL', /Zero port/);
    refuses(e, () => e.addService({ proto: 'tcp', addr: LIP, port: 80 }), 'EINVAL', /local address/);
    refuses(e, () => e.addService({ proto: 'tcp', addr: VIP, port: 81 }, { persistPrefix: 33 }), 'EINVAL');
    refuses(
      e,
      () => e.editService({ proto: 'tcp', addr: VIP, port: 81 }, { sched: 'rr' }),
      'SVC_NOT_FOUND',
      /^Service not defined$/,
    );
    refuses(e, () => e.editService(SVC, { sched: 'bogus' }), 'SCHED_NOT_FOUND');
    refuses(e, () => e.delService({ proto: 'udp', addr: VIP, port: 80 }), 'SVC_NOT_FOUND');
    e.addService({ proto: 'tcp', addr: VIP, port: 0 }, { persistTimeout: 60 });
    assert.equal(e.listServices().length, 2);
  });

  test('the service table has a size', () => {
    const e = engine({ maxServices: 2 });
    e.addService({ proto: 'tcp', addr: VIP, port: 1 });
    e.addService({ proto: 'tcp', addr: VIP, port: 2 });
    refuses(e, () => e.addService({ proto: 'tcp', addr: VIP, port: 3 }), 'NO_MEMORY');
  });

  test('real servers', () => {
    const e = fixture();
    refuses(e, () => e.addDest(SVC, { addr: RS1, port: 80 }), 'DEST_EXISTS', /^Destination already exists$/);
    refuses(e, () => e.addDest(SVC, { addr: RS6, port: 80 }), 'FAMILY_MISMATCH');
    refuses(e, () => e.addDest(SVC, { addr: RS2, port: 80, weight: 70000 }), 'EINVAL');
    refuses(e, () => e.addDest(SVC, { addr: RS2, port: 80, weight: -1 }), 'EINVAL');
    refuses(e, () => e.addDest(SVC, { addr: RS2, port: 80, uThreshold: 5, lThreshold: 6 }), 'EINVAL');
    refuses(
      e,
      () => e.addDest({ proto: 'udp', addr: VIP, port: 80 }, { addr: RS2, port: 80 }),
      'SVC_NOT_FOUND',
    );
    refuses(e, () => e.editDest(SVC, RS2, 80, { weight: 3 }), 'DEST_NOT_FOUND', /^No such destination$/);
    refuses(e, () => e.editDest(SVC, RS1, 80, { lThreshold: 10, uThreshold: 5 }), 'EINVAL');
    refuses(e, () => e.delDest(SVC, RS1, 81), 'DEST_NOT_FOUND');
    e.editDest(SVC, RS1, 80, { weight: 7 });
    assert.equal(e.listServices()[0]!.dests[0]!.weight, 7);
  });

  test('local addresses', () => {
    const e = fixture();
    refuses(e, () => e.addLaddr(SVC, LIP), 'LADDR_EXISTS');
    refuses(e, () => e.addLaddr(SVC, VIP), 'EINVAL', /virtual service address/);
    refuses(e, () => e.addLaddr(SVC, LIP6), 'FAMILY_MISMATCH');
    refuses(e, () => e.addLaddr(SVC, 'not-an-ip'), 'EINVAL');
    refuses(e, () => e.delLaddr(SVC, '192.0.2.201'), 'LADDR_NOT_FOUND');
  });

  test('timeouts', () => {
    const e = fixture();
    refuses(e, () => e.apply({ op: 'setTimeouts', timeouts: { tcp: -1 } }), 'EINVAL');
    refuses(e, () => e.apply({ op: 'setTimeouts', timeouts: { udp: 1.5 } }), 'EINVAL');
    e.apply({ op: 'setTimeouts', timeouts: { tcp: 100, tcpfin: 0, udp: 0 } });
    assert.deepEqual(e.getTimeouts(), { tcp: 100, tcpfin: 120, udp: 300 });
  });

  test('an engine with an mh table size that is not a prime is refused', () => {
    assert.throws(() => engine({ mhTableSize: 65536 }), /must be a prime/);
    assert.throws(() => engine({ mhTableSize: 65537 * 2 + 1 }), /must be a prime/);
  });
});

describe('configuration semantics', () => {
  test('changing the scheduler keeps the real servers', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { sched: 'wrr' });
    e.editDest(SVC, RS2, 80, { weight: 3 });
    const picks = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => send(e, tcp4(CIP, i, VIP, 80, 'S')).d.dst);
    assert.equal(picks.filter((d) => d === RS2).length, 6);
    assert.equal(e.listServices()[0]!.sched, 'wrr');
  });

  test('two services sharing a LIP share its port space', () => {
    const e = fixture({ cfg: { lportMin: 3000, lportMax: 3003 } });
    const other = { proto: 'tcp' as const, addr: '203.0.113.11', port: 80 };
    e.addService(other, {});
    e.addDest(other, { addr: RS1, port: 80 });
    e.addLaddr(other, LIP);
    const a = send(e, tcp4(CIP, 1, VIP, 80, 'S')).d.tcp!.sport;
    const b = send(e, tcp4(CIP, 1, '203.0.113.11', 80, 'S')).d.tcp!.sport;
    assert.notEqual(a, b);
    // Removing the LIP from one service keeps it for the other.
    e.delLaddr(SVC, LIP);
    assert.equal(send(e, tcp4(CIP, 2, '203.0.113.11', 80, 'S')).tx, true);
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S')).tx, false);
  });

  test('flush removes every service', () => {
    const e = fixture();
    e.addService({ proto: 'udp', addr: VIP, port: 53 });
    e.flush();
    assert.deepEqual(e.listServices(), []);
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S')).tx, false);
  });

  test('counters of a removed RS stay in the service and total sums', () => {
    const e = fixture({ rs: [RS1, RS2] });
    send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0);
    send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0);
    e.delDest(SVC, RS1, 80);
    e.tick(200_000);
    assert.equal(e.connCount, 0);
    const s = e.listServices()[0]!;
    assert.equal(s.stats.conns, 2);
    assert.equal(s.stats.inPkts, 2);
    assert.equal(e.totals().stats.conns, 2);
    e.delService(SVC);
    assert.equal(e.totals().stats.conns, 2);
  });
});
