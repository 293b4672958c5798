// FULLNAT through the engine: hand-built packets in, rewritten packets out, every field checked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fragment4, fragment6, tcp4, tcp6, udp4, udp6 } from '../support/packet-builder.js';
import { CIP, CIP6, counter, fixture, LIP, LIP6, RS1, RS6, SVC6, send, VIP, VIP6 } from './helpers.js';

describe('FULLNAT TCP over IPv4', () => {
  test('SYN is rewritten to LIP:lport -> RS:rport with TTL-1 and valid checksums', () => {
    const e = fixture();
    const r = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'S', { seq: 1234, ip: { ttl: 64 }, options: [{ kind: 'mss', value: 1460 }] }),
    );
    assert.equal(r.tx, true);
    assert.equal(r.d.src, LIP);
    assert.equal(r.d.dst, RS1);
    assert.equal(r.d.ttl, 63);
    assert.equal(r.d.tcp!.sport, 1025, 'first port of the default range');
    assert.equal(r.d.tcp!.dport, 80);
    assert.equal(r.d.tcp!.seq, 1234);
    assert.equal(r.d.tcp!.flags, 'S');
    assert.deepEqual(r.d.tcp!.options, [{ kind: 'mss', value: 1460 }]);
    assert.equal(r.d.ipCsumOk, true);
    assert.equal(r.d.l4CsumOk, true);
    assert.equal(e.connCount, 1);
  });

  test('the reply from the RS goes back as VIP:vport -> CIP:cport', () => {
    const e = fixture();
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'));
    const r = send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: 9, ack: 1, data: 'hello' }));
    assert.equal(r.tx, true);
    assert.equal(r.d.src, VIP);
    assert.equal(r.d.dst, CIP);
    assert.equal(r.d.tcp!.sport, 80);
    assert.equal(r.d.tcp!.dport, 40000);
    assert.equal(r.d.tcp!.seq, 9);
    assert.equal(Buffer.from(r.d.tcp!.payload!).toString(), 'hello');
    assert.equal(r.d.ipCsumOk, true);
    assert.equal(r.d.l4CsumOk, true);
  });

  test('handshake makes the connection active on its dest; FIN/RST follow the IPVS table', () => {
    const e = fixture();
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'));
    let c = [...e.connections()][0]!;
    assert.equal(c.state, 'SYN_RECV');
    assert.equal(e.listServices()[0]!.dests[0]!.inactConns, 1);
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA'));
    send(e, tcp4(CIP, 40000, VIP, 80, 'A'));
    c = [...e.connections()][0]!;
    assert.equal(c.state, 'ESTABLISHED');
    assert.equal(c.expiresIn, 900_000);
    const d = e.listServices()[0]!.dests[0]!;
    assert.equal(d.activeConns, 1);
    assert.equal(d.inactConns, 0);
    send(e, tcp4(CIP, 40000, VIP, 80, 'FA'));
    c = [...e.connections()][0]!;
    assert.equal(c.state, 'CLOSE_WAIT');
    assert.equal(e.listServices()[0]!.dests[0]!.inactConns, 1);
    send(e, tcp4(RS1, 80, LIP, 1025, 'FA'));
    assert.equal([...e.connections()][0]!.state, 'TIME_WAIT');
    send(e, tcp4(CIP, 40000, VIP, 80, 'R'));
    assert.equal([...e.connections()][0]!.state, 'CLOSE');
  });

  test('a non-SYN segment for no connection is dropped and counted', () => {
    const e = fixture();
    const r = send(e, tcp4(CIP, 40000, VIP, 80, 'A'));
    assert.equal(r.tx, false);
    assert.equal(counter(e, 'drop_no_conn'), 1);
    assert.equal(e.connCount, 0);
  });

  test('a reply to a LIP port with no connection, or from the wrong RS, is dropped', () => {
    const e = fixture();
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1025, 'SA')).tx, false);
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'));
    assert.equal(send(e, tcp4('192.0.2.99', 80, LIP, 1025, 'SA')).tx, false);
    assert.equal(send(e, tcp4(RS1, 81, LIP, 1025, 'SA')).tx, false);
    assert.equal(counter(e, 'drop_out_no_conn'), 3);
  });

  test('no service on the port, or an address that is neither VIP nor LIP', () => {
    const e = fixture();
    assert.equal(send(e, tcp4(CIP, 40000, VIP, 81, 'S')).tx, false);
    assert.equal(counter(e, 'drop_no_service'), 1);
    assert.equal(send(e, tcp4(CIP, 40000, '203.0.113.99', 80, 'S')).tx, false);
    assert.equal(counter(e, 'drop_not_local'), 1);
  });

  test('TTL 1 is dropped and counted, TTL 2 leaves with 1', () => {
    const e = fixture();
    assert.equal(send(e, tcp4(CIP, 40000, VIP, 80, 'S', { ip: { ttl: 1 } })).tx, false);
    assert.equal(counter(e, 'drop_ttl_expired'), 1);
    const r = send(e, tcp4(CIP, 40000, VIP, 80, 'S', { ip: { ttl: 2 } }));
    assert.equal(r.tx, true);
    assert.equal(r.d.ttl, 1);
    assert.equal(r.d.ipCsumOk, true);
  });

  test('IPv4 options are kept and the header checksum still holds', () => {
    const e = fixture();
    const opts = new Uint8Array([0x94, 0x04, 0x00, 0x00]); // router alert
    const r = send(e, tcp4(CIP, 40000, VIP, 80, 'S', { ip: { options: opts } }));
    assert.equal(r.tx, true);
    assert.deepEqual([...r.d.ipOptions!], [...opts]);
    assert.equal(r.d.ipCsumOk, true);
    assert.equal(r.d.l4CsumOk, true);
  });
});

