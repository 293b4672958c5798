// The engine's Internet checksum (src/dataplane/packet/checksum.ts) against the slow reference
// (test/support/ref-checksum.ts), as gVisor's checksum_test does: random buffers from a fixed
// seed, at offsets 0-7 and every length parity, plus RFC 1624 incremental updates.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checksum,
  checksumDv,
  csumAdjust,
  fold,
  negWord,
  pseudoSum4,
  pseudoSum6,
  sum16,
  sum16dv,
  sumWord,
} from '../../src/dataplane/packet/checksum.js';
import {
  PROTO_TCP,
  PROTO_UDP,
  refChecksum,
  refPseudoSum4,
  refPseudoSum6,
  refSum,
} from '../support/ref-checksum.js';
import { fcParams, u16, u32, viewAt } from './unit-helpers.js';

/** One's complement fold of any non-negative integer, exactly (BigInt): 1..0xffff, or 0 for 0. */
function refFold(s: number): number {
  let b = BigInt(s);
  while (b > 0xffffn) b = (b & 0xffffn) + (b >> 16n);
  return Number(b);
}

/** The same residue class mod 0xffff (one's complement has two zeros: 0 and 0xffff). */
function sameSum(a: number, b: number): boolean {
  return a % 0xffff === b % 0xffff;
}

const bufArb = fc.record({
  off: fc.integer({ min: 0, max: 7 }),
  data: fc.uint8Array({ minLength: 0, maxLength: 1500 }),
  initial: fc.oneof(fc.constant(0), u16, u32),
});

describe('sum16 / checksum / sum16dv / checksumDv', () => {
  test('agree with the reference over random buffers at offsets 0-7 (odd and even lengths)', () => {
    fc.assert(
      fc.property(bufArb, ({ off, data, initial }) => {
        const { buf, dv } = viewAt(data, off);
        const want = refChecksum(data, initial);
        assert.equal(checksum(buf, off, data.length, initial), want);
        assert.equal(checksumDv(dv, off, data.length, initial), want);
        const s = sum16(buf, off, data.length, initial);
        assert.equal(sum16dv(dv, off, data.length, initial), s);
        assert.equal(fold(s), refFold(s));
        assert.ok(sameSum(fold(s), refSum(data, initial)));
      }),
      fcParams(3000),
    );
  });

  test('a buffer holding its own checksum sums to 0xffff and checks to 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 2, maxLength: 600 }),
        (off, raw) => {
          const data = raw.slice();
          data[0] = 0;
          data[1] = 0;
          const c = refChecksum(data);
          data[0] = c >>> 8;
          data[1] = c & 0xff;
          const { buf } = viewAt(data, off);
          assert.equal(checksum(buf, off, data.length, 0), 0);
          assert.equal(fold(sum16(buf, off, data.length, 0)), 0xffff);
        },
      ),
      fcParams(500),
    );
  });

  const table: { desc: string; bytes: number[]; want: number }[] = [
    { desc: 'empty', bytes: [], want: 0xffff },
    { desc: 'one byte is the high half of a word', bytes: [0x01], want: ~0x0100 & 0xffff },
    {
      desc: 'RFC 1071 section 3 example',
      bytes: [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7],
      want: ~0xddf2 & 0xffff,
    },
    { desc: 'all ones', bytes: [0xff, 0xff, 0xff, 0xff], want: 0 },
    { desc: 'carry out of 16 bits', bytes: [0xff, 0xff, 0x00, 0x02], want: ~0x0002 & 0xffff },
  ];
  for (const c of table) {
    test(`table: ${c.desc}`, () => {
      const b = Uint8Array.from(c.bytes);
      assert.equal(checksum(b, 0, b.length, 0), c.want);
      assert.equal(refChecksum(b), c.want);
    });
  }

  test('only [off, off+len) is read', () => {
    const b = Uint8Array.of(0xff, 0x12, 0x34, 0x56, 0xff);
    assert.equal(checksum(b, 1, 3, 0), refChecksum(Uint8Array.of(0x12, 0x34, 0x56)));
    assert.equal(sum16(b, 1, 3, 0), 0x1234 + 0x5600);
  });
});

describe('fold', () => {
  test('table: end-around carry up to 32 bits', () => {
    const table: [number, number][] = [
      [0, 0],
      [1, 1],
      [0xffff, 0xffff],
      [0x10000, 1],
      [0x1fffe, 0xffff],
      [0xffffffff, 0xffff],
      [0x100000000, 1],
      [0x1_0000_ffff, 1],
      [0xffff_0000_0000, 0xffff],
    ];
    for (const [s, want] of table) assert.equal(fold(s), want, `fold(0x${s.toString(16)})`);
  });

  test('sums a checksum loop can reach (up to 2^40) fold right', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (s) => {
        assert.equal(fold(s), refFold(s), `fold(${s})`);
      }),
      fcParams(3000),
    );
  });

  // fold() is documented for "(possibly > 32-bit)" sums, but its single 16-bit reduction leaves a
  // value above 2^32 for sums from about 2^48 - 2^32 on, and the 32-bit operators then drop bits.
  test('sums of 2^48 and more fold right', () => {
    const table: [number, number][] = [
      [0xffff_ffff_ffff, 0xffff], // 2^48 - 1: three 0xffff words
      [2 ** 48, 1],
      [2 ** 52 + 12345, refFold(2 ** 52 + 12345)],
      [Number.MAX_SAFE_INTEGER, refFold(Number.MAX_SAFE_INTEGER)],
    ];
    for (const [s, want] of table) assert.equal(fold(s), want, `fold(0x${s.toString(16)})`);
  });

  test('sums above 2^32 (property over the safe-integer range)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }), (s) => {
        assert.equal(fold(s), refFold(s), `fold(${s})`);
      }),
      fcParams(3000),
    );
  });
});

