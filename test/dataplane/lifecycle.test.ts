// Connection life: creation limits, expiry by the wheel, port reuse order, quiescing, persistence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ControlService } from '../../src/control/control-service.js';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { tcp4, udp4 } from '../support/packet-builder.js';
import { CIP, counter, fixture, LIP, RS1, RS2, SVC, send, VIP } from './helpers.js';

/** SYN, SYN-ACK, ACK: the connection from CIP:cport ends up ESTABLISHED. Returns its RS. */
function establish(e: Engine, cport: number, now = 0): string {
  const syn = send(e, tcp4(CIP, cport, VIP, 80, 'S'), now);
  assert.equal(syn.tx, true);
  send(e, tcp4(syn.d.dst, 80, syn.d.src, syn.d.tcp!.sport, 'SA'), now);
  send(e, tcp4(CIP, cport, VIP, 80, 'A'), now);
  return syn.d.dst;
}

describe('connection expiry', () => {
  test('a half-open connection expires after the SYN_RECV timeout and returns its port', () => {
    const e = fixture();
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'), 1000);
    e.tick(1000 + 59_000);
    assert.equal(e.connCount, 1, 'not before 60 s');
    e.tick(1000 + 60_000 + 200);
    assert.equal(e.connCount, 0);
    assert.equal(counter(e, 'conn_expired'), 1);
    const svc = e.listServices()[0]!;
    assert.equal(svc.dests[0]!.inactConns, 0);
    assert.equal(svc.laddrs[0]!.conns, 0);
    assert.equal(svc.laddrs[0]!.tcpPortsUsed, 0, 'its port toward RS1 is free again');
    assert.equal(svc.laddrs[0]!.portCount, 65535 - 1025 + 1);
    // The reply now finds nothing.
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1025, 'SA'), 62_000).tx, false);
  });

  test('traffic keeps a connection alive; a shorter new state deadline is honoured', () => {
    const e = fixture();
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'), 0);
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA'), 0);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A'), 0);
    for (let t = 100_000; t <= 2_000_000; t += 100_000) {
      send(e, tcp4(CIP, 40000, VIP, 80, 'A'), t);
      e.tick(t);
    }
    assert.equal(e.connCount, 1, 'established and refreshed for 2000 s');
    send(e, tcp4(CIP, 40000, VIP, 80, 'R'), 2_000_000);
    e.tick(2_000_000 + 10_000 + 200);
    assert.equal(e.connCount, 0, 'CLOSE lasts 10 s, not the 900 s it was filed under');
  });

  test('UDP uses the udp timeout and --set changes it', () => {
    const e = fixture({ key: { proto: 'udp', addr: VIP, port: 53 } });
    e.setTimeoutsTriple({ udp: 5 });
    assert.deepEqual(e.getTimeouts(), { tcp: 900, tcpfin: 120, udp: 5 });
    send(e, udp4(CIP, 5353, VIP, 53, 'q'), 0);
    e.tick(4_000);
    assert.equal(e.connCount, 1);
    e.tick(5_200);
    assert.equal(e.connCount, 0);
  });

  test('a lowered timeout applies from the next packet on', () => {
    const e = fixture();
    establish(e, 1, 0);
    e.setTimeoutsTriple({ tcp: 30 });
    send(e, tcp4(CIP, 1, VIP, 80, 'A'), 1_000);
    e.tick(31_200);
    assert.equal(e.connCount, 0, 'expired 30 s after its last packet, not 900 s');
  });

  test('expiry work per tick is bounded and resumes on the next tick', () => {
    const e = fixture({ cfg: { expireBudget: 10 } });
    for (let i = 0; i < 35; i++) send(e, tcp4(CIP, 40000 + i, VIP, 80, 'S'), 0);
    e.tick(61_000);
    assert.equal(e.connCount, 25);
    e.tick(61_000);
    e.tick(61_000);
    e.tick(61_000);
    assert.equal(e.connCount, 0);
  });
});

