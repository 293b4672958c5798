import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EST_INTERVAL_MS,
  RT_CPS,
  RT_INBPS,
  RT_INPPS,
  RT_OUTBPS,
  RT_OUTPPS,
  RT_STRIDE,
  ST_CONNS,
  ST_INBYTES,
  ST_INPKTS,
  ST_OUTBYTES,
  ST_OUTPKTS,
  ST_STRIDE,
  Stats,
} from '../../src/dataplane/stats.js';

/** Per-second rates for the 5 columns: conns, in pkts, out pkts, in bytes, out bytes. */
type Rate5 = [number, number, number, number, number];
const COLS = [ST_CONNS, ST_INPKTS, ST_OUTPKTS, ST_INBYTES, ST_OUTBYTES] as const;
const RCOLS = [RT_CPS, RT_INPPS, RT_OUTPPS, RT_INBPS, RT_OUTBPS] as const;

/** Adds `rate` per second worth of traffic over `ms` to slot i, as the engine would. */
function traffic(st: Stats, i: number, rate: Rate5, ms: number): void {
  for (let k = 0; k < 5; k++) st.c[i * ST_STRIDE + COLS[k]]! += (rate[k] * ms) / 1000;
}

function rateCol(st: Stats, i: number, k: number): number {
  return st.r[i * RT_STRIDE + RCOLS[k]!]!;
}

function close(actual: number, expected: number, rel = 1e-12, msg?: string): void {
  const tol = Math.max(Math.abs(expected) * rel, 1e-9);
  assert.ok(Math.abs(actual - expected) <= tol, msg ?? `${actual} != ${expected}`);
}

const R1: Rate5 = [100, 5000, 4000, 6_000_000, 40_000_000];
const R2: Rate5 = [20, 800, 700, 900_000, 5_000_000];

