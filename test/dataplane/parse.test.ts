// parsePacket (src/dataplane/packet/parse.ts): the fields it records for valid packets, the drop
// reason it names for each kind of malformed one, and that it never throws. One PacketInfo is
// reused across all cases, as the engine does, so nothing may leak from one packet to the next.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import * as counters from '../../src/dataplane/counters.js';
import {
  D_BAD_EXT_HDR,
  D_BAD_HDR_LEN,
  D_BAD_IP_CSUM,
  D_BAD_L4_HDR,
  D_BAD_TOTAL_LEN,
  D_BAD_VERSION,
  D_TRUNCATED,
} from '../../src/dataplane/counters.js';
import { PacketInfo, parsePacket } from '../../src/dataplane/packet/parse.js';
import {
  type Ipv6Ext,
  icmp4,
  icmp6,
  ipv4,
  ipv6,
  parseIp,
  tcp,
  tcp4,
  tcp6,
  udp,
  udp4,
  udp6,
} from '../support/packet-builder.js';
import { fcParams, viewAt, wordsOf } from './unit-helpers.js';

const C4 = '198.51.100.2';
const V4 = '203.0.113.10';
const C6 = '2001:db8:100::2';
const V6 = '2001:db8:203::10';

const pi = new PacketInfo();

interface Parsed {
  r: number;
  family: number;
  l3: number;
  l4: number;
  end: number;
  proto: number;
  saddr: number[];
  daddr: number[];
  sport: number;
  dport: number;
  tcpFlags: number;
  isFrag: boolean;
  fragTail: boolean;
  fragId: number;
  nhOff: number;
}

/** Parses `pkt` at offset `pad` of a larger buffer; offsets in the result are relative to the packet. */
function parse(pkt: Uint8Array, pad = 0): Parsed {
  const { dv } = viewAt(pkt, pad);
  const r = parsePacket(dv, pad, pkt.length, pi);
  return {
    r,
    family: pi.family,
    l3: pi.l3 - pad,
    l4: pi.l4 - pad,
    end: pi.end - pad,
    proto: pi.proto,
    saddr: [...pi.saddr],
    daddr: [...pi.daddr],
    sport: pi.sport,
    dport: pi.dport,
    tcpFlags: pi.tcpFlags,
    isFrag: pi.isFrag,
    fragTail: pi.fragTail,
    fragId: pi.fragId,
    nhOff: pi.nhOff - pad,
  };
}

const w = (a: string) => [...wordsOf(parseIp(a))];

/** AH (next header 51) of 16 bytes: payload length 2 ((2 + 2) * 4), SPI, sequence, 4-byte ICV. */
const AH: Ipv6Ext = {
  kind: 'raw',
  headerType: 51,
  bytes: Uint8Array.of(2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4),
};

interface OkCase {
  desc: string;
  pkt: () => Uint8Array;
  want: Partial<Parsed>;
}

