import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex } from '../support/hex.js';
import {
  echoRest,
  fragment4,
  type Ipv6Ext,
  icmp4,
  icmp6,
  ipv4,
  ipv6,
  quote,
  type TcpOption,
  tcp,
  tcp4,
  tcp6,
  udp,
  udp4,
  udp6,
} from '../support/packet-builder.js';
import { decodePacket, decodeTcpOptions, describePacket, diffPackets } from '../support/packet-decoder.js';

const C4 = '198.51.100.2';
const V4 = '203.0.113.10';
const C6 = '2001:db8:100::2';
const V6 = '2001:db8:203::10';

function assertClean(d: ReturnType<typeof decodePacket>): void {
  assert.deepEqual(d.errors, []);
  assert.equal(d.truncated, false);
  assert.equal(d.ipCsumOk, true);
  assert.equal(d.l4CsumOk, true);
}

describe('round trips: IPv4', () => {
  test('IP header fields', () => {
    const p = ipv4({
      src: C4,
      dst: V4,
      tos: 0x2e,
      id: 0xbeef,
      df: true,
      ttl: 17,
      options: Uint8Array.of(0x94, 4, 0, 0),
      payload: udp({ sport: 1, dport: 2 }),
    });
    const d = decodePacket(p);
    assertClean(d);
    assert.equal(d.family, 4);
    assert.equal(d.version, 4);
    assert.equal(d.src, C4);
    assert.equal(d.dst, V4);
    assert.equal(d.tos, 0x2e);
    assert.equal(d.id, 0xbeef);
    assert.equal(d.df, true);
    assert.equal(d.mf, false);
    assert.equal(d.reservedFlag, false);
    assert.equal(d.fragOffset, 0);
    assert.equal(d.isFragment, false);
    assert.equal(d.ttl, 17);
    assert.equal(d.hopLimit, 17);
    assert.equal(d.proto, 17);
    assert.equal(d.ihl, 6);
    assert.equal(d.headerLength, 24);
    assert.equal(d.totalLength, 32);
    assert.equal(d.captureLength, 32);
    assert.equal(d.trailing, 0);
    assert.deepEqual(d.ipOptions, Uint8Array.of(0x94, 4, 0, 0));
  });

  test('TCP fields and payload', () => {
    const p = tcp4(C4, 40000, V4, 80, 'PA', {
      seq: 0xdeadbeef,
      ack: 0x01020304,
      window: 1234,
      urg: 7,
      reserved: 0,
      data: 'hello',
    });
    const d = decodePacket(p);
    assertClean(d);
    const t = d.tcp!;
    assert.equal(t.sport, 40000);
    assert.equal(t.dport, 80);
    assert.equal(t.seq, 0xdeadbeef);
    assert.equal(t.ack, 0x01020304);
    assert.equal(t.flags, 'PA');
    assert.equal(t.flagBits, 0x18);
    assert.equal(t.window, 1234);
    assert.equal(t.urg, 7);
    assert.equal(t.dataOffset, 5);
    assert.equal(t.headerLength, 20);
    assert.deepEqual(t.options, []);
    assert.equal(t.payloadLength, 5);
    assert.equal(new TextDecoder().decode(t.payload), 'hello');
    assert.equal(t.truncated, false);
    assert.equal(d.udp, undefined);
    assert.equal(d.icmp, undefined);
  });

  for (const flags of ['S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', '', 'FSRPAUEC', 'SEC']) {
    test(`TCP flags '${flags}'`, () => {
      assert.equal(decodePacket(tcp4(C4, 1, V4, 2, flags)).tcp?.flags, flags);
      assert.equal(decodePacket(tcp6(C6, 1, V6, 2, flags)).tcp?.flags, flags);
    });
  }

  test('UDP fields and payload', () => {
    const d = decodePacket(udp4(C4, 5353, V4, 53, 'query'));
    assertClean(d);
    assert.deepEqual(
      { ...d.udp, payload: undefined },
      {
        sport: 5353,
        dport: 53,
        length: 13,
        checksum: d.udp!.checksum,
        payload: undefined,
        payloadLength: 5,
        truncated: false,
      },
    );
    assert.equal(new TextDecoder().decode(d.udp!.payload), 'query');
  });

  test('ICMPv4 echo', () => {
    const d = decodePacket(
      ipv4({ src: C4, dst: V4, payload: icmp4({ type: 8, rest: echoRest(7, 9), data: 'ping' }) }),
    );
    assertClean(d);
    assert.equal(d.proto, 1);
    assert.equal(d.icmp?.version, 4);
    assert.equal(d.icmp?.type, 8);
    assert.equal(d.icmp?.code, 0);
    assert.equal(d.icmp?.rest, 0x00070009);
    assert.equal(new TextDecoder().decode(d.icmp!.data), 'ping');
    assert.equal(d.icmp?.inner, undefined, 'echo has no quoted packet');
  });

  test('ICMPv4 frag-needed: inner packet decoded as far as the quote goes', () => {
    const orig = tcp4(V4, 80, C4, 40000, 'A', {
      seq: 5000,
      ack: 1001,
      data: 'x'.repeat(1400),
      ip: { df: true, id: 99 },
    });
    const d = decodePacket(
      ipv4({
        src: '192.0.2.1',
        dst: V4,
        payload: icmp4({ type: 3, code: 4, rest: 1400, data: quote(orig) }),
      }),
    );
    assertClean(d);
    assert.equal(d.icmp?.rest, 1400);
    const inner = d.icmp!.inner!;
    assert.equal(inner.family, 4);
    assert.equal(inner.src, V4);
    assert.equal(inner.dst, C4);
    assert.equal(inner.totalLength, 1440);
    assert.equal(inner.captureLength, 28);
    assert.equal(inner.truncated, true);
    assert.equal(inner.ipCsumOk, true, 'the quoted IP header is complete: its checksum is checked');
    assert.equal(inner.l4CsumOk, null, 'the quoted TCP segment is not: unknown');
    assert.deepEqual(inner.errors, []);
    assert.equal(inner.tcp?.sport, 80);
    assert.equal(inner.tcp?.dport, 40000);
    assert.equal(inner.tcp?.seq, 5000);
    assert.equal(inner.tcp?.ack, undefined);
    assert.equal(inner.tcp?.truncated, true);
  });

  test('ICMPv4 error with a bad inner IP checksum reports it', () => {
    const orig = udp4(V4, 53, C4, 5353, 'answer', { ip: { checksum: 0x1234 } });
    const d = decodePacket(
      ipv4({ src: '192.0.2.1', dst: V4, payload: icmp4({ type: 11, data: quote(orig, 100) }) }),
    );
    assert.equal(d.l4CsumOk, true);
    assert.equal(d.icmp?.inner?.ipCsumOk, false);
    assert.equal(d.icmp?.inner?.l4CsumOk, true, 'whole UDP datagram quoted: checkable');
    assert.equal(d.icmp?.inner?.truncated, false);
  });
});

