// Property tests: random field values build into packets that decode back to the same
// fields with every checksum verifying, and the decoder survives anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hexDiff } from '../support/hex.js';
import {
  canonicalIp,
  encodeTcpOptions,
  formatIp,
  type Ipv6Ext,
  icmp4,
  icmp6,
  ipv4,
  ipv6,
  type L4Spec,
  type TcpOption,
  tcp,
  udp,
} from '../support/packet-builder.js';
import { type DecodedPacket, decodePacket, describePacket } from '../support/packet-decoder.js';
import { refChecksum } from '../support/ref-checksum.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const addr4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
const group = fc.oneof(fc.constant(0), u16);
const addr6 = fc
  .array(group, { minLength: 8, maxLength: 8 })
  .map((g) => canonicalIp(g.map((x) => x.toString(16)).join(':')));

const KNOWN_KINDS = new Set([0, 1, 2, 3, 4, 5, 8, 254]);
const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  u16.map((value): TcpOption => ({ kind: 'mss', value })),
  u8.map((value): TcpOption => ({ kind: 'wscale', value })),
  fc.constant<TcpOption>({ kind: 'sackOk' }),
  fc.record({ val: u32, ecr: u32 }).map(({ val, ecr }): TcpOption => ({ kind: 'ts', val, ecr })),
  fc
    .array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 })
    .map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc
    .record({ port: u16, addr: fc.oneof(addr4, addr6) })
    .map(({ port, addr }): TcpOption => ({ kind: 'toa', port, addr })),
  fc.record({ kind: u8.filter((k) => !KNOWN_KINDS.has(k)), data: fc.uint8Array({ maxLength: 8 }) }).map(
    ({ kind, data }): TcpOption => ({
      kind: 'raw',
      bytes: Uint8Array.from([kind, data.length + 2, ...data]),
    }),
  ),
);
const tcpOptions = fc
  .array(tcpOption, { maxLength: 8 })
  .filter((opts) => encodeTcpOptions(opts).length <= 40);

const data = fc.uint8Array({ maxLength: 300 });

type L4Kind = 'tcp' | 'udp' | 'icmp';
const l4For = (family: 4 | 6): fc.Arbitrary<L4Spec> =>
  fc.oneof(
    fc
      .record({
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        urg: u16,
        options: tcpOptions,
        data,
      })
      .map((f) => tcp(f)),
    fc.record({ sport: u16, dport: u16, data }).map((f) => udp(f)),
    fc
      .record({ type: u8, code: u8, rest: u32, data })
      // keep error types' bodies from being parsed as quotes: only non-error types here
      .map((f) =>
        family === 4
          ? icmp4({ ...f, type: [0, 8, 13, 14][f.type % 4]! })
          : icmp6({ ...f, type: 128 + (f.type % 128) }),
      ),
  );

const ipv6Option = fc
  .record({ type: fc.integer({ min: 2, max: 255 }), data: fc.uint8Array({ maxLength: 12 }) })
  .map(({ type, data }) => ({ type, data })); // plain objects: fc.record's have a null prototype
const ipv6Ext: fc.Arbitrary<Ipv6Ext> = fc.oneof(
  fc.array(ipv6Option, { maxLength: 3 }).map((options): Ipv6Ext => ({ kind: 'hbh', options })),
  fc.array(ipv6Option, { maxLength: 3 }).map((options): Ipv6Ext => ({ kind: 'dst', options })),
  fc
    .record({
      routingType: fc.constantFrom(0, 2),
      addresses: fc.array(addr6, { minLength: 1, maxLength: 3 }),
      sl: u8,
    })
    .map(({ routingType, addresses, sl }): Ipv6Ext => {
      const addrs = routingType === 2 ? addresses.slice(0, 1) : addresses;
      return { kind: 'routing', routingType, segmentsLeft: sl % (addrs.length + 1), addresses: addrs };
    }),
  u32.map((id): Ipv6Ext => ({ kind: 'frag', fragOffset: 0, mf: false, id })),
);

const packet4 = fc.record({
  src: addr4,
  dst: addr4,
  tos: u8,
  id: u16,
  df: fc.boolean(),
  ttl: u8,
  options: fc.uint8Array({ maxLength: 40 }),
  payload: l4For(4),
});

