// lblc and lblcr: per-destination-address tables, their aging and bounds, and the shared table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LOC_EXPIRE_MS, LOC_TAB_MAX, LocTable, lblc } from '../../src/dataplane/sched/lblc.js';
import { LBLCR_SET_MAX, LBLCR_SHRINK_MS, lblcr } from '../../src/dataplane/sched/lblcr.js';
import { newSchedCtx, type SchedCtx } from '../../src/dataplane/sched/scheduler.js';
import type { Dest, Service } from '../../src/dataplane/service.js';
import { delDest, makeSvc, pick, pos, setOverload, setWeight } from './helpers.js';

const HOUR = 3600_000;

/** A context for destination address `daddr` at time `now`. */
function dctx(daddr: number, now = 0, ctx: SchedCtx = newSchedCtx()): SchedCtx {
  ctx.daddr[0] = daddr >>> 0;
  ctx.now = now;
  return ctx;
}

function tableOf(svc: Service): LocTable {
  return (svc.schedData as { tbl: LocTable }).tbl;
}

function positions(svc: Service, ds: (Dest | null)[]): number[] {
  return ds.map((d) => pos(svc, d));
}

for (const sched of [lblc, lblcr]) {
  describe(`${sched.name}: shared behaviour`, () => {
    it('keeps a destination address on its dest while not overloaded', () => {
      const svc = makeSvc(sched, [10, 10, 10]);
      const ctx = dctx(0xcb00710a);
      const first = pick(svc, ctx);
      for (let i = 0; i < 10; i++) assert.equal(pick(svc, ctx), first);
      // A new address goes to the least loaded dest instead.
      assert.notEqual(pick(svc, dctx(0xcb00710b)), first);
    });

    it('moves on when the dest becomes unusable, and stores the new choice', () => {
      const svc = makeSvc(sched, [5, 5]);
      const ctx = dctx(1);
      const a = pick(svc, ctx)!;
      setOverload(a, true);
      const b = pick(svc, ctx)!;
      assert.notEqual(b, a);
      setOverload(a, false);
      assert.equal(pick(svc, ctx), b);
      setWeight(svc, b, 0);
      assert.equal(pick(svc, ctx), a);
    });

    it('keeps the mapping when other dests are removed, drops it for a removed dest', () => {
      const svc = makeSvc(sched, [1, 1, 1]);
      svc.dests[0]!.activeConns = 1;
      svc.dests[1]!.activeConns = 1;
      const ctx = dctx(7);
      const c = pick(svc, ctx, 'none');
      assert.equal(c, svc.dests[2]);
      delDest(svc, svc.dests[0]!); // positions shift under the table
      assert.equal(pick(svc, ctx, 'none'), c);
      delDest(svc, c!);
      assert.equal(pick(svc, ctx, 'none'), svc.dests[0]);
    });

    it('forgets entries idle for more than 24 h', () => {
      const svc = makeSvc(sched, [1, 1]);
      const first = pick(svc, dctx(9, 0), 'none')!;
      // Make the other dest the least loaded, then use the entry just within 24 h.
      first.inactConns = 100;
      assert.equal(pick(svc, dctx(9, LOC_EXPIRE_MS), 'none'), first);
      assert.equal(pick(svc, dctx(9, 2 * LOC_EXPIRE_MS), 'none'), first);
      assert.notEqual(pick(svc, dctx(9, 3 * LOC_EXPIRE_MS + 1), 'none'), first);
    });

    it(`never holds more than ${LOC_TAB_MAX} entries; recent ones survive`, () => {
      const svc = makeSvc(sched, [1, 1, 1]);
      const ctx = newSchedCtx();
      for (let i = 0; i < 3 * LOC_TAB_MAX; i++) pick(svc, dctx(i, i, ctx), 'none');
      assert.equal(tableOf(svc).count, LOC_TAB_MAX);
      // Load the dests differently so a lost entry would be rescheduled elsewhere.
      const last = 3 * LOC_TAB_MAX - 1;
      const kept = sched.schedule(svc, dctx(last, last))!;
      kept.inactConns = 1000;
      assert.equal(sched.schedule(svc, dctx(last, last + 1)), kept);
      // Old entries were dropped 24 h later by the amortized sweep as new ones arrived.
      const later = 2 * LOC_EXPIRE_MS;
      for (let i = 0; i < LOC_TAB_MAX / 4; i++) pick(svc, dctx(1e6 + i, later, ctx), 'none');
      assert.equal(tableOf(svc).count, LOC_TAB_MAX / 4);
    });
  });
}

