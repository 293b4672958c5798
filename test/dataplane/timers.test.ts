// ExpiryWheel (src/dataplane/conn/timers.ts) against a reference model: a Map id -> deadline.
//
// The wheel is coarse: sweep(now) visits whole slots of `granularity` ms, so an entry is never
// expired before its deadline, and is expired at the latest by the first sweep at or after the slot
// boundary following its deadline. So after a sweep with an unlimited budget:
//   - every expired entry had deadline <= now (nothing early),
//   - every entry with deadline <= floor(now / g) * g is gone (nothing late by more than a slot);
// at a `now` on a slot boundary the two meet: exactly the entries with deadline <= now expire.
// Deadlines are always set after the current time (the engine files now + timeout).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ExpiryWheel } from '../../src/dataplane/conn/timers.js';
import { fcParams } from './unit-helpers.js';

const CAP = 12;

interface Layout {
  name: string;
  stride: number;
  offset: number;
}
const LAYOUTS: Layout[] = [
  { name: 'stride 1 / offset 0 (persistence table)', stride: 1, offset: 0 },
  { name: 'stride 8 / offset 6 (connection records)', stride: 8, offset: 6 },
];

interface Cfg {
  slots: number;
  g: number;
  now0: number;
}

type Op =
  | { t: 'insert'; id: number; delta: number }
  | { t: 'move'; id: number; delta: number }
  | { t: 'unlink'; id: number }
  | { t: 'extend'; id: number; extra: number }
  /** budget 0 stands for unlimited (Infinity). */
  | { t: 'sweep'; advance: number; budget: number };

/** A test harness: the wheel, its deadline array and the reference model side by side. */
class Harness {
  readonly wheel: ExpiryWheel;
  readonly expires: Float64Array;
  readonly model = new Map<number, number>();
  now: number;
  /** Ids expired by the sweep in progress. */
  private expired: number[] = [];

  constructor(
    readonly cfg: Cfg,
    readonly layout: Layout,
  ) {
    this.now = cfg.now0;
    this.wheel = new ExpiryWheel(CAP, cfg.slots, cfg.g, cfg.now0);
    // Every other field of a record holds 0, a deadline long past: reading the wrong word would
    // expire entries early, which the model catches.
    this.expires = new Float64Array((CAP + 1) * layout.stride);
  }

  private at(id: number): number {
    return this.layout.stride * id + this.layout.offset;
  }

  private readonly onExpire = (id: number): void => {
    const d = this.model.get(id);
    assert.ok(d !== undefined, `onExpire(${id}): not linked (or expired twice)`);
    assert.ok(d <= this.now, `onExpire(${id}) at ${this.now}: deadline ${d} not reached`);
    assert.equal(this.expires[this.at(id)], d);
    this.expired.push(id);
    this.wheel.unlink(id);
    this.model.delete(id);
  };

  apply(op: Op): void {
    const linked = this.model.has(op.t === 'sweep' ? -1 : op.id);
    switch (op.t) {
      case 'insert':
        if (linked) return;
        this.expires[this.at(op.id)] = this.now + op.delta;
        this.wheel.insert(op.id, this.now + op.delta);
        this.model.set(op.id, this.now + op.delta);
        return;
      case 'move':
        if (!linked) return;
        this.expires[this.at(op.id)] = this.now + op.delta;
        this.wheel.move(op.id, this.now + op.delta);
        this.model.set(op.id, this.now + op.delta);
        return;
      case 'unlink':
        if (!linked) return;
        this.wheel.unlink(op.id);
        this.model.delete(op.id);
        return;
      case 'extend': {
        // The packet path: a later deadline goes into the array only, the wheel re-files lazily.
        if (!linked) return;
        const d = Math.max(this.model.get(op.id)!, this.now) + op.extra;
        this.expires[this.at(op.id)] = d;
        this.model.set(op.id, d);
        return;
      }
      case 'sweep':
        this.sweep(op.advance, op.budget === 0 ? Number.POSITIVE_INFINITY : op.budget);
        if (op.budget === 0) this.checkComplete();
        return;
    }
  }

  sweep(advance: number, budget: number): number {
    this.now += advance;
    this.expired = [];
    const n = this.wheel.sweep(
      this.now,
      this.expires,
      this.layout.stride,
      this.layout.offset,
      budget,
      this.onExpire,
    );
    assert.equal(n, this.expired.length, 'sweep() returns the number of entries it expired');
    this.checkLinks();
    return n;
  }

  /** Nothing due for sure (deadline <= the last slot boundary) is still linked. */
  checkComplete(): void {
    const boundary = Math.floor(this.now / this.cfg.g) * this.cfg.g;
    for (const [id, d] of this.model) {
      assert.ok(d > boundary, `id ${id} (deadline ${d}) still linked after sweep(${this.now})`);
    }
  }