const okCases: OkCase[] = [
  {
    desc: 'IPv4 TCP SYN with IPv4 options and TCP options',
    pkt: () =>
      ipv4({
        src: C4,
        dst: V4,
        options: Uint8Array.of(1, 1, 1, 0, 7, 3, 4, 0), // NOPs, EOL, a record-route stub
        payload: tcp({ sport: 40000, dport: 80, flags: 'S', options: [{ kind: 'mss', value: 1460 }] }),
      }),
    want: {
      family: 4,
      l3: 0,
      l4: 28,
      end: 28 + 24,
      proto: 6,
      saddr: w(C4),
      daddr: w(V4),
      sport: 40000,
      dport: 80,
      tcpFlags: 0x02,
      isFrag: false,
      fragTail: false,
    },
  },
  {
    desc: 'IPv4 UDP (tcpFlags stays 0)',
    pkt: () => udp4(C4, 5353, V4, 53, 'query'),
    want: { family: 4, l4: 20, end: 33, proto: 17, sport: 5353, dport: 53, tcpFlags: 0, isFrag: false },
  },
  {
    desc: 'IPv4 UDP with no checksum',
    pkt: () => udp4(C4, 1, V4, 2, 'x', { checksum: 0 }),
    want: { family: 4, proto: 17, sport: 1, dport: 2 },
  },
  {
    desc: 'IPv4 ICMP echo (no ports)',
    pkt: () => ipv4({ src: C4, dst: V4, payload: icmp4({ type: 8, rest: 0x00010002, data: 'hi' }) }),
    want: { family: 4, l4: 20, end: 30, proto: 1, sport: 0, dport: 0, tcpFlags: 0 },
  },
  {
    desc: 'IPv4 with DF only is not a fragment',
    pkt: () => tcp4(C4, 1, V4, 80, 'A', { ip: { df: true, id: 77 } }),
    want: { isFrag: false, fragTail: false, sport: 1, tcpFlags: 0x10 },
  },
  {
    desc: 'IPv4 first fragment (MF, offset 0): ports read, fragId set',
    pkt: () => tcp4(C4, 40001, V4, 80, 'PA', { data: 'x'.repeat(64), ip: { mf: true, id: 0xbeef } }),
    want: { isFrag: true, fragTail: false, fragId: 0xbeef, sport: 40001, dport: 80, tcpFlags: 0x18, l4: 20 },
  },
  {
    desc: 'IPv4 first fragment with UDP: the length field covers the whole datagram',
    pkt: () =>
      ipv4({
        src: C4,
        dst: V4,
        mf: true,
        id: 9,
        payload: udp({ sport: 7, dport: 53, length: 1000, checksum: 1 }),
      }),
    want: { isFrag: true, fragTail: false, fragId: 9, sport: 7, dport: 53 },
  },
  {
    desc: 'IPv4 middle fragment: no transport header',
    pkt: () =>
      ipv4({ src: C4, dst: V4, mf: true, fragOffset: 3, id: 0x1234, proto: 6, payload: new Uint8Array(16) }),
    want: {
      isFrag: true,
      fragTail: true,
      fragId: 0x1234,
      proto: 6,
      l4: 20,
      end: 36,
      sport: 0,
      dport: 0,
      tcpFlags: 0,
    },
  },
  {
    desc: 'IPv4 last fragment (offset, no MF) with IP options',
    pkt: () =>
      ipv4({
        src: C4,
        dst: V4,
        fragOffset: 100,
        id: 0xffff,
        proto: 17,
        options: new Uint8Array(4),
        payload: Uint8Array.of(1, 2, 3),
      }),
    want: { isFrag: true, fragTail: true, fragId: 0xffff, proto: 17, l4: 24, end: 27 },
  },
  {
    desc: 'IPv6 TCP: nhOff is the fixed header next-header byte',
    pkt: () => tcp6(C6, 40000, V6, 443, 'S'),
    want: {
      family: 6,
      l4: 40,
      end: 60,
      proto: 6,
      saddr: w(C6),
      daddr: w(V6),
      sport: 40000,
      dport: 443,
      tcpFlags: 2,
      nhOff: 6,
      isFrag: false,
      fragTail: false,
    },
  },
  {
    desc: 'IPv6 UDP',
    pkt: () => udp6(C6, 5353, V6, 53, 'q'),
    want: { family: 6, l4: 40, end: 49, proto: 17, sport: 5353, dport: 53, nhOff: 6 },
  },
  {
    desc: 'IPv6 ICMPv6',
    pkt: () => ipv6({ src: C6, dst: V6, payload: icmp6({ type: 128, rest: 1 }) }),
    want: { family: 6, l4: 40, end: 48, proto: 58, sport: 0, dport: 0 },
  },
  {
    desc: 'IPv6 hop-by-hop, destination options, routing (segments left 0), AH, then TCP',
    pkt: () =>
      tcp6(C6, 1000, V6, 80, 'A', {
        ip: {
          ext: [
            { kind: 'hbh', options: [{ type: 5, data: Uint8Array.of(0, 0) }] }, // router alert, 8 bytes
            { kind: 'dst', options: [{ type: 0x1e, data: new Uint8Array(10) }] }, // 16 bytes
            { kind: 'routing', routingType: 2, segmentsLeft: 0, addresses: ['2001:db8::99'] }, // 24 bytes
            AH, // 16 bytes
          ],
        },
      }),
    want: {
      family: 6,
      l4: 40 + 8 + 16 + 24 + 16,
      proto: 6,
      sport: 1000,
      dport: 80,
      nhOff: 40 + 8 + 16 + 24,
      isFrag: false,
    },
  },
  {
    desc: 'IPv6 first fragment (offset 0, M set): ports read',
    pkt: () =>
      tcp6(C6, 2000, V6, 80, 'PA', {
        data: 'abc',
        ip: { ext: [{ kind: 'frag', fragOffset: 0, mf: true, id: 0xdeadbeef }] },
      }),
    want: {
      isFrag: true,
      fragTail: false,
      fragId: 0xdeadbeef,
      proto: 6,
      l4: 48,
      nhOff: 40,
      sport: 2000,
      dport: 80,
    },
  },
  {
    desc: 'IPv6 non-first fragment: proto from the Fragment header, no ports',
    pkt: () =>
      ipv6({
        src: C6,
        dst: V6,
        ext: [
          { kind: 'hbh', options: [] },
          { kind: 'frag', fragOffset: 2, mf: true, id: 0x01020304 },
        ],
        proto: 17,
        payload: new Uint8Array(24),
      }),
    want: {
      isFrag: true,
      fragTail: true,
      fragId: 0x01020304,
      proto: 17,
      l4: 56,
      nhOff: 48,
      sport: 0,
      dport: 0,
      end: 80,
    },
  },
  {
    desc: 'IPv6 last fragment (offset, M clear) is a tail',
    pkt: () =>
      ipv6({
        src: C6,
        dst: V6,
        ext: [{ kind: 'frag', fragOffset: 9, mf: false, id: 5 }],
        proto: 6,
        payload: new Uint8Array(3),
      }),
    want: { isFrag: true, fragTail: true, fragId: 5, proto: 6, l4: 48 },
  },
  {
    desc: 'IPv6 atomic fragment (offset 0, M clear) is a whole datagram',
    pkt: () =>
      udp6(C6, 9, V6, 53, 'z', { ip: { ext: [{ kind: 'frag', fragOffset: 0, mf: false, id: 77 }] } }),
    want: { isFrag: false, fragTail: false, proto: 17, sport: 9, dport: 53, l4: 48, nhOff: 40 },
  },
  {
    desc: 'IPv6 with 8 extension headers (the most accepted)',
    pkt: () =>
      tcp6(C6, 1, V6, 2, 'S', { ip: { ext: new Array<Ipv6Ext>(8).fill({ kind: 'dst', options: [] }) } }),
    want: { proto: 6, l4: 40 + 64, nhOff: 40 + 56, sport: 1 },
  },
];