describe('round trips: IPv6', () => {
  test('IP header fields', () => {
    const d = decodePacket(
      ipv6({
        src: C6,
        dst: V6,
        trafficClass: 0xb8,
        flowLabel: 0xabcde,
        hopLimit: 3,
        payload: udp({ sport: 9, dport: 10 }),
      }),
    );
    assertClean(d);
    assert.equal(d.family, 6);
    assert.equal(d.src, C6);
    assert.equal(d.dst, V6);
    assert.equal(d.trafficClass, 0xb8);
    assert.equal(d.flowLabel, 0xabcde);
    assert.equal(d.hopLimit, 3);
    assert.equal(d.ttl, 3);
    assert.equal(d.nextHeader, 17);
    assert.equal(d.proto, 17);
    assert.equal(d.payloadLength, 8);
    assert.equal(d.totalLength, 48);
    assert.equal(d.headerLength, 40);
    assert.deepEqual(d.ext, []);
  });

  test('addresses come back canonical', () => {
    const d = decodePacket(tcp6('2001:DB8:0:0::0:1', 1, '0:0::ffff:c000:0201', 2));
    assert.equal(d.src, '2001:db8::1');
    assert.equal(d.dst, '::ffff:c000:201');
  });

  const exts: { name: string; ext: Ipv6Ext[] }[] = [
    { name: 'hop-by-hop', ext: [{ kind: 'hbh', options: [{ type: 5, data: Uint8Array.of(0, 0) }] }] },
    { name: 'empty hop-by-hop', ext: [{ kind: 'hbh', options: [] }] },
    {
      name: 'destination options (several, with padding)',
      ext: [
        {
          kind: 'dst',
          options: [
            { type: 0x1e, data: Uint8Array.of(1) },
            { type: 0xc2, data: Uint8Array.of(0, 0, 0x10, 0) },
          ],
        },
      ],
    },
    {
      name: 'routing type 0, segments left 0',
      ext: [{ kind: 'routing', routingType: 0, segmentsLeft: 0, addresses: ['2001:db8::7', '2001:db8::8'] }],
    },
    {
      name: 'routing type 2 (mobile), segments left 1',
      ext: [{ kind: 'routing', routingType: 2, segmentsLeft: 1, addresses: ['2001:db8:ffff::1'] }],
    },
    {
      name: 'routing with another type (raw data)',
      ext: [
        {
          kind: 'routing',
          routingType: 4,
          segmentsLeft: 0,
          data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
        },
      ],
    },
    { name: 'fragment (atomic)', ext: [{ kind: 'frag', fragOffset: 0, mf: false, id: 0xfeedface }] },
    {
      name: 'unknown/raw header (mobility 135)',
      ext: [{ kind: 'raw', headerType: 135, bytes: Uint8Array.of(0, 1, 2, 3, 4, 5, 6) }],
    },
    {
      name: 'full chain',
      ext: [
        { kind: 'hbh', options: [{ type: 5, data: Uint8Array.of(0, 0) }] },
        { kind: 'dst', options: [{ type: 0x1e, data: new Uint8Array(9) }] },
        { kind: 'routing', routingType: 0, segmentsLeft: 2, addresses: ['2001:db8::7', '2001:db8::8'] },
        { kind: 'frag', fragOffset: 0, mf: false, id: 1 },
        { kind: 'dst', options: [] },
      ],
    },
  ];
  for (const { name, ext } of exts) {
    for (const l4 of ['tcp', 'udp', 'icmp6'] as const) {
      test(`extension headers: ${name} + ${l4}`, () => {
        const payload =
          l4 === 'tcp'
            ? tcp({ sport: 1, dport: 2, flags: 'SA', data: 'abc' })
            : l4 === 'udp'
              ? udp({ sport: 3, dport: 4, data: 'abc' })
              : icmp6({ type: 128, rest: 5, data: 'abc' });
        const d = decodePacket(ipv6({ src: C6, dst: V6, ext, payload }));
        assertClean(d);
        assert.deepEqual(d.ext, ext);
        assert.equal(d.proto, l4 === 'tcp' ? 6 : l4 === 'udp' ? 17 : 58);
        assert.ok(d.tcp ?? d.udp ?? d.icmp);
      });
    }
  }

  test('routing header with segments left: the L4 checksum uses the final destination', () => {
    const ext: Ipv6Ext[] = [
      { kind: 'routing', routingType: 0, segmentsLeft: 1, addresses: ['2001:db8:2::21'] },
    ];
    const p = tcp6(C6, 1, '2001:db8:2::200', 2, 'S', { ip: { ext } });
    assert.equal(decodePacket(p).l4CsumOk, true);
    // The same segment checksummed against the IPv6 destination instead is wrong.
    const wrong = tcp6(C6, 1, '2001:db8:2::200', 2, 'S', {
      ip: { ext: [{ ...ext[0]!, finalDst: '2001:db8:2::200' } as Ipv6Ext] },
    });
    assert.equal(decodePacket(wrong).l4CsumOk, false);
  });

  test('ICMPv6 Packet Too Big: inner IPv6 + TCP decoded, truncated', () => {
    const orig = tcp6(V6, 443, C6, 40000, 'PA', { seq: 77, ack: 88, data: 'y'.repeat(1300) });
    const d = decodePacket(
      ipv6({
        src: '2001:db8:2::1',
        dst: V6,
        payload: icmp6({ type: 2, rest: 1280, data: quote(orig, 1232 - 40) }),
      }),
    );
    assertClean(d);
    assert.equal(d.icmp?.version, 6);
    assert.equal(d.icmp?.type, 2);
    assert.equal(d.icmp?.rest, 1280);
    const inner = d.icmp!.inner!;
    assert.equal(inner.family, 6);
    assert.equal(inner.truncated, true);
    assert.equal(inner.ipCsumOk, true);
    assert.equal(inner.l4CsumOk, null);
    assert.equal(inner.tcp?.seq, 77);
    assert.equal(inner.tcp?.ack, 88, 'a long quote has the whole TCP header');
    assert.equal(inner.tcp?.flags, 'PA');
    assert.equal(inner.tcp?.payload?.length, 1232 - 40 - 20);
  });
});