describe('csumAdjust (RFC 1624 eqn. 3)', () => {
  /** A random buffer with a correct checksum at byte 0. */
  const packetArb = fc.uint8Array({ minLength: 12, maxLength: 200 }).map((raw) => {
    const b = raw.slice();
    b[0] = 0;
    b[1] = 0;
    const c = refChecksum(b);
    b[0] = c >>> 8;
    b[1] = c & 0xff;
    return b;
  });

  test('equals a full recomputation after changing random 16-bit fields', () => {
    fc.assert(
      fc.property(
        packetArb,
        fc.array(fc.tuple(fc.nat(), u16), { minLength: 1, maxLength: 4 }),
        (pkt, changes) => {
          const dv = new DataView(pkt.buffer);
          let diff = 0;
          for (const [pos, v] of changes) {
            const o = 2 + 2 * (pos % ((pkt.length - 2) >> 1));
            const old = dv.getUint16(o);
            diff += (old ^ 0xffff) + v;
            dv.setUint16(o, v);
          }
          dv.setUint16(0, csumAdjust(dv.getUint16(0), diff));
          const full = pkt.slice();
          full[0] = 0;
          full[1] = 0;
          assert.equal(dv.getUint16(0), refChecksum(full));
          assert.equal(refChecksum(pkt), 0);
        },
      ),
      fcParams(2000),
    );
  });

  test('equals a full recomputation after changing random 32-bit fields (negWord / sumWord)', () => {
    fc.assert(
      fc.property(
        packetArb,
        fc.array(fc.tuple(fc.nat(), u32), { minLength: 1, maxLength: 4 }),
        (pkt, changes) => {
          const dv = new DataView(pkt.buffer);
          let diff = 0;
          for (const [pos, v] of changes) {
            // 32-bit words at even offsets after the checksum field (4-aligned or not).
            const o = 2 + 2 * (pos % ((pkt.length - 4) >> 1));
            diff += negWord(dv.getUint32(o)) + sumWord(v);
            dv.setUint32(o, v);
          }
          dv.setUint16(0, csumAdjust(dv.getUint16(0), diff));
          const full = pkt.slice();
          full[0] = 0;
          full[1] = 0;
          assert.equal(dv.getUint16(0), refChecksum(full));
        },
      ),
      fcParams(2000),
    );
  });

  test('a change that restores the old value leaves the checksum alone', () => {
    fc.assert(
      fc.property(u16, u32, (csum, w) => {
        // Only checksums a real sum can produce: a non-zero sum folds to 1..0xffff, so 0xffff is never one.
        fc.pre(csum !== 0xffff);
        assert.equal(csumAdjust(csum, negWord(w) + sumWord(w)), csum);
      }),
      fcParams(1000),
    );
  });

  test("negWord(w) + sumWord(w) is a one's complement zero", () => {
    fc.assert(
      fc.property(u32, (w) => {
        assert.equal(fold(negWord(w) + sumWord(w)), 0xffff);
        assert.equal(sumWord(w), (w >>> 16) + (w & 0xffff));
      }),
      fcParams(1000),
    );
  });
});

describe('pseudo-header sums', () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

  test('pseudoSum4 matches the reference IPv4 pseudo-header', () => {
    fc.assert(
      fc.property(
        bytes(4),
        bytes(4),
        fc.constantFrom(PROTO_TCP, PROTO_UDP, 1),
        u16,
        (src, dst, proto, len) => {
          const w = (b: Uint8Array) => new DataView(b.buffer).getUint32(0);
          const s = pseudoSum4(w(src), w(dst), proto, len);
          assert.ok(sameSum(fold(s), refPseudoSum4(src, dst, proto, len)));
          assert.equal(
            ~fold(s) & 0xffff,
            refChecksum(new Uint8Array(0), refPseudoSum4(src, dst, proto, len)),
          );
        },
      ),
      fcParams(1000),
    );
  });

  test('pseudoSum6 matches the reference IPv6 pseudo-header (addresses read in place)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        bytes(40),
        fc.constantFrom(PROTO_TCP, PROTO_UDP, 58),
        fc.oneof(u16, u32),
        (off, hdr, proto, len) => {
          const { dv } = viewAt(hdr, off);
          const s = pseudoSum6(dv, off + 8, off + 24, proto, len);
          const want = refPseudoSum6(hdr.subarray(8, 24), hdr.subarray(24, 40), proto, len);
          assert.equal(~fold(s) & 0xffff, ~want & 0xffff);
        },
      ),
      fcParams(1000),
    );
  });

  test('a segment checksummed with the pseudo-header sum as `initial` matches refL4 rules', () => {
    fc.assert(
      fc.property(bytes(4), bytes(4), fc.uint8Array({ minLength: 8, maxLength: 300 }), (src, dst, seg) => {
        const w = (b: Uint8Array) => new DataView(b.buffer).getUint32(0);
        const got = checksum(seg, 0, seg.length, pseudoSum4(w(src), w(dst), PROTO_UDP, seg.length));
        assert.equal(got, refChecksum(seg, refPseudoSum4(src, dst, PROTO_UDP, seg.length)));
      }),
      fcParams(500),
    );
  });
});
