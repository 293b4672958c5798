// dh and sh: static 256-bucket tables keyed by destination / source address.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dh } from '../../src/dataplane/sched/dh.js';
import { newSchedCtx } from '../../src/dataplane/sched/scheduler.js';
import { sh } from '../../src/dataplane/sched/sh.js';
import { SCHED_F_FALLBACK, SCHED_F_PORT, type Service } from '../../src/dataplane/service.js';
import { countPicks, keyCtx, makeSvc, pos, setOverload, setWeight } from './helpers.js';

const KEYS = 4000;

function mapKeys(svc: Service): number[] {
  const ctx = newSchedCtx();
  const out: number[] = [];
  for (let i = 0; i < KEYS; i++) out.push(pos(svc, svc.sched.schedule(svc, keyCtx(svc, i, ctx))));
  return out;
}

function shares(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => c / total);
}

describe('dh', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: same destination address, same dest; other fields do not matter`, () => {
      const svc = makeSvc(dh, [1, 1, 1, 1], { family });
      const first = mapKeys(svc);
      assert.deepEqual(mapKeys(svc), first);
      const ctx = keyCtx(svc, 7);
      const want = svc.sched.schedule(svc, ctx);
      for (let i = 0; i < 100; i++) {
        ctx.saddr[0] = i * 7919;
        ctx.sport = 2000 + i;
        assert.equal(svc.sched.schedule(svc, ctx), want);
      }
    });
  }

  it('ignores weights when filling buckets', () => {
    const s = shares(countPicks(makeSvc(dh, [1, 5, 10]), KEYS).slice(0, 3));
    for (const x of s) assert.ok(x > 0.27 && x < 0.4, `share ${x}`);
  });

  it('gives null for a bucket whose dest is unusable (no fallback)', () => {
    const svc = makeSvc(dh, [1, 1]);
    const before = mapKeys(svc);
    setOverload(svc.dests[1]!, true);
    const after = mapKeys(svc);
    for (let i = 0; i < KEYS; i++) assert.equal(after[i], before[i] === 1 ? -1 : before[i]);
    setOverload(svc.dests[1]!, false);
    setWeight(svc, svc.dests[0]!, 0);
    const quiesced = mapKeys(svc);
    for (let i = 0; i < KEYS; i++) assert.equal(quiesced[i], before[i] === 0 ? -1 : before[i]);
  });
});

describe('sh', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: same source address, same dest; spread over dests`, () => {
      const svc = makeSvc(sh, [1, 1, 1], { family });
      const first = mapKeys(svc);
      assert.deepEqual(mapKeys(svc), first);
      for (let p = 0; p < 3; p++) assert.ok(first.filter((x) => x === p).length > KEYS / 5);
    });
  }

  it('gives each dest `weight` buckets per turn (weights 1 and 3: 64 and 192 of 256)', () => {
    const s = shares(countPicks(makeSvc(sh, [1, 3]), 20_000).slice(0, 2));
    assert.ok(Math.abs(s[0]! - 0.25) < 0.03 && Math.abs(s[1]! - 0.75) < 0.03, `${s}`);
  });

  it('weight-0 dests get no buckets, so nothing maps to null', () => {
    const svc = makeSvc(sh, [1, 0, 1]);
    const c = countPicks(svc, KEYS);
    assert.equal(c[1], 0);
    assert.equal(c[3], 0);
  });

  it('without sh-port the source port does not matter', () => {
    const svc = makeSvc(sh, [1, 1, 1]);
    const ctx = keyCtx(svc, 3);
    const want = sh.schedule(svc, ctx);
    for (let port = 1024; port < 3024; port++) {
      ctx.sport = port;
      assert.equal(sh.schedule(svc, ctx), want);
    }
  });

  it('with sh-port the source port spreads one client over the dests, stably', () => {
    const svc = makeSvc(sh, [1, 1, 1], { schedFlags: SCHED_F_PORT });
    const ctx = keyCtx(svc, 3);
    const counts = [0, 0, 0];
    for (let port = 1024; port < 4024; port++) {
      ctx.sport = port;
      const p = pos(svc, sh.schedule(svc, ctx));
      counts[p]!++;
      assert.equal(pos(svc, sh.schedule(svc, ctx)), p);
    }
    for (const c of counts) assert.ok(c > 700, `${counts}`);
  });

  it('without sh-fallback an overloaded bucket gives null, others stay put', () => {
    const svc = makeSvc(sh, [1, 1, 1]);
    const before = mapKeys(svc);
    setOverload(svc.dests[1]!, true);
    const after = mapKeys(svc);
    for (let i = 0; i < KEYS; i++) assert.equal(after[i], before[i] === 1 ? -1 : before[i]);
  });

  it('weight 0 reassigns the buckets away from the dest', () => {
    const svc = makeSvc(sh, [1, 1, 1]);
    setWeight(svc, svc.dests[1]!, 0);
    const after = mapKeys(svc);
    assert.ok(!after.includes(1) && !after.includes(-1));
  });

  it('with sh-fallback an unusable bucket falls to a usable one, others stay put', () => {
    const svc = makeSvc(sh, [1, 1, 1], { schedFlags: SCHED_F_FALLBACK });
    const before = mapKeys(svc);
    setOverload(svc.dests[1]!, true);
    const after = mapKeys(svc);
    assert.deepEqual(mapKeys(svc), after, 'fallback is deterministic');
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === 1) assert.ok(after[i] === 0 || after[i] === 2, `key ${i} -> ${after[i]}`);
      else assert.equal(after[i], before[i]);
    }
    for (const d of svc.dests) setOverload(d, true);
    assert.ok(mapKeys(svc).every((p) => p === -1));
  });
});
