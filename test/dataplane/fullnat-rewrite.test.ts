// FULLNAT header rewrites (src/dataplane/fullnat.ts) on random, valid TCP and UDP packets from the
// packet builder. The expected output is the same packet built again with the new addresses and
// ports and the TTL / hop limit one less: the builder computes every checksum from scratch with
// the reference checksum, so byte equality means the incremental patches equal a full
// recomputation and nothing else moved. The decoder then checks the checksums and fields.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { adjustL4Csum, rewrite4, rewrite6 } from '../../src/dataplane/fullnat.js';
import { hexDiff } from '../support/hex.js';
import {
  encodeTcpOptions,
  fragment4,
  fragment6,
  type Ipv6Ext,
  icmp4,
  ipv4,
  ipv6,
  type L4Spec,
  parseIp,
  type TcpOption,
  tcp,
  udp,
} from '../support/packet-builder.js';
import { type DecodedPacket, decodePacket } from '../support/packet-decoder.js';
import { refChecksum } from '../support/ref-checksum.js';
import { addr4Text, addr6Text, fcParams, u8, u16, u32, viewAt, wordsOf } from './unit-helpers.js';

const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  u16.map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map((value): TcpOption => ({ kind: 'wscale', value })),
  fc.constant<TcpOption>({ kind: 'sackOk' }),
  fc.record({ val: u32, ecr: u32 }).map(({ val, ecr }): TcpOption => ({ kind: 'ts', val, ecr })),
  fc
    .array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 })
    .map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc.record({ port: u16, addr: addr4Text }).map(({ port, addr }): TcpOption => ({ kind: 'toa', port, addr })),
);
const tcpOptions = fc.array(tcpOption, { maxLength: 6 }).filter((o) => encodeTcpOptions(o).length <= 40);
const payload = fc.uint8Array({ maxLength: 400 });

/** An L4 spec without addresses or ports (they are filled in per build). */
type L4Body =
  | {
      kind: 'tcp';
      seq: number;
      ack: number;
      flags: number;
      window: number;
      urg: number;
      options: TcpOption[];
      data: Uint8Array;
    }
  | { kind: 'udp'; data: Uint8Array; noCsum: boolean };

const l4Body: fc.Arbitrary<L4Body> = fc.oneof(
  fc.record({
    kind: fc.constant('tcp' as const),
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urg: u16,
    options: tcpOptions,
    data: payload,
  }),
  fc.record({ kind: fc.constant('udp' as const), data: payload, noCsum: fc.boolean() }),
);

function l4Spec(b: L4Body, sport: number, dport: number, v6: boolean): L4Spec {
  if (b.kind === 'tcp') {
    const { kind: _k, ...t } = b;
    return tcp({ sport, dport, ...t });
  }
  // A UDP checksum of 0 means "none" over IPv4 only.
  return udp({ sport, dport, data: b.data, ...(b.noCsum && !v6 ? { checksum: 0 } : {}) });
}

