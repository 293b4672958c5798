// Local ports per (LIP, real-server tuple), issue 9 defect 3: one LIP carries a full port range
// toward each real server, replies find their connection among those sharing an lport, and
// FULLNAT's closing timeouts are settable (timeout_timewait, timeout_close).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { tcp4 } from '../support/packet-builder.js';
import { CIP, counter, fixture, LIP, RS1, RS2, send, VIP } from './helpers.js';

for (const fastPath of [true, false]) {
  describe(`one LIP, two real servers, 3 local ports (fast path ${fastPath ? 'on' : 'off'})`, () => {
    const make = (): Engine => fixture({ rs: [RS1, RS2], cfg: { lportMin: 5000, lportMax: 5002, fastPath } });

    test('six connections fit (three per real server); the seventh to a full server is refused', () => {
      const e = make();
      const out = [0, 1, 2, 3, 4, 5].map((i) => send(e, tcp4(CIP, 40000 + i, VIP, 80, 'S'), 0));
      assert.ok(
        out.every((s) => s.tx),
        'every SYN goes out',
      );
      const byRs = (rs: string) => out.filter((s) => s.d.dst === rs).map((s) => s.d.tcp!.sport);
      assert.deepEqual(byRs(RS1).sort(), [5000, 5001, 5002]);
      assert.deepEqual(byRs(RS2).sort(), [5000, 5001, 5002]);
      assert.equal(counter(e, 'drop_no_lport'), 0);
      assert.equal(
        send(e, tcp4(CIP, 40010, VIP, 80, 'S'), 0).tx,
        false,
        'rr picks RS1 again: all its ports are taken',
      );
      assert.equal(counter(e, 'drop_no_lport'), 1);
      const la = e.listServices()[0]!.laddrs[0]!;
      assert.equal(la.conns, 6);
      assert.equal(la.tcpPortsUsed, 3);
      assert.equal(la.conflicts, 1);
    });

    test('replies of two real servers to one lport reach their own clients, both ways', () => {
      const e = make();
      const syns = [0, 1, 2, 3].map((i) => send(e, tcp4(CIP, 41000 + i, VIP, 80, 'S'), 0));
      // Connections 0 (RS1) and 3 (RS2) share lport 5000.
      assert.equal(syns[0]!.d.tcp!.sport, 5000);
      assert.equal(syns[3]!.d.tcp!.sport, 5000);
      assert.notEqual(syns[0]!.d.dst, syns[3]!.d.dst);
      for (const i of [3, 0]) {
        const s = syns[i]!;
        const sa = send(e, tcp4(s.d.dst, 80, LIP, 5000, 'SA'), 0);
        assert.equal(sa.tx, true);
        assert.equal(sa.d.dst, CIP);
        assert.equal(
          sa.d.tcp!.dport,
          41000 + i,
          `the SYN-ACK of ${s.d.dst} goes to client port ${41000 + i}`,
        );
        send(e, tcp4(CIP, 41000 + i, VIP, 80, 'A'), 0);
      }
      // Established: plain ACKs with data take the fast path when it is on.
      for (const i of [0, 3]) {
        const rs = syns[i]!.d.dst;
        const r = send(e, tcp4(rs, 80, LIP, 5000, 'A', { data: `from ${rs}` }), 10);
        assert.equal(r.d.tcp!.dport, 41000 + i);
        const c = send(e, tcp4(CIP, 41000 + i, VIP, 80, 'A', { data: 'x' }), 10);
        assert.equal(c.d.dst, rs);
        assert.equal(c.d.tcp!.sport, 5000);
      }
      // A segment from a real server at an lport it holds no connection on is dropped.
      assert.equal(send(e, tcp4(RS2, 80, LIP, 5002, 'A'), 20).tx, syns[2]!.d.dst === RS2);
    });

    test('an ended connection gives its port back to its real server only', () => {
      const e = make();
      const a = send(e, tcp4(CIP, 42000, VIP, 80, 'S'), 0); // RS1, 5000
      assert.equal(a.d.dst, RS1);
      send(e, tcp4(RS1, 80, LIP, 5000, 'SA'), 0);
      send(e, tcp4(CIP, 42000, VIP, 80, 'A'), 0);
      send(e, tcp4(CIP, 42000, VIP, 80, 'R'), 0);
      e.tick(10_200); // CLOSE: 10 s
      assert.equal(e.connCount, 0);
      assert.equal(e.listServices()[0]!.laddrs[0]!.tcpPortsUsed, 0);
      assert.equal(e.listServices()[0]!.laddrs[0]!.conns, 0);
    });
  });
}