describe('TCP options round trip', () => {
  const cases: { name: string; options: TcpOption[] }[] = [
    { name: 'mss', options: [{ kind: 'mss', value: 1452 }] },
    { name: 'wscale', options: [{ kind: 'wscale', value: 14 }] },
    { name: 'sackOk', options: [{ kind: 'sackOk' }] },
    { name: 'ts', options: [{ kind: 'ts', val: 0xffffffff, ecr: 1 }] },
    { name: 'sack 1 block', options: [{ kind: 'sack', blocks: [[1, 2]] }] },
    {
      name: 'sack 4 blocks',
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        {
          kind: 'sack',
          blocks: [
            [1, 2],
            [3, 4],
            [5, 6],
            [0xfffffff0, 0x10],
          ],
        },
      ],
    },
    { name: 'nop', options: [{ kind: 'nop' }] },
    {
      name: 'explicit eol then padding (4 zero bytes are not all padding)',
      options: [{ kind: 'mss', value: 1 }, { kind: 'eol' }],
    },
    { name: 'toa ipv4', options: [{ kind: 'toa', port: 40000, addr: C4 }] },
    { name: 'toa ipv6', options: [{ kind: 'toa', port: 40000, addr: C6 }] },
    { name: 'raw unknown kind', options: [{ kind: 'raw', bytes: Uint8Array.of(30, 4, 0xab, 0xcd) }] },
    {
      name: 'Linux SYN',
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sackOk' },
        { kind: 'ts', val: 1, ecr: 0 },
        { kind: 'nop' },
        { kind: 'wscale', value: 7 },
      ],
    },
    {
      name: 'TOA after NOPs',
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'ts', val: 5, ecr: 6 },
        { kind: 'toa', port: 1, addr: '192.0.2.1' },
      ],
    },
  ];
  for (const { name, options } of cases) {
    test(name, () => {
      for (const build of [tcp4, tcp6]) {
        const src = build === tcp4 ? C4 : C6;
        const dst = build === tcp4 ? V4 : V6;
        const d = decodePacket(build(src, 1, dst, 2, 'S', { options, data: 'payload' }));
        assertClean(d);
        assert.deepEqual(d.tcp?.options, options);
        assert.equal(d.tcp!.headerLength! % 4, 0);
        assert.equal(d.tcp?.optionBytes?.length, d.tcp!.headerLength! - 20);
        assert.equal(new TextDecoder().decode(d.tcp!.payload), 'payload');
      }
    });
  }

  test('padding normalisation: a trailing eol absorbed by padding is not reported', () => {
    assert.deepEqual(decodeTcpOptions(Uint8Array.of(4, 2, 0, 0)).options, [{ kind: 'sackOk' }]);
    assert.deepEqual(decodeTcpOptions(Uint8Array.of(0, 0, 0, 0)).options, [{ kind: 'eol' }]);
    assert.deepEqual(decodeTcpOptions(Uint8Array.of(1, 0, 0, 0)).options, [{ kind: 'nop' }]);
  });

  test('bytes after an eol that are not zero come back raw', () => {
    assert.deepEqual(decodeTcpOptions(Uint8Array.of(0, 2, 4, 5, 0xb4)).options, [
      { kind: 'eol' },
      { kind: 'raw', bytes: Uint8Array.of(2, 4, 5, 0xb4) },
    ]);
  });

  test('malformed options: zero length, overrun, wrong size for the kind', () => {
    const m1 = decodeTcpOptions(Uint8Array.of(2, 0, 1, 1));
    assert.equal(m1.malformed, true);
    assert.deepEqual(m1.options, [{ kind: 'raw', bytes: Uint8Array.of(2, 0, 1, 1) }]);
    const m2 = decodeTcpOptions(Uint8Array.of(1, 8, 10, 0, 0));
    assert.equal(m2.malformed, true);
    assert.deepEqual(m2.options, [{ kind: 'nop' }, { kind: 'raw', bytes: Uint8Array.of(8, 10, 0, 0) }]);
    const m3 = decodeTcpOptions(Uint8Array.of(2, 3, 5, 1));
    assert.equal(m3.malformed, true);
    assert.deepEqual(m3.options, [{ kind: 'raw', bytes: Uint8Array.of(2, 3, 5) }, { kind: 'nop' }]);
    const m4 = decodeTcpOptions(Uint8Array.of(254, 6, 0, 1, 2, 3));
    assert.equal(m4.malformed, false, 'kind 254 of another length is just an unknown option');
    assert.deepEqual(m4.options, [{ kind: 'raw', bytes: Uint8Array.of(254, 6, 0, 1, 2, 3) }]);
  });

  test('malformed options in a packet set optionsMalformed and an error, checksum still checked', () => {
    const d = decodePacket(
      tcp4(C4, 1, V4, 2, 'S', { options: [{ kind: 'raw', bytes: Uint8Array.of(2, 9, 0, 0) }] }),
    );
    assert.equal(d.tcp?.optionsMalformed, true);
    assert.match(d.errors.join(), /malformed options/);
    assert.equal(d.l4CsumOk, true);
  });
});

