import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fromHex, hexDiff } from '../support/hex.js';
import {
  canonicalIp,
  echoRest,
  encodeL4,
  encodeTcpOptions,
  formatIp,
  fragment4,
  fragment6,
  icmp4,
  icmp6,
  ipv4,
  ipv6,
  parseIPv4,
  parseIPv6,
  quote,
  tcp,
  tcp4,
  tcp6,
  tcpFlagBits,
  tcpFlagString,
  udp,
  udp4,
  udp6,
} from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';
import { refChecksum } from '../support/ref-checksum.js';

// Packets produced by an independent implementation (Scapy 2.5.0, Debian python3-scapy) from
// the expression quoted with each, printed as bytes(pkt).hex(). Our builder must produce the
// same bytes, checksums included.
const SCAPY: { name: string; scapy: string; hex: string; build: () => Uint8Array }[] = [
  {
    name: 'IPv4 TCP SYN with mss, sackOk, ts, nop, wscale',
    scapy:
      "IP(src='198.51.100.2',dst='203.0.113.10',id=0x1234,flags='DF')/TCP(sport=40000,dport=80,seq=1000,flags='S',window=64240,options=[('MSS',1460),('SAckOK',b''),('Timestamp',(123456,0)),('NOP',None),('WScale',7)])",
    hex: '4500003c123440004006c247c6336402cb00710a9c400050000003e800000000a002faf064140000020405b40402080a0001e2400000000001030307',
    build: () =>
      tcp4('198.51.100.2', 40000, '203.0.113.10', 80, 'S', {
        seq: 1000,
        window: 64240,
        options: [
          { kind: 'mss', value: 1460 },
          { kind: 'sackOk' },
          { kind: 'ts', val: 123456, ecr: 0 },
          { kind: 'nop' },
          { kind: 'wscale', value: 7 },
        ],
        ip: { id: 0x1234, df: true },
      }),
  },
  {
    name: 'IPv4 TCP PSH+ACK with data and high seq',
    scapy:
      "IP(src='192.0.2.200',dst='192.0.2.21',id=1,ttl=63)/TCP(sport=5001,dport=8080,seq=0xfffffff0,ack=0x80000001,flags='PA',window=502,options=[('NOP',None),('NOP',None),('Timestamp',(1,2))])/Raw(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')",
    hex: '4500004f000100003f06f6cac00002c8c000021513891f90fffffff080000001801801f6e90200000101080a0000000100000002474554202f20485454502f312e310d0a486f73743a20780d0a0d0a',
    build: () =>
      tcp4('192.0.2.200', 5001, '192.0.2.21', 8080, 'PA', {
        seq: 0xfffffff0,
        ack: 0x80000001,
        window: 502,
        options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: 1, ecr: 2 }],
        data: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        ip: { id: 1, ttl: 63 },
      }),
  },
  {
    name: 'IPv4 TCP ACK carrying a TOA option (kind 254, len 8)',
    scapy:
      "IP(src='192.0.2.200',dst='192.0.2.21',ttl=63)/TCP(sport=5001,dport=8080,seq=1,ack=2,flags='A',window=502,options=[(254,bytes.fromhex('9c40c6336402'))])",
    hex: '45000030000100003f06f6e9c00002c8c000021513891f900000000100000002701001f6115d0000fe089c40c6336402',
    build: () =>
      tcp4('192.0.2.200', 5001, '192.0.2.21', 8080, 'A', {
        seq: 1,
        ack: 2,
        window: 502,
        options: [{ kind: 'toa', port: 40000, addr: '198.51.100.2' }],
        ip: { id: 1, ttl: 63 },
      }),
  },
  {
    name: 'IPv4 UDP with tos',
    scapy: "IP(src='198.51.100.2',dst='203.0.113.11',id=7,tos=0x10)/UDP(sport=5353,dport=53)/Raw(b'abc')",
    hex: '4510001f0007000040111476c6336402cb00710b14e90035000bc015616263',
    build: () => udp4('198.51.100.2', 5353, '203.0.113.11', 53, 'abc', { ip: { id: 7, tos: 0x10 } }),
  },
  {
    name: 'IPv4 with a Router Alert option, UDP',
    scapy:
      "IP(src='198.51.100.2',dst='203.0.113.11',options=[IPOption_Router_Alert()])/UDP(sport=1,dport=2)/Raw(b'\\x01\\x02\\x03\\x04\\x05')",
    hex: '460000250001000040117f81c6336402cb00710b9404000000010002000d90890102030405',
    build: () =>
      udp4('198.51.100.2', 1, '203.0.113.11', 2, Uint8Array.of(1, 2, 3, 4, 5), {
        ip: { id: 1, options: Uint8Array.of(0x94, 0x04, 0, 0) },
      }),
  },
  {
    name: 'ICMPv4 echo request',
    scapy: "IP(src='198.51.100.2',dst='203.0.113.10')/ICMP(type=8,id=0x4242,seq=3)/Raw(b'ping-payload')",
    hex: '450000280001000040011494c6336402cb00710a08007a2c4242000370696e672d7061796c6f6164',
    build: () =>
      ipv4({
        src: '198.51.100.2',
        dst: '203.0.113.10',
        id: 1,
        payload: icmp4({ type: 8, rest: echoRest(0x4242, 3), data: 'ping-payload' }),
      }),
  },
  {
    name: 'ICMPv4 frag-needed quoting an IPv4 TCP header + 8 bytes',
    scapy:
      "inner=IP(src='203.0.113.10',dst='198.51.100.2',id=99,flags='DF')/TCP(sport=80,dport=40000,seq=5000,ack=1001,flags='A')/Raw(b'x'*1400); IP(src='192.0.2.1',dst='203.0.113.10',ttl=255)/ICMP(type=3,code=4,nexthopmtu=1400)/Raw(bytes(inner)[:28])",
    hex: '4500003800010000ff01bdb7c0000201cb00710a0304476b00000578450005a0006340004006ceb4cb00710ac633640200509c4000001388',
    build: () => {
      const inner = tcp4('203.0.113.10', 80, '198.51.100.2', 40000, 'A', {
        seq: 5000,
        ack: 1001,
        window: 8192,
        data: 'x'.repeat(1400),
        ip: { id: 99, df: true },
      });
      return ipv4({
        src: '192.0.2.1',
        dst: '203.0.113.10',
        id: 1,
        ttl: 255,
        payload: icmp4({ type: 3, code: 4, rest: 1400, data: quote(inner) }),
      });
    },
  },
  {
    name: 'IPv6 TCP ACK with a SACK option, traffic class and flow label',
    scapy:
      "IPv6(src='2001:db8:100::2',dst='2001:db8:203::10',tc=0x20,fl=0x12345)/TCP(sport=40000,dport=443,seq=10,ack=20,flags='A',window=1000,options=[('NOP',None),('NOP',None),('SAck',(100,200,300,400))])",
    hex: '620123450028064020010db801000000000000000000000220010db80203000000000000000000109c4001bb0000000a00000014a01003e8553d00000101051200000064000000c80000012c00000190',
    build: () =>
      tcp6('2001:db8:100::2', 40000, '2001:db8:203::10', 443, 'A', {
        seq: 10,
        ack: 20,
        window: 1000,
        options: [
          { kind: 'nop' },
          { kind: 'nop' },
          {
            kind: 'sack',
            blocks: [
              [100, 200],
              [300, 400],
            ],
          },
        ],
        ip: { trafficClass: 0x20, flowLabel: 0x12345 },
      }),
  },
  {
    name: 'IPv6 UDP behind hop-by-hop and destination options (PadN added)',
    scapy:
      "IPv6(src='2001:db8:100::2',dst='2001:db8:203::10')/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1e,optdata=b'\\xaa\\xbb')])/IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x1f,optdata=b'\\x01\\x02\\x03\\x04\\x05\\x06\\x07')])/UDP(sport=1000,dport=2000)/Raw(b'hello')",
    hex: '600000000025004020010db801000000000000000000000220010db80203000000000000000000103c001e02aabb010011011f0701020304050607010300000003e807d0000d51c368656c6c6f',
    build: () =>
      udp6('2001:db8:100::2', 1000, '2001:db8:203::10', 2000, 'hello', {
        ip: {
          ext: [
            { kind: 'hbh', options: [{ type: 0x1e, data: Uint8Array.of(0xaa, 0xbb) }] },
            { kind: 'dst', options: [{ type: 0x1f, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7) }] },
          ],
        },
      }),
  },
  {
    name: 'ICMPv6 echo request',
    scapy: "IPv6(src='2001:db8:100::2',dst='2001:db8:203::10')/ICMPv6EchoRequest(id=1,seq=2,data=b'abcdef')",
    hex: '60000000000e3a4020010db801000000000000000000000220010db80203000000000000000000108000f6ff00010002616263646566',
    build: () =>
      ipv6({
        src: '2001:db8:100::2',
        dst: '2001:db8:203::10',
        payload: icmp6({ type: 128, rest: echoRest(1, 2), data: 'abcdef' }),
      }),
  },
  {
    name: 'ICMPv6 Packet Too Big quoting 200 bytes of an IPv6 TCP packet',
    scapy:
      "inner6=IPv6(src='2001:db8:203::10',dst='2001:db8:100::2')/TCP(sport=443,dport=40000,seq=1,ack=2,flags='PA')/Raw(b'y'*1300); IPv6(src='2001:db8:2::1',dst='2001:db8:203::10',hlim=255)/ICMPv6PacketTooBig(mtu=1280)/Raw(bytes(inner6)[:200])",
    hex:
      '6000000000d03aff20010db800020000000000000000000120010db802030000000000000000001002006b6a00000500600000000528064020010db802030000000000000000001020010db801000000000000000000000201bb9c400000000100000002501820001fc50000' +
      '79'.repeat(140),
    build: () => {
      const inner = tcp6('2001:db8:203::10', 443, '2001:db8:100::2', 40000, 'PA', {
        seq: 1,
        ack: 2,
        window: 8192,
        data: 'y'.repeat(1300),
      });
      return ipv6({
        src: '2001:db8:2::1',
        dst: '2001:db8:203::10',
        hopLimit: 255,
        payload: icmp6({ type: 2, rest: 1280, data: quote(inner, 160) }),
      });
    },
  },
  {
    name: 'IPv6 TCP with a type 0 routing header (pseudo-header uses the final destination)',
    scapy:
      "IPv6(src='2001:db8:100::2',dst='2001:db8:2::200')/IPv6ExtHdrRouting(type=0,segleft=1,addresses=['2001:db8:2::21'])/TCP(sport=1,dport=2,flags='S')",
    hex: '60000000002c2b4020010db801000000000000000000000220010db8000200000000000000000200060200010000000020010db80002000000000000000000210001000200000000000000005002200033490000',
    build: () =>
      tcp6('2001:db8:100::2', 1, '2001:db8:2::200', 2, 'S', {
        window: 8192,
        ip: { ext: [{ kind: 'routing', routingType: 0, segmentsLeft: 1, addresses: ['2001:db8:2::21'] }] },
      }),
  },
  {
    name: 'IPv6 atomic fragment (Fragment header, offset 0, M=0) with UDP',
    scapy:
      "IPv6(src='2001:db8:100::2',dst='2001:db8:203::10')/IPv6ExtHdrFragment(id=0xabcdef,offset=0,m=0)/UDP(sport=7,dport=9)/Raw(b'frag')",
    hex: '6000000000142c4020010db801000000000000000000000220010db80203000000000000000000101100000000abcdef00070009000cd96566726167',
    build: () =>
      udp6('2001:db8:100::2', 7, '2001:db8:203::10', 9, 'frag', {
        ip: { ext: [{ kind: 'frag', id: 0xabcdef }] },
      }),
  },
];

