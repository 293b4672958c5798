// The dest trash (engine.ts), as IPVS's: a deleted real server is kept Engine.TRASH_MS, and adding
// it again revives it with its counters and connections. And a refused change is undone exactly
// (issue 9: "a restored dest keeps its counters, scheduler position and connections"): what it
// deleted (servers, services, LIPs) comes back in place, its connections uncut.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ControlService } from '../../src/control/control-service.js';
import { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { Request, SysctlValues } from '../../src/control/protocol.js';
import { tcp4 } from '../support/packet-builder.js';
import { CIP, engine, fixture, LIP, RS1, RS2, SVC, send, VIP } from './helpers.js';

const RS3 = '192.0.2.23';
const SVC2 = { proto: 'tcp', addr: '203.0.113.11', port: 80 } as const;

/** SYN, SYN-ACK, ACK from CIP:cport at `now`; returns the real server chosen. */
function establish(e: Engine, cport: number, now: number): string {
  const syn = send(e, tcp4(CIP, cport, VIP, 80, 'S'), now);
  send(e, tcp4(syn.d.dst, 80, LIP, syn.d.tcp!.sport, 'SA'), now);
  send(e, tcp4(CIP, cport, VIP, 80, 'A'), now);
  return syn.d.dst;
}

const destOf = (e: Engine, addr: string) => e.listServices()[0]!.dests.find((d) => d.addr === addr);

describe('dest trash', () => {
  test('-d then -a of a real server with a live connection: same counters, the connection goes on', () => {
    const e = fixture({ rs: [RS1, RS2] });
    assert.equal(establish(e, 40000, 1000), RS1);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { data: 'x'.repeat(100) }), 1000);
    const before = destOf(e, RS1)!;
    e.delDest(SVC, RS1, 80);
    assert.equal(destOf(e, RS1), undefined);
    e.addDest(SVC, { addr: RS1, port: 80, weight: 3 });
    const after = destOf(e, RS1)!;
    assert.equal(after.activeConns, 1, 'the connection is counted on the revived server');
    assert.deepEqual(after.stats, before.stats, 'its counters are kept');
    assert.equal(after.weight, 3, 'the new weight applies');
    assert.deepEqual(
      e.listServices()[0]!.dests.map((d) => d.addr),
      [RS2, RS1],
      'at the end, as a new server is (and as the configuration, -S, lists it)',
    );
    assert.deepEqual(
      e.model.toConfig().services[0]!.dests.map((d) => d.addr),
      [RS2, RS1],
    );
    const more = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { data: 'y' }), 2000);
    assert.equal(more.d.dst, RS1);
    assert.equal(destOf(e, RS1)!.stats.inPkts, before.stats.inPkts + 1);
  });

  test('an idle deleted server is kept TRASH_MS, then forgotten', () => {
    const e = fixture({ rs: [RS1, RS2] });
    establish(e, 40001, 1000);
    send(e, tcp4(CIP, 40001, VIP, 80, 'R'), 1000);
    e.tick(1000 + 11_000); // CLOSE expired: RS1 idle, 1 connection counted
    assert.equal(destOf(e, RS1)!.stats.conns, 1);
    e.delDest(SVC, RS1, 80);
    e.tick(1000 + 11_000 + Engine.TRASH_MS - 1000);
    e.addDest(SVC, { addr: RS1, port: 80 });
    assert.equal(destOf(e, RS1)!.stats.conns, 1, 'revived within the trash period');
    e.delDest(SVC, RS1, 80);
    e.tick(1000 + 11_000 + 2 * Engine.TRASH_MS + 1000);
    e.addDest(SVC, { addr: RS1, port: 80 });
    assert.equal(destOf(e, RS1)!.stats.conns, 0, 'a new server after the trash period');
    // Its connection still counts in the service's sums.
    assert.equal(e.listServices()[0]!.stats.conns, 1);
  });

  test('each trashed server is forgotten TRASH_MS after its own delete', () => {
    const e = fixture({ rs: [RS1, RS2, RS3] });
    establish(e, 40010, 1000); // RS1
    establish(e, 40011, 1000); // RS2
    for (const p of [40010, 40011]) send(e, tcp4(CIP, p, VIP, 80, 'R'), 1000);
    e.tick(12_000); // both idle, one connection counted each
    e.delDest(SVC, RS1, 80);
    e.tick(30_000);
    e.delDest(SVC, RS2, 80);
    e.tick(12_000 + Engine.TRASH_MS + 1000); // past RS1's period, inside RS2's
    e.addDest(SVC, { addr: RS1, port: 80 });
    e.addDest(SVC, { addr: RS2, port: 80 });
    assert.equal(destOf(e, RS1)!.stats.conns, 0, 'RS1 was forgotten');
    assert.equal(destOf(e, RS2)!.stats.conns, 1, 'RS2 revived with its counters');
  });

  test('deleting the service empties its trash', () => {
    const e = fixture({ rs: [RS1, RS2] });
    establish(e, 40002, 1000);
    send(e, tcp4(CIP, 40002, VIP, 80, 'R'), 1000);
    e.tick(12_000);
    e.delDest(SVC, RS1, 80);
    e.delService(SVC);
    e.addService(SVC, { sched: 'rr' });
    e.addDest(SVC, { addr: RS1, port: 80 });
    assert.equal(destOf(e, RS1)!.stats.conns, 0);
  });

  test('with every slot taken, an idle trashed server gives its slot up', () => {
    const e = fixture({ rs: [RS1], cfg: { maxDests: 2 } });
    e.addDest(SVC, { addr: RS2, port: 80 });
    e.delDest(SVC, RS2, 80);
    e.addDest(SVC, { addr: RS3, port: 80 });
    assert.deepEqual(
      e.listServices()[0]!.dests.map((d) => d.addr),
      [RS1, RS3],
    );
  });

  test('a refused batch that deleted a server restores it exactly: counters, place, connections', async () => {
    const e = engine();
    const cs = new ControlService({ engine: e });
    await cs.execute({
      op: 'batch',
      requests: [
        { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
        ...[RS1, RS2, RS3].map((addr) => ({ op: 'addDest' as const, svc: SVC, dest: { addr, port: 80 } })),
        { op: 'addLaddr', svc: SVC, addr: LIP },
      ],
    });
    establish(e, 40003, 1000);
    establish(e, 40004, 1000);
    const before = e.listServices();
    await assert.rejects(
      cs.execute({
        op: 'batch',
        // The model takes it all; the engine runs out of dest slots (64) on the way and the
        // whole batch is undone, the -d of RS2 included.
        requests: [
          { op: 'delDest', svc: SVC, addr: RS2, port: 80 },
          ...Array.from({ length: 70 }, (_, i) => ({
            op: 'addDest' as const,
            svc: SVC,
            dest: { addr: `192.0.2.${100 + i}`, port: 80 },
          })),
        ],
      }),
      /too many real servers/,
    );
    assert.deepEqual(e.listServices(), before);
    // And rr goes on where it was: the next two connections go to RS3, then RS1.
    assert.deepEqual([establish(e, 40005, 2000), establish(e, 40006, 2000)], [RS3, RS1]);
  });
});

