// Defect 6 of issue 9: one address spelled two ways is one VIP; deleting one service on it keeps
// the other's VIP mapped, and every boundary stores the canonical (RFC 5952) spelling.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigModel } from '../../src/control/config-model.js';
import { CIP6, engine, LIP6, RS6, send } from '../dataplane/helpers.js';
import { tcp6 } from '../support/packet-builder.js';

describe('canonical VIP addresses', () => {
  test('upper- and lower-case spellings of one IPv6 VIP share one reference count', () => {
    const e = engine();
    const upper = { proto: 'tcp' as const, addr: '2001:DB8:203::10', port: 80 };
    const lower = { proto: 'tcp' as const, addr: '2001:db8:203:0::10', port: 81 };
    for (const k of [upper, lower]) {
      e.addService(k, { sched: 'rr' });
      e.addDest(k, { addr: RS6, port: 80 });
      e.addLaddr(k, LIP6);
    }
    e.delService(upper);
    const r = send(e, tcp6(CIP6, 40000, '2001:db8:203::10', 81));
    assert.ok(r.tx, 'the remaining service still forwards');
    assert.deepEqual(
      e.listServices().map((s) => s.addr),
      ['2001:db8:203::10'],
    );
    // The dest index is keyed canonically too: another spelling finds the same dest.
    assert.throws(() => e.addDest(lower, { addr: RS6.toUpperCase(), port: 80 }), /exists/i);
    e.delDest(lower, '2001:DB8:2:0::21', 80);
    assert.equal(e.listServices()[0]!.dests?.length ?? 0, 0);
  });

  test('the model keys and stores every address in its canonical spelling', () => {
    const m = new ConfigModel();
    m.apply({ op: 'addService', svc: { proto: 'tcp', addr: '2001:DB8:203:0::10', port: 80 }, opts: {} });
    const lower = { proto: 'tcp' as const, addr: '2001:db8:203::10', port: 80 };
    m.apply({ op: 'addDest', svc: lower, dest: { addr: '2001:DB8:2::21', port: 80 } });
    m.apply({ op: 'addLaddr', svc: { ...lower, addr: '2001:db8:203:0:0::10' }, addr: '2001:DB8:2::200' });
    const [s] = m.toConfig().services;
    assert.equal(s!.svc.addr, '2001:db8:203::10');
    assert.deepEqual(
      s!.dests.map((d) => d.addr),
      ['2001:db8:2::21'],
    );
    assert.deepEqual(s!.laddrs, ['2001:db8:2::200']);
    assert.deepEqual(m.vips(), ['2001:db8:203::10']);
    assert.throws(
      () => m.apply({ op: 'addDest', svc: lower, dest: { addr: '2001:db8:2:0::21', port: 80 } }),
      /exists/i,
    );
  });
});