interface Ends {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

const ends = (addr: fc.Arbitrary<string>): fc.Arbitrary<Ends> =>
  fc.record({ src: addr, dst: addr, sport: u16, dport: u16 });

// IPv4: options of any bytes (padded by the builder), TTL 2..255 (the engine drops TTL <= 1 first).
const v4Case = fc.record({
  before: ends(addr4Text),
  after: ends(addr4Text),
  ttl: fc.integer({ min: 2, max: 255 }),
  tos: u8,
  id: u16,
  df: fc.boolean(),
  options: fc.uint8Array({ maxLength: 40 }),
  body: l4Body,
  pad: fc.integer({ min: 0, max: 9 }),
});

// IPv6: extension headers the engine accepts (routing with segments left 0, atomic fragment).
const ext6: fc.Arbitrary<Ipv6Ext> = fc.oneof(
  fc
    .array(fc.record({ type: fc.integer({ min: 2, max: 255 }), data: fc.uint8Array({ maxLength: 10 }) }), {
      maxLength: 3,
    })
    .map((options): Ipv6Ext => ({ kind: 'dst', options })),
  fc.record({ routingType: fc.constantFrom(0, 2, 3, 4), data: fc.uint8Array({ maxLength: 20 }) }).map(
    ({ routingType, data }): Ipv6Ext => ({
      kind: 'routing',
      routingType,
      segmentsLeft: 0,
      data: new Uint8Array(4 + data.length).fill(7),
    }),
  ),
  u32.map((id): Ipv6Ext => ({ kind: 'frag', fragOffset: 0, mf: false, id })),
);
const v6Case = fc.record({
  before: ends(addr6Text),
  after: ends(addr6Text),
  hopLimit: fc.integer({ min: 2, max: 255 }),
  trafficClass: u8,
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  hbh: fc.boolean(),
  ext: fc.array(ext6, { maxLength: 3 }),
  body: l4Body,
  pad: fc.integer({ min: 0, max: 9 }),
});

type V4Case = typeof v4Case extends fc.Arbitrary<infer T> ? T : never;
type V6Case = typeof v6Case extends fc.Arbitrary<infer T> ? T : never;

function build4(c: V4Case, e: Ends, ttl: number): Uint8Array {
  return ipv4({
    src: e.src,
    dst: e.dst,
    ttl,
    tos: c.tos,
    id: c.id,
    df: c.df,
    options: c.options,
    payload: l4Spec(c.body, e.sport, e.dport, false),
  });
}

function build6(c: V6Case, e: Ends, hopLimit: number): Uint8Array {
  const exts: Ipv6Ext[] = [...(c.hbh ? [{ kind: 'hbh' as const, options: [] }] : []), ...c.ext];
  return ipv6({
    src: e.src,
    dst: e.dst,
    hopLimit,
    trafficClass: c.trafficClass,
    flowLabel: c.flowLabel,
    ext: exts,
    payload: l4Spec(c.body, e.sport, e.dport, true),
  });
}

/** Runs rewrite4 on `pkt` placed at offset `pad` of a larger buffer; returns the packet bytes. */
function doRewrite4(pkt: Uint8Array, pad: number, to: Ends, withL4 = true): Uint8Array {
  const { dv, buf } = viewAt(pkt, pad);
  const l4 = pad + (pkt[0]! & 0x0f) * 4;
  const a = (t: string) => wordsOf(parseIp(t))[0]!;
  rewrite4(dv, pad, l4, pkt[9]!, withL4, a(to.src), to.sport, a(to.dst), to.dport);
  assert.ok(
    buf.subarray(0, pad).every((b) => b === 0xa5),
    'bytes before the packet untouched',
  );
  assert.ok(
    buf.subarray(pad + pkt.length).every((b) => b === 0xa5),
    'bytes after the packet untouched',
  );
  return buf.slice(pad, pad + pkt.length);
}

function doRewrite6(pkt: Uint8Array, pad: number, to: Ends, withL4 = true): Uint8Array {
  const d = decodePacket(pkt);
  const { dv, buf } = viewAt(pkt, pad);
  // Junk around the address words in the source arrays: si/di must be honoured.
  const s = new Uint32Array(9).fill(0xdeadbeef);
  const t = new Uint32Array(9).fill(0xdeadbeef);
  s.set(wordsOf(parseIp(to.src)), 3);
  t.set(wordsOf(parseIp(to.dst)), 5);
  rewrite6(dv, pad, pad + d.headerLength, d.proto, withL4, s, 3, to.sport, t, 5, to.dport);
  assert.ok(
    buf.subarray(0, pad).every((b) => b === 0xa5),
    'bytes before the packet untouched',
  );
  assert.ok(
    buf.subarray(pad + pkt.length).every((b) => b === 0xa5),
    'bytes after the packet untouched',
  );
  return buf.slice(pad, pad + pkt.length);
}

/** Bytes of the TCP (with options) or UDP header at the start of `l4`. */
function l4HeaderLen(l4: Uint8Array, kind: 'tcp' | 'udp'): number {
  return kind === 'tcp' ? (l4[12]! >> 4) * 4 : 8;
}

/** Decoded fields that a rewrite must leave alone (addresses, ports, TTL and checksums dropped). */
function invariantFields(d: DecodedPacket): unknown {
  const { src: _s, dst: _d, ttl: _t, hopLimit: _h, ipChecksum: _c, l4: _l, tcp: t, udp: u, ...ip } = d;
  const strip = (x: { sport: number; dport: number; checksum?: number } | undefined) => {
    if (!x) return x;
    const { sport: _a, dport: _b, checksum: _x, ...rest } = x;
    return rest;
  };
  return { ip, tcp: strip(t), udp: strip(u) };
}

function checkRewritten(out: Uint8Array, input: Uint8Array, want: Uint8Array, to: Ends, ttl: number): void {
  assert.equal(hexDiff(out, want), '', 'rewritten packet = the packet rebuilt with the new fields');
  const d = decodePacket(out);
  const din = decodePacket(input);
  assert.deepEqual(d.errors, []);
  assert.ok(d.ipCsumOk, 'IP header checksum');
  assert.equal(d.l4CsumOk, true, 'L4 checksum');
  assert.equal(d.src, decodePacket(want).src);
  assert.equal(d.dst, decodePacket(want).dst);
  assert.equal(d.ttl, ttl - 1);
  const ports = d.tcp ?? d.udp;
  assert.equal(ports?.sport, to.sport);
  assert.equal(ports?.dport, to.dport);
  if (din.udp && din.udp.checksum === 0) assert.equal(d.udp?.checksum, 0, 'UDP "no checksum" stays 0');
  assert.deepEqual(invariantFields(d), invariantFields(din));
}

describe('rewrite4', () => {
  test('property: random TCP/UDP packets with IP and TCP options', () => {
    fc.assert(
      fc.property(v4Case, (c) => {
        const input = build4(c, c.before, c.ttl);
        const out = doRewrite4(input, c.pad, c.after);
        checkRewritten(out, input, build4(c, c.after, c.ttl - 1), c.after, c.ttl);
      }),
      fcParams(1500),
    );
  });

  test('property: fragments of a datagram (first with L4, the rest without) equal the rebuilt fragments', () => {
    fc.assert(
      fc.property(v4Case, fc.integer({ min: 1, max: 16 }), (c, blocks) => {
        const input = build4(c, c.before, c.ttl);
        // The first fragment must hold the whole L4 header (parse.ts drops it otherwise).
        const hl = (input[0]! & 0x0f) * 4;
        fc.pre(blocks * 8 >= l4HeaderLen(input.subarray(hl), c.body.kind));
        const want = fragment4(build4(c, c.after, c.ttl - 1), blocks * 8);
        const frags = fragment4(input, blocks * 8);
        assert.equal(frags.length, want.length);
        frags.forEach((f, i) => {
          const first = ((f[6]! & 0x1f) << 8) + f[7]! === 0;
          const out = doRewrite4(f, c.pad, c.after, first);
          assert.equal(hexDiff(out, want[i]!), '', `fragment ${i}`);
        });
      }),
      fcParams(400),
    );
  });

  test('a UDP datagram whose checksum computes to 0 (sent as 0xffff) keeps a valid checksum', () => {
    // Find a payload word that makes the UDP sum 0xffff before the rewrite: checksum field 0xffff.
    const before: Ends = { src: '198.51.100.2', dst: '203.0.113.10', sport: 5353, dport: 53 };
    const after: Ends = { src: '192.0.2.200', dst: '192.0.2.21', sport: 1025, dport: 53 };
    const data = new Uint8Array(6);
    const mk = (e: Ends, ttl: number) =>
      ipv4({ src: e.src, dst: e.dst, ttl, payload: udp({ sport: e.sport, dport: e.dport, data }) });
    const probe = mk(before, 64);
    const c = (probe[20 + 6]! << 8) | probe[20 + 7]!;
    // Adding (c) into a data word makes the sum 0xffff, so the computed checksum is 0.
    data[0] = c >>> 8;
    data[1] = c & 0xff;
    const input = mk(before, 64);
    assert.equal((input[26]! << 8) | input[27]!, 0xffff, 'test set-up: checksum sent as 0xffff');
    const out = doRewrite4(input, 3, after);
    checkRewritten(out, input, mk(after, 63), after, 64);
  });

  test('an ICMP packet: addresses and TTL change, the message does not', () => {
    const input = ipv4({
      src: '198.51.100.2',
      dst: '203.0.113.10',
      ttl: 9,
      payload: icmp4({ type: 8, rest: 0x12340001, data: 'ping' }),
    });
    const to: Ends = { src: '192.0.2.200', dst: '192.0.2.21', sport: 1, dport: 2 };
    const out = doRewrite4(input, 0, to);
    const want = ipv4({
      src: to.src,
      dst: to.dst,
      ttl: 8,
      payload: icmp4({ type: 8, rest: 0x12340001, data: 'ping' }),
    });
    assert.equal(hexDiff(out, want), '');
    assert.equal(refChecksum(out.subarray(20)), 0);
  });
});

describe('rewrite6', () => {
  test('property: random TCP/UDP packets with extension headers', () => {
    fc.assert(
      fc.property(v6Case, (c) => {
        const input = build6(c, c.before, c.hopLimit);
        const out = doRewrite6(input, c.pad, c.after);
        checkRewritten(out, input, build6(c, c.after, c.hopLimit - 1), c.after, c.hopLimit);
      }),
      fcParams(1500),
    );
  });

  test('property: fragments (first with L4, the rest without) equal the rebuilt fragments', () => {
    fc.assert(
      fc.property(v6Case, fc.integer({ min: 1, max: 16 }), u32, (c0, blocks, id) => {
        // Only the unfragmentable part (hop-by-hop, routing) may precede the Fragment header here,
        // so the fragmentable part starts with the L4 header.
        const c = { ...c0, ext: c0.ext.filter((e) => e.kind === 'routing') };
        const input = build6(c, c.before, c.hopLimit);
        fc.pre(blocks * 8 >= l4HeaderLen(input.subarray(decodePacket(input).headerLength), c.body.kind));
        const want = fragment6(build6(c, c.after, c.hopLimit - 1), blocks * 8, id);
        const frags = fragment6(input, blocks * 8, id);
        assert.equal(frags.length, want.length);
        frags.forEach((f, i) => {
          const d = decodePacket(f);
          const first = (d.fragOffset ?? 0) === 0;
          const out = doRewrite6(f, c.pad, c.after, first);
          assert.equal(hexDiff(out, want[i]!), '', `fragment ${i}`);
        });
      }),
      fcParams(400),
    );
  });
});

describe('adjustL4Csum', () => {
  test('UDP: 0 stays 0 on IPv4, is patched on IPv6; a result of 0 is sent as 0xffff', () => {
    const dv = new DataView(new ArrayBuffer(8));
    adjustL4Csum(dv, 0, 17, 0x1234, false);
    assert.equal(dv.getUint16(6), 0);
    adjustL4Csum(dv, 0, 17, 0x1234, true);
    assert.equal(dv.getUint16(6), ~0x1234 & 0xffff);
    // Field 0x1234 and a difference of 0x1234: the new sum is 0xedcb + 0x1234 = 0xffff, checksum 0.
    dv.setUint16(6, 0x1234);
    adjustL4Csum(dv, 0, 17, 0x1234, false);
    assert.equal(dv.getUint16(6), 0xffff, 'a computed 0 is transmitted as 0xffff');
  });

  test('TCP: the field at offset 16 is patched; other protocols are left alone', () => {
    const dv = new DataView(new ArrayBuffer(20));
    dv.setUint16(16, 0xabcd);
    adjustL4Csum(dv, 0, 6, 0x0001, false);
    assert.equal(dv.getUint16(16), 0xabcc);
    const before = new Uint8Array(dv.buffer).slice();
    for (const proto of [1, 58, 132]) adjustL4Csum(dv, 0, proto, 0x5555, false);
    assert.deepEqual(new Uint8Array(dv.buffer), before);
  });
});