describe('builder output is byte-identical to Scapy', () => {
  for (const c of SCAPY) {
    test(c.name, () => {
      assert.equal(hexDiff(c.build(), fromHex(c.hex)), '', c.scapy);
    });
  }
});

describe('addresses', () => {
  test('IPv4 parse/format, rejects bad text', () => {
    assert.deepEqual(Array.from(parseIPv4('198.51.100.2')), [198, 51, 100, 2]);
    assert.equal(formatIp(parseIPv4('0.0.0.0')), '0.0.0.0');
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', '', 'a.b.c.d']) {
      assert.throws(() => parseIPv4(bad), SyntaxError, bad);
    }
  });

  test('IPv6 parse/format: compression, dotted tail, canonical output', () => {
    assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('::1'), '::1');
    assert.equal(canonicalIp('1::'), '1::');
    assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'first of equal runs');
    assert.equal(canonicalIp('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'longest run');
    assert.equal(canonicalIp('2001:db8:1:1:1:1:0:1'), '2001:db8:1:1:1:1:0:1', 'no :: for one group');
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '::ffff:c000:201');
    for (const bad of [
      ':::',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      'g::',
      '12345::',
      '1.2.3.4::',
    ]) {
      assert.throws(() => parseIPv6(bad), SyntaxError, bad);
    }
  });

  test('IPv6 formatting agrees with the WHATWG URL serializer', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const long = groups.map((g) => g.toString(16)).join(':');
        const mine = canonicalIp(long);
        assert.equal(`[${mine}]`, new URL(`http://[${long}]/`).hostname);
        assert.equal(canonicalIp(mine), mine);
      }),
      { numRuns: 400, seed: 5952 },
    );
  });
});