describe('a refused change is undone exactly', () => {
  /** A batch the model takes whose 70 new servers overflow the engine's 64 dest slots. */
  const overflowing = (first: Request[]): Request => ({
    op: 'batch',
    requests: [
      ...first,
      { op: 'addService', svc: SVC2, opts: {} },
      ...Array.from({ length: 70 }, (_, i) => ({
        op: 'addDest' as const,
        svc: SVC2,
        dest: { addr: `192.0.2.${100 + i}`, port: 80 },
      })),
    ],
  });

  async function configured(knobs: Partial<SysctlValues> = {}): Promise<{ e: Engine; cs: ControlService }> {
    const e = engine();
    const cs = new ControlService({ engine: e });
    await cs.execute({
      op: 'batch',
      requests: [
        { op: 'setSysctl', values: knobs },
        { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
        ...[RS1, RS2, RS3].map((addr) => ({ op: 'addDest' as const, svc: SVC, dest: { addr, port: 80 } })),
        { op: 'addLaddr', svc: SVC, addr: LIP },
      ],
    });
    establish(e, 41000, 1000);
    establish(e, 41001, 1000);
    send(e, tcp4(CIP, 41000, VIP, 80, 'A', { data: 'x'.repeat(50) }), 1000);
    return { e, cs };
  }

  for (const [what, first] of [
    ['-D of the service', [{ op: 'delService', svc: SVC }]],
    ['-C (flush)', [{ op: 'flush' }]],
    [
      '-Q of its LIP and -d of a server',
      [
        { op: 'delLaddr', svc: SVC, addr: LIP },
        { op: 'delDest', svc: SVC, addr: RS1, port: 80 },
      ],
    ],
  ] as [string, Request[]][]) {
    test(`${what}: the same service slot, counters, connections and order come back`, async () => {
      const { e, cs } = await configured();
      const before = e.listServices();
      await assert.rejects(cs.execute(overflowing(first)), /too many real servers/);
      assert.deepEqual(e.listServices(), before);
      // Its connections still count on it; rr goes on where it was.
      send(e, tcp4(CIP, 41000, VIP, 80, 'A', { data: 'y' }), 2000);
      assert.equal(e.listServices()[0]!.stats.inPkts, before[0]!.stats.inPkts + 1);
      assert.deepEqual([establish(e, 41002, 2000), establish(e, 41003, 2000)], [RS3, RS1]);
    });
  }

  test('expire_nodest_conn=1: connections of what a refused change deleted are not cut', async () => {
    const { e, cs } = await configured({ expire_nodest_conn: 1 });
    await assert.rejects(
      cs.execute(
        overflowing([
          { op: 'delDest', svc: SVC, addr: RS1, port: 80 },
          { op: 'delService', svc: SVC },
        ]),
      ),
      /too many real servers/,
    );
    for (let t = 2000; t < 6000; t += 1000) e.tick(t);
    assert.equal(e.connCount, 2);
    assert.equal(send(e, tcp4(CIP, 41000, VIP, 80, 'A', { data: 'z' }), 6000).tx, true);
    // The same deletes, accepted: cut.
    await cs.execute({ op: 'delService', svc: SVC });
    for (let t = 7000; t < 9000; t += 1000) e.tick(t);
    assert.equal(e.connCount, 0);
  });
});

describe('an undone change leaves the scheduler where it was', () => {
  for (const sched of ['rr', 'wrr', 'wlc', 'mh', 'sh', 'lblc']) {
    test(`${sched}: the next picks are those of an engine that never saw the refused change`, async () => {
      const twins = [engine(), engine()];
      const services = twins.map((e) => new ControlService({ engine: e }));
      for (const cs of services) {
        await cs.execute({
          op: 'batch',
          requests: [
            { op: 'addService', svc: SVC, opts: { sched } },
            ...[RS1, RS2, RS3].map((addr, i) => ({
              op: 'addDest' as const,
              svc: SVC,
              dest: { addr, port: 80, weight: i + 1 },
            })),
            { op: 'addLaddr', svc: SVC, addr: LIP },
          ],
        });
      }
      const picks = (e: Engine, from: number) =>
        Array.from({ length: 5 }, (_, i) => establish(e, from + i, 1000 + from));
      assert.deepEqual(picks(twins[0]!, 42000), picks(twins[1]!, 42000));
      // Refused on the 8th new LIP (the engine has room for 8 and keeps the old one): what it
      // deleted is held, nothing of it is reclaimed for the new servers (which an overflow of
      // dest slots would do, idle deleted servers giving their slots up), so the undo is exact.
      const overflow: Request = {
        op: 'batch',
        requests: [
          { op: 'flush' },
          { op: 'addService', svc: SVC2, opts: {} },
          { op: 'addDest', svc: SVC2, dest: { addr: '192.0.2.99', port: 80 } },
          ...Array.from({ length: 8 }, (_, i) => ({
            op: 'addLaddr' as const,
            svc: SVC2,
            addr: `192.0.2.${210 + i}`,
          })),
        ],
      };
      await assert.rejects(services[0]!.execute(overflow), /too many local addresses/);
      assert.deepEqual(picks(twins[0]!, 43000), picks(twins[1]!, 43000));
      // -d and -e undone: rr and wrr, which restart their pass on any change of their servers,
      // are put back where they were.
      const edits: Request = {
        op: 'batch',
        requests: [
          { op: 'delDest', svc: SVC, addr: RS2, port: 80 },
          { op: 'editDest', svc: SVC, addr: RS1, port: 80, change: { weight: 5 } },
          { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.98', port: 80 } },
          ...(overflow.op === 'batch' ? overflow.requests.slice(1) : []),
        ],
      };
      await assert.rejects(services[0]!.execute(edits), /too many local addresses/);
      assert.deepEqual(picks(twins[0]!, 44000), picks(twins[1]!, 44000));
    });
  }
});
