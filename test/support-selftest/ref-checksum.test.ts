import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fromHex } from '../support/hex.js';
import {
  PROTO_TCP,
  PROTO_UDP,
  pseudoHeader4,
  pseudoHeader6,
  refChecksum,
  refL4Checksum,
  refPseudoSum4,
  refPseudoSum6,
  refSum,
} from '../support/ref-checksum.js';

// Independent formulation: the one's complement sum of 16-bit words is the plain sum
// reduced mod 0xffff, with a non-zero multiple of 0xffff shown as 0xffff (not 0).
function altSum(bytes: Uint8Array, initial = 0): number {
  let total = BigInt(initial);
  for (let i = 0; i < bytes.length; i += 2) {
    total += BigInt((bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0));
  }
  if (total === 0n) return 0;
  const r = Number(total % 0xffffn);
  return r === 0 ? 0xffff : r;
}

function altChecksum(bytes: Uint8Array, initial = 0): number {
  return ~altSum(bytes, initial) & 0xffff;
}

describe('refChecksum: published examples', () => {
  test('RFC 1071 section 3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const data = fromHex('00 01 f2 03 f4 f5 f6 f7');
    assert.equal(refSum(data), 0xddf2);
    assert.equal(refChecksum(data), 0x220d);
    // and with the checksum appended the whole thing verifies
    const withCsum = Uint8Array.from([...data, 0x22, 0x0d]);
    assert.equal(refChecksum(withCsum), 0);
  });

  test('RFC 1071 byte-order independence: swapped input gives the swapped sum', () => {
    const data = fromHex('00 01 f2 03 f4 f5 f6 f7');
    const swapped = fromHex('01 00 03 f2 f5 f4 f7 f6');
    assert.equal(refSum(data), 0xddf2);
    assert.equal(refSum(swapped), 0xf2dd);
  });

  test('well-known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) has checksum b861', () => {
    // The header used on Wikipedia's "IPv4 header checksum" page; field zeroed to compute.
    const hdr = fromHex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    assert.equal(refChecksum(hdr), 0xb861);
    hdr[10] = 0xb8;
    hdr[11] = 0x61;
    assert.equal(refChecksum(hdr), 0, 'a header with a correct checksum verifies to 0');
  });

  test("RFC 1624 section 5 example: HC 0xdd2f, m 0x5555 -> 0x3285 gives HC' 0x0000", () => {
    // Data whose checksum is HC = 0xdd2f and which contains the word m = 0x5555.
    const m = 0x5555;
    const sum = ~0xdd2f & 0xffff; // 0x22d0, the sum the data must have
    const filler = (sum - m + 0xffff) % 0xffff;
    const data = Uint8Array.of(m >> 8, m & 0xff, filler >> 8, filler & 0xff);
    assert.equal(refChecksum(data), 0xdd2f);
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') = ~(0x22d0 + 0xaaaa + 0x3285) = ~0xffff = 0x0000
    let s = (~0xdd2f & 0xffff) + (~m & 0xffff) + 0x3285;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    assert.equal(s, 0xffff);
    assert.equal(~s & 0xffff, 0x0000);
    // A full recompute of the changed data agrees.
    data[0] = 0x32;
    data[1] = 0x85;
    assert.equal(refSum(data), 0xffff);
    assert.equal(refChecksum(data), 0x0000);
  });

  test('empty and all-zero data: sum 0, checksum 0xffff', () => {
    assert.equal(refSum(new Uint8Array(0)), 0);
    assert.equal(refChecksum(new Uint8Array(0)), 0xffff);
    assert.equal(refChecksum(new Uint8Array(7)), 0xffff);
  });

  test('odd length: the last byte is the high half of a zero-padded word', () => {
    assert.equal(refSum(Uint8Array.of(0xab)), 0xab00);
    assert.equal(refSum(Uint8Array.of(0x12, 0x34, 0x56)), 0x1234 + 0x5600);
  });

  test('end-around carry', () => {
    assert.equal(refSum(fromHex('ffff 0001')), 0x0001);
    assert.equal(refSum(fromHex('ffff ffff')), 0xffff);
    assert.equal(refSum(fromHex('8000 8000')), 0x0001);
  });

  test('initial partial sum continues the sum, wide initial values fold', () => {
    const a = fromHex('1234 5678');
    const b = fromHex('9abc def0 11');
    assert.equal(refSum(b, refSum(a)), refSum(fromHex('1234 5678 9abc def0 11')));
    assert.equal(refSum(new Uint8Array(0), 0x1_0000), 1);
    assert.equal(refSum(new Uint8Array(0), 0x3_fffd), altSum(new Uint8Array(0), 0x3_fffd));
    assert.throws(() => refSum(new Uint8Array(0), -1), RangeError);
  });
});

