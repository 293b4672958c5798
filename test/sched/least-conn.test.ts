// lc, wlc, sed, nq: cost functions over the dests' connection counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { lc } from '../../src/dataplane/sched/lc.js';
import { nq } from '../../src/dataplane/sched/nq.js';
import type { Scheduler } from '../../src/dataplane/sched/scheduler.js';
import { sed } from '../../src/dataplane/sched/sed.js';
import { wlc } from '../../src/dataplane/sched/wlc.js';
import { countPicks, keyCtx, makeSvc, maxShareError, pos, sequence, setOverload } from './helpers.js';

interface DestSpec {
  w: number;
  act?: number;
  inact?: number;
  over?: boolean;
}

interface Case {
  desc: string;
  dests: DestSpec[];
  expect: number;
}

const table: { sched: Scheduler; cases: Case[] }[] = [
  {
    sched: lc,
    cases: [
      {
        desc: 'least overhead',
        dests: [
          { w: 1, act: 2 },
          { w: 1, act: 1 },
          { w: 1, act: 3 },
        ],
        expect: 1,
      },
      {
        desc: 'active weighs 256 inactive',
        dests: [
          { w: 1, act: 1 },
          { w: 1, inact: 255 },
        ],
        expect: 1,
      },
      {
        desc: '...and 257 inactive weigh more',
        dests: [
          { w: 1, act: 1 },
          { w: 1, inact: 257 },
        ],
        expect: 0,
      },
      {
        desc: 'weights ignored',
        dests: [
          { w: 100, act: 2 },
          { w: 1, act: 1 },
        ],
        expect: 1,
      },
      {
        desc: 'first on ties',
        dests: [
          { w: 1, act: 1 },
          { w: 1, act: 1 },
        ],
        expect: 0,
      },
      {
        desc: 'skips overloaded',
        dests: [
          { w: 1, over: true },
          { w: 1, act: 9 },
        ],
        expect: 1,
      },
      { desc: 'skips weight 0', dests: [{ w: 0 }, { w: 1, act: 9 }], expect: 1 },
    ],
  },
  {
    sched: wlc,
    cases: [
      {
        desc: 'overhead per weight',
        dests: [
          { w: 1, act: 1 },
          { w: 3, act: 2 },
        ],
        expect: 1,
      },
      {
        desc: 'overhead per weight (2)',
        dests: [
          { w: 1, act: 1 },
          { w: 3, act: 4 },
        ],
        expect: 0,
      },
      {
        desc: 'inactive counts',
        dests: [
          { w: 2, inact: 10 },
          { w: 1, inact: 4 },
        ],
        expect: 1,
      },
      {
        desc: 'first on ties',
        dests: [
          { w: 2, act: 2 },
          { w: 1, act: 1 },
        ],
        expect: 0,
      },
      { desc: 'skips weight 0 first', dests: [{ w: 0 }, { w: 5, act: 3 }, { w: 5, act: 4 }], expect: 1 },
      {
        desc: 'skips overloaded',
        dests: [
          { w: 5, over: true },
          { w: 1, act: 50 },
        ],
        expect: 1,
      },
      // 40e6 * 256 / 65535 lies between 39999389 * 256 / 65534 and 39999390 * 256 / 65534.
      {
        desc: 'huge counts exact (below)',
        dests: [
          { w: 65535, act: 40e6 },
          { w: 65534, act: 39999389 },
        ],
        expect: 1,
      },
      {
        desc: 'huge counts exact (above)',
        dests: [
          { w: 65535, act: 40e6 },
          { w: 65534, act: 39999390 },
        ],
        expect: 0,
      },
    ],
  },
  {
    sched: sed,
    cases: [
      { desc: '(active + 1) / weight', dests: [{ w: 1 }, { w: 3, act: 1 }], expect: 1 },
      { desc: '(active + 1) / weight (2)', dests: [{ w: 1 }, { w: 3, act: 3 }], expect: 0 },
      {
        desc: 'inactive ignored',
        dests: [
          { w: 1, act: 1 },
          { w: 1, inact: 1000 },
        ],
        expect: 1,
      },
      { desc: 'first on ties', dests: [{ w: 2, act: 1 }, { w: 1 }], expect: 0 },
      {
        desc: 'skips overloaded',
        dests: [
          { w: 9, over: true },
          { w: 1, act: 9 },
        ],
        expect: 1,
      },
    ],
  },
  {
    sched: nq,
    cases: [
      {
        desc: 'idle dest first, even if sed prefers another',
        dests: [{ w: 10, act: 1 }, { w: 1 }],
        expect: 1,
      },
      { desc: 'first idle dest in order', dests: [{ w: 1, act: 1 }, { w: 1 }, { w: 9 }], expect: 1 },
      {
        desc: 'idle means no active conns',
        dests: [
          { w: 1, inact: 50 },
          { w: 1, act: 1 },
        ],
        expect: 0,
      },
      {
        desc: 'no idle dest: as sed',
        dests: [
          { w: 1, act: 1 },
          { w: 3, act: 1 },
        ],
        expect: 1,
      },
      {
        desc: 'idle but overloaded skipped',
        dests: [
          { w: 1, over: true },
          { w: 1, act: 2 },
        ],
        expect: 1,
      },
      { desc: 'idle but weight 0 skipped', dests: [{ w: 0 }, { w: 1, act: 2 }], expect: 1 },
    ],
  },
];

for (const { sched, cases } of table) {
  describe(sched.name, () => {
    for (const c of cases) {
      it(c.desc, () => {
        const svc = makeSvc(
          sched,
          c.dests.map((d) => d.w),
        );
        c.dests.forEach((spec, i) => {
          const d = svc.dests[i]!;
          d.activeConns = spec.act ?? 0;
          d.inactConns = spec.inact ?? 0;
          setOverload(d, spec.over ?? false);
        });
        assert.equal(pos(svc, sched.schedule(svc, keyCtx(svc, 0))), c.expect);
      });
    }
  });
}

describe('wlc balance', () => {
  it('spreads open connections by weight', () => {
    const svc = makeSvc(wlc, [1, 2, 3]);
    assert.deepEqual(countPicks(svc, 600, 'active'), [100, 200, 300, 0]);
  });

  it('counts short connections (inactive) at 1/256', () => {
    const svc = makeSvc(wlc, [1, 1]);
    svc.dests[0]!.activeConns = 1;
    // 256 inactive conns on dest 1 equal one active on dest 0: both tie, first wins.
    assert.deepEqual(sequence(svc, 257, 'inactive').slice(255), [1, 0]);
  });

  it('property: shares of open connections within 1% of weight/sum', (t) => {
    let worst = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 10 }),
        fc.integer({ min: 0, max: 999 }),
        (weights, extra) => {
          const svc = makeSvc(wlc, weights);
          const err = maxShareError(countPicks(svc, 20_000 + extra, 'active'), weights);
          worst = Math.max(worst, err);
          return err < 0.01;
        },
      ),
      { numRuns: 100, seed: 4243 },
    );
    t.diagnostic(`wlc: worst share error ${(worst * 100).toFixed(3)}% over 100 weight vectors`);
  });
});
