// Per-object traffic counters and IPVS-style rate estimators (after ip_vs_est.c).
//
// One Stats instance covers N objects of one kind (services, or dests), addressed by slot number.
// Counters live in one Float64Array, ST_STRIDE numbers per slot, and the packet path bumps them
// in place: `st.c[i * ST_STRIDE + ST_INPKTS] += 1`. Float64 holds integers exactly up to 2^53
// (about 9 PB of bytes), so the counters never wrap in practice.
//
// Rates: every EST_INTERVAL_MS (2 s) of engine time, tick(now) turns each counter's increase into
// a per-second rate and folds it into a moving average, as IPVS's estimator does:
//
//   avg += (rate - avg) / 4
//
// i.e. an exponentially weighted moving average with weight 1/4 per 2 s interval, so a step change
// is followed to ~90% after 8 intervals (16 s). IPVS does this in scaled integers; plain doubles
// make the same recurrence exact enough and simpler. The rate is taken over the real elapsed time
// since the previous estimation (ticks may come late or be missed); when that time is dt, the
// weight becomes 1 - (3/4)^(dt / 2 s): the result equals running the 2 s estimator dt/2 s times
// with the average rate of the gap, and for dt = 2 s it is exactly 1/4. The first tick only takes
// the baseline. Rates are per second: connections, packets and bytes (not bits) per second, like
// ipvsadm's CPS/InPPS/OutPPS/InBPS/OutBPS.

/** Counter columns, ST_STRIDE per slot. */
export const ST_CONNS = 0;
export const ST_INPKTS = 1;
export const ST_OUTPKTS = 2;
export const ST_INBYTES = 3;
export const ST_OUTBYTES = 4;
export const ST_STRIDE = 5;

/** Rate columns, RT_STRIDE per slot (column k is the rate of counter column k). */
export const RT_CPS = 0;
export const RT_INPPS = 1;
export const RT_OUTPPS = 2;
export const RT_INBPS = 3;
export const RT_OUTBPS = 4;
export const RT_STRIDE = 5;

/** Estimation interval, as IPVS's (2 s). */
export const EST_INTERVAL_MS = 2000;

/** Weight of a new 2 s sample in the average. */
const EST_WEIGHT = 1 / 4;

export interface StatsCounters {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface StatsRates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export class Stats {
  /** Number of slots. */
  readonly n: number;
  /** Counters, ST_STRIDE per slot; the engine increments them directly. */
  readonly c: Float64Array;
  /** Smoothed rates per second, RT_STRIDE per slot; written by tick() only. */
  readonly r: Float64Array;
  /** Counter values at the previous estimation. */
  private readonly last: Float64Array;
  private lastTick = 0;
  private started = false;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Stats size must be a natural number, got ${n}`);
    this.n = n;
    this.c = new Float64Array(n * ST_STRIDE);
    this.r = new Float64Array(n * RT_STRIDE);
    this.last = new Float64Array(n * ST_STRIDE);
  }

  /**
   * Drives the estimator with engine time `now` (ms); call it as often as convenient (at least
   * every 2 s for timely rates). Runs one estimation when 2 s or more have passed since the last
   * one and returns true then. Allocates nothing. A clock that went backwards restarts the baseline.
   */
  tick(now: number): boolean {
    if (!this.started || now < this.lastTick) {
      this.started = true;
      this.lastTick = now;
      this.last.set(this.c);
      return false;
    }
    const dt = now - this.lastTick;
    if (dt < EST_INTERVAL_MS) return false;
    const w = dt === EST_INTERVAL_MS ? EST_WEIGHT : 1 - (1 - EST_WEIGHT) ** (dt / EST_INTERVAL_MS);
    const perSec = 1000 / dt;
    const c = this.c;
    const last = this.last;
    const r = this.r;
    const end = this.n * ST_STRIDE;
    // ST_STRIDE === RT_STRIDE: column k of r is the rate of column k of c.
    for (let o = 0; o < end; o++) {
      const cur = c[o]!;
      const rate = (cur - last[o]!) * perSec;
      const avg = r[o]!;
      last[o] = cur;
      r[o] = avg + (rate - avg) * w;
    }
    this.lastTick = now;
    return true;
  }

  /** ipvsadm -Z for one slot: counters and rate estimates back to zero (ip_vs_zero_stats). */
  zero(i: number): void {
    const o = i * ST_STRIDE;
    this.c.fill(0, o, o + ST_STRIDE);
    this.last.fill(0, o, o + ST_STRIDE);
    this.r.fill(0, i * RT_STRIDE, (i + 1) * RT_STRIDE);
  }

  /** ipvsadm -Z for every slot. */
  zeroAll(): void {
    this.c.fill(0);
    this.last.fill(0);
    this.r.fill(0);
  }

  /** Clears slot `i` for a new object reusing it: counters, baseline and rates start from zero. */
  reset(i: number): void {
    this.zero(i);
  }

  /** Counters of slot `i` for listings (--stats). */
  read(i: number): StatsCounters {
    const c = this.c;
    const o = i * ST_STRIDE;
    return {
      conns: c[o + ST_CONNS]!,
      inPkts: c[o + ST_INPKTS]!,
      outPkts: c[o + ST_OUTPKTS]!,
      inBytes: c[o + ST_INBYTES]!,
      outBytes: c[o + ST_OUTBYTES]!,
    };
  }

  /** Rates of slot `i` for listings (--rate), rounded to whole units per second as IPVS reports. */
  rates(i: number): StatsRates {
    const r = this.r;
    const o = i * RT_STRIDE;
    return {
      cps: Math.round(r[o + RT_CPS]!),
      inpps: Math.round(r[o + RT_INPPS]!),
      outpps: Math.round(r[o + RT_OUTPPS]!),
      inbps: Math.round(r[o + RT_INBPS]!),
      outbps: Math.round(r[o + RT_OUTBPS]!),
    };
  }
}
