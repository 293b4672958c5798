// Address text <-> words (src/common/addr.ts): round trips over random words, RFC 5952 output,
// rejection of malformed input, prefix masks and ipvsadm-style addr:port text. Node's own
// parsers serve as independent oracles: net.isIPv4/isIPv6 for validity, and the WHATWG URL
// host serializer (which compresses like RFC 5952) for the canonical IPv6 text.
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  addrEquals,
  formatAddrPort,
  formatIp,
  formatIpv4,
  formatIpv6,
  parseIp,
  parseIpv4,
  parseIpv6,
  prefixMask,
} from '../../src/common/addr.js';

const SEED = 0x5952;
const params = (numRuns: number) => ({ seed: SEED, numRuns });

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Four words whose 16-bit groups are often zero, so runs of zeros of every length occur. */
const words6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), u16), { minLength: 8, maxLength: 8 })
  .map((g) => Uint32Array.from([0, 1, 2, 3], (i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0));

const hex = (w: ArrayLike<number>) => Array.from(w, (x) => x.toString(16).padStart(8, '0')).join(' ');

describe('IPv4 text', () => {
  test('round trip over random words', () => {
    fc.assert(
      fc.property(u32, (v) => {
        const t = formatIpv4(v);
        assert.ok(isIPv4(t), t);
        assert.equal(parseIpv4(t), v);
      }),
      params(2000),
    );
  });

  const good: [string, number][] = [
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['203.0.113.10', 0xcb00710a],
    ['10.0.0.1', 0x0a000001],
  ];
  for (const [t, v] of good) {
    test(`parses ${t}`, () => {
      assert.equal(parseIpv4(t), v);
      assert.equal(formatIpv4(v), t);
    });
  }

  const bad = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    '256.1.1.1',
    '1.2.3.999',
    '1..3.4',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4\n',
    '+1.2.3.4',
    '1.2.3.-4',
    '0x1.2.3.4',
    '1.2.3.4/24',
    '\u0661.2.3.4', // ARABIC-INDIC DIGIT ONE
  ];
  for (const t of bad) {
    test(`rejects ${JSON.stringify(t)}`, () => {
      assert.equal(parseIpv4(t), null);
      assert.equal(parseIp(t), null);
    });
  }
});

