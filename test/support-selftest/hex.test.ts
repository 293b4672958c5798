import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fromHex, hexDiff, hexDump, toHex } from '../support/hex.js';

describe('toHex / fromHex', () => {
  test('lower case, two digits a byte, optional separator', () => {
    assert.equal(toHex(Uint8Array.of(0x45, 0x00, 0x0a, 0xff)), '45000aff');
    assert.equal(toHex(Uint8Array.of(0x45, 0x00), ' '), '45 00');
    assert.equal(toHex(new Uint8Array(0)), '');
  });

  test('fromHex ignores separators and # comments', () => {
    const b = fromHex(`
      45 00 00:3c   # version/ihl, tos, total length
      1c-46.40_00   # id, flags
    `);
    assert.deepEqual(Array.from(b), [0x45, 0, 0, 0x3c, 0x1c, 0x46, 0x40, 0]);
    assert.deepEqual(Array.from(fromHex('ABcd')), [0xab, 0xcd]);
  });

  test('fromHex rejects odd digit counts and non-hex', () => {
    assert.throws(() => fromHex('abc'), SyntaxError);
    assert.throws(() => fromHex('zz'), SyntaxError);
  });

  test('round trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        assert.deepEqual(fromHex(toHex(b)), b);
        assert.deepEqual(fromHex(toHex(b, ' ')), b);
        assert.deepEqual(fromHex(hexDump(b).replace(/^[0-9a-f]{4} {2}/gm, '')), b);
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});

describe('hexDump', () => {
  test('16 bytes a line with hex offsets and a gap after 8', () => {
    const b = Uint8Array.from({ length: 18 }, (_, i) => i);
    assert.equal(
      hexDump(b),
      ['0000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f', '0010  10 11'].join('\n'),
    );
  });
});

describe('hexDiff', () => {
  test('empty when equal (including two empty arrays)', () => {
    assert.equal(hexDiff(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), '');
    assert.equal(hexDiff(new Uint8Array(0), new Uint8Array(0)), '');
  });

  test('marks the differing byte under its column with the offset of its line', () => {
    const exp = Uint8Array.from({ length: 20 }, (_, i) => i);
    const act = exp.slice();
    act[0x11] = 0xee;
    const d = hexDiff(act, exp);
    const lines = d.split('\n');
    assert.match(lines[0]!, /actual 20 bytes, expected 20 bytes, 1 byte\(s\) differ, first at 0x0011 \(17\)/);
    // the unchanged first line is shown as context, then act/exp/marker lines
    assert.equal(lines[1], '0000     00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f');
    assert.equal(lines[2], '0010 act 10 ee 12 13');
    assert.equal(lines[3], '     exp 10 11 12 13');
    assert.equal(lines[4], '            ^^');
    assert.equal(lines.length, 5);
  });

  test('length mismatch: missing bytes shown as -- and counted', () => {
    const d = hexDiff(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3));
    assert.match(d, /actual 2 bytes, expected 3 bytes, 1 byte\(s\) differ/);
    assert.match(d, /act 01 02 --/);
    assert.match(d, /exp 01 02 03/);
  });

  test('far-apart differences are separated by an ellipsis, not all lines printed', () => {
    const exp = new Uint8Array(200);
    const act = exp.slice();
    act[0] = 1;
    act[199] = 1;
    const d = hexDiff(act, exp);
    assert.match(d, /2 byte\(s\) differ/);
    assert.match(d, /\n\.\.\.\.\n/);
    assert.ok(d.includes('0000 act 01'));
    assert.ok(d.includes('00c0 act'));
    assert.ok(!d.includes('0060'), 'lines far from any difference are left out');
  });

  test('non-empty exactly when the arrays differ', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const same = a.length === b.length && a.every((x, i) => x === b[i]);
        assert.equal(hexDiff(a, b) === '', same);
        assert.equal(hexDiff(a, a), '');
      }),
      { numRuns: 300, seed: 9 },
    );
  });
});
