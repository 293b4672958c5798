import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FK_WORDS, FlowMap, flowKeyPort } from '../../src/dataplane/flow-map.js';

// Candidate key number n -> 6 words. Variation in several words so equality checks every word.
function candidate(n: number, out: Uint32Array): void {
  out[0] = (0xc0000200 + (n & 0xff)) >>> 0; // 192.0.2.x
  out[1] = n & 0x100 ? 0x20010db8 : 0;
  out[2] = 0;
  out[3] = (n >>> 9) & 1;
  out[4] = flowKeyPort(80 + ((n >>> 10) & 3), n & 0x1000 ? 17 : 6, 4);
  out[5] = n >>> 13;
}

function loadKey(m: FlowMap, words: Uint32Array): void {
  m.key.set(words);
}

/** Picks `count` distinct candidate keys whose home slot satisfies `pred`. */
function pickKeys(m: FlowMap, count: number, pred: (home: number) => boolean): Uint32Array[] {
  const out: Uint32Array[] = [];
  for (let n = 0; out.length < count; n++) {
    assert.ok(n < 1 << 20, 'could not find enough keys');
    const w = new Uint32Array(FK_WORDS);
    candidate(n, w);
    loadKey(m, w);
    if (pred(m.homeSlot())) out.push(w);
  }
  return out;
}

function keyStr(w: Uint32Array): string {
  return Array.from(w).join(',');
}

/** Structural invariants: size matches used slots; every entry is reachable from its home slot
 *  without crossing an empty slot (what backward-shift deletion must keep); no duplicate keys. */
function checkStructure(m: FlowMap): void {
  let used = 0;
  const seen = new Set<string>();
  for (let i = 0; i < m.slotCount; i++) {
    if (!m.slotUsed(i)) continue;
    used++;
    m.loadSlotKey(i);
    const ks = keyStr(m.key);
    assert.ok(!seen.has(ks), `duplicate key ${ks}`);
    seen.add(ks);
    for (let j = m.homeSlot(); j !== i; j = (j + 1) & (m.capacity - 1)) {
      assert.ok(m.slotUsed(j), `empty slot ${j} between home and slot ${i}`);
    }
    assert.equal(m.find(), i);
    assert.equal(m.get(), m.slotValue(i));
  }
  assert.equal(used, m.size);
}

