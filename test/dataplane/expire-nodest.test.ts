// Deleted dests, services and LIPs (issue 9, defect 5): their connections keep working until they
// end, and drainingAddrs() tells the daemon which VIPs and LIPs the host must keep routing until
// then; with expire_nodest_conn on they are cut by the next tick and not kept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { tcp4 } from '../support/packet-builder.js';
import { CIP, fixture, LIP, RS1, SVC, send, VIP } from './helpers.js';

function establish(e: Engine, cport: number): void {
  assert.equal(send(e, tcp4(CIP, cport, VIP, 80, 'S')).tx, true);
  send(e, tcp4(RS1, 80, LIP, 1025, 'SA'));
  send(e, tcp4(CIP, cport, VIP, 80, 'A'));
}

const both = (e: Engine, cport: number) => ({
  in: send(e, tcp4(CIP, cport, VIP, 80, 'A')).tx,
  out: send(e, tcp4(RS1, 80, LIP, 1025, 'A')).tx,
});

describe('deleted dests, services and LIPs', () => {
  test('knob off: a deleted service and LIP drain; their addresses are listed until the end', () => {
    const e = fixture();
    establish(e, 40000);
    const gen = e.drainGen;
    e.delLaddr(SVC, LIP);
    assert.deepEqual(e.draining(), { vips: [], lips: [LIP] });
    e.delService(SVC);
    assert.deepEqual(e.draining(), { vips: [VIP], lips: [LIP] });
    e.tick(2000);
    assert.deepEqual(both(e, 40000), { in: true, out: true });
    assert.equal(e.drainGen, gen, 'nothing freed yet');
    // the connection ends (RST): service and LIP slots go, the daemon sees drainGen move
    send(e, tcp4(CIP, 40000, VIP, 80, 'R'));
    e.tick(3000 + 11_000);
    assert.equal(e.connCount, 0);
    assert.notEqual(e.drainGen, gen);
    assert.deepEqual(e.draining(), { vips: [], lips: [] });
  });

  test('knob off: -d of the real server, the connection keeps working', () => {
    const e = fixture();
    establish(e, 40000);
    e.delDest(SVC, RS1, 80);
    e.tick(2000);
    assert.deepEqual(both(e, 40000), { in: true, out: true });
    assert.equal(e.connCount, 1);
  });

  for (const what of ['-d', '-Q', '-D', '-C'] as const) {
    test(`expire_nodest_conn=1: ${what} cuts the connection at the next tick, nothing is kept`, () => {
      const e = fixture();
      e.setKnobs({ expireNodestConn: true });
      establish(e, 40000);
      establish(e, 40001); // another connection (port 1026): same fate
      if (what === '-d') e.delDest(SVC, RS1, 80);
      else if (what === '-Q') e.delLaddr(SVC, LIP);
      else if (what === '-D') e.delService(SVC);
      else e.flush();
      if (what !== '-d') assert.deepEqual(e.draining(), { vips: [], lips: [] }, 'plumbing goes at once');
      e.tick(2000);
      assert.equal(e.connCount, 0);
      assert.deepEqual(both(e, 40000), { in: false, out: false });
    });
  }

  test('expire_nodest_conn=1: -Q of one LIP leaves the connections of the other LIP alone', () => {
    const e = fixture({ lips: [LIP, '192.0.2.201'] });
    e.setKnobs({ expireNodestConn: true });
    establish(e, 40000); // via LIP (round-robin: first)
    assert.equal(send(e, tcp4(CIP, 40001, VIP, 80, 'S')).d.src, '192.0.2.201');
    e.delLaddr(SVC, LIP);
    e.tick(2000);
    assert.equal(e.connCount, 1);
    assert.equal([...e.connections()][0]!.laddr, '192.0.2.201');
  });
});