  /** The slot lists hold exactly the model's ids, once each, with consistent links. */
  checkLinks(): void {
    const { next, prev } = this.wheel;
    const seen = new Set<number>();
    const first = CAP + 1;
    // Sentinels: one per slot, plus the list a sweep works on (it may hold an interrupted rest).
    for (let h = first; h <= first + this.cfg.slots; h++) {
      let steps = 0;
      for (let x = next[h]!; x !== h; x = next[x]!) {
        assert.ok(++steps <= CAP, `slot list ${h - first} does not close`);
        assert.ok(x >= 1 && x <= CAP, `slot list ${h - first} holds ${x}`);
        assert.ok(!seen.has(x), `id ${x} linked twice`);
        assert.equal(prev[next[x]!], x, `prev/next mismatch after ${x}`);
        seen.add(x);
      }
      assert.equal(next[prev[h]!], h);
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [...this.model.keys()].sort((a, b) => a - b),
    );
    for (let id = 1; id <= CAP; id++) {
      if (!seen.has(id)) assert.ok(next[id] === 0 && prev[id] === 0, `unlinked id ${id} keeps links`);
    }
  }
}

const cfgArb: fc.Arbitrary<Cfg> = fc
  .record({
    slots: fc.constantFrom(4, 8, 16),
    g: fc.constantFrom(1, 10, 100),
    base: fc.constantFrom(0, 1000, 1_700_000_000_000),
    frac: fc.constantFrom(0, 0.25),
  })
  .map(({ slots, g, base, frac }) => ({ slots, g, now0: base + frac * g }));

function opsArb(cfg: Cfg, budgets: fc.Arbitrary<number>): fc.Arbitrary<Op[]> {
  const { slots, g } = cfg;
  const id = fc.integer({ min: 1, max: CAP });
  const horizon = slots * g;
  // Deadlines: soon, within the wheel, beyond the horizon (several revolutions); some fractional.
  const delta = fc
    .tuple(
      fc.oneof(
        fc.integer({ min: 1, max: 3 * g }),
        fc.integer({ min: 1, max: horizon }),
        fc.integer({ min: horizon, max: 4 * horizon }),
        // Clustered: whole revolutions plus a slot or two, so entries share slots across revolutions.
        fc
          .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 }))
          .map(([r, k]) => r * horizon + k * g),
      ),
      fc.constantFrom(0, 0, 0.5),
    )
    .map(([a, b]) => a + b);
  // Time steps: none, inside a slot, whole slots, and pauses longer than a revolution.
  const advance = fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 2 * g }),
    fc.integer({ min: 1, max: 4 }).map((k) => k * g),
    fc.integer({ min: 1, max: 3 * slots }).map((k) => horizon + k * g),
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant('insert' as const), id, delta }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('move' as const), id, delta }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('unlink' as const), id }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('extend' as const),
        id,
        extra: fc.oneof(fc.integer({ min: 1, max: 2 * g }), fc.integer({ min: 1, max: 3 * horizon })),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('sweep' as const), advance, budget: budgets }) },
  );
  return fc.array(op, { minLength: 1, maxLength: 80 });
}