describe('IPv6 text', () => {
  test('round trip over random words; the text is canonical (WHATWG/RFC 5952 compression)', () => {
    fc.assert(
      fc.property(words6, (w) => {
        const t = formatIpv6(w);
        assert.equal(new URL(`http://[${t}]/`).hostname, `[${t}]`, 'canonical text');
        assert.deepEqual(hex(parseIpv6(t) ?? []), hex(w), t);
      }),
      params(3000),
    );
  });

  const rfc5952: [string, string, string][] = [
    ['leading zeros dropped (4.1)', '2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['longest run compressed (4.2.1)', '2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['no :: for one zero group (4.2.2)', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['the longer of two runs (4.2.3)', '2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['the first of equal runs (4.2.3)', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['lower case (4.3)', '2001:DB8::AbCd', '2001:db8::abcd'],
    ['all zeros', '0:0:0:0:0:0:0:0', '::'],
    ['loopback', '0:0:0:0:0:0:0:1', '::1'],
    ['trailing run', '1:0:0:0:0:0:0:0', '1::'],
    ['run at the end beats a shorter one at the start', '0:0:1:0:0:0:1:0', '0:0:1::1:0'],
    ['two-group run', '1:2:3:4:5:6:0:0', '1:2:3:4:5:6::'],
    ['no zeros', 'fe80:1:2:3:4:5:6:7', 'fe80:1:2:3:4:5:6:7'],
    ['single zero at each end', '0:1:2:3:4:5:6:0', '0:1:2:3:4:5:6:0'],
    [
      'embedded IPv4 accepted on input, IPv4-mapped printed dotted as inet_ntop',
      '::ffff:192.0.2.1',
      '::ffff:192.0.2.1',
    ],
    ['embedded IPv4 after six groups', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['embedded IPv4 after ::', '64:ff9b::203.0.113.10', '64:ff9b::cb00:710a'],
  ];
  for (const [desc, input, want] of rfc5952) {
    test(`RFC 5952: ${desc}: ${input} -> ${want}`, () => {
      const w = parseIpv6(input);
      assert.ok(w, `parse ${input}`);
      assert.equal(formatIpv6(w), want);
      const a = parseIp(input);
      assert.equal(a?.family, 6);
      assert.equal(formatIp(6, a!.words), want);
    });
  }

  const bad: [string, string][] = [
    ['empty', ''],
    ['too many groups', '1:2:3:4:5:6:7:8:9'],
    ['too few groups', '1:2:3:4:5:6:7'],
    [':: with eight groups', '1:2:3:4:5:6:7:8::'],
    [':: with eight groups after it', '::1:2:3:4:5:6:7:8'],
    ['two ::', '1::2::3'],
    [':::', ':::'],
    ['1:::2', '1:::2'],
    ['five hex digits', '12345::'],
    ['not hex', 'g::1'],
    ['leading single colon', ':1::2'],
    ['trailing single colon', '1::2:'],
    ['empty group', '1:2::3:4:5:6:7:'],
    ['IPv4 tail out of range', '::ffff:1.2.3.256'],
    ['IPv4 tail with a leading zero', '::ffff:01.2.3.4'],
    ['IPv4 tail with too many groups', '1:2:3:4:5:6:7:1.2.3.4'],
    ['IPv4 in the middle', '::1.2.3.4:5'],
    ['IPv4 before ::', '1.2.3.4::'],
    ['IPv4 before :: and a group', '1.2.3.4::1'],
    ['zone id', 'fe80::1%eth0'],
    ['brackets', '[::1]'],
    ['an IPv4 address', '192.0.2.1'],
    ['too long', `${'0'.repeat(40)}::1`],
  ];
  for (const [desc, t] of bad) {
    test(`rejects ${desc}: ${JSON.stringify(t)}`, () => {
      assert.equal(parseIpv6(t), null);
      if (t.includes(':')) assert.equal(parseIp(t), null);
    });
  }

  test('validity agrees with net.isIPv6 on generated near-miss text (zones aside)', () => {
    const group = fc.stringMatching(/^[0-9a-fA-F]{1,5}$/);
    const v4 = fc.oneof(
      fc.tuple(u8(), u8(), u8(), u8()).map((p) => p.join('.')),
      fc.stringMatching(/^[0-9]{1,3}(\.[0-9]{1,3}){2,4}$/),
    );
    const text = fc
      .record({
        groups: fc.array(group, { maxLength: 9 }),
        dbl: fc.array(fc.nat(9), { maxLength: 2 }),
        v4: fc.option(fc.tuple(v4, fc.nat(9))),
      })
      .map(({ groups, dbl, v4: tail }) => {
        const parts: string[] = [...groups];
        if (tail) parts.splice(Math.min(tail[1], parts.length), 0, tail[0]);
        let s = parts.join(':');
        for (const at of dbl) {
          const cut = Math.min(at, s.length);
          s = `${s.slice(0, cut)}::${s.slice(cut)}`;
        }
        return s;
      });
    fc.assert(
      fc.property(text, (t) => {
        assert.equal(parseIpv6(t) !== null, isIPv6(t), `${JSON.stringify(t)}: parseIpv6 vs net.isIPv6`);
      }),
      params(5000),
    );
  });

  test('writes into the given output array', () => {
    const out = new Uint32Array(4).fill(7);
    assert.equal(parseIpv6('::1', out), out);
    assert.deepEqual([...out], [0, 0, 0, 1]);
  });
});

function u8() {
  return fc.integer({ min: 0, max: 255 });
}

describe('parseIp / formatIp / addrEquals', () => {
  test('family from the text; IPv4 words 1-3 are zero', () => {
    const a = parseIp('192.0.2.1');
    assert.equal(a?.family, 4);
    assert.deepEqual([...a!.words], [0xc0000201, 0, 0, 0]);
    const b = parseIp('::c000:201');
    assert.equal(b?.family, 6);
    assert.deepEqual([...b!.words], [0, 0, 0, 0xc0000201]);
    assert.equal(formatIp(4, a!.words), '192.0.2.1');
    assert.equal(formatIp(6, b!.words), '::c000:201');
  });

  test('addrEquals compares all four words', () => {
    assert.ok(addrEquals([1, 2, 3, 4], Uint32Array.of(1, 2, 3, 4)));
    for (let i = 0; i < 4; i++) {
      const b = [1, 2, 3, 4];
      b[i] = 9;
      assert.equal(addrEquals([1, 2, 3, 4], b), false);
    }
  });
});

describe('prefixMask', () => {
  const table: [4 | 6, number, number[]][] = [
    [4, 0, [0, 0, 0, 0]],
    [4, 1, [0x80000000, 0, 0, 0]],
    [4, 8, [0xff000000, 0, 0, 0]],
    [4, 24, [0xffffff00, 0, 0, 0]],
    [4, 31, [0xfffffffe, 0, 0, 0]],
    [4, 32, [0xffffffff, 0, 0, 0]],
    [6, 0, [0, 0, 0, 0]],
    [6, 1, [0x80000000, 0, 0, 0]],
    [6, 32, [0xffffffff, 0, 0, 0]],
    [6, 33, [0xffffffff, 0x80000000, 0, 0]],
    [6, 64, [0xffffffff, 0xffffffff, 0, 0]],
    [6, 65, [0xffffffff, 0xffffffff, 0x80000000, 0]],
    [6, 127, [0xffffffff, 0xffffffff, 0xffffffff, 0xfffffffe]],
    [6, 128, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]],
  ];
  for (const [fam, p, want] of table) {
    test(`IPv${fam} /${p}`, () => {
      // A dirty output array must come back fully written.
      const out = new Uint32Array(4).fill(0x12345678);
      assert.equal(prefixMask(fam, p, out), out);
      assert.deepEqual(hex(out), hex(want));
    });
  }

  test('every length: the mask is `prefix` leading ones', () => {
    for (const fam of [4, 6] as const) {
      for (let p = 0; p <= (fam === 4 ? 32 : 128); p++) {
        const m = prefixMask(fam, p);
        const bits = Array.from(m, (x) => x.toString(2).padStart(32, '0')).join('');
        assert.equal(bits, '1'.repeat(p) + '0'.repeat(128 - p), `/${p}`);
      }
    }
  });

  test('rejects bad lengths', () => {
    const cases: [4 | 6, number][] = [
      [4, -1],
      [4, 33],
      [6, 129],
      [4, 1.5],
      [6, Number.NaN],
    ];
    for (const [fam, p] of cases) assert.throws(() => prefixMask(fam, p), RangeError, `IPv${fam} /${p}`);
  });
});

describe('formatAddrPort', () => {
  const table: [4 | 6, string, number, string][] = [
    [4, '192.0.2.21', 80, '192.0.2.21:80'],
    [4, '0.0.0.0', 0, '0.0.0.0:0'],
    [6, '2001:db8:203::10', 443, '[2001:db8:203::10]:443'],
    [6, '::', 65535, '[::]:65535'],
    [6, '::ffff:192.0.2.1', 8080, '[::ffff:192.0.2.1]:8080'],
  ];
  for (const [fam, addr, port, want] of table) {
    test(want, () => {
      const a = parseIp(addr)!;
      assert.equal(a.family, fam);
      assert.equal(formatAddrPort(fam, a.words, port), want);
    });
  }
});
