// The dest trash (engine.ts), as IPVS's: a deleted real server is kept Engine.TRASH_MS, and adding
// it again revives it in its old place with its counters and connections. So a refused batch
// that had deleted a real server is undone exactly (issue 9: "a restored dest keeps its counters,
// scheduler position and connections").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ControlService } from '../../src/control/control-service.js';
import { Engine } from '../../src/dataplane/engine.js';
import { tcp4 } from '../support/packet-builder.js';
import { CIP, engine, fixture, LIP, RS1, RS2, SVC, send, VIP } from './helpers.js';

const RS3 = '192.0.2.23';

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
      [RS1, RS2],
      'back in its place',
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