describe('Stats counters', () => {
  it('are plain columns the engine bumps by index; read() reports them', () => {
    const st = new Stats(4);
    assert.equal(st.c.length, 4 * ST_STRIDE);
    assert.equal(ST_STRIDE, RT_STRIDE);
    assert.deepEqual([ST_CONNS, ST_INPKTS, ST_OUTPKTS, ST_INBYTES, ST_OUTBYTES].sort(), [0, 1, 2, 3, 4]);
    st.c[2 * ST_STRIDE + ST_CONNS]! += 1;
    st.c[2 * ST_STRIDE + ST_INPKTS]! += 3;
    st.c[2 * ST_STRIDE + ST_OUTPKTS]! += 2;
    st.c[2 * ST_STRIDE + ST_INBYTES]! += 180;
    st.c[2 * ST_STRIDE + ST_OUTBYTES]! += 1500;
    assert.deepEqual(st.read(2), { conns: 1, inPkts: 3, outPkts: 2, inBytes: 180, outBytes: 1500 });
    assert.deepEqual(st.read(1), { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    assert.deepEqual(st.rates(2), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  });

  it('count beyond 2^32 without wrapping', () => {
    const st = new Stats(1);
    st.c[ST_INBYTES] = 2 ** 40;
    st.c[ST_INBYTES]! += 1;
    assert.equal(st.read(0).inBytes, 2 ** 40 + 1);
  });

  it('zero(i) clears one slot, zeroAll() every slot, counters and rates', () => {
    const st = new Stats(3);
    st.tick(0);
    for (let t = 1; t <= 5; t++) {
      for (let i = 0; i < 3; i++) traffic(st, i, R1, EST_INTERVAL_MS);
      st.tick(t * EST_INTERVAL_MS);
    }
    assert.ok(st.rates(1).cps > 0);
    st.zero(1);
    assert.deepEqual(st.read(1), { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    assert.deepEqual(st.rates(1), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    assert.equal(st.read(0).conns, 1000);
    assert.equal(st.read(2).conns, 1000);
    assert.ok(st.rates(0).cps > 0);
    st.zeroAll();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(st.read(i), { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
      assert.deepEqual(st.rates(i), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    }
  });

  it('rejects a bad size', () => {
    assert.throws(() => new Stats(-1), RangeError);
    assert.throws(() => new Stats(1.5), RangeError);
    assert.equal(new Stats(0).tick(0), false);
  });
});

describe('Stats rate estimator', () => {
  it('takes a baseline on the first tick and estimates every 2 s', () => {
    const st = new Stats(1);
    traffic(st, 0, R1, 60_000); // before the baseline: never counted as a rate
    assert.equal(st.tick(10_000), false);
    assert.equal(
      st.r.every((v) => v === 0),
      true,
    );
    traffic(st, 0, R1, 2000);
    assert.equal(st.tick(10_500), false);
    assert.equal(st.tick(11_999), false);
    assert.equal(
      st.r.every((v) => v === 0),
      true,
    );
    assert.equal(st.tick(12_000), true);
    for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), R1[k] / 4);
    assert.equal(st.tick(12_001), false);
  });

  it('converges to a constant rate (within 1%) as (1 - (3/4)^n)', () => {
    const st = new Stats(2);
    let now = 5000;
    st.tick(now);
    for (let n = 1; n <= 20; n++) {
      traffic(st, 0, R1, EST_INTERVAL_MS);
      now += EST_INTERVAL_MS;
      assert.equal(st.tick(now), true);
      for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), R1[k] * (1 - 0.75 ** n), 1e-9);
      if (n >= 17) {
        for (let k = 0; k < 5; k++) {
          const err = Math.abs(rateCol(st, 0, k) - R1[k]) / R1[k];
          assert.ok(err < 0.01, `column ${k} after ${n} ticks: ${err}`);
        }
      }
    }
    // The listing read rounds to whole units per second.
    const f = 1 - 0.75 ** 20;
    assert.deepEqual(st.rates(0), {
      cps: Math.round(R1[0] * f),
      inpps: Math.round(R1[1] * f),
      outpps: Math.round(R1[2] * f),
      inbps: Math.round(R1[3] * f),
      outbps: Math.round(R1[4] * f),
    });
    assert.equal(st.rates(0).cps, 100);
    assert.deepEqual(st.rates(1), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  });

  it('follows a step change exactly as avg += (rate - avg) / 4', () => {
    const st = new Stats(1);
    let now = 0;
    st.tick(now);
    // Reference computed independently: the rate sequence and the recurrence, per column.
    const expected = [0, 0, 0, 0, 0];
    const schedule: Rate5[] = [];
    for (let n = 0; n < 12; n++) schedule.push(R1);
    for (let n = 0; n < 12; n++) schedule.push(R2);
    for (let n = 0; n < 6; n++) schedule.push([0, 0, 0, 0, 0]);
    for (const rate of schedule) {
      traffic(st, 0, rate, EST_INTERVAL_MS);
      now += EST_INTERVAL_MS;
      assert.ok(st.tick(now));
      for (let k = 0; k < 5; k++) {
        expected[k] = expected[k]! + (rate[k] - expected[k]!) / 4;
        close(rateCol(st, 0, k), expected[k]!);
      }
    }
  });

  it('uses the real elapsed time for late and irregular ticks', () => {
    // Ticks every 2.5 s with a constant rate: the estimate converges to the rate, not 25% above.
    const st = new Stats(1);
    let now = 0;
    st.tick(now);
    for (let n = 0; n < 30; n++) {
      traffic(st, 0, R1, 2500);
      now += 2500;
      assert.ok(st.tick(now));
    }
    for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), R1[k], 1e-3);

    // Ticks every 700 ms: estimations happen when 2 s have passed (at 2.1 s, 4.2 s, ...).
    const st2 = new Stats(1);
    now = 0;
    st2.tick(now);
    let runs = 0;
    for (let n = 0; n < 90; n++) {
      traffic(st2, 0, R2, 700);
      now += 700;
      if (st2.tick(now)) runs++;
    }
    assert.equal(runs, 30);
    for (let k = 0; k < 5; k++) close(rateCol(st2, 0, k), R2[k], 1e-3);
  });

  it('treats missed ticks as that many 2 s steps with the average rate of the gap', () => {
    const st = new Stats(1);
    let now = 0;
    st.tick(now);
    for (let n = 0; n < 5; n++) {
      traffic(st, 0, R1, EST_INTERVAL_MS);
      now += EST_INTERVAL_MS;
      st.tick(now);
    }
    const before = COLS.map((_, k) => rateCol(st, 0, k));

    // 8 s without a tick and without traffic: one tick decays like four idle 2 s ticks.
    now += 4 * EST_INTERVAL_MS;
    assert.ok(st.tick(now));
    for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), before[k]! * 0.75 ** 4, 1e-12);

    // 10 s gap with R2 traffic: like five 2 s ticks at R2.
    const mid = COLS.map((_, k) => rateCol(st, 0, k));
    traffic(st, 0, R2, 5 * EST_INTERVAL_MS);
    now += 5 * EST_INTERVAL_MS;
    assert.ok(st.tick(now));
    for (let k = 0; k < 5; k++) {
      let e = mid[k]!;
      for (let s = 0; s < 5; s++) e += (R2[k] - e) / 4;
      close(rateCol(st, 0, k), e, 1e-12);
    }
  });

  it('reset(i) lets a reused slot start from zero without a negative spike', () => {
    const st = new Stats(2);
    let now = 0;
    st.tick(now);
    for (let n = 0; n < 10; n++) {
      traffic(st, 0, R1, EST_INTERVAL_MS);
      traffic(st, 1, R1, EST_INTERVAL_MS);
      now += EST_INTERVAL_MS;
      st.tick(now);
    }
    const other = COLS.map((_, k) => rateCol(st, 1, k));
    st.reset(0);
    assert.deepEqual(st.read(0), { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    assert.deepEqual(st.rates(0), { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    traffic(st, 0, R2, EST_INTERVAL_MS);
    traffic(st, 1, R1, EST_INTERVAL_MS);
    now += EST_INTERVAL_MS;
    assert.ok(st.tick(now));
    for (let k = 0; k < 5; k++) {
      close(rateCol(st, 0, k), R2[k] / 4);
      close(rateCol(st, 1, k), other[k]! + (R1[k] - other[k]!) / 4);
    }
  });

  it('zero(i) between ticks does not produce a negative rate', () => {
    const st = new Stats(1);
    let now = 0;
    st.tick(now);
    traffic(st, 0, R1, EST_INTERVAL_MS);
    now += EST_INTERVAL_MS;
    st.tick(now);
    traffic(st, 0, R1, 1000);
    st.zero(0);
    traffic(st, 0, R1, 1000);
    now += EST_INTERVAL_MS;
    st.tick(now);
    // Only the traffic after zeroing counts: 1 s worth over a 2 s interval.
    for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), R1[k] / 2 / 4);
  });

  it('restarts the baseline when the clock goes backwards', () => {
    const st = new Stats(1);
    st.tick(100_000);
    traffic(st, 0, R1, EST_INTERVAL_MS);
    assert.equal(st.tick(50_000), false);
    assert.equal(
      st.r.every((v) => v === 0),
      true,
    );
    traffic(st, 0, R1, EST_INTERVAL_MS);
    assert.ok(st.tick(52_000));
    for (let k = 0; k < 5; k++) close(rateCol(st, 0, k), R1[k] / 4);
  });
});