describe('lblc', () => {
  it("switches when the dest's active conns exceed its weight and another is under half load", () => {
    const svc = makeSvc(lblc, [1, 1]);
    const ctx = dctx(3);
    // d0 takes 2 (1 > 1 is false), then is overloaded while d1 has 0 * 2 < 1; d1 then stays,
    // since no dest is under half load any more.
    const seq = [pick(svc, ctx), pick(svc, ctx), pick(svc, ctx), pick(svc, ctx), pick(svc, ctx)];
    assert.deepEqual(positions(svc, seq), [0, 0, 1, 1, 1]);
  });

  // Cached d0 (weight 2) against d1 (weight 2): overloaded only when d0 > 2 and some dest < half.
  const cases: { d0: number; d1: number; expect: number }[] = [
    { d0: 2, d1: 0, expect: 0 },
    { d0: 3, d1: 0, expect: 1 },
    { d0: 3, d1: 1, expect: 0 }, // 1 * 2 < 2 is false: d1 is not under half load
    { d0: 9, d1: 5, expect: 0 },
  ];
  for (const c of cases) {
    it(`cached dest with ${c.d0} active vs other with ${c.d1}: dest ${c.expect}`, () => {
      const svc = makeSvc(lblc, [2, 2]);
      const ctx = dctx(3);
      assert.equal(pick(svc, ctx, 'none'), svc.dests[0]);
      svc.dests[0]!.activeConns = c.d0;
      svc.dests[1]!.activeConns = c.d1;
      assert.equal(pos(svc, pick(svc, ctx, 'none')), c.expect);
    });
  }
});

describe('lblcr', () => {
  function setOf(svc: Service, daddr: number): number {
    const st = svc.schedData as { tbl: LocTable; size: Uint8Array };
    return st.size[st.tbl.find(4, Uint32Array.of(daddr, 0, 0, 0))]!;
  }

  it('replicates: an overloaded set gains the least loaded dest and serves its least loaded member', () => {
    const svc = makeSvc(lblcr, [1, 1, 1]);
    const ctx = dctx(5);
    assert.deepEqual(positions(svc, [pick(svc, ctx), pick(svc, ctx), pick(svc, ctx)]), [0, 0, 1]);
    assert.equal(setOf(svc, 5), 2);
    // d1 (1 conn) is the least loaded member and not overloaded.
    assert.equal(pick(svc, ctx), svc.dests[1]);
    // Both members at 2 > 1 with d2 idle: d2 joins.
    assert.equal(pick(svc, ctx), svc.dests[2]);
    assert.equal(setOf(svc, 5), 3);
    // Members now share the address by least connections.
    svc.dests[0]!.activeConns = 0;
    assert.equal(pick(svc, ctx), svc.dests[0]);
  });

  it('sheds its most loaded member after the set is unmodified for lblcr_expiration', () => {
    const svc = makeSvc(lblcr, [1, 1, 1]);
    const ctx = dctx(6, 0);
    pick(svc, ctx);
    pick(svc, ctx);
    pick(svc, ctx); // set {d0, d1}, modified at 0
    svc.dests[0]!.activeConns = 5;
    svc.dests[1]!.activeConns = 0;
    ctx.now = LBLCR_SHRINK_MS / 2; // keeps the entry alive, does not modify the set
    assert.equal(pick(svc, ctx, 'none'), svc.dests[1]);
    assert.equal(setOf(svc, 6), 2);
    ctx.now = LBLCR_SHRINK_MS + 1;
    assert.equal(pick(svc, ctx, 'none'), svc.dests[1]);
    assert.equal(setOf(svc, 6), 1, 'd0, the most loaded, left the set');
    svc.dests[0]!.activeConns = 0;
    svc.dests[1]!.activeConns = 1;
    assert.equal(pick(svc, ctx, 'none'), svc.dests[1], 'd0 is no longer a member');
  });

  it(`bounds a set at ${LBLCR_SET_MAX} members`, () => {
    const svc = makeSvc(lblcr, new Array<number>(20).fill(1));
    const ctx = dctx(8);
    const members = new Set<Dest | null>();
    for (let i = 0; i < 200; i++) {
      members.add(pick(svc, ctx));
      assert.ok(setOf(svc, 8) <= LBLCR_SET_MAX);
    }
    assert.ok(members.size > LBLCR_SET_MAX, 'members were replaced over time');
    assert.equal(setOf(svc, 8), LBLCR_SET_MAX);
  });

  it('removes a deleted dest from every set', () => {
    const svc = makeSvc(lblcr, [1, 1, 1]);
    const ctx = dctx(4);
    pick(svc, ctx);
    pick(svc, ctx);
    pick(svc, ctx); // set {d0, d1}
    delDest(svc, svc.dests[1]!);
    assert.equal(setOf(svc, 4), 1);
    for (const d of svc.dests) d.activeConns = 0;
    assert.equal(pick(svc, ctx), svc.dests[0]);
  });
});