describe('pseudo-headers', () => {
  test('IPv4 layout: src dst 0 proto length', () => {
    const p = pseudoHeader4(
      Uint8Array.of(198, 51, 100, 2),
      Uint8Array.of(203, 0, 113, 10),
      PROTO_TCP,
      0x0128,
    );
    assert.deepEqual(Array.from(p), [198, 51, 100, 2, 203, 0, 113, 10, 0, 6, 0x01, 0x28]);
    assert.equal(pseudoHeader4(new Uint8Array(4), new Uint8Array(4), 0xfe, 0)[9], 0xfe);
  });

  test('IPv6 layout: src dst length(32) zero(24) next header', () => {
    const src = new Uint8Array(16).fill(0x11);
    const dst = new Uint8Array(16).fill(0x22);
    const p = pseudoHeader6(src, dst, PROTO_UDP, 0x012345);
    assert.equal(p.length, 40);
    assert.deepEqual(Array.from(p.subarray(0, 16)), Array(16).fill(0x11));
    assert.deepEqual(Array.from(p.subarray(16, 32)), Array(16).fill(0x22));
    assert.deepEqual(Array.from(p.subarray(32)), [0x00, 0x01, 0x23, 0x45, 0, 0, 0, 17]);
  });

  test('wrong address sizes throw', () => {
    assert.throws(() => pseudoHeader4(new Uint8Array(16), new Uint8Array(4), 6, 0), RangeError);
    assert.throws(() => pseudoHeader6(new Uint8Array(16), new Uint8Array(4), 6, 0), RangeError);
    assert.throws(
      () => refL4Checksum(new Uint8Array(4), new Uint8Array(16), 6, new Uint8Array(8)),
      RangeError,
    );
  });

  test('captured UDP datagram (IPv4): checksum matches the one on the wire', () => {
    // 192.168.0.31:20 -> 192.168.0.30:10, "Hi" (a commonly reproduced worked example of the
    // UDP checksum); wire checksum 0x35c5.
    const src = Uint8Array.of(192, 168, 0, 31);
    const dst = Uint8Array.of(192, 168, 0, 30);
    const seg = fromHex('0014 000a 000a 0000 4869');
    assert.equal(refL4Checksum(src, dst, PROTO_UDP, seg), 0x35c5);
    seg[6] = 0x35;
    seg[7] = 0xc5;
    assert.equal(refL4Checksum(src, dst, PROTO_UDP, seg), 0);
  });

  test('refL4Checksum = refChecksum over pseudo-header ++ segment, both families', () => {
    const seg = fromHex('9c40 0050 0000 03e8 0000 0000 5002 ffff 0000 0000 01');
    const s4 = Uint8Array.of(10, 0, 0, 1);
    const d4 = Uint8Array.of(10, 0, 0, 2);
    const cat4 = Uint8Array.from([...pseudoHeader4(s4, d4, PROTO_TCP, seg.length), ...seg]);
    assert.equal(refL4Checksum(s4, d4, PROTO_TCP, seg), refChecksum(cat4));
    assert.equal(refChecksum(seg, refPseudoSum4(s4, d4, PROTO_TCP, seg.length)), refChecksum(cat4));
    const s6 = new Uint8Array(16).map((_, i) => i);
    const d6 = new Uint8Array(16).map((_, i) => 255 - i);
    const cat6 = Uint8Array.from([...pseudoHeader6(s6, d6, PROTO_TCP, seg.length), ...seg]);
    assert.equal(refL4Checksum(s6, d6, PROTO_TCP, seg), refChecksum(cat6));
    assert.equal(refChecksum(seg, refPseudoSum6(s6, d6, PROTO_TCP, seg.length)), altChecksum(cat6));
  });
});

describe('refChecksum: properties against independent computations', () => {
  const bytes = fc.uint8Array({ minLength: 0, maxLength: 2000 });

  test('equals the mod-0xffff formulation (any length, any initial sum)', () => {
    fc.assert(
      fc.property(bytes, fc.integer({ min: 0, max: 0xffff_ffff }), (data, initial) => {
        assert.equal(refSum(data, initial), altSum(data, initial));
        assert.equal(refChecksum(data, initial), altChecksum(data, initial));
      }),
      { numRuns: 500, seed: 1071 },
    );
  });

  test('splitting at an even offset and chaining through initial gives the same sum', () => {
    fc.assert(
      fc.property(bytes, fc.nat(), (data, cut) => {
        const at = data.length === 0 ? 0 : (cut % (data.length + 1)) & ~1;
        assert.equal(refSum(data.subarray(at), refSum(data.subarray(0, at))), refSum(data));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  test('byte-swapping every word byte-swaps the sum (RFC 1071 property B)', () => {
    fc.assert(
      fc.property(bytes, (data) => {
        const even = data.length % 2 === 0 ? data : Uint8Array.from([...data, 0]);
        const sw = even.map((_, i) => even[i ^ 1]!);
        const s = refSum(even);
        assert.equal(refSum(sw), ((s & 0xff) << 8) | (s >> 8));
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  test('data with its checksum stored in a zeroed even slot verifies to 0', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 600 }), fc.nat(), (data, pos) => {
        const d = data.slice();
        const at = (pos % Math.floor(d.length / 2)) * 2;
        d[at] = 0;
        d[at + 1] = 0;
        const c = refChecksum(d);
        d[at] = c >> 8;
        d[at + 1] = c & 0xff;
        assert.equal(refChecksum(d), 0);
      }),
      { numRuns: 300, seed: 3 },
    );
  });

  test('RFC 1624 eqn. 3 incremental update agrees with full recompute', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 2, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (data, pos, m2) => {
          const d = data.length % 2 === 0 ? data.slice() : Uint8Array.from([...data, 0]);
          const at = (pos % (d.length / 2)) * 2;
          const hc = refChecksum(d);
          const m = (d[at]! << 8) | d[at + 1]!;
          d[at] = m2 >> 8;
          d[at + 1] = m2 & 0xff;
          let s = (~hc & 0xffff) + (~m & 0xffff) + m2;
          while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
          const inc = ~s & 0xffff;
          // Both are valid representations; they differ only in +0/-0 (0x0000 vs 0xffff).
          const full = refChecksum(d);
          assert.ok(inc === full || (inc ^ full) === 0xffff, `incremental ${inc} vs full ${full}`);
        },
      ),
      { numRuns: 500, seed: 1624 },
    );
  });
});