describe('local ports', () => {
  test('ports are handed out in order and a freed port is reused last', () => {
    const e = fixture({ cfg: { lportMin: 5000, lportMax: 5002 } });
    const lports = [0, 1, 2].map((i) => send(e, tcp4(CIP, 40000 + i, VIP, 80, 'S'), 0).d.tcp!.sport);
    assert.deepEqual(lports, [5000, 5001, 5002]);
    send(e, tcp4(CIP, 40001, VIP, 80, 'A'), 0);
    assert.equal(send(e, tcp4(CIP, 40009, VIP, 80, 'S'), 0).tx, false);
    assert.equal(counter(e, 'drop_no_lport'), 1);
    // Reset the middle (established) connection, let it expire: its port comes back at the tail.
    send(e, tcp4(CIP, 40001, VIP, 80, 'R'), 0);
    e.tick(10_200);
    assert.equal(e.connCount, 2);
    assert.equal(send(e, tcp4(CIP, 40010, VIP, 80, 'S'), 10_300).d.tcp!.sport, 5001);
  });

  test('LIPs are used round robin and an exhausted LIP is skipped', () => {
    const e = fixture({ lips: [LIP, '192.0.2.201'], cfg: { lportMin: 6000, lportMax: 6001 } });
    const used = [0, 1, 2, 3].map((i) => send(e, tcp4(CIP, 40000 + i, VIP, 80, 'S')).d.src);
    assert.deepEqual(used, [LIP, '192.0.2.201', LIP, '192.0.2.201']);
    assert.equal(send(e, tcp4(CIP, 40100, VIP, 80, 'S')).tx, false);
  });
});

describe('limits and real-server changes', () => {
  test('the connection limit refuses new connections and spares existing ones', () => {
    const e = fixture({ cfg: { connCapacity: 2 } });
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S')).tx, true);
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S')).tx, true);
    assert.equal(send(e, tcp4(CIP, 3, VIP, 80, 'S')).tx, false);
    assert.equal(counter(e, 'drop_conn_limit'), 1);
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'A')).tx, true);
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1026, 'SA')).tx, true);
  });

  test('weight 0 stops new connections to a RS while its open ones continue', () => {
    const e = fixture({ rs: [RS1, RS2] });
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S')).d.dst, RS1);
    e.editDest(SVC, RS1, 80, { weight: 0 });
    for (let i = 2; i < 6; i++) assert.equal(send(e, tcp4(CIP, i, VIP, 80, 'S')).d.dst, RS2);
    const old = send(e, tcp4(CIP, 1, VIP, 80, 'A'));
    assert.equal(old.tx, true);
    assert.equal(old.d.dst, RS1);
  });

  test('a deleted RS keeps its open connections until they end, then its slot is freed', () => {
    const e = fixture({ rs: [RS1, RS2] });
    establish(e, 1);
    e.delDest(SVC, RS1, 80);
    assert.equal(e.listServices()[0]!.dests.length, 1);
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'PA', { data: 'more' }), 0).d.dst, RS1);
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0).d.dst, RS2);
    e.tick(1_000_000);
    assert.equal(e.connCount, 0);
    // Re-adding the same RS works and gets fresh counters.
    e.addDest(SVC, { addr: RS1, port: 80 });
    assert.equal(e.listServices()[0]!.dests[1]!.stats.conns, 0);
  });

  test('the upper threshold overloads a RS; it returns strictly below the lower one (as IPVS)', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editDest(SVC, RS1, 80, { uThreshold: 2, lThreshold: 1 });
    const dsts = [1, 2, 3, 4, 5].map((i) => establish(e, i));
    assert.deepEqual(dsts, [RS1, RS2, RS1, RS2, RS2]);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, true);
    send(e, tcp4(CIP, 1, VIP, 80, 'R'), 0);
    e.tick(10_200);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, true, '1 connection is not below -y 1');
    send(e, tcp4(CIP, 3, VIP, 80, 'R'), 10_200);
    e.tick(20_400);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, false);
  });

  test('without a lower threshold, overload ends below 3/4 of the upper one', () => {
    const e = fixture({ rs: [RS1] });
    e.editDest(SVC, RS1, 80, { uThreshold: 4 });
    for (const i of [1, 2, 3, 4]) assert.equal(establish(e, i), RS1);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, true);
    send(e, tcp4(CIP, 1, VIP, 80, 'R'), 0);
    e.tick(10_200);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, true, '3 * 4 is not below 4 * 3');
    send(e, tcp4(CIP, 2, VIP, 80, 'R'), 10_200);
    e.tick(20_400);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, false);
  });

  test('a deleted service drains: its connections still forward, new ones are refused', () => {
    const e = fixture();
    send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0);
    e.delService(SVC);
    assert.equal(e.listServices().length, 0);
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'A'), 0).tx, true);
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1025, 'A'), 0).tx, true, 'LIP stays mapped while in use');
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0).tx, false);
    e.tick(1_000_000);
    assert.equal(e.connCount, 0);
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1025, 'A'), 1_000_000).tx, false);
    // The first drop_not_local was the SYN to the VIP after the service went.
    assert.equal(counter(e, 'drop_not_local'), 2, 'the LIP is gone once its last connection ended');
  });

  test('a SYN on a TIME_WAIT connection ends it and schedules anew (conn reuse)', () => {
    const e = fixture({ rs: [RS1, RS2] });
    send(e, tcp4(CIP, 1, VIP, 80, 'S'));
    send(e, tcp4(RS1, 80, LIP, 1025, 'FA'));
    assert.equal([...e.connections()][0]!.state, 'TIME_WAIT');
    const r = send(e, tcp4(CIP, 1, VIP, 80, 'S'));
    assert.equal(r.tx, true);
    assert.equal(r.d.dst, RS2, 'rescheduled');
    assert.equal(r.d.tcp!.sport, 1026, 'a fresh local port, not the one the RS holds in TIME_WAIT');
    assert.equal(counter(e, 'conn_reused'), 1);
    assert.equal(e.connCount, 1);
  });
});