describe('parsePacket: valid packets', () => {
  for (const c of okCases) {
    test(c.desc, () => {
      for (const pad of [0, 5]) {
        const got = parse(c.pkt(), pad);
        assert.equal(got.r, 0, `drop reason ${counters.COUNTER_NAMES[got.r]}`);
        const picked = Object.fromEntries(Object.keys(c.want).map((k) => [k, got[k as keyof Parsed]]));
        assert.deepEqual(picked, c.want, `at offset ${pad}`);
      }
    });
  }

  test('IPv4 address words 1-3 are zero even after an IPv6 packet', () => {
    parse(tcp6(C6, 1, V6, 2));
    const got = parse(tcp4(C4, 1, V4, 2));
    assert.deepEqual(got.saddr, [w(C4)[0], 0, 0, 0]);
    assert.deepEqual(got.daddr, [w(V4)[0], 0, 0, 0]);
  });

  test('nothing leaks from the previous packet (fragment flags, ports, TCP flags)', () => {
    parse(tcp4(C4, 40001, V4, 80, 'S', { data: 'x'.repeat(64), ip: { mf: true, id: 3 } }));
    const u = parse(ipv4({ src: C4, dst: V4, fragOffset: 8, proto: 17, payload: new Uint8Array(8) }));
    assert.deepEqual([u.isFrag, u.fragTail, u.sport, u.dport, u.tcpFlags], [true, true, 0, 0, 0]);
    const t = parse(udp4(C4, 3, V4, 4));
    assert.deepEqual([t.isFrag, t.fragTail, t.tcpFlags], [false, false, 0]);
    parse(
      ipv6({
        src: C6,
        dst: V6,
        ext: [{ kind: 'frag', fragOffset: 1, id: 1 }],
        proto: 6,
        payload: new Uint8Array(8),
      }),
    );
    const v = parse(tcp6(C6, 5, V6, 6, 'F'));
    assert.deepEqual(
      [v.isFrag, v.fragTail, v.sport, v.dport, v.tcpFlags, v.nhOff],
      [false, false, 5, 6, 1, 6],
    );
  });

  test('trailing bytes after the IP total length are ignored (end)', () => {
    const trailer = new Uint8Array(18).fill(0xee); // Ethernet-style padding
    for (const pkt of [
      tcp4(C4, 1, V4, 80, 'S', { ip: { trailer } }),
      udp4(C4, 1, V4, 53, 'q', { ip: { trailer } }),
      tcp6(C6, 1, V6, 80, 'S', { ip: { trailer } }),
    ]) {
      const got = parse(pkt, 3);
      assert.equal(got.r, 0);
      assert.equal(got.end, pkt.length - trailer.length);
    }
    // A UDP length that only fits with the trailer counted is wrong.
    const bad = ipv4({
      src: C4,
      dst: V4,
      payload: udp({ sport: 1, dport: 2, length: 20 }),
      trailer: new Uint8Array(12),
    });
    assert.equal(parse(bad).r, D_BAD_L4_HDR);
  });
});