describe('malformed builds decode with the right flags', () => {
  test('wrong IPv4 header checksum', () => {
    const d = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { checksum: 0xbad } }));
    assert.equal(d.ipCsumOk, false);
    assert.equal(d.ipChecksum, 0xbad);
    assert.equal(d.l4CsumOk, true);
  });

  test('wrong TCP / UDP / ICMP checksums', () => {
    assert.equal(decodePacket(tcp4(C4, 1, V4, 2, 'S', { checksum: 1 })).l4CsumOk, false);
    assert.equal(decodePacket(tcp6(C6, 1, V6, 2, 'S', { checksum: 1 })).l4CsumOk, false);
    assert.equal(decodePacket(udp4(C4, 1, V4, 2, 'x', { checksum: 1 })).l4CsumOk, false);
    assert.equal(decodePacket(udp6(C6, 1, V6, 2, 'x', { checksum: 1 })).l4CsumOk, false);
    assert.equal(
      decodePacket(ipv4({ src: C4, dst: V4, payload: icmp4({ type: 8, checksum: 1 }) })).l4CsumOk,
      false,
    );
    assert.equal(
      decodePacket(ipv6({ src: C6, dst: V6, payload: icmp6({ type: 128, checksum: 1 }) })).l4CsumOk,
      false,
    );
    const d = decodePacket(tcp4(C4, 1, V4, 2, 'S', { checksum: 1 }));
    assert.equal(d.ipCsumOk, true);
    assert.deepEqual(d.errors, []);
  });

  test('ICMPv6 checksummed without the pseudo-header is wrong; ICMPv4 with one is wrong too', () => {
    const icmp6NoPseudo = ipv6({ src: C6, dst: V6, proto: 58, payload: icmp4({ type: 128 }) });
    assert.equal(decodePacket(icmp6NoPseudo).l4CsumOk, false);
    const icmp4WithPseudo = ipv4({ src: C4, dst: V4, proto: 1, payload: icmp6({ type: 8 }) });
    assert.equal(decodePacket(icmp4WithPseudo).l4CsumOk, false);
  });

  test('UDP checksum 0: "none" is fine over IPv4, invalid over IPv6', () => {
    assert.equal(decodePacket(udp4(C4, 1, V4, 2, 'x', { checksum: 0 })).l4CsumOk, true);
    assert.equal(decodePacket(udp6(C6, 1, V6, 2, 'x', { checksum: 0 })).l4CsumOk, false);
  });

  test('truncated capture: truncated, L4 checksum unknown, partial TCP', () => {
    const full = tcp4(C4, 1, V4, 2, 'PA', { seq: 9, ack: 10, data: 'hello world' });
    const d = decodePacket(full.subarray(0, 30));
    assert.equal(d.truncated, true);
    assert.equal(d.ipCsumOk, true);
    assert.equal(d.l4CsumOk, null);
    assert.equal(d.totalLength, full.length);
    assert.equal(d.tcp?.seq, 9);
    assert.equal(d.tcp?.ack, undefined);
    assert.equal(d.tcp?.truncated, true);
    assert.deepEqual(d.errors, []);
    const d2 = decodePacket(tcp4(C4, 1, V4, 2, 'PA', { data: 'hello world', ip: { truncate: 45 } }));
    assert.equal(d2.truncated, true);
    assert.equal(d2.tcp?.flags, 'PA');
    assert.equal(d2.tcp?.payloadLength, 5);
  });

  test('truncated inside the IP header', () => {
    const d4 = decodePacket(tcp4(C4, 1, V4, 2).subarray(0, 19));
    assert.equal(d4.family, 4);
    assert.equal(d4.truncated, true);
    assert.equal(d4.ipCsumOk, false);
    assert.equal(d4.src, '');
    const d4o = decodePacket(udp4(C4, 1, V4, 2, '', { ip: { options: new Uint8Array(8), truncate: 24 } }));
    assert.equal(d4o.truncated, true);
    assert.equal(d4o.src, C4, 'fixed header present');
    const d6 = decodePacket(tcp6(C6, 1, V6, 2).subarray(0, 39));
    assert.equal(d6.family, 6);
    assert.equal(d6.truncated, true);
    const d6e = decodePacket(
      tcp6(C6, 1, V6, 2, 'S', { ip: { ext: [{ kind: 'hbh', raw: new Uint8Array(14) }], truncate: 50 } }),
    );
    assert.equal(d6e.truncated, true);
    assert.equal(d6e.tcp, undefined);
  });

  test('IHL below 5, IHL past the packet', () => {
    const small = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { ihl: 4 } }));
    assert.match(small.errors.join(), /IHL 4 < 5/);
    assert.equal(small.tcp, undefined);
    assert.equal(small.ipCsumOk, false);
    const big = decodePacket(ipv4({ src: C4, dst: V4, proto: 253, ihl: 15, payload: new Uint8Array(10) }));
    assert.equal(big.ihl, 15);
    assert.equal(big.headerLength, 60);
    assert.equal(big.truncated, true, 'the declared header is longer than the capture');
    const mid = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { ihl: 6 } }));
    assert.equal(mid.ipCsumOk, false, 'checksum taken over the declared 24 bytes');
    assert.equal(mid.headerLength, 24);
  });

  test('total length: larger than the capture, smaller than the header, smaller than the data', () => {
    const longer = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { totalLength: 100 } }));
    assert.equal(longer.truncated, true);
    assert.equal(longer.ipCsumOk, true);
    assert.equal(longer.l4CsumOk, null);
    const tiny = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { totalLength: 10 } }));
    assert.match(tiny.errors.join(), /total length 10 < header length 20/);
    const shorter = decodePacket(tcp4(C4, 1, V4, 2, 'PA', { data: 'abcdef', ip: { totalLength: 42 } }));
    assert.equal(shorter.truncated, false);
    assert.equal(shorter.trailing, 4);
    assert.equal(shorter.tcp?.payloadLength, 2);
    assert.equal(shorter.l4CsumOk, false);
  });

  test('trailer (link padding) is reported as trailing and ignored by checksums', () => {
    const d = decodePacket(udp4(C4, 1, V4, 2, 'x', { ip: { trailer: new Uint8Array(17).fill(0xee) } }));
    assertClean(d);
    assert.equal(d.trailing, 17);
    assert.equal(d.udp?.payloadLength, 1);
  });

  test('TCP data offset below 5 or past the segment', () => {
    const low = decodePacket(tcp4(C4, 1, V4, 2, 'S', { dataOffset: 4 }));
    assert.match(low.errors.join(), /data offset 4 < 5/);
    assert.equal(low.tcp?.payload, undefined);
    assert.equal(low.l4CsumOk, true, 'the checksum covers the bytes whatever the header says');
    const high = decodePacket(tcp4(C4, 1, V4, 2, 'S', { dataOffset: 15 }));
    assert.match(high.errors.join(), /data offset 15 runs past the segment/);
    assert.equal(high.truncated, false);
    const rsv = decodePacket(tcp4(C4, 1, V4, 2, 'S', { reserved: 0xf }));
    assert.equal(rsv.tcp?.reserved, 0xf);
    assert.equal(rsv.tcp?.dataOffset, 5);
  });

  test('TCP shorter than its fixed header', () => {
    const d = decodePacket(ipv4({ src: C4, dst: V4, proto: 6, payload: new Uint8Array(12) }));
    assert.match(d.errors.join(), /shorter than a TCP header/);
    assert.equal(d.l4CsumOk, false);
    const d2 = decodePacket(ipv4({ src: C4, dst: V4, proto: 6, payload: new Uint8Array(3) }));
    assert.equal(d2.tcp, undefined);
    assert.match(d2.errors.join(), /too short/);
  });

  test('UDP length field wrong', () => {
    const big = decodePacket(udp4(C4, 1, V4, 2, 'abc', { length: 50 }));
    assert.match(big.errors.join(), /length field 50 > 11/);
    assert.equal(big.l4CsumOk, false);
    const small = decodePacket(udp4(C4, 1, V4, 2, 'abc', { length: 4 }));
    assert.match(small.errors.join(), /length field 4 < 8/);
    assert.equal(small.l4CsumOk, false);
  });

  test('version nibble not 4 or 6', () => {
    const d = decodePacket(tcp4(C4, 1, V4, 2, 'S', { ip: { version: 5 } }));
    assert.equal(d.family, 0);
    assert.equal(d.version, 5);
    assert.match(d.errors.join(), /not IP/);
    const v6as4 = decodePacket(tcp6(C6, 1, V6, 2, 'S', { ip: { version: 4 } }));
    assert.equal(v6as4.family, 4);
    assert.equal(v6as4.ipCsumOk, false);
  });

  test('IPv6 payload length larger than the capture, smaller than the extension chain', () => {
    const d = decodePacket(udp6(C6, 1, V6, 2, 'x', { ip: { payloadLength: 500 } }));
    assert.equal(d.truncated, true);
    assert.equal(d.l4CsumOk, null);
    const e = decodePacket(
      udp6(C6, 1, V6, 2, 'x', { ip: { ext: [{ kind: 'hbh', raw: new Uint8Array(22) }], payloadLength: 16 } }),
    );
    assert.match(e.errors.join(), /runs past the packet/);
    assert.equal(e.proto, 0);
  });

  test('IPv6 hop-by-hop with malformed options comes back raw with an error', () => {
    const raw = Uint8Array.of(5, 10, 0, 0, 0, 0);
    const d = decodePacket(udp6(C6, 1, V6, 2, 'x', { ip: { ext: [{ kind: 'hbh', raw }] } }));
    assert.deepEqual(d.ext, [{ kind: 'hbh', raw }]);
    assert.match(d.errors.join(), /malformed hbh options/);
    assert.equal(d.l4CsumOk, true);
  });

  test('IPv4 fragments: L4 checksum not checkable, later fragments have no L4 header', () => {
    const p = udp4(C4, 1, V4, 2, 'f'.repeat(64));
    const [first, second] = fragment4(p, 32);
    const d1 = decodePacket(first!);
    assert.equal(d1.isFragment, true);
    assert.equal(d1.l4CsumOk, null);
    assert.equal(d1.udp?.sport, 1);
    const d2 = decodePacket(second!);
    assert.equal(d2.fragOffset, 4);
    assert.equal(d2.udp, undefined);
    assert.equal(d2.l4CsumOk, null);
    assert.deepEqual(d2.errors, []);
  });

  test('IPv6 non-first fragment: no L4 decode', () => {
    const d = decodePacket(
      ipv6({
        src: C6,
        dst: V6,
        ext: [{ kind: 'frag', fragOffset: 3, mf: true, id: 5 }],
        proto: 6,
        payload: new Uint8Array(24),
      }),
    );
    assert.equal(d.isFragment, true);
    assert.equal(d.proto, 6);
    assert.equal(d.tcp, undefined);
    assert.equal(d.l4CsumOk, null);
    assert.equal(d.l4.length, 24);
  });
});

