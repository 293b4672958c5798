// SYN cookies: every MSS index and flag round-trips, a cookie is tied to its tuple and ISN,
// lives 4 minutes, survives one secret rotation, and random values almost never pass.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  COOKIE_MAX_AGE,
  halfSipHash,
  MSS_TABLE,
  mssIndex,
  SynCookies,
  WSCALE_NONE,
} from '../../src/dataplane/syncookie.js';

const S = new Uint32Array([0xc6336402, 0, 0, 0]);
const D = new Uint32Array([0xcb00710a, 0, 0, 0]);

function cookies(seed = 1): SynCookies {
  return new SynCookies(new Uint32Array([seed, seed * 3, seed * 5, seed * 7]));
}

describe('syncookies', () => {
  test('every MSS index, wscale and flag combination round-trips', () => {
    const c = cookies();
    c.setTuple(false, S, D, 40000, 80);
    for (const [i, mss] of MSS_TABLE.entries()) {
      for (const ws of [0, 7, 14, WSCALE_NONE]) {
        for (const sack of [false, true]) {
          for (const ts of [false, true]) {
            const k = c.make(12345, 3, mss, ws, sack, ts);
            assert.equal(c.check(k, 12345, 3), true);
            assert.deepEqual({ ...c.data }, { mss: MSS_TABLE[i], wscale: ws, sack, ts });
          }
        }
      }
    }
  });

  test('a client MSS between table values rounds down; below the table takes its first entry', () => {
    assert.equal(MSS_TABLE[mssIndex(1459)], 1452);
    assert.equal(MSS_TABLE[mssIndex(9000)], 4312);
    assert.equal(MSS_TABLE[mssIndex(10)], 64);
  });

  test('tied to the tuple and the client ISN (IPv4 and IPv6)', () => {
    const c = cookies();
    c.setTuple(false, S, D, 40000, 80);
    const k = c.make(777, 9, 1460, WSCALE_NONE, true, false);
    assert.equal(c.check(k, 778, 9), false);
    c.setTuple(false, S, D, 40001, 80);
    assert.equal(c.check(k, 777, 9), false);
    const s6 = new Uint32Array([0x20010db8, 0x100, 0, 2]);
    const d6 = new Uint32Array([0x20010db8, 0x203, 0, 0x10]);
    c.setTuple(true, s6, d6, 1, 80);
    const k6 = c.make(5, 9, 1440, 2, false, false);
    assert.equal(c.check(k6, 5, 9), true);
    s6[3] = 3;
    c.setTuple(true, s6, d6, 1, 80);
    assert.equal(c.check(k6, 5, 9), false);
  });

  test('valid for COOKIE_MAX_AGE minutes, also across the counter wrap', () => {
    const c = cookies();
    c.setTuple(false, S, D, 1, 2);
    for (const made of [0, 100, 254, 255]) {
      const k = c.make(1, made, 536, WSCALE_NONE, false, false);
      for (let age = 0; age < 8; age++) {
        assert.equal(c.check(k, 1, (made + age) & 0xff), age < COOKIE_MAX_AGE, `made ${made} age ${age}`);
      }
    }
  });

  test('one rotation keeps old cookies valid, two do not', () => {
    const c = cookies();
    c.setTuple(false, S, D, 1, 2);
    const k = c.make(1, 0, 1460, WSCALE_NONE, false, false);
    c.rotate(new Uint32Array([9, 9, 9, 9]));
    assert.equal(c.check(k, 1, 0), true);
    c.rotate(new Uint32Array([8, 8, 8, 8]));
    assert.equal(c.check(k, 1, 0), false);
  });

  test('random acks almost never validate', () => {
    const c = cookies(7);
    c.setTuple(false, S, D, 40000, 80);
    let ok = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (cookie, isn) => {
          if (c.check(cookie, isn, 10)) ok++;
        },
      ),
      { numRuns: 20000, seed: 3 },
    );
    // 12 zero bits, 2 reserved bits, 10 of 16 MSS indexes and 4 of 256 minutes: ~1 in 2.6M.
    assert.ok(ok <= 2, `${ok} random values passed`);
  });

  test('HalfSipHash depends on every word and on the key', () => {
    const m = new Uint32Array([1, 2, 3]);
    const h = halfSipHash(1, 2, m, 3);
    assert.notEqual(halfSipHash(1, 3, m, 3), h);
    for (let i = 0; i < 3; i++) {
      const m2 = m.slice();
      m2[i] ^= 1;
      assert.notEqual(halfSipHash(1, 2, m2, 3), h);
    }
    assert.notEqual(halfSipHash(1, 2, m, 2), h, 'length matters');
  });
});
