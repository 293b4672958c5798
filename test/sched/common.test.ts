// Behaviour every scheduler shares, table-driven over the registry: empty services, weight 0,
// the OVERLOAD flag, adding and removing dests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getScheduler, SCHEDULER_NAMES } from '../../src/dataplane/sched/registry.js';
import { newSchedCtx } from '../../src/dataplane/sched/scheduler.js';
import type { Service } from '../../src/dataplane/service.js';
import { addDest, delDest, keyCtx, makeSvc, pick, pos, setOverload, setWeight } from './helpers.js';

const KEYS = 2000;

/** Positions chosen over KEYS distinct keys (-1 = null), opening a connection per pick. */
function chosen(svc: Service, first = 0): Set<number> {
  const seen = new Set<number>();
  const ctx = newSchedCtx();
  for (let i = first; i < first + KEYS; i++) seen.add(pos(svc, pick(svc, keyCtx(svc, i, ctx))));
  return seen;
}

function resetConns(svc: Service): void {
  for (const d of svc.dests) d.activeConns = d.inactConns = 0;
}

for (const name of SCHEDULER_NAMES) {
  const sched = getScheduler(name)!;
  describe(`${name}: common behaviour`, () => {
    for (const family of [4, 6] as const) {
      it(`IPv${family}: empty service gives null`, () => {
        const svc = makeSvc(sched, [], { family });
        assert.equal(sched.schedule(svc, keyCtx(svc, 1)), null);
      });

      it(`IPv${family}: picks some dest, never a weight-0 one`, () => {
        const svc = makeSvc(sched, [0, 2, 1, 0], { family });
        const seen = chosen(svc);
        assert.ok(!seen.has(0) && !seen.has(3), `chose a weight-0 dest: ${[...seen]}`);
        assert.ok(seen.has(1) || seen.has(2), 'never chose a usable dest');
      });
    }

    it('all weights 0 gives null', () => {
      const svc = makeSvc(sched, [0, 0, 0]);
      assert.deepEqual([...chosen(svc)], [-1]);
    });

    it('weight set to 0 later is no longer chosen', () => {
      const svc = makeSvc(sched, [3, 3, 3]);
      chosen(svc);
      resetConns(svc);
      setWeight(svc, svc.dests[1]!, 0);
      assert.ok(!chosen(svc, KEYS).has(1));
    });

    it('respects the OVERLOAD flag', () => {
      const svc = makeSvc(sched, [1, 4, 2]);
      chosen(svc); // warm any per-key tables first
      resetConns(svc);
      setOverload(svc.dests[1]!, true);
      const seen = chosen(svc);
      assert.ok(!seen.has(1), `chose an overloaded dest: ${[...seen]}`);
      for (const d of svc.dests) setOverload(d, true);
      assert.deepEqual([...chosen(svc)], [-1]);
    });

    it('an added dest gets chosen, a removed one never again', () => {
      const svc = makeSvc(sched, [1, 1]);
      const before = chosen(svc);
      assert.ok(!before.has(2));
      resetConns(svc);
      const added = addDest(svc, 5);
      assert.ok(chosen(svc, KEYS).has(svc.dests.indexOf(added)), 'added dest never chosen');
      resetConns(svc);
      const gone = svc.dests[0]!;
      delDest(svc, gone);
      // The same keys again: per-key tables must not hand out the removed dest.
      const ctx = newSchedCtx();
      let some = false;
      for (let i = 0; i < 2 * KEYS; i++) {
        const d = pick(svc, keyCtx(svc, i, ctx));
        assert.notEqual(d, gone);
        if (d !== null) some = true;
      }
      assert.ok(some);
      delDest(svc, svc.dests[0]!);
      delDest(svc, svc.dests[0]!);
      assert.equal(sched.schedule(svc, keyCtx(svc, 0)), null);
    });

    it('doneService releases the state', () => {
      const svc = makeSvc(sched, [1]);
      sched.doneService?.(svc);
      assert.equal(svc.schedData, null);
    });
  });
}