describe('robustness: never throws', () => {
  const samples = [
    tcp4(C4, 1, V4, 2, 'S', {
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sack', blocks: [[1, 2]] },
      ],
      data: 'abc',
    }),
    udp6(C6, 1, V6, 2, 'x', {
      ip: { ext: [{ kind: 'hbh' }, { kind: 'routing', addresses: [V6] }, { kind: 'frag' }] },
    }),
    ipv4({
      src: '192.0.2.1',
      dst: V4,
      payload: icmp4({ type: 3, code: 4, data: quote(tcp4(V4, 80, C4, 1, 'A')) }),
    }),
    ipv6({
      src: '2001:db8::1',
      dst: V6,
      payload: icmp6({ type: 1, data: quote(tcp6(V6, 80, C6, 1, 'A'), 100) }),
    }),
  ];
  test('every prefix of valid packets decodes, truncated once cut', () => {
    for (const p of samples) {
      for (let n = 0; n <= p.length; n++) {
        const d = decodePacket(p.subarray(0, n));
        assert.equal(d.truncated, n < p.length, `prefix ${n} of ${p.length}`);
        if (n < p.length) assert.notEqual(d.l4CsumOk, true);
        assert.equal(typeof describePacket(p.subarray(0, n)), 'string');
      }
    }
  });

  test('garbage', () => {
    for (const hex of ['', '00', '4f', '6f', 'ff'.repeat(80), '45'.padEnd(120, '0'), '60'.padEnd(120, 'f')]) {
      const d = decodePacket(fromHex(hex));
      assert.equal(typeof d.truncated, 'boolean');
    }
  });
});