interface DropCase {
  desc: string;
  pkt: () => Uint8Array;
  reason: number;
}

const dropCases: DropCase[] = [
  { desc: 'empty', pkt: () => new Uint8Array(0), reason: D_TRUNCATED },
  { desc: 'IPv4 shorter than 20 bytes', pkt: () => tcp4(C4, 1, V4, 2).subarray(0, 19), reason: D_TRUNCATED },
  { desc: 'IPv6 shorter than 40 bytes', pkt: () => tcp6(C6, 1, V6, 2).subarray(0, 39), reason: D_TRUNCATED },
  {
    desc: 'IPv4 TCP segment under 20 bytes',
    pkt: () => ipv4({ src: C4, dst: V4, proto: 6, payload: new Uint8Array(19) }),
    reason: D_TRUNCATED,
  },
  {
    desc: 'IPv4 UDP under 8 bytes',
    pkt: () => ipv4({ src: C4, dst: V4, proto: 17, payload: new Uint8Array(7) }),
    reason: D_TRUNCATED,
  },
  {
    desc: 'IPv4 ICMP under 8 bytes',
    pkt: () => ipv4({ src: C4, dst: V4, proto: 1, payload: new Uint8Array(4) }),
    reason: D_TRUNCATED,
  },
  {
    desc: 'IPv6 TCP segment under 20 bytes',
    pkt: () => ipv6({ src: C6, dst: V6, proto: 6, payload: new Uint8Array(10) }),
    reason: D_TRUNCATED,
  },
  {
    desc: 'IPv6 ICMPv6 under 8 bytes',
    pkt: () => ipv6({ src: C6, dst: V6, proto: 58, payload: new Uint8Array(7) }),
    reason: D_TRUNCATED,
  },
  { desc: 'version 0', pkt: () => Uint8Array.of(0x05, 0, 0, 0), reason: D_BAD_VERSION },
  {
    desc: 'version 5',
    pkt: () => ipv4({ src: C4, dst: V4, version: 5, payload: tcp({ sport: 1, dport: 2 }) }),
    reason: D_BAD_VERSION,
  },
  {
    desc: 'IHL 4',
    pkt: () => ipv4({ src: C4, dst: V4, ihl: 4, payload: tcp({ sport: 1, dport: 2 }) }),
    reason: D_BAD_HDR_LEN,
  },
  {
    desc: 'IHL past the bytes given',
    pkt: () => ipv4({ src: C4, dst: V4, ihl: 15, proto: 6, payload: new Uint8Array(20) }),
    reason: D_BAD_HDR_LEN,
  },
  {
    desc: 'IPv4 total length below the header',
    pkt: () => ipv4({ src: C4, dst: V4, totalLength: 19, payload: tcp({ sport: 1, dport: 2 }) }),
    reason: D_BAD_TOTAL_LEN,
  },
  {
    desc: 'IPv4 total length above the bytes given',
    pkt: () => tcp4(C4, 1, V4, 2).subarray(0, 39),
    reason: D_BAD_TOTAL_LEN,
  },
  {
    desc: 'IPv6 payload length 0 (jumbogram)',
    pkt: () => tcp6(C6, 1, V6, 2, 'S', { ip: { payloadLength: 0 } }),
    reason: D_BAD_TOTAL_LEN,
  },
  {
    desc: 'IPv6 payload length above the bytes given',
    pkt: () => tcp6(C6, 1, V6, 2).subarray(0, 59),
    reason: D_BAD_TOTAL_LEN,
  },
  {
    desc: 'bad IPv4 header checksum',
    pkt: () => tcp4(C4, 1, V4, 2, 'S', { ip: { checksum: 0x1234 } }),
    reason: D_BAD_IP_CSUM,
  },
  {
    desc: 'bad IPv4 checksum over the options only',
    pkt: () => {
      const p = ipv4({
        src: C4,
        dst: V4,
        options: Uint8Array.of(1, 1, 1, 1),
        payload: tcp({ sport: 1, dport: 2 }),
      });
      p[21] = 0; // a NOP becomes EOL: the options word changed, the checksum did not
      return p;
    },
    reason: D_BAD_IP_CSUM,
  },
  { desc: 'TCP data offset 4', pkt: () => tcp4(C4, 1, V4, 2, 'S', { dataOffset: 4 }), reason: D_BAD_L4_HDR },
  {
    desc: 'TCP data offset past the segment',
    pkt: () => tcp4(C4, 1, V4, 2, 'S', { dataOffset: 6 }),
    reason: D_BAD_L4_HDR,
  },
  {
    desc: 'IPv6 TCP data offset past the segment',
    pkt: () => tcp6(C6, 1, V6, 2, 'S', { dataOffset: 15, data: 'abc' }),
    reason: D_BAD_L4_HDR,
  },
  { desc: 'UDP length below 8', pkt: () => udp4(C4, 1, V4, 2, 'abc', { length: 7 }), reason: D_BAD_L4_HDR },
  {
    desc: 'UDP length above the datagram',
    pkt: () => udp4(C4, 1, V4, 2, 'abc', { length: 12 }),
    reason: D_BAD_L4_HDR,
  },
  {
    desc: 'IPv6 UDP length above the datagram',
    pkt: () => udp6(C6, 1, V6, 2, 'abc', { length: 100 }),
    reason: D_BAD_L4_HDR,
  },
  {
    desc: 'IPv4 first fragment too short for a TCP header',
    pkt: () => ipv4({ src: C4, dst: V4, mf: true, proto: 6, payload: new Uint8Array(16) }),
    reason: D_BAD_L4_HDR,
  },
  {
    desc: 'IPv6 first fragment too short for a UDP header',
    pkt: () =>
      ipv6({
        src: C6,
        dst: V6,
        ext: [{ kind: 'frag', mf: true, id: 1 }],
        proto: 17,
        payload: new Uint8Array(4),
      }),
    reason: D_BAD_L4_HDR,
  },
  {
    desc: 'IPv6 routing header with segments left',
    pkt: () =>
      tcp6(C6, 1, V6, 2, 'S', {
        ip: { ext: [{ kind: 'routing', routingType: 0, segmentsLeft: 1, addresses: [V6] }] },
      }),
    reason: D_BAD_EXT_HDR,
  },
  {
    desc: 'IPv6 extension header length past the payload',
    pkt: () => tcp6(C6, 1, V6, 2, 'S', { ip: { ext: [{ kind: 'dst', options: [], hdrExtLen: 9 }] } }),
    reason: D_BAD_EXT_HDR,
  },
  {
    desc: 'IPv6 extension header cut short (under 8 bytes left)',
    pkt: () => ipv6({ src: C6, dst: V6, proto: 0, payload: Uint8Array.of(6, 0, 0, 0) }),
    reason: D_BAD_EXT_HDR,
  },
  {
    desc: 'IPv6 AH length past the payload',
    pkt: () =>
      ipv6({ src: C6, dst: V6, proto: 51, payload: Uint8Array.of(6, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) }),
    reason: D_BAD_EXT_HDR,
  },
  {
    desc: 'IPv6 Fragment header cut short',
    pkt: () => ipv6({ src: C6, dst: V6, proto: 44, payload: Uint8Array.of(6, 0, 0, 0, 0, 0) }),
    reason: D_BAD_EXT_HDR,
  },
  {
    desc: 'IPv6 with 9 extension headers',
    pkt: () =>
      tcp6(C6, 1, V6, 2, 'S', { ip: { ext: new Array<Ipv6Ext>(9).fill({ kind: 'dst', options: [] }) } }),
    reason: D_BAD_EXT_HDR,
  },
];