describe('ExpiryWheel', () => {
  for (const layout of LAYOUTS) {
    describe(layout.name, () => {
      test('model: unlimited sweeps expire exactly the due entries, once each, never early', () => {
        // Budget-limited sweeps in between (budget 1..3) must not expire anything early either,
        // and the next unlimited sweep catches up with whatever they left.
        const budgets = fc.oneof(
          { weight: 3, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
        );
        fc.assert(
          fc.property(
            cfgArb.chain((cfg) => fc.tuple(fc.constant(cfg), opsArb(cfg, budgets))),
            ([cfg, ops]) => {
              const h = new Harness(cfg, layout);
              for (const op of ops) h.apply(op);
              // Finally jump past every deadline: everything expires.
              const last = Math.max(h.now, ...h.model.values());
              h.sweep(last - h.now + cfg.g, Number.POSITIVE_INFINITY);
              assert.equal(h.model.size, 0);
            },
          ),
          fcParams(400),
        );
      });

      test('a sweep on a slot boundary expires exactly the entries with deadline <= now', () => {
        const cfg: Cfg = { slots: 8, g: 10, now0: 1000 };
        const h = new Harness(cfg, layout);
        // Deadlines all over the first revolution and beyond it.
        const deltas = [1, 9, 10, 11, 19.5, 20, 35, 79, 80, 81, 160, 330];
        deltas.forEach((d, i) => {
          h.apply({ t: 'insert', id: i + 1, delta: d });
        });
        const deadlines = new Map(h.model);
        for (let step = 0; step < 40; step++) {
          h.apply({ t: 'sweep', advance: 10, budget: 0 });
          const want = [...deadlines].filter(([, d]) => d > h.now).map(([id]) => id);
          assert.deepEqual(
            [...h.model.keys()].sort((a, b) => a - b),
            want,
            `at now=${h.now}`,
          );
        }
      });

      test('after a pause longer than a revolution every due entry goes in one sweep', () => {
        const cfg: Cfg = { slots: 4, g: 10, now0: 0 };
        const h = new Harness(cfg, layout);
        for (let id = 1; id <= 8; id++) h.apply({ t: 'insert', id, delta: id * 13 });
        h.apply({ t: 'insert', id: 9, delta: 10_000 });
        // 1000 ms = 25 revolutions later: entries 1-8 are due, 9 is not.
        assert.equal(h.sweep(1000, Number.POSITIVE_INFINITY), 8);
        assert.deepEqual([...h.model.keys()], [9]);
        h.sweep(8990, Number.POSITIVE_INFINITY);
        assert.deepEqual([...h.model.keys()], [9], 'at 9990: not yet');
        h.sweep(10, Number.POSITIVE_INFINITY);
        assert.equal(h.model.size, 0, 'at 10000: expired');
      });

      test('a deadline extended in the array only is re-filed, not expired', () => {
        const cfg: Cfg = { slots: 8, g: 10, now0: 0 };
        const h = new Harness(cfg, layout);
        h.apply({ t: 'insert', id: 1, delta: 20 });
        h.apply({ t: 'extend', id: 1, extra: 1000 }); // now due at 1020, 12 revolutions later
        for (let t = 0; t < 101; t++) h.apply({ t: 'sweep', advance: 10, budget: 0 });
        assert.equal(h.now, 1010);
        assert.ok(h.model.has(1));
        h.apply({ t: 'sweep', advance: 10, budget: 0 });
        assert.equal(h.model.size, 0);
      });

      test('budget-limited sweeps at one `now` eventually expire every due entry (property)', () => {
        fc.assert(
          fc.property(
            cfgArb.chain((cfg) =>
              fc.tuple(
                fc.constant(cfg),
                opsArb(cfg, fc.constant(0)),
                fc.integer({ min: 1, max: 3 }),
                fc.integer({ min: 0, max: 6 * cfg.slots }).map((k) => k * cfg.g),
              ),
            ),
            ([cfg, ops, budget, advance]) => {
              const h = new Harness(cfg, layout);
              for (const op of ops) h.apply(op);
              h.sweep(advance, budget);
              // Each call visits at least one entry or reaches `now`; a few passes are plenty.
              for (let i = 0; i < 10 * (CAP + cfg.slots); i++) h.sweep(0, budget);
              h.checkComplete();
            },
          ),
          fcParams(400),
        );
      });

      test('budget-limited sweep passes a slot whose entries are all due a revolution later', () => {
        // slots 8 x 10 ms: entries 1 and 2 are due at 100 (slot 10, position 2), entry 3 at 30.
        // At now=30 a sweep with budget 1 visits position 2 first: both entries there belong to
        // the next revolution and go back into position 2. Entry 3 (position 3) is due and must
        // expire after a few calls.
        const cfg: Cfg = { slots: 8, g: 10, now0: 0 };
        const h = new Harness(cfg, layout);
        h.apply({ t: 'insert', id: 1, delta: 100 });
        h.apply({ t: 'insert', id: 2, delta: 100 });
        h.apply({ t: 'insert', id: 3, delta: 30 });
        h.sweep(30, 1);
        for (let i = 0; i < 20 && h.model.has(3); i++) h.sweep(0, 1);
        assert.ok(
          !h.model.has(3),
          'entry 3 (due at 30) still linked after 21 sweeps with budget 1 at now=30',
        );
        // And later sweeps with the same small budget keep going.
        for (let i = 0; i < 20; i++) h.sweep(10, 1);
        assert.equal(h.model.size, 0);
      });
    });
  }

  test('insert clamps a deadline in a swept slot to the next slot', () => {
    const w = new ExpiryWheel(4, 8, 10, 0);
    const exp = new Float64Array(5);
    w.sweep(55, exp, 1, 0, Number.POSITIVE_INFINITY, () => assert.fail('nothing linked'));
    exp[1] = 12; // long past: slot 1, already swept
    w.insert(1, 12);
    const seen: number[] = [];
    const cb = (id: number) => {
      seen.push(id);
      w.unlink(id);
    };
    assert.equal(w.sweep(59, exp, 1, 0, Number.POSITIVE_INFINITY, cb), 0, 'slot 5 is swept already');
    assert.equal(w.sweep(60, exp, 1, 0, Number.POSITIVE_INFINITY, cb), 1);
    assert.deepEqual(seen, [1]);
  });

  test('unlink and move are O(1) and leave the other entries in place', () => {
    const w = new ExpiryWheel(4, 4, 10, 0);
    const exp = Float64Array.of(0, 15, 15, 15, 15);
    for (let id = 1; id <= 4; id++) w.insert(id, 15);
    w.unlink(2);
    assert.equal(w.next[2], 0);
    assert.equal(w.prev[2], 0);
    exp[4] = 35;
    w.move(4, 35);
    const seen: number[] = [];
    const cb = (id: number) => {
      seen.push(id);
      w.unlink(id);
    };
    w.sweep(20, exp, 1, 0, Number.POSITIVE_INFINITY, cb);
    assert.deepEqual(seen, [1, 3], 'slot order is insertion order');
    w.sweep(40, exp, 1, 0, Number.POSITIVE_INFINITY, cb);
    assert.deepEqual(seen, [1, 3, 4]);
  });
});
