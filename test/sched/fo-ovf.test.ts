import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fo } from '../../src/dataplane/sched/fo.js';
import { ovf } from '../../src/dataplane/sched/ovf.js';
import { makeSvc, sequence, setOverload, setWeight } from './helpers.js';

describe('fo', () => {
  const cases: { desc: string; weights: number[]; overload?: number[]; expect: number }[] = [
    { desc: 'highest weight', weights: [1, 3, 2], expect: 1 },
    { desc: 'first on ties', weights: [2, 3, 3], expect: 1 },
    { desc: 'next highest when overloaded', weights: [1, 3, 2], overload: [1], expect: 2 },
    { desc: 'weight 0 never', weights: [0, 0], expect: -1 },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const svc = makeSvc(fo, c.weights);
      for (const i of c.overload ?? []) setOverload(svc.dests[i]!, true);
      // Load does not matter: the same dest takes every connection.
      assert.deepEqual(sequence(svc, 5, 'active'), new Array<number>(5).fill(c.expect));
    });
  }

  it('fails over and back with weight changes', () => {
    const svc = makeSvc(fo, [10, 5]);
    setWeight(svc, svc.dests[0]!, 0);
    assert.deepEqual(sequence(svc, 2), [1, 1]);
    setWeight(svc, svc.dests[0]!, 10);
    assert.deepEqual(sequence(svc, 2), [0, 0]);
  });
});

describe('ovf', () => {
  it('fills the highest weight first, overflowing when active conns exceed the weight', () => {
    // As ip_vs_ovf.c: a dest is skipped only when activeConns > weight, so a dest of weight w
    // takes w + 1 open connections.
    const svc = makeSvc(ovf, [1, 3, 2]);
    assert.deepEqual(sequence(svc, 10, 'active'), [1, 1, 1, 1, 2, 2, 2, 0, 0, -1]);
  });

  it('inactive connections do not count', () => {
    const svc = makeSvc(ovf, [1, 3]);
    assert.deepEqual(sequence(svc, 20, 'inactive'), new Array<number>(20).fill(1));
  });

  it('takes the dest back when its connections close', () => {
    const svc = makeSvc(ovf, [2, 1]);
    assert.deepEqual(sequence(svc, 6, 'active'), [0, 0, 0, 1, 1, -1]);
    svc.dests[0]!.activeConns = 2;
    assert.deepEqual(sequence(svc, 2, 'active'), [0, -1]);
  });

  it('skips overloaded and first on ties', () => {
    const svc = makeSvc(ovf, [2, 2, 1]);
    assert.deepEqual(sequence(svc, 1), [0]);
    setOverload(svc.dests[0]!, true);
    assert.deepEqual(sequence(svc, 1), [1]);
  });
});
