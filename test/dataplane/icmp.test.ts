// ICMP errors about tracked connections are translated both ways, inner header included,
// and echo requests to VIPs and LIPs are answered.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { echoRest, icmp4, icmp6, ipv4, ipv6, quote, tcp4, tcp6, udp4 } from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';
import { CIP, CIP6, counter, fixture, LIP, LIP6, RS1, RS6, SVC6, send, VIP, VIP6 } from './helpers.js';

const LB_OUTER = '198.51.100.1';

describe('ICMP error translation', () => {
  test('frag-needed about a reply to the client goes to the RS with the RS-side inner header', () => {
    const e = fixture();
    send(e, tcp4(CIP, 40000, VIP, 80, 'S'));
    const reply = send(e, tcp4(RS1, 80, LIP, 1025, 'PA', { seq: 100, ack: 1, data: 'x'.repeat(1400) })).out;
    // The kernel reports the too-big reply from its own address to the reply's source (the VIP).
    const err = ipv4({
      src: LB_OUTER,
      dst: VIP,
      payload: icmp4({ type: 3, code: 4, rest: 1280, data: quote(reply) }),
    });
    const r = send(e, err);
    assert.equal(r.tx, true, JSON.stringify(e.counterValues()));
    assert.equal(r.d.src, LIP);
    assert.equal(r.d.dst, RS1);
    assert.equal(r.d.ttl, 63);
    assert.equal(r.d.ipCsumOk, true);
    assert.equal(r.d.l4CsumOk, true, 'ICMP checksum');
    assert.equal(r.d.icmp!.type, 3);
    assert.equal(r.d.icmp!.code, 4);
    assert.equal(r.d.icmp!.rest & 0xffff, 1280, 'MTU passes unchanged');
    const inner = r.d.icmp!.inner!;
    assert.equal(inner.src, RS1);
    assert.equal(inner.dst, LIP);
    assert.equal(inner.tcp!.sport, 80);
    assert.equal(inner.tcp!.dport, 1025);
    assert.equal(inner.tcp!.seq, 100);
    assert.equal(inner.ipCsumOk, true);
    assert.equal(counter(e, 'icmp_xlate_in'), 1);
  });

  test('an error from the RS side about a forwarded packet goes to the client', () => {
    const e = fixture();
    const fwd = send(e, tcp4(CIP, 40000, VIP, 80, 'S', { seq: 7 })).out;
    const err = ipv4({
      src: '192.0.2.1',
      dst: LIP,
      payload: icmp4({ type: 3, code: 4, rest: 1400, data: quote(fwd, 28) }),
    });
    const r = send(e, err);
    assert.equal(r.tx, true);
    assert.equal(r.d.src, VIP);
    assert.equal(r.d.dst, CIP);
    assert.equal(r.d.l4CsumOk, true);
    const inner = r.d.icmp!.inner!;
    assert.equal(inner.src, CIP);
    assert.equal(inner.dst, VIP);
    assert.equal(inner.tcp!.sport, 40000);
    assert.equal(inner.tcp!.dport, 80);
    assert.equal(inner.tcp!.seq, 7);
    assert.equal(inner.ipCsumOk, true);
    // 28 quoted bytes reach the TCP checksum: it must still match the original client segment.
    assert.equal(inner.tcp!.checksum, decodePacket(tcp4(CIP, 40000, VIP, 80, 'S', { seq: 7 })).tcp!.checksum);
    assert.equal(counter(e, 'icmp_xlate_out'), 1);
  });

  test('IPv6 packet-too-big is translated with the ICMPv6 checksum over the new pseudo-header', () => {
    const e = fixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    send(e, tcp6(CIP6, 40000, VIP6, 80, 'S'));
    const reply = send(e, tcp6(RS6, 80, LIP6, 1025, 'A', { data: 'y'.repeat(100) })).out;
    const err = ipv6({
      src: '2001:db8:100::1',
      dst: VIP6,
      payload: icmp6({ type: 2, code: 0, rest: 1280, data: quote(reply) }),
    });
    const r = send(e, err);
    assert.equal(r.tx, true);
    assert.equal(r.d.src, LIP6);
    assert.equal(r.d.dst, RS6);
    assert.equal(r.d.l4CsumOk, true);
    assert.equal(r.d.icmp!.rest, 1280);
    assert.equal(r.d.icmp!.inner!.src, RS6);
    assert.equal(r.d.icmp!.inner!.dst, LIP6);
    assert.equal(r.d.icmp!.inner!.tcp!.dport, 1025);
  });

  test('an error about no known connection is dropped and counted', () => {
    const e = fixture();
    const stray = tcp4(VIP, 80, CIP, 40000, 'SA');
    const r = send(
      e,
      ipv4({ src: LB_OUTER, dst: VIP, payload: icmp4({ type: 3, code: 4, rest: 1280, data: quote(stray) }) }),
    );
    assert.equal(r.tx, false);
    assert.equal(counter(e, 'drop_icmp_no_conn'), 1);
  });

  test('UDP port unreachable from the client reaches the RS', () => {
    const e = fixture({ key: { proto: 'udp', addr: VIP, port: 53 } });
    send(e, udp4(CIP, 5353, VIP, 53, 'q'));
    const reply = send(e, udp4(RS1, 80, LIP, 1025, 'a')).out;
    const r = send(e, ipv4({ src: CIP, dst: VIP, payload: icmp4({ type: 3, code: 3, data: quote(reply) }) }));
    assert.equal(r.tx, true);
    assert.equal(r.d.dst, RS1);
    assert.equal(r.d.icmp!.inner!.udp!.dport, 1025);
    assert.equal(r.d.l4CsumOk, true);
  });
});

describe('ICMP echo', () => {
  test('ping to a VIP and to a LIP is answered', () => {
    const e = fixture();
    for (const dst of [VIP, LIP]) {
      const r = send(
        e,
        ipv4({ src: CIP, dst, ttl: 30, payload: icmp4({ type: 8, rest: echoRest(9, 1), data: 'ping' }) }),
      );
      assert.equal(r.tx, true);
      assert.equal(r.d.src, dst);
      assert.equal(r.d.dst, CIP);
      assert.equal(r.d.icmp!.type, 0);
      assert.equal(r.d.icmp!.rest, echoRest(9, 1));
      assert.equal(r.d.ipCsumOk, true);
      assert.equal(r.d.l4CsumOk, true);
    }
    assert.equal(counter(e, 'icmp_echo_reply'), 2);
  });

  test('ICMPv6 echo to a VIP is answered', () => {
    const e = fixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    const r = send(
      e,
      ipv6({ src: CIP6, dst: VIP6, payload: icmp6({ type: 128, rest: echoRest(1, 2), data: 'v6' }) }),
    );
    assert.equal(r.tx, true);
    assert.equal(r.d.src, VIP6);
    assert.equal(r.d.dst, CIP6);
    assert.equal(r.d.icmp!.type, 129);
    assert.equal(r.d.l4CsumOk, true);
  });

  test('ping to an address that is not ours is dropped', () => {
    const e = fixture();
    const r = send(e, ipv4({ src: CIP, dst: '203.0.113.99', payload: icmp4({ type: 8 }) }));
    assert.equal(r.tx, false);
    assert.equal(counter(e, 'drop_not_local'), 1);
  });
});