describe('TCP flags and options', () => {
  test('flag strings in any order, booleans, numbers', () => {
    assert.equal(tcpFlagBits('S'), 0x02);
    assert.equal(tcpFlagBits('SA'), 0x12);
    assert.equal(tcpFlagBits('AS'), 0x12);
    assert.equal(tcpFlagBits('PA'), 0x18);
    assert.equal(tcpFlagBits('FA'), 0x11);
    assert.equal(tcpFlagBits('R'), 0x04);
    assert.equal(tcpFlagBits('RA'), 0x14);
    assert.equal(tcpFlagBits('FSRPAUEC'), 0xff);
    assert.equal(tcpFlagBits(''), 0);
    assert.equal(tcpFlagBits({ syn: true, ack: true }), 0x12);
    assert.equal(tcpFlagBits({ fin: true, urg: true, ece: true, cwr: true }), 0xe1);
    assert.equal(tcpFlagBits(0x29), 0x29);
    assert.throws(() => tcpFlagBits('SX'), SyntaxError);
    assert.throws(() => tcpFlagBits(256), RangeError);
    assert.equal(tcpFlagString(0x12), 'SA');
    assert.equal(tcpFlagString(0x18), 'PA');
    for (let b = 0; b < 256; b++) assert.equal(tcpFlagBits(tcpFlagString(b)), b);
  });

  test('option encodings (RFC 9293, 7323, 2018; TOA as in DESIGN.md)', () => {
    const enc = (o: Parameters<typeof encodeTcpOptions>[0]) => Array.from(encodeTcpOptions(o));
    assert.deepEqual(enc([{ kind: 'eol' }, { kind: 'nop' }]), [0, 1]);
    assert.deepEqual(enc([{ kind: 'mss', value: 1452 }]), [2, 4, 0x05, 0xac]);
    assert.deepEqual(enc([{ kind: 'wscale', value: 14 }]), [3, 3, 14]);
    assert.deepEqual(enc([{ kind: 'sackOk' }]), [4, 2]);
    assert.deepEqual(
      enc([{ kind: 'ts', val: 0x01020304, ecr: 0xa0b0c0d0 }]),
      [8, 10, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0],
    );
    assert.deepEqual(
      enc([{ kind: 'sack', blocks: [[1, 0xffffffff]] }]),
      [5, 10, 0, 0, 0, 1, 255, 255, 255, 255],
    );
    assert.deepEqual(enc([{ kind: 'toa', port: 0x1234, addr: '1.2.3.4' }]), [254, 8, 0x12, 0x34, 1, 2, 3, 4]);
    const toa6 = enc([{ kind: 'toa', port: 80, addr: '2001:db8::1' }]);
    assert.deepEqual(toa6.slice(0, 4), [254, 20, 0, 80]);
    assert.equal(toa6.length, 20);
    assert.deepEqual(enc([{ kind: 'raw', bytes: Uint8Array.of(253, 4, 9, 9) }]), [253, 4, 9, 9]);
    assert.throws(() => encodeTcpOptions([{ kind: 'mss', value: 70000 }]), RangeError);
  });

  test('options are padded with zero bytes to 4 and the data offset follows', () => {
    const seg = encodeL4(tcp({ sport: 1, dport: 2, options: [{ kind: 'wscale', value: 7 }] }), {
      src: parseIPv4('10.0.0.1'),
      dst: parseIPv4('10.0.0.2'),
    });
    assert.equal(seg.length, 24);
    assert.equal(seg[12]! >> 4, 6);
    assert.deepEqual(Array.from(seg.subarray(20)), [3, 3, 7, 0]);
  });

  test('more than 40 bytes of options throw unless dataOffset forces it', () => {
    const options = Array.from({ length: 11 }, () => ({ kind: 'mss' as const, value: 1 }));
    const addrs = { src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2') };
    assert.throws(() => encodeL4(tcp({ sport: 1, dport: 2, options }), addrs), RangeError);
    const seg = encodeL4(tcp({ sport: 1, dport: 2, options, dataOffset: 15 }), addrs);
    assert.equal(seg.length, 64);
    assert.equal(seg[12]! >> 4, 15);
  });
});

describe('defaults and field placement', () => {
  test('IPv4 + TCP defaults: ttl 64, id 0, no flags, seq/ack 0, flags S, window 65535', () => {
    const p = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: tcp({ sport: 1234, dport: 80 }) });
    assert.equal(p.length, 40);
    assert.equal(p[0], 0x45);
    assert.equal(p[8], 64);
    assert.equal(p[9], 6);
    assert.deepEqual(Array.from(p.subarray(4, 8)), [0, 0, 0, 0]);
    assert.equal(p[20 + 13], 0x02);
    assert.deepEqual(Array.from(p.subarray(20 + 14, 20 + 16)), [0xff, 0xff]);
    assert.equal(refChecksum(p.subarray(0, 20)), 0);
  });

  test('IPv4 flags and fragment offset bits', () => {
    const p = ipv4({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      proto: 253,
      df: true,
      mf: true,
      reservedFlag: true,
      fragOffset: 0x1abc,
    });
    assert.equal((p[6]! << 8) | p[7]!, 0x8000 | 0x4000 | 0x2000 | 0x1abc);
    assert.equal(p[9], 253);
  });

  test('IPv4 options padded to 4 with zero bytes, IHL follows', () => {
    const p = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, options: Uint8Array.of(7, 3, 4) });
    assert.equal(p[0], 0x46);
    assert.deepEqual(Array.from(p.subarray(20, 24)), [7, 3, 4, 0]);
    assert.throws(
      () => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, options: new Uint8Array(41) }),
      RangeError,
    );
  });

  test('IPv6 header fields', () => {
    const p = ipv6({
      src: '::1',
      dst: '::2',
      trafficClass: 0xb8,
      flowLabel: 0xfffff,
      hopLimit: 1,
      proto: 59,
    });
    assert.equal(p.length, 40);
    assert.deepEqual(Array.from(p.subarray(0, 8)), [0x6b, 0x8f, 0xff, 0xff, 0, 0, 59, 1]);
  });

  test('raw payload needs proto; proto overrides the spec protocol in the header only', () => {
    assert.throws(() => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: Uint8Array.of(1) }), TypeError);
    const p = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, payload: tcp({ sport: 1, dport: 2 }) });
    assert.equal(p[9], 17);
    assert.equal(p.length, 40);
  });

  test('encodeL4 without addresses needs a given checksum (except ICMPv4)', () => {
    assert.throws(() => encodeL4(tcp({ sport: 1, dport: 2 })), TypeError);
    assert.throws(() => encodeL4(udp({ sport: 1, dport: 2 })), TypeError);
    assert.throws(() => encodeL4(icmp6({ type: 128 })), TypeError);
    assert.equal(encodeL4(tcp({ sport: 1, dport: 2, checksum: 0xabcd }))[16], 0xab);
    assert.equal(refChecksum(encodeL4(icmp4({ type: 8, data: 'x' }))), 0);
  });

  test('out-of-range fields throw RangeError', () => {
    assert.throws(() => tcp4('10.0.0.1', 65536, '10.0.0.2', 80), RangeError);
    assert.throws(() => tcp4('10.0.0.1', 1, '10.0.0.2', 80, 'S', { seq: 2 ** 32 }), RangeError);
    assert.throws(() => tcp4('10.0.0.1', 1, '10.0.0.2', 80, 'S', { ip: { ttl: 256 } }), RangeError);
    assert.throws(() => ipv6({ src: '::1', dst: '::2', proto: 59, flowLabel: 0x100000 }), RangeError);
    assert.throws(
      () => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 59, fragOffset: 0x2000 }),
      RangeError,
    );
  });

  test('UDP checksum that computes to 0 is sent as 0xffff', () => {
    // With payload word 0 the checksum is c = ~S. Using c itself as the payload word makes
    // the sum S + ~S = 0xffff, i.e. a computed checksum of 0.
    const zero = udp4('10.0.0.1', 1, '10.0.0.2', 2, Uint8Array.of(0, 0));
    const c = (zero[26]! << 8) | zero[27]!;
    const p = udp4('10.0.0.1', 1, '10.0.0.2', 2, Uint8Array.of(c >> 8, c & 0xff));
    assert.deepEqual(Array.from(p.subarray(26, 28)), [0xff, 0xff]);
    assert.equal(decodePacket(p).l4CsumOk, true);
    assert.equal(decodePacket(p).udp?.checksum, 0xffff);
  });

  test('trailer is not counted; truncate cuts the finished packet', () => {
    const full = tcp4('10.0.0.1', 1, '10.0.0.2', 2);
    const padded = tcp4('10.0.0.1', 1, '10.0.0.2', 2, 'S', { ip: { trailer: new Uint8Array(6) } });
    assert.equal(padded.length, full.length + 6);
    assert.equal(hexDiff(padded.subarray(0, full.length), full), '');
    const cut = tcp4('10.0.0.1', 1, '10.0.0.2', 2, 'S', { ip: { truncate: 30 } });
    assert.equal(hexDiff(cut, full.subarray(0, 30)), '');
  });
});