describe('describePacket / diffPackets', () => {
  test('describePacket one-liners', () => {
    assert.equal(
      describePacket(tcp4(C4, 40000, V4, 80, 'S', { seq: 1, options: [{ kind: 'mss', value: 1460 }] })),
      'IP ttl 64 198.51.100.2.40000 > 203.0.113.10.80: tcp [S] seq 1 ack 0 win 65535 <mss 1460> len 0',
    );
    assert.match(
      describePacket(udp6(C6, 1, V6, 2, 'x', { checksum: 5 })),
      /^IP6 .* udp len 1 \{bad l4 csum\}$/,
    );
    assert.match(
      describePacket(
        ipv4({
          src: '192.0.2.1',
          dst: V4,
          payload: icmp4({ type: 3, code: 4, data: quote(tcp4(V4, 80, C4, 1, 'A')) }),
        }),
      ),
      /icmp type 3 code 4 rest 0 quoting \[IP 203\.0\.113\.10\.80 > 198\.51\.100\.2\.1 proto 6\]/,
    );
  });

  test('diffPackets names the differing fields, then the hex diff', () => {
    assert.equal(diffPackets(tcp4(C4, 1, V4, 2), tcp4(C4, 1, V4, 2)), '');
    const d = diffPackets(tcp4(C4, 1, V4, 2, 'S', { ip: { ttl: 63 } }), tcp4(C4, 1, V4, 2, 'S'));
    assert.match(d, /^ttl: actual 63, expected 64$/m);
    assert.match(d, /^ipChecksum: actual/m);
    assert.match(d, /byte\(s\) differ/);
    assert.doesNotMatch(d, /^tcp\./m);
  });
});
