import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { wrr } from '../../src/dataplane/sched/wrr.js';
import { makeSvc, maxShareError, sequence, setOverload, setWeight } from './helpers.js';

function counts(seq: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const p of seq) c[p]!++;
  return c;
}

describe('wrr', () => {
  // IPVS order on a service initialised with its dests (cw starts at the max weight): cw steps
  // down by the gcd, dests with weight >= cw qualify.
  const cases: { desc: string; weights: number[]; expect: number[] }[] = [
    { desc: 'weights 4,3,2', weights: [4, 3, 2], expect: [0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1] },
    { desc: 'gcd step (2,4)', weights: [2, 4], expect: [1, 0, 1, 1, 0, 1] },
    { desc: 'equal weights are round robin', weights: [3, 3, 3], expect: [0, 1, 2, 0, 1, 2] },
    { desc: 'weight 0 skipped', weights: [2, 0, 1], expect: [0, 0, 2, 0, 0, 2] },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      assert.deepEqual(sequence(makeSvc(wrr, c.weights, { prefill: true }), c.expect.length), c.expect);
    });
  }

  it('keeps cw across dest additions, as ip_vs_wrr_dest_changed does', () => {
    // First add: weight 4 alone gives mw = cw = 1; later adds keep cw = 1, so the first pass
    // takes every dest, then passes restart from the max weight.
    const svc = makeSvc(wrr, [4, 3, 2]);
    assert.deepEqual(sequence(svc, 12), [0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2]);
  });

  it('skips overloaded dests and keeps the others in proportion', () => {
    const svc = makeSvc(wrr, [4, 3, 2]);
    setOverload(svc.dests[0]!, true);
    assert.deepEqual(counts(sequence(svc, 50), 3), [0, 30, 20]);
  });

  it('gives null when all are overloaded, then recovers', () => {
    const svc = makeSvc(wrr, [4, 3, 2]);
    sequence(svc, 4);
    for (const d of svc.dests) setOverload(d, true);
    assert.deepEqual(sequence(svc, 3), [-1, -1, -1]);
    setOverload(svc.dests[2]!, false);
    assert.deepEqual(sequence(svc, 3), [2, 2, 2]);
  });

  it('follows weight updates', () => {
    const svc = makeSvc(wrr, [1, 1]);
    sequence(svc, 3);
    setWeight(svc, svc.dests[1]!, 3);
    assert.deepEqual(counts(sequence(svc, 40), 2), [10, 30]);
    setWeight(svc, svc.dests[1]!, 0);
    assert.deepEqual(counts(sequence(svc, 10), 2), [10, 0]);
  });

  it('property: shares within 1% of weight/sum', (t) => {
    let worst = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 10 }),
        fc.integer({ min: 0, max: 999 }),
        (weights, extra) => {
          const svc = makeSvc(wrr, weights);
          const err = maxShareError(counts(sequence(svc, 20_000 + extra), weights.length), weights);
          worst = Math.max(worst, err);
          return err < 0.01;
        },
      ),
      { numRuns: 100, seed: 4242 },
    );
    t.diagnostic(`wrr: worst share error ${(worst * 100).toFixed(3)}% over 100 weight vectors`);
  });
});