describe('persistence', () => {
  test('a client keeps its RS across connections while the template lives', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { persistTimeout: 300 });
    const first = send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0).d.dst;
    for (let i = 2; i < 8; i++) assert.equal(send(e, tcp4(CIP, i, VIP, 80, 'S'), 0).d.dst, first);
    assert.equal(counter(e, 'persist_hit'), 6);
    // Another client goes elsewhere (rr).
    assert.notEqual(send(e, tcp4('198.51.100.3', 1, VIP, 80, 'S'), 0).d.dst, first);
  });

  test('the -M netmask groups a client network', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { persistTimeout: 300, persistPrefix: 24 });
    const a = send(e, tcp4('198.51.100.2', 1, VIP, 80, 'S'), 0).d.dst;
    assert.equal(send(e, tcp4('198.51.100.77', 1, VIP, 80, 'S'), 0).d.dst, a);
  });

  test('a template outlives its timeout while it controls connections, then expires', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { persistTimeout: 10 });
    establish(e, 1);
    for (let t = 5_000; t <= 60_000; t += 5_000) {
      send(e, tcp4(CIP, 1, VIP, 80, 'A'), t);
      e.tick(t);
    }
    assert.equal(e.persist.count, 1);
    assert.equal(establish(e, 2, 60_000), RS1);
    send(e, tcp4(CIP, 1, VIP, 80, 'R'), 60_000);
    send(e, tcp4(CIP, 2, VIP, 80, 'R'), 60_000);
    for (let t = 61_000; t <= 100_000; t += 1_000) e.tick(t);
    assert.equal(e.connCount, 0);
    assert.equal(e.persist.count, 0);
  });

  test('a template to a quiesced RS is followed (IPVS default): the client drains with its session', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { persistTimeout: 300 });
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0).d.dst, RS1);
    e.editDest(SVC, RS1, 80, { weight: 0 });
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0).d.dst, RS1, 'the persistent client stays');
    assert.equal(send(e, tcp4('198.51.100.3', 1, VIP, 80, 'S'), 0).d.dst, RS2, 'a new client does not');
  });

  test('with expire_quiescent_template a template to a quiesced RS is not followed', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.setKnobs({ expireQuiescentTemplate: true });
    e.editService(SVC, { persistTimeout: 300 });
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0).d.dst, RS1);
    e.editDest(SVC, RS1, 80, { weight: 0 });
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0).d.dst, RS2);
    assert.equal(send(e, tcp4(CIP, 3, VIP, 80, 'S'), 0).d.dst, RS2, 'template now points at RS2');
  });

  test('a template to an overloaded RS is followed, as IPVS does', () => {
    const e = fixture({ rs: [RS1, RS2] });
    e.editService(SVC, { persistTimeout: 300 });
    e.editDest(SVC, RS1, 80, { uThreshold: 1 });
    assert.equal(send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0).d.dst, RS1);
    assert.equal(e.listServices()[0]!.dests[0]!.overloaded, true);
    assert.equal(send(e, tcp4(CIP, 2, VIP, 80, 'S'), 0).d.dst, RS1);
  });
});