const packet6 = fc.record({
  src: addr6,
  dst: addr6,
  trafficClass: u8,
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  hopLimit: u8,
  ext: fc.array(ipv6Ext, { maxLength: 4 }),
  payload: l4For(6),
});

/** Builder input back from a decoded packet: the strongest round-trip check. */
function rebuild(d: DecodedPacket): Uint8Array {
  let payload: L4Spec;
  if (d.tcp) {
    const t = d.tcp;
    payload = tcp({
      sport: t.sport,
      dport: t.dport,
      seq: t.seq,
      ack: t.ack!,
      flags: t.flags!,
      window: t.window!,
      urg: t.urg!,
      options: t.options!,
      data: t.payload!,
    });
  } else if (d.udp) {
    payload = udp({ sport: d.udp.sport, dport: d.udp.dport, data: d.udp.payload! });
  } else {
    const m = d.icmp!;
    const f = { type: m.type, code: m.code, rest: m.rest, data: m.data };
    payload = m.version === 4 ? icmp4(f) : icmp6(f);
  }
  if (d.family === 4) {
    return ipv4({
      src: d.src,
      dst: d.dst,
      tos: d.tos!,
      id: d.id!,
      df: d.df!,
      ttl: d.ttl,
      options: d.ipOptions!,
      payload,
    });
  }
  return ipv6({
    src: d.src,
    dst: d.dst,
    trafficClass: d.trafficClass!,
    flowLabel: d.flowLabel!,
    hopLimit: d.hopLimit,
    ext: d.ext!,
    payload,
  });
}

function l4Kind(spec: L4Spec): L4Kind {
  return spec.kind === 'icmp4' || spec.kind === 'icmp6' ? 'icmp' : spec.kind;
}

function checkL4(d: DecodedPacket, spec: L4Spec): void {
  const bytes = (x: Uint8Array | string | undefined) =>
    typeof x === 'string' ? new TextEncoder().encode(x) : (x ?? new Uint8Array(0));
  switch (spec.kind) {
    case 'tcp': {
      const t = d.tcp!;
      assert.equal(t.sport, spec.sport);
      assert.equal(t.dport, spec.dport);
      assert.equal(t.seq, spec.seq);
      assert.equal(t.ack, spec.ack);
      assert.equal(t.flagBits, spec.flags);
      assert.equal(t.window, spec.window);
      assert.equal(t.urg, spec.urg);
      assert.deepEqual(t.options, spec.options);
      assert.deepEqual(t.payload, bytes(spec.data));
      break;
    }
    case 'udp':
      assert.equal(d.udp!.sport, spec.sport);
      assert.equal(d.udp!.dport, spec.dport);
      assert.deepEqual(d.udp!.payload, bytes(spec.data));
      break;
    default:
      assert.equal(d.icmp!.version, spec.kind === 'icmp4' ? 4 : 6);
      assert.equal(d.icmp!.type, spec.type);
      assert.equal(d.icmp!.code, spec.code);
      assert.equal(d.icmp!.rest, spec.rest);
      assert.deepEqual(d.icmp!.data, bytes(spec.data));
  }
}