describe('FlowMap', () => {
  it('rejects a capacity that is not a power of two', () => {
    assert.throws(() => new FlowMap(12), RangeError);
    assert.throws(() => new FlowMap(0), RangeError);
    assert.throws(() => new FlowMap(1), RangeError);
    assert.throws(() => new FlowMap(2.5), RangeError);
    assert.equal(new FlowMap(2).maxSize, 1);
    assert.equal(new FlowMap(1024).maxSize, 768);
  });

  it('sets, gets, overwrites and deletes', () => {
    const m = new FlowMap(64);
    const k = m.key;
    k[0] = 0xcb00710a; // 203.0.113.10
    k[4] = flowKeyPort(80, 6, 4);
    assert.equal(m.get(), -1);
    assert.equal(m.has(), false);
    assert.equal(m.set(7), true);
    assert.equal(m.size, 1);
    assert.equal(m.get(), 7);
    assert.equal(m.set(9), true);
    assert.equal(m.size, 1);
    assert.equal(m.get(), 9);
    k[5] = 1; // a different key in the extra word only
    assert.equal(m.get(), -1);
    assert.equal(m.delete(), false);
    k[5] = 0;
    assert.equal(m.delete(), true);
    assert.equal(m.delete(), false);
    assert.equal(m.size, 0);
    assert.equal(m.get(), -1);
  });

  it('flowKeyPort packs port, proto and family', () => {
    assert.equal(flowKeyPort(443, 6, 6), (443 | (6 << 16) | (6 << 24)) >>> 0);
    assert.equal(flowKeyPort(65535, 17, 255), 0xff11ffff);
  });

  it('the seed changes the hash; a default seed is random', () => {
    const a = new FlowMap(16, 1);
    const b = new FlowMap(16, 2);
    const a2 = new FlowMap(16, 1);
    let differ = 0;
    for (let n = 0; n < 32; n++) {
      candidate(n, a.key);
      candidate(n, b.key);
      candidate(n, a2.key);
      assert.equal(a.hash(), a2.hash());
      if (a.hash() !== b.hash()) differ++;
    }
    assert.equal(differ, 32);
    const r1 = new FlowMap(16);
    const r2 = new FlowMap(16);
    candidate(5, r1.key);
    candidate(5, r2.key);
    assert.notEqual(r1.hash(), r2.hash()); // 2^-32 chance of a false failure
  });

  it('spreads sequential addresses over the slots', () => {
    const m = new FlowMap(1024, 0x1234);
    const perSlot = new Uint16Array(1024);
    for (let n = 0; n < 768; n++) {
      m.key[0] = (0xc6336400 + n) >>> 0; // 198.51.100.0 + n
      m.key[4] = flowKeyPort(40000, 6, 4);
      perSlot[m.homeSlot()]!++;
      assert.ok(m.set(n));
    }
    assert.ok(Math.max(...perSlot) <= 8, `max homes per slot ${Math.max(...perSlot)}`);
    checkStructure(m);
  });

  it('backward shift moves entries back across the wrap-around point', () => {
    const m = new FlowMap(8, 0xbeef);
    const [a, b, c] = pickKeys(m, 3, (h) => h === 7);
    const [d] = pickKeys(m, 1, (h) => h === 0);
    const [e] = pickKeys(m, 1, (h) => h === 1);
    const slotOf = (w: Uint32Array): number => {
      loadKey(m, w);
      return m.find();
    };
    const put = (w: Uint32Array, v: number): void => {
      loadKey(m, w);
      assert.ok(m.set(v));
    };
    const del = (w: Uint32Array): void => {
      loadKey(m, w);
      assert.ok(m.delete());
    };

    // a@7 b@0 c@1 (all home 7): deleting a shifts b to 7 and c to 0.
    put(a!, 1);
    put(b!, 2);
    put(c!, 3);
    assert.deepEqual([slotOf(a!), slotOf(b!), slotOf(c!)], [7, 0, 1]);
    del(a!);
    assert.deepEqual([slotOf(a!), slotOf(b!), slotOf(c!)], [-1, 7, 0]);
    assert.equal(m.slotUsed(1), false);
    checkStructure(m);

    // b@7 c@0 d@1 (d home 0): deleting b shifts c to 7 and d to its home 0.
    m.clear();
    put(b!, 2);
    put(c!, 3);
    put(d!, 4);
    assert.deepEqual([slotOf(b!), slotOf(c!), slotOf(d!)], [7, 0, 1]);
    del(b!);
    assert.deepEqual([slotOf(c!), slotOf(d!)], [7, 0]);
    checkStructure(m);

    // a@7 b@0 e@1 (e home 1): deleting a shifts b to 7; e must stay in its home slot 1.
    m.clear();
    put(a!, 1);
    put(b!, 2);
    put(e!, 5);
    del(a!);
    assert.deepEqual([slotOf(b!), slotOf(e!)], [7, 1]);
    assert.equal(m.slotUsed(0), false);
    checkStructure(m);
    loadKey(m, e!);
    assert.equal(m.get(), 5);
  });

  it('refuses new keys at 3/4 load but still overwrites and accepts after a delete', () => {
    const m = new FlowMap(8, 42);
    const keys = pickKeys(m, 7, () => true);
    for (let i = 0; i < 6; i++) {
      loadKey(m, keys[i]!);
      assert.equal(m.set(i), true);
    }
    assert.equal(m.size, 6);
    loadKey(m, keys[6]!);
    assert.equal(m.set(6), false);
    assert.equal(m.size, 6);
    assert.equal(m.get(), -1);
    loadKey(m, keys[2]!);
    assert.equal(m.set(22), true, 'overwrite at max load');
    assert.equal(m.get(), 22);
    assert.equal(m.size, 6);
    loadKey(m, keys[0]!);
    assert.equal(m.delete(), true);
    loadKey(m, keys[6]!);
    assert.equal(m.set(6), true);
    assert.equal(m.get(), 6);
    checkStructure(m);
  });

  it('clear empties the table and it can be refilled', () => {
    const m = new FlowMap(16, 7);
    const keys = pickKeys(m, 12, () => true);
    for (let i = 0; i < 12; i++) {
      loadKey(m, keys[i]!);
      assert.ok(m.set(100 + i));
    }
    m.clear();
    assert.equal(m.size, 0);
    for (let i = 0; i < m.slotCount; i++) assert.equal(m.slotUsed(i), false);
    for (const k of keys) {
      loadKey(m, k);
      assert.equal(m.get(), -1);
    }
    for (let i = 0; i < 12; i++) {
      loadKey(m, keys[i]!);
      assert.ok(m.set(200 + i));
    }
    for (let i = 0; i < 12; i++) {
      loadKey(m, keys[i]!);
      assert.equal(m.get(), 200 + i);
    }
    checkStructure(m);
  });

  it('iterates every entry once and deleteSlot supports a one-pass sweep', () => {
    const m = new FlowMap(32, 99);
    const keys = pickKeys(m, 24, () => true);
    for (let i = 0; i < 24; i++) {
      loadKey(m, keys[i]!);
      assert.ok(m.set(i));
    }
    let sum = 0;
    let n = 0;
    for (let i = 0; i < m.slotCount; i++) {
      if (m.slotUsed(i)) {
        sum += m.slotValue(i);
        n++;
      }
    }
    assert.equal(n, 24);
    assert.equal(sum, (23 * 24) / 2);
    const i0 = m.find(); // keys[23] is in the scratch
    m.setSlotValue(i0, 1234);
    assert.equal(m.get(), 1234);

    // Sweep out a random subset in one pass, re-checking a slot when deleteSlot refilled it; with
    // clustered homes around the wrap point so entries move from the start to the end mid-sweep.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
        (seed, clustered, doomed) => {
          const t = new FlowMap(32, seed);
          const ks = pickKeys(t, 24, clustered ? (h) => h >= 26 || h <= 4 : () => true);
          for (let i = 0; i < 24; i++) {
            loadKey(t, ks[i]!);
            assert.ok(t.set(i));
          }
          for (let i = 0; i < t.slotCount; ) {
            if (t.slotUsed(i) && doomed[t.slotValue(i)]) {
              if (!t.deleteSlot(i)) i++;
            } else {
              i++;
            }
          }
          for (let i = 0; i < 24; i++) {
            loadKey(t, ks[i]!);
            assert.equal(t.get(), doomed[i] ? -1 : i);
          }
          assert.equal(t.size, doomed.filter((d) => !d).length);
          checkStructure(t);
        },
      ),
      { numRuns: 200, seed: 0x5eed },
    );
  });

  // Model-based: random operation sequences against Map<string, number>, over small key pools
  // in small tables so probe runs collide and wrap. Pools are either any keys or keys whose home
  // slot is next to the wrap point.
  type Op = { op: 'set' | 'get' | 'delete' | 'clear'; k: number; v: number };
  const opArb: fc.Arbitrary<Op> = fc.record({
    op: fc.oneof(
      { arbitrary: fc.constant<Op['op']>('set'), weight: 12 },
      { arbitrary: fc.constant<Op['op']>('get'), weight: 6 },
      { arbitrary: fc.constant<Op['op']>('delete'), weight: 8 },
      { arbitrary: fc.constant<Op['op']>('clear'), weight: 1 },
    ),
    k: fc.nat({ max: 19 }),
    v: fc.integer({ min: 0, max: 0x7fffffff }),
  });
  let wrapShifts = 0;
  let fullRefusals = 0;

  it('matches a Map model over random set/get/delete/clear sequences', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(8, 16, 32),
        fc.boolean(),
        fc.array(opArb, { minLength: 1, maxLength: 300, size: 'max' }),
        (seed, capacity, clustered, ops) => {
          const m = new FlowMap(capacity, seed);
          const mask = capacity - 1;
          const pool = clustered
            ? pickKeys(m, 20, (h) => h >= capacity - 3 || h <= 1)
            : pickKeys(m, 20, () => true);
          const model = new Map<string, number>();
          for (const { op, k, v } of ops) {
            const w = pool[k]!;
            const ks = keyStr(w);
            loadKey(m, w);
            switch (op) {
              case 'set': {
                const fits = model.has(ks) || model.size < m.maxSize;
                if (!fits) fullRefusals++;
                assert.equal(m.set(v), fits);
                if (fits) model.set(ks, v);
                break;
              }
              case 'get':
                assert.equal(m.get(), model.get(ks) ?? -1);
                break;
              case 'delete': {
                const before = pool.map((p) => {
                  loadKey(m, p);
                  return m.find();
                });
                loadKey(m, w);
                assert.equal(m.delete(), model.delete(ks));
                pool.forEach((p, idx) => {
                  loadKey(m, p);
                  const after = m.find();
                  const b = before[idx]!;
                  if (b >= 0 && after >= 0 && after !== b) {
                    // Entries only ever move backwards along their probe run.
                    assert.ok(((b - after) & mask) > 0 && ((b - after) & mask) < capacity);
                    if (after > b) wrapShifts++;
                  }
                });
                break;
              }
              case 'clear':
                m.clear();
                model.clear();
                break;
            }
            assert.equal(m.size, model.size);
          }
          checkStructure(m);
          for (const p of pool) {
            loadKey(m, p);
            assert.equal(m.get(), model.get(keyStr(p)) ?? -1);
          }
        },
      ),
      { numRuns: 400, seed: 0x5eed, verbose: true },
    );
    assert.ok(wrapShifts > 0, 'the runs moved entries back across the wrap-around point');
    assert.ok(fullRefusals > 0, 'the runs hit the load limit');
  });
});
