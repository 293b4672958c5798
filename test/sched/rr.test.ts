import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rr } from '../../src/dataplane/sched/rr.js';
import { addDest, delDest, makeSvc, sequence, setOverload, setWeight } from './helpers.js';

describe('rr', () => {
  const cases: { desc: string; weights: number[]; overload?: number[]; expect: number[] }[] = [
    { desc: 'cycles in list order', weights: [1, 1, 1], expect: [0, 1, 2, 0, 1, 2, 0] },
    { desc: 'ignores weights above 0', weights: [5, 1, 9], expect: [0, 1, 2, 0, 1, 2] },
    { desc: 'skips weight 0', weights: [1, 0, 1, 0], expect: [0, 2, 0, 2] },
    { desc: 'skips overloaded', weights: [1, 1, 1], overload: [0], expect: [1, 2, 1, 2] },
    { desc: 'single usable dest', weights: [0, 3], expect: [1, 1, 1] },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const svc = makeSvc(rr, c.weights);
      for (const i of c.overload ?? []) setOverload(svc.dests[i]!, true);
      assert.deepEqual(sequence(svc, c.expect.length), c.expect);
    });
  }

  it('removing the last chosen dest continues with the one after it', () => {
    const svc = makeSvc(rr, [1, 1, 1, 1]);
    assert.deepEqual(sequence(svc, 2), [0, 1]);
    const [a, , c, d] = svc.dests;
    delDest(svc, svc.dests[1]!);
    assert.deepEqual(
      sequence(svc, 3).map((p) => svc.dests[p]),
      [c, d, a],
    );
  });

  it('removing another dest keeps the position', () => {
    const svc = makeSvc(rr, [1, 1, 1, 1]);
    assert.deepEqual(sequence(svc, 3), [0, 1, 2]);
    const d = svc.dests[3]!;
    delDest(svc, svc.dests[0]!);
    assert.equal(svc.dests[sequence(svc, 1)[0]!], d);
  });

  it('removing the first dest after picking it wraps correctly', () => {
    const svc = makeSvc(rr, [1, 1, 1]);
    assert.deepEqual(sequence(svc, 1), [0]);
    const b = svc.dests[1]!;
    delDest(svc, svc.dests[0]!);
    assert.equal(svc.dests[sequence(svc, 1)[0]!], b);
  });

  it('an added dest takes its turn', () => {
    const svc = makeSvc(rr, [1, 1]);
    assert.deepEqual(sequence(svc, 1), [0]);
    addDest(svc, 1);
    assert.deepEqual(sequence(svc, 4), [1, 2, 0, 1]);
  });

  it('a weight change takes effect without a rebuild', () => {
    const svc = makeSvc(rr, [1, 1, 1]);
    setWeight(svc, svc.dests[1]!, 0);
    assert.deepEqual(sequence(svc, 4), [0, 2, 0, 2]);
  });
});
