// Addr4Map (src/dataplane/addr4-map.ts): open addressing with linear probing and backward-shift
// deletion, checked against a JS Map. Small capacities make probe runs wrap past the last slot;
// keys are chosen by their home slot (the map's multiplicative hash, reproduced here) so runs
// that cross the wrap-around, and deletions inside them, happen on purpose and not by luck.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Addr4Map } from '../../src/dataplane/addr4-map.js';
import { fcParams } from './unit-helpers.js';

/** The map's home slot for `a` at `capacity` slots (white box: same hash as addr4-map.ts). */
function home(a: number, capacity: number): number {
  return Math.imul(a, 0x9e3779b1) >>> (32 - Math.log2(capacity));
}

/** `n` distinct uint32 keys whose home slot is `slot`, searched upwards from `from`. */
function keysAt(slot: number, capacity: number, n: number, from = 0x0a000000): number[] {
  const out: number[] = [];
  for (let a = from; out.length < n; a = (a + 1) >>> 0) if (home(a, capacity) === slot) out.push(a);
  return out;
}

function checkAgainst(m: Addr4Map, ref: Map<number, number>, probes: Iterable<number>): void {
  assert.equal(m.size, ref.size);
  for (const [k, v] of ref) assert.equal(m.get(k), v, `get(${k >>> 0})`);
  for (const k of probes) if (!ref.has(k)) assert.equal(m.get(k), -1, `absent ${k >>> 0}`);
}

describe('Addr4Map', () => {
  test('capacity must be a power of two >= 4', () => {
    for (const c of [0, 2, 3, 6, 12]) assert.throws(() => new Addr4Map(c), RangeError, String(c));
    assert.equal(new Addr4Map(4).size, 0);
  });

  test('a probe run that wraps past the last slot survives deleting its start', () => {
    const cap = 8;
    // Three keys at home 7 occupy slots 7, 0, 1; a key at home 0 lands at 2.
    const [a, b, c] = keysAt(7, cap, 3);
    const [d] = keysAt(0, cap, 1);
    const m = new Addr4Map(cap);
    const ref = new Map<number, number>();
    for (const [k, v] of [
      [a!, 1],
      [b!, 2],
      [c!, 3],
      [d!, 4],
    ] as const) {
      assert.ok(m.set(k, v));
      ref.set(k, v);
    }
    checkAgainst(m, ref, []);
    // Deleting `a` (slot 7) must pull b, c back across the wrap and d into slot 1.
    assert.ok(m.delete(a!));
    ref.delete(a!);
    checkAgainst(m, ref, [a!]);
    assert.ok(m.delete(c!));
    ref.delete(c!);
    checkAgainst(m, ref, [a!, c!]);
    assert.equal(m.delete(c!), false, 'deleting twice');
    assert.ok(m.delete(b!));
    ref.delete(b!);
    checkAgainst(m, ref, [a!, b!, c!]);
  });

  test('a key whose home lies inside the wrapped run stays put on delete', () => {
    const cap = 8;
    // Slots: 6 <- x(home 6), 7 <- y(home 6), 0 <- z(home 7), 1 <- w(home 0).
    const [x, y] = keysAt(6, cap, 2);
    const [z] = keysAt(7, cap, 1);
    const [w] = keysAt(0, cap, 1);
    const m = new Addr4Map(cap);
    const ref = new Map<number, number>();
    [x!, y!, z!, w!].forEach((k, i) => {
      m.set(k, i);
      ref.set(k, i);
    });
    for (const gone of [y!, x!, w!, z!]) {
      assert.ok(m.delete(gone));
      ref.delete(gone);
      checkAgainst(m, ref, [x!, y!, z!, w!]);
    }
  });

  test('model: random set / overwrite / delete / get against a Map, with wrap-around', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8, 16),
        fc.array(
          fc.record({
            /** a key from a small pool whose homes crowd the last slots */
            k: fc.nat(11),
            v: fc.integer({ min: -5, max: 0x7fffffff }),
            op: fc.constantFrom('set', 'set', 'delete', 'get'),
          }),
          { maxLength: 200 },
        ),
        (cap, ops) => {
          // Keys homed at the last two slots and at slot 0 so runs wrap constantly.
          const pool = [
            ...keysAt(cap - 1, cap, 4),
            ...keysAt(cap - 2, cap, 3),
            ...keysAt(0, cap, 3),
            0,
            0xffffffff,
          ];
          const m = new Addr4Map(cap);
          const ref = new Map<number, number>();
          const limit = (cap * 3) / 4;
          for (const { k: i, v, op } of ops) {
            const k = pool[i]!;
            if (op === 'set') {
              const ok = ref.has(k) || ref.size < limit;
              assert.equal(m.set(k, v), ok, `set(${k}) with ${ref.size} of ${cap}`);
              if (ok) ref.set(k, v);
            } else if (op === 'delete') {
              assert.equal(m.delete(k), ref.delete(k));
            } else {
              assert.equal(m.get(k), ref.get(k) ?? -1);
            }
            assert.equal(m.full, ref.size >= limit);
            checkAgainst(m, ref, pool);
          }
        },
      ),
      fcParams(500),
    );
  });

  test('model: random uint32 keys in a 16-slot table', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.nat(20), fc.nat(1000)), { maxLength: 300 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 21, maxLength: 21 }),
        (ops, pool) => {
          const m = new Addr4Map(16);
          const ref = new Map<number, number>();
          for (const [isSet, i, v] of ops) {
            const k = pool[i]!;
            if (isSet) {
              const ok = ref.has(k) || ref.size < 12;
              assert.equal(m.set(k, v), ok);
              if (ok) ref.set(k, v);
            } else assert.equal(m.delete(k), ref.delete(k));
            checkAgainst(m, ref, pool);
          }
        },
      ),
      fcParams(300),
    );
  });

  test('a full table refuses new keys, still overwrites, finds and deletes', () => {
    const m = new Addr4Map(8);
    const keys = keysAt(3, 8, 7);
    for (let i = 0; i < 6; i++) assert.ok(m.set(keys[i]!, i), `key ${i}`);
    assert.ok(m.full);
    assert.equal(m.size, 6);
    assert.equal(m.set(keys[6]!, 6), false, 'a 7th key in 8 slots is refused');
    assert.equal(m.size, 6);
    assert.equal(m.get(keys[6]!), -1, 'absent key in a full table: the probe ends at a free slot');
    assert.ok(m.set(keys[2]!, 22), 'overwriting in a full table');
    assert.equal(m.get(keys[2]!), 22);
    assert.ok(m.delete(keys[0]!));
    assert.equal(m.full, false);
    assert.ok(m.set(keys[6]!, 6));
    for (let i = 1; i < 7; i++) assert.equal(m.get(keys[i]!), i === 2 ? 22 : i);
    assert.equal(m.get(keys[0]!), -1);
  });

  test('values may be negative and addresses cover the whole uint32 range', () => {
    const m = new Addr4Map(16);
    const cases: [number, number][] = [
      [0, -2],
      [0xffffffff, 7],
      [0x80000000, 0],
      [0xcb00710a, -2], // 203.0.113.10
    ];
    for (const [k, v] of cases) assert.ok(m.set(k, v));
    for (const [k, v] of cases) assert.equal(m.get(k), v);
  });
});