describe('properties: build -> decode', () => {
  test('IPv4: fields come back, checksums verify, rebuild is byte-identical', () => {
    fc.assert(
      fc.property(packet4, (f) => {
        const p = ipv4(f);
        const d = decodePacket(p);
        assert.deepEqual(d.errors, []);
        assert.equal(d.truncated, false);
        assert.equal(d.ipCsumOk, true);
        assert.equal(d.l4CsumOk, true);
        assert.equal(d.family, 4);
        assert.equal(d.src, f.src);
        assert.equal(d.dst, f.dst);
        assert.equal(d.tos, f.tos);
        assert.equal(d.id, f.id);
        assert.equal(d.df, f.df);
        assert.equal(d.ttl, f.ttl);
        assert.equal(d.totalLength, p.length);
        assert.equal(d.headerLength, 20 + Math.ceil(f.options.length / 4) * 4);
        assert.deepEqual(d.ipOptions!.subarray(0, f.options.length), f.options);
        assert.ok(d[l4Kind(f.payload)]);
        checkL4(d, f.payload);
        assert.equal(hexDiff(rebuild(d), p), '');
      }),
      { numRuns: 400, seed: 4 },
    );
  });

  test('IPv6: fields and extension headers come back, checksums verify, rebuild is byte-identical', () => {
    fc.assert(
      fc.property(packet6, (f) => {
        const p = ipv6(f);
        const d = decodePacket(p);
        assert.deepEqual(d.errors, []);
        assert.equal(d.truncated, false);
        assert.equal(d.l4CsumOk, true);
        assert.equal(d.family, 6);
        assert.equal(d.src, f.src);
        assert.equal(d.dst, f.dst);
        assert.equal(d.trafficClass, f.trafficClass);
        assert.equal(d.flowLabel, f.flowLabel);
        assert.equal(d.hopLimit, f.hopLimit);
        assert.equal(d.payloadLength, p.length - 40);
        assert.deepEqual(d.ext, f.ext);
        checkL4(d, f.payload);
        assert.equal(hexDiff(rebuild(d), p), '');
      }),
      { numRuns: 400, seed: 6 },
    );
  });

  test('any change to one payload byte breaks the L4 checksum; to ttl/id breaks the IPv4 one', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          packet4.map((f) => ipv4(f)),
          packet6.map((f) => ipv6(f)),
        ),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (p, where, x) => {
          const d = decodePacket(p);
          const payloadLen = (d.tcp?.payloadLength ?? d.udp?.payloadLength ?? d.icmp?.data.length)!;
          const bad = p.slice();
          if (payloadLen > 0) {
            bad[p.length - 1 - (where % payloadLen)]! ^= x;
            assert.equal(decodePacket(bad).l4CsumOk, false);
          }
          if (d.family === 4) {
            const h = p.slice();
            h[where % 2 === 0 ? 8 : 4]! ^= x;
            const dh = decodePacket(h);
            assert.equal(dh.ipCsumOk, false);
            assert.equal(dh.l4CsumOk, true, 'ttl/id are not in the pseudo-header');
          }
        },
      ),
      { numRuns: 300, seed: 8 },
    );
  });

  test('changing an address breaks both the IPv4 header and the L4 (pseudo-header) checksum', () => {
    fc.assert(
      fc.property(packet4, fc.integer({ min: 12, max: 19 }), fc.integer({ min: 1, max: 255 }), (f, at, x) => {
        const p = ipv4(f);
        p[at]! ^= x;
        const d = decodePacket(p);
        assert.equal(d.ipCsumOk, false);
        // ICMPv4 has no pseudo-header
        assert.equal(d.l4CsumOk, f.payload.kind === 'icmp4');
      }),
      { numRuns: 200, seed: 10 },
    );
  });

  test('every truncation decodes without throwing and says truncated', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          packet4.map((f) => ipv4(f)),
          packet6.map((f) => ipv6(f)),
        ),
        fc.nat(),
        (p, n) => {
          const cut = p.subarray(0, n % p.length);
          const d = decodePacket(cut);
          assert.equal(d.truncated, true);
          assert.notEqual(d.l4CsumOk, true);
          assert.equal(d.captureLength, cut.length);
        },
      ),
      { numRuns: 400, seed: 12 },
    );
  });

  test('random bytes never make the decoder (or describePacket) throw', () => {
    const junk = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      fc
        .tuple(fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x6f), fc.uint8Array({ maxLength: 120 }))
        .map(([v, b]) => Uint8Array.from([v, ...b])),
    );
    fc.assert(
      fc.property(junk, (b) => {
        const d = decodePacket(b);
        assert.equal(d.captureLength, b.length);
        describePacket(b);
      }),
      { numRuns: 2000, seed: 14 },
    );
  });

  test('IPv4 headers built here match an independent header checksum', () => {
    fc.assert(
      fc.property(packet4, (f) => {
        const p = ipv4(f);
        const hlen = (p[0]! & 15) * 4;
        const h = p.slice(0, hlen);
        const stored = (h[10]! << 8) | h[11]!;
        h[10] = 0;
        h[11] = 0;
        let sum = 0;
        for (let i = 0; i < hlen; i += 2) sum += (h[i]! << 8) | h[i + 1]!;
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        assert.equal(stored, ~sum & 0xffff);
        assert.equal(refChecksum(p.subarray(0, hlen)), 0);
      }),
      { numRuns: 200, seed: 16 },
    );
  });
});