describe('parsePacket: drop reasons', () => {
  for (const c of dropCases) {
    test(`${c.desc} -> ${counters.COUNTER_NAMES[c.reason]}`, () => {
      for (const pad of [0, 3]) {
        const got = parse(c.pkt(), pad).r;
        assert.equal(counters.COUNTER_NAMES[got], counters.COUNTER_NAMES[c.reason], `at offset ${pad}`);
      }
    });
  }

  test('every parse-level drop reason (the malformed-input D_* group) is produced by some input', () => {
    const parseReasons = Object.entries(counters)
      .filter(
        ([k, v]) => k.startsWith('D_') && typeof v === 'number' && v >= D_TRUNCATED && v <= D_BAD_EXT_HDR,
      )
      .map(([, v]) => v as number)
      .sort((a, b) => a - b);
    assert.deepEqual(parseReasons, [3, 4, 5, 6, 7, 8, 9]);
    const produced = new Set(dropCases.map((c) => c.reason));
    for (const r of parseReasons) assert.ok(produced.has(r), `${counters.COUNTER_NAMES[r]} never produced`);
  });

  // RFC 8200 4.1: the Hop-by-Hop Options header, when present, must immediately follow the IPv6
  // header; Linux answers a later one with a parameter problem and drops the packet.
  test('a hop-by-hop header after another extension header is malformed', () => {
    const pkt = tcp6(C6, 1, V6, 2, 'S', {
      ip: {
        ext: [
          { kind: 'dst', options: [] },
          { kind: 'hbh', options: [] },
        ],
      },
    });
    assert.equal(counters.COUNTER_NAMES[parse(pkt).r], 'drop_bad_ext_hdr');
  });
});