describe('LocTable', () => {
  const addrOf = (k: number, family: 4 | 6): Uint32Array =>
    family === 4 ? Uint32Array.of(k, 0, 0, 0) : Uint32Array.of(0x20010db8, 0, k >>> 3, k);

  for (const family of [4, 6] as const) {
    it(`IPv${family}: matches a Map under random add/remove/find (small table, heavy probing)`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom('add', 'del', 'find'), fc.integer({ min: 0, max: 40 })), {
            maxLength: 400,
          }),
          (ops) => {
            const tbl = new LocTable(16);
            const model = new Map<number, number>();
            for (const [op, k] of ops) {
              const addr = addrOf(k, family);
              const id = tbl.find(family, addr);
              assert.equal(id, model.get(k) ?? -1, `find ${k}`);
              if (op === 'add' && id < 0 && model.size < 16) model.set(k, tbl.add(family, addr, 0));
              if (op === 'del' && id >= 0) {
                tbl.remove(id);
                model.delete(k);
              }
              assert.equal(tbl.count, model.size);
            }
            for (const [k, id] of model) assert.equal(tbl.find(family, addrOf(k, family)), id);
          },
        ),
        { numRuns: 300, seed: 99 },
      );
    });
  }

  it('evicts the least recently used of its sample when full', () => {
    const tbl = new LocTable(32);
    for (let k = 0; k < 32; k++) tbl.add(4, addrOf(k, 4), k === 3 ? -1 : 100 + k);
    tbl.add(4, addrOf(1000, 4), 200);
    assert.equal(tbl.count, 32);
    assert.equal(tbl.find(4, addrOf(3, 4)), -1, 'the oldest sampled entry went');
    for (let k = 0; k < 32; k++) if (k !== 3) assert.ok(tbl.find(4, addrOf(k, 4)) >= 0);
  });

  it('expire drops idle entries only', () => {
    const tbl = new LocTable(64);
    for (let k = 0; k < 64; k++) tbl.add(4, addrOf(k, 4), k % 2 === 0 ? 0 : 10 * HOUR);
    tbl.expire(11 * HOUR, 2 * HOUR, 64);
    assert.equal(tbl.count, 32);
    for (let k = 0; k < 64; k++) assert.equal(tbl.find(4, addrOf(k, 4)) >= 0, k % 2 === 1);
  });
});
