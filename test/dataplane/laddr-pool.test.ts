// LaddrPool (src/dataplane/laddr-pool.ts): per-(LIP, protocol) FIFO rings of free local ports.
// The reference is a plain array used as a queue: alloc takes the head, release appends.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LaddrPool, PROTO_IDX_TCP, PROTO_IDX_UDP } from '../../src/dataplane/laddr-pool.js';
import { fcParams } from './unit-helpers.js';

const LIP_A = Uint32Array.of(0xc00002c8, 0, 0, 0); // 192.0.2.200
const LIP_B = Uint32Array.of(0xc00002c9, 0, 0, 0); // 192.0.2.201
const LIP6 = Uint32Array.of(0x20010db8, 2, 0, 0x200); // 2001:db8:2::200

function range(min: number, max: number): number[] {
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

/** Takes `n` ports from (la, pi). */
function take(p: LaddrPool, la: number, pi: number, n: number): number[] {
  return Array.from({ length: n }, () => p.allocPort(la, pi));
}

describe('LaddrPool', () => {
  test('a new LIP hands its ports out in range order', () => {
    const p = new LaddrPool(2, 1025, 1034);
    const la = p.create(4, LIP_A);
    assert.equal(p.portCount, 10);
    assert.equal(p.freePorts(la, PROTO_IDX_TCP), 10);
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 10), range(1025, 1034));
    assert.equal(p.freePorts(la, PROTO_IDX_TCP), 0);
  });

  test('a released port comes back only after every other free port', () => {
    const p = new LaddrPool(1, 2000, 2004);
    const la = p.create(4, LIP_A);
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 2), [2000, 2001]);
    p.releasePort(la, PROTO_IDX_TCP, 2000);
    // 2002..2004 were free longer than 2000.
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 3), [2002, 2003, 2004]);
    p.releasePort(la, PROTO_IDX_TCP, 2001);
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 2), [2000, 2001]);
  });

  test('exhaustion returns 0 and counts a conflict per failed allocation', () => {
    const p = new LaddrPool(2, 40000, 40002);
    const a = p.create(4, LIP_A);
    const b = p.create(4, LIP_B);
    take(p, a, PROTO_IDX_TCP, 3);
    assert.equal(p.conflicts[a], 0);
    assert.equal(p.allocPort(a, PROTO_IDX_TCP), 0);
    assert.equal(p.allocPort(a, PROTO_IDX_TCP), 0);
    assert.equal(p.conflicts[a], 2);
    assert.equal(p.conflicts[b], 0, 'conflicts are per LIP');
    assert.equal(p.allocPort(a, PROTO_IDX_UDP), 40000, 'UDP has its own ring');
    p.releasePort(a, PROTO_IDX_TCP, 40001);
    assert.equal(p.allocPort(a, PROTO_IDX_TCP), 40001);
    assert.equal(p.conflicts[a], 2);
  });

  test('TCP and UDP rings are independent', () => {
    const p = new LaddrPool(1, 100, 103);
    const la = p.create(4, LIP_A);
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 3), [100, 101, 102]);
    assert.equal(p.freePorts(la, PROTO_IDX_UDP), 4);
    assert.deepEqual(take(p, la, PROTO_IDX_UDP, 2), [100, 101]);
    p.releasePort(la, PROTO_IDX_UDP, 100);
    assert.equal(p.freePorts(la, PROTO_IDX_TCP), 1);
    assert.equal(p.allocPort(la, PROTO_IDX_TCP), 103);
    assert.equal(p.allocPort(la, PROTO_IDX_TCP), 0);
    assert.deepEqual(take(p, la, PROTO_IDX_UDP, 3), [102, 103, 100]);
    assert.notEqual(p.out[la * 2 + PROTO_IDX_TCP], p.out[la * 2 + PROTO_IDX_UDP]);
  });

  test('model: every (LIP, protocol) ring behaves as a FIFO queue of free ports', () => {
    const op = fc.record({
      la: fc.integer({ min: 0, max: 1 }),
      pi: fc.constantFrom(PROTO_IDX_TCP, PROTO_IDX_UDP),
      alloc: fc.boolean(),
      /** which live port to release (index into the live list, modulo its length) */
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60000 }),
        fc.integer({ min: 1, max: 9 }),
        fc.array(op, { maxLength: 300 }),
        (min, n, ops) => {
          const max = min + n - 1;
          const p = new LaddrPool(2, min, max);
          const las = [p.create(4, LIP_A), p.create(6, LIP6)];
          const free = new Map<number, number[]>();
          const live = new Map<number, number[]>();
          const conflicts = [0, 0];
          for (const la of las)
            for (const pi of [0, 1]) {
              free.set(la * 2 + pi, range(min, max));
              live.set(la * 2 + pi, []);
            }
          for (const o of ops) {
            const la = las[o.la]!;
            const k = la * 2 + o.pi;
            const q = free.get(k)!;
            const l = live.get(k)!;
            if (o.alloc || l.length === 0) {
              const want = q.shift() ?? 0;
              if (want === 0) conflicts[o.la]!++;
              else l.push(want);
              assert.equal(p.allocPort(la, o.pi), want);
            } else {
              const [port] = l.splice(o.pick % l.length, 1);
              q.push(port!);
              p.releasePort(la, o.pi, port!);
            }
            assert.equal(p.freePorts(la, o.pi), q.length);
          }
          las.forEach((la, i) => {
            assert.equal(p.conflicts[la], conflicts[i]);
          });
          // Drain: what is left comes out in the reference order.
          for (const la of las)
            for (const pi of [0, 1]) {
              const q = free.get(la * 2 + pi)!;
              assert.deepEqual(take(p, la, pi, q.length + 1), [...q, 0]);
            }
        },
      ),
      fcParams(300),
    );
  });

  test('the full port range 1..65535 fits the ring', () => {
    const p = new LaddrPool(1, 1, 65535);
    const la = p.create(4, LIP_A);
    assert.equal(p.freePorts(la, PROTO_IDX_TCP), 65535);
    let last = 0;
    for (let i = 0; i < 65535; i++) {
      const port = p.allocPort(la, PROTO_IDX_TCP);
      assert.equal(port, last + 1);
      last = port;
    }
    assert.equal(p.allocPort(la, PROTO_IDX_TCP), 0);
    p.releasePort(la, PROTO_IDX_TCP, 65535);
    p.releasePort(la, PROTO_IDX_TCP, 7);
    assert.deepEqual(take(p, la, PROTO_IDX_TCP, 3), [65535, 7, 0]);
  });

  describe('create / destroy', () => {
    test('slots are handed out from 0 and -1 when all are used', () => {
      const p = new LaddrPool(3, 1025, 1030);
      assert.deepEqual(
        [p.create(4, LIP_A), p.create(4, LIP_B), p.create(6, LIP6), p.create(4, LIP_A)],
        [0, 1, 2, -1],
      );
      assert.equal(p.family[2], 6);
      assert.deepEqual([...p.addr.subarray(8, 12)], [...LIP6]);
      assert.deepEqual([...p.addr.subarray(4, 8)], [...LIP_B]);
    });

    test('a destroyed slot is reused with fresh rings, tables and counters', () => {
      const p = new LaddrPool(2, 1025, 1030);
      const a = p.create(4, LIP_A);
      const b = p.create(4, LIP_B);
      take(p, a, PROTO_IDX_TCP, 6);
      p.allocPort(a, PROTO_IDX_TCP);
      take(p, a, PROTO_IDX_UDP, 2);
      p.out[a * 2 + PROTO_IDX_TCP]![1025] = 42;
      p.conns[a] = 3;
      p.svcRefs[a] = 1;
      assert.equal(p.conflicts[a], 1);
      p.destroy(a);
      assert.equal(p.family[a], 0);
      assert.equal(p.freePorts(a, PROTO_IDX_TCP), 0);
      assert.equal(p.allocPort(a, PROTO_IDX_TCP), 0, 'a destroyed slot has no ports');
      const c = p.create(6, LIP6);
      assert.equal(c, a, 'the freed slot is reused');
      assert.equal(p.family[c], 6);
      assert.deepEqual([...p.addr.subarray(c * 4, c * 4 + 4)], [...LIP6]);
      assert.equal(p.conflicts[c], 0);
      assert.equal(p.conns[c], 0);
      assert.equal(p.svcRefs[c], 0);
      assert.equal(p.out[c * 2 + PROTO_IDX_TCP]![1025], 0, 'a fresh out table');
      assert.deepEqual(take(p, c, PROTO_IDX_TCP, 6), range(1025, 1030));
      assert.deepEqual(take(p, c, PROTO_IDX_UDP, 6), range(1025, 1030));
      assert.equal(p.freePorts(b, PROTO_IDX_TCP), 6, 'the other LIP is untouched');
    });

    test('the out table spans every port number', () => {
      const p = new LaddrPool(1, 5000, 5001);
      const la = p.create(4, LIP_A);
      for (const pi of [PROTO_IDX_TCP, PROTO_IDX_UDP]) {
        assert.equal(p.out[la * 2 + pi]!.length, 65536);
        assert.ok(p.out[la * 2 + pi]!.every((v) => v === 0));
      }
    });
  });

  test('a bad port range is refused', () => {
    for (const [min, max] of [
      [0, 10],
      [10, 65536],
      [20, 10],
    ] as const) {
      assert.throws(() => new LaddrPool(1, min, max), RangeError, `${min}-${max}`);
    }
    assert.equal(new LaddrPool(1, 80, 80).portCount, 1);
  });
});

describe('LaddrPool random start', () => {
  test('a seeded ring starts elsewhere than the lowest port, differs per seed, and still holds every port once', () => {
    const words = new Uint32Array([0xc00002c8, 0, 0, 0]);
    const firsts = new Set<number>();
    for (const seed of [1, 2, 3, 4, 5]) {
      const pool = new LaddrPool(4, 1025, 65535, seed);
      const la = pool.create(4, words);
      const seen = new Set<number>();
      for (let i = 0; i < pool.portCount; i++) seen.add(pool.allocPort(la, 0));
      assert.equal(seen.size, pool.portCount);
      assert.equal(Math.min(...seen), 1025);
      assert.equal(Math.max(...seen), 65535);
      const again = new LaddrPool(4, 1025, 65535, seed);
      firsts.add(again.allocPort(again.create(4, words), 0));
    }
    assert.ok(firsts.size >= 4, `first ports ${[...firsts]}`);
    assert.ok(![...firsts].every((p) => p === 1025));
  });
});
