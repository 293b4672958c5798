// ToaWriter over random TCP option layouts, payload sizes, head/tail room and MTUs, IPv4 and IPv6:
// a segment comes out either with TOA inserted correctly (option first, the others as they were
// minus NOPs, payload and checksums right) or exactly as it came, byte for byte.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TOA_OK, ToaWriter } from '../../src/dataplane/toa.js';
import { parseIp, type TcpOption, tcp4, tcp6 } from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';

const CIP4 = '198.51.100.2';
const CIP6 = '2001:db8:100::2';

/** Options a client may send, NOPs anywhere, and now and then one that fills the header. */
const option: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.integer({ min: 536, max: 9000 }).map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map((value): TcpOption => ({ kind: 'wscale', value })),
  fc.constant<TcpOption>({ kind: 'sackOk' }),
  fc
    .tuple(fc.nat(), fc.nat())
    .map(([val, ecr]): TcpOption => ({ kind: 'ts', val: val >>> 0, ecr: ecr >>> 0 })),
  fc
    .array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 })
    .map((b): TcpOption => ({ kind: 'sack', blocks: b.map(([l, r]) => [l >>> 0, r >>> 0]) })),
  fc
    .uint8Array({ minLength: 0, maxLength: 10 })
    .map((b): TcpOption => ({ kind: 'raw', bytes: Uint8Array.of(200, b.length + 2, ...b) })),
);

const caseArb = fc.record({
  v6: fc.boolean(),
  options: fc.array(option, { maxLength: 14 }),
  payload: fc.integer({ min: 0, max: 1500 }),
  headroom: fc.integer({ min: 0, max: 40 }),
  tailroom: fc.integer({ min: 0, max: 40 }),
  mtu: fc.integer({ min: 1280, max: 1600 }),
  cport: fc.integer({ min: 1, max: 65535 }),
  partial: fc.boolean(),
});

/** The options' wire length; the builder pads with zeros to 4. */
function optLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) {
    if (o.kind === 'nop') n += 1;
    else if (o.kind === 'mss') n += 4;
    else if (o.kind === 'wscale') n += 3;
    else if (o.kind === 'sackOk') n += 2;
    else if (o.kind === 'ts') n += 10;
    else if (o.kind === 'sack') n += 2 + 8 * o.blocks.length;
    else if (o.kind === 'raw') n += o.bytes.length;
  }
  return n;
}

describe('TOA insertion on random segments', () => {
  test('TOA inserted correctly, or the segment untouched', () => {
    let inserted = 0;
    let refused = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        if (optLen(c.options) > 40) c.options = c.options.slice(0, 5); // the header holds 40 option bytes
        if (optLen(c.options) > 40) return;
        const data = new Uint8Array(c.payload).map((_, i) => (i * 7 + 3) & 0xff);
        const pkt = c.v6
          ? tcp6(CIP6, c.cport, '2001:db8:2::21', 80, 'PA', { seq: 1, ack: 2, options: c.options, data })
          : tcp4(CIP4, c.cport, '192.0.2.21', 80, 'PA', { seq: 1, ack: 2, options: c.options, data });
        const buf = new Uint8Array(c.headroom + pkt.length + c.tailroom);
        buf.set(pkt, c.headroom);
        const before = buf.slice();
        const dv = new DataView(buf.buffer);
        const l3 = c.headroom;
        const l4 = l3 + (c.v6 ? 40 : 20);
        const caddr = new Uint32Array(4);
        const a = parseIp(c.v6 ? CIP6 : CIP4);
        for (let i = 0; i < a.length / 4; i++)
          caddr[i] = new DataView(a.buffer, a.byteOffset).getUint32(4 * i);
        const w = new ToaWriter();
        const r = w.insert(
          dv,
          l3,
          l4,
          l3 + pkt.length,
          c.v6,
          caddr,
          0,
          c.cport,
          c.headroom,
          c.tailroom,
          c.mtu,
          c.partial,
        );
        if (r !== TOA_OK) {
          refused++;
          assert.deepEqual(buf, before, 'a refused segment is left exactly as it came');
          return;
        }
        inserted++;
        const out = buf.subarray(w.start, w.end);
        assert.ok(out.length <= c.mtu);
        const d = decodePacket(out);
        const want = before.subarray(l3, l3 + pkt.length);
        const orig = decodePacket(want);
        assert.equal(d.ipCsumOk, true);
        if (!c.partial) assert.equal(d.l4CsumOk, true, 'TCP checksum');
        assert.deepEqual(d.tcp!.payload, orig.tcp!.payload, 'payload intact');
        const got = d.tcp!.options!;
        assert.deepEqual(got[0], { kind: 'toa', port: c.cport, addr: c.v6 ? CIP6 : CIP4 });
        const rest = got.slice(1).filter((o) => o.kind !== 'nop' && o.kind !== 'eol');
        const origRest = orig.tcp!.options!.filter((o) => o.kind !== 'nop' && o.kind !== 'eol');
        assert.deepEqual(rest, origRest, 'the other options kept, in order');
        assert.equal(d.tcp!.seq, orig.tcp!.seq);
        assert.equal(d.tcp!.ack, orig.tcp!.ack);
      }),
      { numRuns: 3000, seed: 0x70a },
    );
    // Both outcomes must have been exercised for the property to mean anything.
    assert.ok(inserted > 100 && refused > 100, `inserted ${inserted}, refused ${refused}`);
  });
});