describe('FULLNAT over IPv6', () => {
  test('TCP both ways, hop limit decremented, checksums valid', () => {
    const e = fixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    const a = send(e, tcp6(CIP6, 40000, VIP6, 80, 'S', { seq: 5, ip: { hopLimit: 10 } }));
    assert.equal(a.tx, true);
    assert.equal(a.d.src, LIP6);
    assert.equal(a.d.dst, RS6);
    assert.equal(a.d.hopLimit, 9);
    assert.equal(a.d.tcp!.sport, 1025);
    assert.equal(a.d.l4CsumOk, true);
    const b = send(e, tcp6(RS6, 80, LIP6, 1025, 'SA', { seq: 77, ack: 6 }));
    assert.equal(b.tx, true);
    assert.equal(b.d.src, VIP6);
    assert.equal(b.d.dst, CIP6);
    assert.equal(b.d.tcp!.dport, 40000);
    assert.equal(b.d.l4CsumOk, true);
  });

  test('extension headers are walked and kept', () => {
    const e = fixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    const pkt = tcp6(CIP6, 40000, VIP6, 80, 'S', { ip: { ext: [{ kind: 'hbh' }, { kind: 'dst' }] } });
    const r = send(e, pkt);
    assert.equal(r.tx, true, JSON.stringify(e.counterValues()));
    assert.equal(r.d.ext!.length, 2);
    assert.equal(r.d.proto, 6);
    assert.equal(r.d.l4CsumOk, true);
  });
});

describe('FULLNAT UDP', () => {
  test('IPv4 datagram and reply; a zero (absent) checksum stays zero', () => {
    const e = fixture({ key: { proto: 'udp', addr: VIP, port: 53 } });
    const a = send(e, udp4(CIP, 5353, VIP, 53, 'query'));
    assert.equal(a.tx, true);
    assert.equal(a.d.dst, RS1);
    assert.equal(a.d.udp!.dport, 80);
    assert.equal(a.d.l4CsumOk, true);
    const b = send(e, udp4(RS1, 80, LIP, 1025, 'answer'));
    assert.equal(b.tx, true);
    assert.equal(b.d.src, VIP);
    assert.equal(b.d.udp!.sport, 53);
    assert.equal(b.d.udp!.dport, 5353);
    assert.equal(b.d.l4CsumOk, true);
    const z = send(e, udp4(CIP, 5353, VIP, 53, 'nocsum', { checksum: 0 }));
    assert.equal(z.tx, true);
    assert.equal(z.d.udp!.checksum, 0);
    const c = [...e.connections()][0]!;
    assert.equal(c.state, 'UDP');
    assert.equal(c.expiresIn, 300_000);
    assert.equal(
      e.listServices()[0]!.dests[0]!.inactConns,
      1,
      'UDP connections count as inactive, as in IPVS',
    );
  });

  test('IPv6 datagram and reply', () => {
    const key = { proto: 'udp' as const, addr: VIP6, port: 53 };
    const e = fixture({ key, rs: [RS6], lips: [LIP6] });
    const a = send(e, udp6(CIP6, 5353, VIP6, 53, 'q6'));
    assert.equal(a.tx, true);
    assert.equal(a.d.src, LIP6);
    assert.equal(a.d.l4CsumOk, true);
    const b = send(e, udp6(RS6, 80, LIP6, 1025, 'a6'));
    assert.equal(b.tx, true);
    assert.equal(b.d.dst, CIP6);
    assert.equal(b.d.l4CsumOk, true);
  });
});