describe('FULLNAT closing timeouts (sysctls timeout_timewait, timeout_close)', () => {
  /** Client FIN, RS FIN: the connection is in TIME_WAIT at `now`. */
  function toTimeWait(e: Engine, cport: number, now: number): void {
    const syn = send(e, tcp4(CIP, cport, VIP, 80, 'S'), now);
    send(e, tcp4(RS1, 80, LIP, syn.d.tcp!.sport, 'SA'), now);
    send(e, tcp4(CIP, cport, VIP, 80, 'A'), now);
    send(e, tcp4(CIP, cport, VIP, 80, 'FA'), now);
    send(e, tcp4(RS1, 80, LIP, syn.d.tcp!.sport, 'FA'), now);
    assert.equal(e.connections(10).next().value?.state, 'TIME_WAIT');
  }

  test('IPVS defaults: 120 s in TIME_WAIT, 10 s in CLOSE', () => {
    const e = fixture();
    assert.equal(e.getKnobs().timeoutTimeWait, 120);
    assert.equal(e.getKnobs().timeoutClose, 10);
    toTimeWait(e, 43000, 0);
    e.tick(119_000);
    assert.equal(e.connCount, 1);
    e.tick(120_300);
    assert.equal(e.connCount, 0);
  });

  test('DPVS-like 7 s / 3 s: closed connections (and their ports) go sooner', () => {
    const e = fixture({ cfg: { lportMin: 5000, lportMax: 5000 } });
    e.setKnobs({ timeoutTimeWait: 7, timeoutClose: 3 });
    toTimeWait(e, 43001, 0);
    assert.equal(send(e, tcp4(CIP, 43002, VIP, 80, 'S'), 1000).tx, false, 'the one port is held');
    e.tick(6_500);
    assert.equal(e.connCount, 1);
    e.tick(7_300);
    assert.equal(e.connCount, 0);
    const s = send(e, tcp4(CIP, 43003, VIP, 80, 'S'), 7_400);
    assert.equal(s.d.tcp!.sport, 5000, 'the port serves the next connection');
    send(e, tcp4(RS1, 80, LIP, 5000, 'SA'), 7_400);
    send(e, tcp4(CIP, 43003, VIP, 80, 'A'), 7_400);
    send(e, tcp4(CIP, 43003, VIP, 80, 'R'), 7_400);
    e.tick(7_400 + 2_800);
    assert.equal(e.connCount, 1);
    e.tick(7_400 + 3_300);
    assert.equal(e.connCount, 0, 'CLOSE after 3 s');
  });

  test('out-of-range values are refused and change nothing', () => {
    const e = fixture();
    assert.throws(() => e.setSysctl({ timeout_timewait: 0 }), /timeout_timewait/);
    assert.throws(() => e.setSysctl({ timeout_close: 86401 }), /timeout_close/);
    assert.equal(e.getKnobs().timeoutTimeWait, 120);
    assert.equal(e.getKnobs().timeoutClose, 10);
  });
});

describe('laddr_ports_low', () => {
  test("counts a real server reaching 7/8 of a LIP's ports, and names the pair", () => {
    const e = fixture({ rs: [RS1, RS2], cfg: { lportMin: 1, lportMax: 16 } });
    // rr alternates: 13 connections each keep both servers below 14 of 16 ports.
    for (let i = 0; i < 26; i++) assert.equal(send(e, tcp4(CIP, 44000 + i, VIP, 80, 'S'), 0).tx, true);
    assert.equal(counter(e, 'laddr_ports_low'), 0);
    send(e, tcp4(CIP, 44100, VIP, 80, 'S'), 0); // RS1's 14th
    assert.equal(counter(e, 'laddr_ports_low'), 1);
    const low = e.portsLow();
    assert.deepEqual(low, { laddr: LIP, rs: RS1, rport: 80 });
    send(e, tcp4(CIP, 44101, VIP, 80, 'S'), 0); // RS2's 14th
    assert.equal(counter(e, 'laddr_ports_low'), 2);
    assert.equal(e.listServices()[0]!.laddrs[0]!.tcpPortsUsed, 14);
  });
});
