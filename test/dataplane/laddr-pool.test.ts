// LaddrPool (src/dataplane/laddr-pool.ts): local ports allocated per (LIP, protocol, real-server
// tuple), the out-index chains and the per-tuple port counts. The reference is a plain model: a
// list of live (LIP, proto, port, RS address, rport) and a cursor per (LIP, proto).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CONN_STRIDE, W_DEST, W_LDPORT } from '../../src/dataplane/conn/table.js';
import { LaddrPool, PROTO_IDX_TCP, PROTO_IDX_UDP } from '../../src/dataplane/laddr-pool.js';
import { fcParams } from './unit-helpers.js';

const LIP_A = Uint32Array.of(0xc00002c8, 0, 0, 0); // 192.0.2.200
const LIP_B = Uint32Array.of(0xc00002c9, 0, 0, 0); // 192.0.2.201
const LIP6 = Uint32Array.of(0x20010db8, 2, 0, 0x200); // 2001:db8:2::200
/** Real-server addresses by dest index; dests 0 and 3 share an address (two services, one RS). */
const RS = [0xc0000215, 0xc0000216, 0xc0000217, 0xc0000215]; // 192.0.2.21, .22, .23, .21

/** A pool with connection records and dest addresses of its own, and helpers to open/close. */
function harness(
  maxLaddrs: number,
  min: number,
  max: number,
  conns = 4096,
  maxTuples = 64,
  seed: number | null = null,
) {
  const w = new Uint32Array((conns + 1) * CONN_STRIDE);
  const destAddr = new Uint32Array(RS.length * 4);
  RS.forEach((a, d) => {
    destAddr[d * 4] = a;
  });
  const p = new LaddrPool(maxLaddrs, min, max, w, destAddr, maxTuples, seed);
  const freeIds = Array.from({ length: conns }, (_, i) => conns - i);
  const live = new Map<number, { la: number; pi: number; port: number; d: number; rport: number }>();
  return {
    p,
    live,
    /** Tuples that reached lowMark (take() returned true). */
    lows: 0,
    /** Opens a connection; returns [id, port] or [0, 0] when no port is free. */
    open(la: number, pi: number, d: number, rport: number): [number, number] {
      const port = p.allocPort(la, pi, d, rport);
      if (port === 0) return [0, 0];
      const id = freeIds.pop()!;
      w[id * CONN_STRIDE + W_DEST] = d;
      w[id * CONN_STRIDE + W_LDPORT] = (port << 16) | rport;
      if (p.take(la, pi, port, id)) this.lows++;
      live.set(id, { la, pi, port, d, rport });
      return [id, port];
    },
    close(id: number): void {
      const c = live.get(id)!;
      p.give(c.la, c.pi, c.port, id);
      live.delete(id);
      freeIds.push(id);
    },
    /** The chain of (la, pi, port) as connection ids. */
    chain(la: number, pi: number, port: number): number[] {
      const out: number[] = [];
      for (let id = p.out[la * 2 + pi]![port]!; id !== 0; id = p.outNext[id]!) out.push(id);
      return out;
    },
  };
}