describe('mixed families', () => {
  test('IPv4 replies still match after an IPv6 packet went through (no stale address words)', () => {
    const e = fixture();
    e.addService(SVC6, {});
    e.addDest(SVC6, { addr: RS6, port: 80 });
    e.addLaddr(SVC6, LIP6);
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'));
    send(e, tcp6(CIP6, 40000, VIP6, 80, 'S'));
    assert.equal(send(e, tcp4(RS1, 80, LIP, 1025, 'SA')).tx, true);
    assert.equal(send(e, tcp6(RS6, 80, LIP6, 1025, 'SA')).tx, true);
    send(e, tcp6(CIP6, 40001, VIP6, 80, 'S'));
    assert.equal(send(e, tcp4(CIP, 40000, VIP, 80, 'A')).tx, true);
  });
});

describe('fragments', () => {
  test('later fragments follow the first one: UDP both ways, IPv4', () => {
    const e = fixture({ key: { proto: 'udp', addr: VIP, port: 53 } });
    const big = udp4(CIP, 5353, VIP, 53, 'z'.repeat(3000), { ip: { id: 4242 } });
    const frags = fragment4(big, 1400);
    assert.equal(frags.length, 3);
    const outs = frags.map((f) => send(e, f));
    for (const o of outs) {
      assert.equal(o.tx, true);
      assert.equal(o.d.src, LIP);
      assert.equal(o.d.dst, RS1);
      assert.equal(o.d.ipCsumOk, true);
      assert.equal(o.d.id, 4242);
    }
    assert.equal(counter(e, 'frag_fwd'), 2);
    // Reassembled at the RS, the datagram's checksum must hold.
    const payload = Buffer.concat(
      outs.map((o) => Buffer.from(o.d.l4.length ? o.out.subarray(o.d.headerLength, o.d.totalLength) : [])),
    );
    const whole = udp4(LIP, 1025, RS1, 80, 'z'.repeat(3000), { ip: { id: 4242 } });
    assert.deepEqual([...payload], [...whole.subarray(20)]);
    const reply = fragment4(udp4(RS1, 80, LIP, 1025, 'r'.repeat(2000), { ip: { id: 7 } }), 1000);
    for (const f of reply) {
      const o = send(e, f);
      assert.equal(o.tx, true);
      assert.equal(o.d.src, VIP);
      assert.equal(o.d.dst, CIP);
    }
  });

  test('IPv6 fragments follow the first one', () => {
    const key = { proto: 'udp' as const, addr: VIP6, port: 53 };
    const e = fixture({ key, rs: [RS6], lips: [LIP6] });
    const frags = fragment6(udp6(CIP6, 5353, VIP6, 53, 'q'.repeat(3000)), 1400, 0xabcdef);
    for (const f of frags) {
      const o = send(e, f);
      assert.equal(o.tx, true, JSON.stringify(e.counterValues()));
      assert.equal(o.d.src, LIP6);
      assert.equal(o.d.dst, RS6);
    }
    assert.equal(counter(e, 'frag_fwd'), frags.length - 1);
  });

  test('a later fragment that comes first, or after its connection ended, is dropped', () => {
    const e = fixture({ key: { proto: 'udp', addr: VIP, port: 53 } });
    const frags = fragment4(udp4(CIP, 5353, VIP, 53, 'z'.repeat(3000), { ip: { id: 1 } }), 1400);
    assert.equal(send(e, frags[1]!).tx, false);
    assert.equal(counter(e, 'drop_frag_unknown'), 1);
    assert.equal(send(e, frags[0]!).tx, true);
    e.tick(400_000);
    assert.equal(e.connCount, 0);
    assert.equal(send(e, frags[2]!, 400_000).tx, false);
  });
});