describe('parsePacket: robustness', () => {
  const allowed = new Set([
    0,
    D_TRUNCATED,
    D_BAD_VERSION,
    D_BAD_HDR_LEN,
    D_BAD_TOTAL_LEN,
    D_BAD_IP_CSUM,
    D_BAD_L4_HDR,
    D_BAD_EXT_HDR,
  ]);

  function checkSane(bytes: Uint8Array, pad: number): void {
    const { dv } = viewAt(bytes, pad);
    const r = parsePacket(dv, pad, bytes.length, pi);
    assert.ok(allowed.has(r), `unexpected result ${r}`);
    if (r !== 0) return;
    assert.equal(pi.l3, pad);
    assert.ok(pi.l4 >= pi.l3 + 20 && pi.l4 <= pi.end, `l4 ${pi.l4} within [l3+20, end ${pi.end}]`);
    assert.ok(pi.end <= pad + bytes.length);
    if (pi.fragTail) assert.ok(pi.isFrag);
    if (pi.family === 6) assert.equal(dv.getUint8(pi.nhOff), pi.proto, 'nhOff names the byte holding proto');
  }

  test('random bytes never throw and give a known reason', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom(0x40, 0x45, 0x60, 0x4f),
        fc.nat(7),
        (b, v, pad) => {
          const bytes = b.slice();
          if (bytes.length > 0) bytes[0] = (v & 0xf0) | (v === 0x4f ? bytes[0]! & 0x0f : v & 0x0f);
          checkSane(bytes, pad);
        },
      ),
      fcParams(3000),
    );
  });

  test('valid packets with one byte changed or cut short never throw', () => {
    const seeds = [...okCases.map((c) => c.pkt()), ...dropCases.map((c) => c.pkt())];
    fc.assert(
      fc.property(
        fc.nat(seeds.length - 1),
        fc.nat(200),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(200),
        (i, at, v, cut) => {
          const bytes = seeds[i]!.slice();
          if (bytes.length > 0) bytes[at % bytes.length] = v;
          checkSane(bytes.subarray(0, Math.min(bytes.length, cut)), at % 8);
          checkSane(bytes, 0);
        },
      ),
      fcParams(3000),
    );
  });
});