describe('statistics', () => {
  test('per service, per RS and total counters match the traffic', () => {
    const e = fixture({ rs: [RS1, RS2] });
    const a = tcp4(CIP, 1, VIP, 80, 'S');
    const b = tcp4(CIP, 2, VIP, 80, 'S');
    send(e, a);
    send(e, b);
    const reply = tcp4(RS1, 80, LIP, 1025, 'SA', { data: 'hello' });
    send(e, reply);
    const s = e.listServices()[0]!;
    assert.deepEqual(s.stats, {
      conns: 2,
      inPkts: 2,
      outPkts: 1,
      inBytes: a.length + b.length,
      outBytes: reply.length,
    });
    assert.deepEqual(s.dests[0]!.stats, {
      conns: 1,
      inPkts: 1,
      outPkts: 1,
      inBytes: a.length,
      outBytes: reply.length,
    });
    assert.equal(e.totals().stats.inPkts, 2);
    e.zero(SVC);
    assert.equal(e.listServices()[0]!.stats.inPkts, 0);
  });

  test('rates follow the traffic (2 s estimator)', () => {
    const e = fixture();
    send(e, tcp4(CIP, 1, VIP, 80, 'S'), 0);
    e.tick(0);
    for (let t = 0; t < 40_000; t += 100) {
      for (let k = 0; k < 10; k++) send(e, tcp4(CIP, 1, VIP, 80, 'A'), t);
      e.tick(t + 100);
    }
    const r = e.listServices()[0]!.rates;
    assert.ok(Math.abs(r.inpps - 100) <= 2, `inpps ${r.inpps}`);
    assert.equal(r.cps, 0);
  });
});

describe('-L -c lists persistence templates as IPVS does', () => {
  test('a persistent service: the connection, then its template (NONE, client network, port 0)', async () => {
    const e = fixture({ rs: [RS1] });
    e.editService(SVC, { persistTimeout: 300, persistPrefix: 24 });
    establish(e, 40100, 1000);
    const all = [...e.connections()];
    assert.equal(all.length, 2);
    const [conn, tmpl] = all;
    assert.equal(conn!.state, 'ESTABLISHED');
    assert.equal(conn!.template, undefined);
    assert.deepEqual(
      { ...tmpl, expiresIn: Math.round(tmpl!.expiresIn / 1000) },
      {
        proto: 'tcp',
        family: 4,
        caddr: '198.51.100.0',
        cport: 0,
        vaddr: VIP,
        vport: 80,
        laddr: '',
        lport: 0,
        daddr: RS1,
        dport: 80,
        state: 'NONE',
        expiresIn: 300,
        template: true,
      },
    );
    assert.equal([...e.connections(1)].length, 1, 'the limit counts templates too');
    assert.equal(e.templateCount, 1);
    const cs = new ControlService({ engine: e });
    const listed = await cs.execute({ op: 'listConns' });
    assert.equal(listed.total, 2, 'total: the connection and the template');
    assert.equal(listed.conns.length, 2);
  });
});
