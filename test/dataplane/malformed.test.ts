// Malformed input is dropped with a named reason and never throws out of the engine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PacketBatch } from '../../src/dataplane/batch.js';
import { ipv4, ipv6, tcp, tcp4, tcp6, udp4 } from '../support/packet-builder.js';
import { CIP, CIP6, counter, fixture, LIP, RS1, SVC6, send, VIP, VIP6 } from './helpers.js';

const cases: { desc: string; pkt: () => Uint8Array; reason: string }[] = [
  { desc: 'empty', pkt: () => new Uint8Array(0), reason: 'drop_truncated' },
  {
    desc: 'shorter than an IPv4 header',
    pkt: () => tcp4(CIP, 1, VIP, 80).subarray(0, 12),
    reason: 'drop_truncated',
  },
  {
    desc: 'version 5',
    pkt: () => {
      const p = tcp4(CIP, 1, VIP, 80);
      p[0] = 0x55;
      return p;
    },
    reason: 'drop_bad_version',
  },
  {
    desc: 'IHL below 5',
    pkt: () => ipv4({ src: CIP, dst: VIP, ihl: 4, payload: tcp({ sport: 1, dport: 80 }) }),
    reason: 'drop_bad_hdr_len',
  },
  {
    desc: 'IHL past the end',
    pkt: () =>
      tcp4(CIP, 1, VIP, 80)
        .subarray(0, 22)
        .map((b, i) => (i === 0 ? 0x4f : b)),
    reason: 'drop_bad_hdr_len',
  },
  {
    desc: 'total length above the bytes given',
    pkt: () => tcp4(CIP, 1, VIP, 80).subarray(0, 30),
    reason: 'drop_bad_total_len',
  },
  {
    desc: 'total length below the header',
    pkt: () => ipv4({ src: CIP, dst: VIP, totalLength: 12, payload: tcp({ sport: 1, dport: 80 }) }),
    reason: 'drop_bad_total_len',
  },
  {
    desc: 'bad IPv4 header checksum',
    pkt: () => ipv4({ src: CIP, dst: VIP, checksum: 0x1234, payload: tcp({ sport: 1, dport: 80 }) }),
    reason: 'drop_bad_ip_csum',
  },
  {
    desc: 'TCP data offset below 5',
    pkt: () => tcp4(CIP, 1, VIP, 80, 'S', { dataOffset: 3 }),
    reason: 'drop_bad_l4_hdr',
  },
  {
    desc: 'TCP data offset past the segment',
    pkt: () => tcp4(CIP, 1, VIP, 80, 'S', { dataOffset: 15 }),
    reason: 'drop_bad_l4_hdr',
  },
  {
    desc: 'TCP header cut short',
    pkt: () => ipv4({ src: CIP, dst: VIP, proto: 6, payload: new Uint8Array(10) }),
    reason: 'drop_truncated',
  },
  {
    desc: 'UDP length field above the datagram',
    pkt: () => udp4(CIP, 1, VIP, 53, 'x', { length: 200 }),
    reason: 'drop_bad_l4_hdr',
  },
  {
    desc: 'IPv6 payload length above the bytes',
    pkt: () => tcp6(CIP6, 1, VIP6, 80).subarray(0, 50),
    reason: 'drop_bad_total_len',
  },
  {
    desc: 'IPv6 extension header past the end',
    pkt: () =>
      ipv6({
        src: CIP6,
        dst: VIP6,
        ext: [{ kind: 'hbh', hdrExtLen: 40 }],
        payload: tcp({ sport: 1, dport: 80 }),
      }),
    reason: 'drop_bad_ext_hdr',
  },
  {
    desc: 'IPv6 routing header with segments left',
    pkt: () =>
      ipv6({
        src: CIP6,
        dst: VIP6,
        ext: [{ kind: 'routing', segmentsLeft: 1, addresses: ['2001:db8::9'] }],
        payload: tcp({ sport: 1, dport: 80 }),
      }),
    reason: 'drop_bad_ext_hdr',
  },
  {
    desc: 'an unsupported transport (GRE)',
    pkt: () => ipv4({ src: CIP, dst: VIP, proto: 47, payload: new Uint8Array(8) }),
    reason: 'drop_proto_unsupported',
  },
];

describe('malformed packets', () => {
  for (const c of cases) {
    test(c.desc, () => {
      const e = fixture();
      e.addService(SVC6, {});
      const r = send(e, c.pkt());
      assert.equal(r.tx, false);
      assert.equal(counter(e, c.reason), 1, JSON.stringify(e.counterValues()));
      assert.equal(e.connCount, 0);
    });
  }

  test('a non-first IPv4 fragment of an unknown flow is dropped and counted', () => {
    const e = fixture();
    const p = ipv4({ src: CIP, dst: VIP, fragOffset: 10, proto: 6, payload: new Uint8Array(16) });
    assert.equal(send(e, p).tx, false);
    assert.equal(counter(e, 'drop_frag_unknown'), 1);
  });

  test('random bytes never throw and never create state out of nothing', () => {
    const e = fixture();
    const batch = new PacketBatch(8, 1600, 64);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 120 }), { minLength: 1, maxLength: 8 }),
        (pkts) => {
          batch.clear();
          for (const p of pkts) batch.push(p);
          e.process(batch, 2000);
        },
      ),
      { numRuns: 2000, seed: 42 },
    );
    // Random bytes almost never make a valid SYN with a right header checksum to the VIP.
    assert.ok(e.connCount <= 1);
  });

  test('random mutations of a valid SYN never throw; any forwarded result is well formed', () => {
    const base = tcp4(CIP, 40000, VIP, 80, 'S', { options: [{ kind: 'mss', value: 1460 }], data: 'abc' });
    fc.assert(
      fc.property(
        fc.nat(base.length - 1),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(base.length),
        (pos, val, cut) => {
          const e = fixture();
          const p = base.slice(0, Math.max(1, cut));
          if (pos < p.length) p[pos] = val;
          const r = send(e, p);
          if (r.tx) {
            assert.equal(r.d.src, LIP);
            assert.equal(r.d.dst, RS1);
            assert.equal(r.d.ipCsumOk, true);
          }
        },
      ),
      { numRuns: 500, seed: 7 },
    );
  });
});