describe('LaddrPool', () => {
  test('one real server: ports in range order, then none (a conflict each time)', () => {
    const h = harness(2, 1025, 1034);
    const la = h.p.create(4, LIP_A);
    assert.equal(h.p.portCount, 10);
    const ports = Array.from({ length: 10 }, () => h.open(la, PROTO_IDX_TCP, 1, 80)[1]);
    assert.deepEqual(ports, [1025, 1026, 1027, 1028, 1029, 1030, 1031, 1032, 1033, 1034]);
    assert.equal(h.p.tupleUse(la, PROTO_IDX_TCP, 1, 80), 10);
    assert.deepEqual(h.open(la, PROTO_IDX_TCP, 1, 80), [0, 0]);
    assert.deepEqual(h.open(la, PROTO_IDX_TCP, 1, 80), [0, 0]);
    assert.equal(h.p.conflicts[la], 2);
    assert.equal(h.p.conns[la], 10);
  });

  test('a port serves several real-server tuples at once: capacity grows with the servers', () => {
    const h = harness(1, 2000, 2002);
    const la = h.p.create(4, LIP_A);
    // Three ports, but 3 x (RS .22:80, RS .23:80, RS .22:8080) connections.
    for (const [d, rport] of [
      [1, 80],
      [2, 80],
      [1, 8080],
    ] as const) {
      for (let i = 0; i < 3; i++)
        assert.notEqual(h.open(la, PROTO_IDX_TCP, d, rport)[0], 0, `${d}:${rport} #${i}`);
      assert.deepEqual(h.open(la, PROTO_IDX_TCP, d, rport), [0, 0], 'then that tuple is full');
    }
    assert.equal(h.p.conns[la], 9);
    for (const port of [2000, 2001, 2002]) assert.equal(h.chain(la, PROTO_IDX_TCP, port).length, 3);
  });

  test('two dests with one address share its port space (two services, one real server)', () => {
    const h = harness(1, 3000, 3001);
    const la = h.p.create(4, LIP_A);
    assert.notEqual(h.open(la, PROTO_IDX_TCP, 0, 80)[0], 0);
    assert.notEqual(h.open(la, PROTO_IDX_TCP, 3, 80)[0], 0);
    assert.deepEqual(h.open(la, PROTO_IDX_TCP, 0, 80), [0, 0], 'dest 3 holds the other port');
    assert.equal(h.p.tupleUse(la, PROTO_IDX_TCP, 3, 80), 2);
  });

  test('a closed port comes back to its tuple only after the cursor went round', () => {
    const h = harness(1, 4000, 4004);
    const la = h.p.create(4, LIP_A);
    const [a, pa] = h.open(la, PROTO_IDX_TCP, 1, 80);
    assert.equal(pa, 4000);
    h.close(a);
    const next = Array.from({ length: 5 }, () => h.open(la, PROTO_IDX_TCP, 1, 80)[1]);
    assert.deepEqual(next, [4001, 4002, 4003, 4004, 4000]);
  });

  test('TCP and UDP, and LIPs, are independent', () => {
    const h = harness(2, 100, 101);
    const a = h.p.create(4, LIP_A);
    const b = h.p.create(4, LIP_B);
    h.open(a, PROTO_IDX_TCP, 1, 53);
    h.open(a, PROTO_IDX_TCP, 1, 53);
    assert.deepEqual(h.open(a, PROTO_IDX_TCP, 1, 53), [0, 0]);
    assert.equal(h.open(a, PROTO_IDX_UDP, 1, 53)[1], 100);
    assert.equal(h.open(b, PROTO_IDX_TCP, 1, 53)[1], 100);
    assert.equal(h.p.conflicts[b], 0);
    const most = h.p.busiestTuples();
    assert.deepEqual([most[a * 2], most[a * 2 + 1], most[b * 2], most[b * 2 + 1]], [2, 1, 1, 0]);
  });

  test('take() says when a tuple reaches 7/8 of the range, once on the way up', () => {
    const h = harness(1, 1, 16);
    const la = h.p.create(4, LIP_A);
    assert.equal(h.p.lowMark, 14);
    for (let i = 0; i < 13; i++) h.open(la, PROTO_IDX_TCP, 1, 80);
    assert.equal(h.lows, 0);
    h.open(la, PROTO_IDX_TCP, 1, 80);
    assert.equal(h.lows, 1, 'the 14th port');
    h.open(la, PROTO_IDX_TCP, 1, 80);
    assert.equal(h.lows, 1);
    h.open(la, PROTO_IDX_TCP, 2, 80);
    assert.equal(h.lows, 1, 'another tuple is far from full');
  });

  test('a full tuple map: connections still get distinct ports, uncounted', () => {
    const h = harness(1, 10, 12, 64, 1);
    const la = h.p.create(4, LIP_A);
    const cap = h.p.tuples.maxSize;
    // Fill the map with distinct tuples (one connection each, rports 1..), then go past it.
    for (let r = 1; r <= cap; r++) assert.notEqual(h.open(la, PROTO_IDX_TCP, 1, r)[0], 0);
    assert.equal(h.p.untracked, 0);
    const ports = [0, 1, 2].map(() => h.open(la, PROTO_IDX_TCP, 2, 9999)[1]);
    assert.equal(new Set(ports).size, 3, `${ports}`);
    assert.ok(h.p.untracked >= 1);
    for (const id of [...h.live.keys()]) h.close(id);
    assert.equal(h.p.tuples.size, 0, 'closing uncounted connections touches no entry');
    assert.equal(h.p.conns[la], 0);
  });

  test('model: random opens and closes over 2 LIPs, 2 protocols, 4 dests', () => {
    const op = fc.record({
      la: fc.integer({ min: 0, max: 1 }),
      pi: fc.constantFrom(PROTO_IDX_TCP, PROTO_IDX_UDP),
      d: fc.integer({ min: 0, max: 3 }),
      rport: fc.constantFrom(80, 443),
      open: fc.boolean(),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60000 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(op, { maxLength: 250 }),
        (min, n, ops) => {
          const max = min + n - 1;
          const h = harness(2, min, max);
          const las = [h.p.create(4, LIP_A), h.p.create(6, LIP6)];
          const cursor = [0, 0, 0, 0];
          const conflicts = [0, 0];
          const heldBy = (la: number, pi: number, port: number, d: number, rport: number) =>
            [...h.live.values()].some(
              (c) => c.la === la && c.pi === pi && c.port === port && RS[c.d] === RS[d] && c.rport === rport,
            );
          for (const o of ops) {
            const la = las[o.la]!;
            if (o.open || h.live.size === 0) {
              // Reference: the first port at or after the cursor not held by this tuple.
              const k = la * 2 + o.pi;
              let want = 0;
              for (let t = 0; t < n; t++) {
                const c = (cursor[k]! + t) % n;
                if (!heldBy(la, o.pi, min + c, o.d, o.rport)) {
                  want = min + c;
                  cursor[k] = (c + 1) % n;
                  break;
                }
              }
              if (want === 0) conflicts[o.la]!++;
              assert.equal(h.open(la, o.pi, o.d, o.rport)[1], want);
            } else {
              const ids = [...h.live.keys()];
              h.close(ids[o.pick % ids.length]!);
            }
          }
          las.forEach((la, i) => {
            assert.equal(h.p.conflicts[la], conflicts[i]);
          });
          // Every live connection is in its port's chain exactly once; counts match the model.
          const most = h.p.busiestTuples();
          for (const la of las)
            for (const pi of [0, 1]) {
              let best = 0;
              for (let d = 0; d < 3; d++)
                for (const rport of [80, 443]) {
                  const cnt = [...h.live.values()].filter(
                    (c) => c.la === la && c.pi === pi && RS[c.d] === RS[d] && c.rport === rport,
                  ).length;
                  assert.equal(h.p.tupleUse(la, pi, d, rport), cnt);
                  best = Math.max(best, cnt);
                }
              assert.equal(most[la * 2 + pi], best);
              for (let port = min; port <= max; port++) {
                const want = [...h.live.entries()]
                  .filter(([, c]) => c.la === la && c.pi === pi && c.port === port)
                  .map(([id]) => id)
                  .sort();
                assert.deepEqual(h.chain(la, pi, port).sort(), want);
              }
            }
        },
      ),
      fcParams(200),
    );
  });

  describe('create / destroy', () => {
    test('slots are handed out from 0 and -1 when all are used', () => {
      const h = harness(3, 1025, 1030);
      const p = h.p;
      assert.deepEqual(
        [p.create(4, LIP_A), p.create(4, LIP_B), p.create(6, LIP6), p.create(4, LIP_A)],
        [0, 1, 2, -1],
      );
      assert.equal(p.family[2], 6);
      assert.deepEqual([...p.addr.subarray(8, 12)], [...LIP6]);
      assert.deepEqual([...p.addr.subarray(4, 8)], [...LIP_B]);
    });

    test('a destroyed slot is reused with a fresh out table and counters', () => {
      const h = harness(2, 1025, 1030);
      const p = h.p;
      const a = p.create(4, LIP_A);
      for (let i = 0; i < 7; i++) h.open(a, PROTO_IDX_TCP, 1, 80);
      assert.equal(p.conflicts[a], 1);
      for (const id of [...h.live.keys()]) h.close(id);
      p.destroy(a);
      assert.equal(p.family[a], 0);
      const c = p.create(6, LIP6);
      assert.equal(c, a, 'the freed slot is reused');
      assert.equal(p.family[c], 6);
      assert.deepEqual([...p.addr.subarray(c * 4, c * 4 + 4)], [...LIP6]);
      assert.equal(p.conflicts[c], 0);
      assert.equal(p.conns[c], 0);
      assert.ok(
        p.out[c * 2 + PROTO_IDX_TCP]!.every((v) => v === 0),
        'a fresh out table',
      );
      assert.equal(p.out[c * 2 + PROTO_IDX_UDP]!.length, 65536, 'the out table spans every port number');
    });
  });

  test('a bad port range is refused', () => {
    const w = new Uint32Array(CONN_STRIDE * 2);
    for (const [min, max] of [
      [0, 10],
      [10, 65536],
      [20, 10],
    ] as const) {
      assert.throws(() => new LaddrPool(1, min, max, w, new Uint32Array(4), 4), RangeError, `${min}-${max}`);
    }
    assert.equal(new LaddrPool(1, 80, 80, w, new Uint32Array(4), 4).portCount, 1);
  });
});

describe('LaddrPool random start', () => {
  test('a seeded cursor starts elsewhere than the lowest port, differs per seed, and still visits every port', () => {
    const firsts = new Set<number>();
    for (const seed of [1, 2, 3, 4, 5]) {
      const h = harness(4, 1025, 65535, 70000, 4, seed);
      const la = h.p.create(4, LIP_A);
      const seen = new Set<number>();
      for (let i = 0; i < h.p.portCount; i++) seen.add(h.open(la, 0, 1, 80)[1]);
      assert.equal(seen.size, h.p.portCount);
      assert.equal(Math.min(...seen), 1025);
      assert.equal(Math.max(...seen), 65535);
      const again = harness(4, 1025, 65535, 4, 4, seed);
      firsts.add(again.open(again.p.create(4, LIP_A), 0, 1, 80)[1]);
    }
    assert.ok(firsts.size >= 4, `first ports ${[...firsts]}`);
    assert.ok(![...firsts].every((p) => p === 1025));
  });
});