describe('quote', () => {
  test('IPv4: header with options + 8 bytes', () => {
    const p = udp4('10.0.0.1', 1, '10.0.0.2', 2, 'a long enough payload', {
      ip: { options: Uint8Array.of(1, 1, 1, 1) },
    });
    assert.equal(quote(p).length, 24 + 8);
    assert.equal(quote(p, 0).length, 24);
    assert.equal(quote(p, Number.POSITIVE_INFINITY).length, p.length);
  });

  test('IPv6: header with extension headers + N bytes', () => {
    const p = udp6('::1', 1, '::2', 2, 'a long enough payload', {
      ip: { ext: [{ kind: 'hbh' }, { kind: 'dst' }] },
    });
    assert.equal(quote(p).length, 40 + 16 + 8);
  });
});

describe('fragmentation helpers', () => {
  const payloadOf4 = (frags: Uint8Array[]) => {
    const parts = frags.map((f) => ({
      off: (((f[6]! << 8) | f[7]!) & 0x1fff) * 8,
      data: f.subarray((f[0]! & 15) * 4),
    }));
    const out = new Uint8Array(Math.max(...parts.map((p) => p.off + p.data.length)));
    for (const p of parts) out.set(p.data, p.off);
    return out;
  };

  test('fragment4 splits on 8-byte boundaries, sets MF and offsets, keeps DF/id, valid header checksums', () => {
    const p = udp4('10.0.0.1', 1, '10.0.0.2', 2, 'z'.repeat(100), { ip: { id: 77 } });
    const frags = fragment4(p, 30);
    assert.equal(frags.length, 5); // 108 bytes of UDP in 24-byte pieces
    frags.forEach((f, i) => {
      const d = decodePacket(f);
      assert.equal(d.id, 77);
      assert.equal(d.ipCsumOk, true);
      assert.equal(d.isFragment, true);
      assert.equal(d.mf, i < frags.length - 1);
      assert.equal(d.fragOffset, i * 3);
      assert.equal(d.l4CsumOk, null);
    });
    assert.equal(hexDiff(payloadOf4(frags), p.subarray(20)), '');
    assert.equal(decodePacket(frags[0]!).udp?.dport, 2);
    assert.equal(decodePacket(frags[1]!).udp, undefined);
  });

  test('fragment6 inserts a Fragment header after hop-by-hop and routing headers', () => {
    const p = tcp6('2001:db8::1', 1, '2001:db8::2', 2, 'PA', {
      data: 'q'.repeat(50),
      ip: { ext: [{ kind: 'hbh' }, { kind: 'dst' }, { kind: 'routing', addresses: ['2001:db8::3'] }] },
    });
    const frags = fragment6(p, 40, 0x1234);
    const fragmentable = p.subarray(40 + 8 + 8 + 24);
    assert.equal(frags.length, Math.ceil(fragmentable.length / 40));
    const rebuilt: number[] = [];
    frags.forEach((f, i) => {
      const d = decodePacket(f);
      assert.deepEqual(
        d.ext?.map((e) => e.kind),
        ['hbh', 'dst', 'routing', 'frag'],
      );
      assert.equal(d.fragId, 0x1234);
      assert.equal(d.fragOffset, i * 5);
      assert.equal(d.mf, i < frags.length - 1);
      assert.equal(d.proto, 6);
      assert.equal(d.truncated, false);
      assert.equal(d.l4CsumOk, null);
      rebuilt.push(...d.l4);
    });
    assert.equal(hexDiff(Uint8Array.from(rebuilt), fragmentable), '');
    assert.equal(decodePacket(frags[0]!).tcp?.sport, 1);
  });
});
