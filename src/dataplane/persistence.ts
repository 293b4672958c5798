// Persistence templates (IPVS's connection templates): a client network (address & -M mask) of a
// persistent service is remembered with the dest it went to. A template lives `timeout` after its
// last use and, as in IPVS, never expires while connections it placed are still alive (refs > 0).
import { ExpiryWheel } from './conn/timers.js';
import { FK_EXTRA, FK_PORT, FlowMap } from './flow-map.js';

export class PersistTable {
  readonly max: number;
  readonly map: FlowMap;
  readonly dest: Uint32Array;
  readonly svc: Uint32Array;
  readonly refs: Uint32Array;
  readonly expires: Float64Array;
  readonly timeoutMs: Float64Array;
  /** Key words of each template, to remove it from the map when it expires. */
  private readonly keys: Uint32Array;
  /** 1 while the template is in the map (an orphan is out of the map, waiting for refs to drop). */
  private readonly mapped: Uint8Array;
  private readonly wheel: ExpiryWheel;
  private readonly free: Uint32Array;
  private freeTop: number;
  private now = 0;
  private readonly onExpire = (id: number): void => this.expire(id);
  /** Called when a template goes away, so the engine can release its dest. */
  onRelease: (destIdx: number) => void = () => {};

  constructor(max: number, now: number, seed: number) {
    this.max = max;
    let cap = 2;
    while (cap * 3 < max * 4) cap *= 2;
    this.map = new FlowMap(cap, seed);
    const n = max + 1;
    this.dest = new Uint32Array(n);
    this.svc = new Uint32Array(n);
    this.refs = new Uint32Array(n);
    this.expires = new Float64Array(n);
    this.timeoutMs = new Float64Array(n);
    this.keys = new Uint32Array(n * 6);
    this.mapped = new Uint8Array(n);
    this.wheel = new ExpiryWheel(max, 1024, 1000, now);
    this.free = new Uint32Array(max);
    for (let i = 0; i < max; i++) this.free[i] = max - i;
    this.freeTop = max;
  }

  get count(): number {
    return this.max - this.freeTop;
  }

  /** Fills the map's key scratch: masked client address, service slot. */
  setKey(family: number, caddr: Uint32Array, ci: number, mask: Uint32Array, svcIdx: number): void {
    const k = this.map.key;
    k[0] = caddr[ci]! & mask[0]!;
    k[1] = family === 6 ? caddr[ci + 1]! & mask[1]! : 0;
    k[2] = family === 6 ? caddr[ci + 2]! & mask[2]! : 0;
    k[3] = family === 6 ? caddr[ci + 3]! & mask[3]! : 0;
    k[FK_PORT] = family << 24;
    k[FK_EXTRA] = svcIdx;
  }

  /** Control path: whether template `id` is live and in lookups (what -L -c lists). */
  listed(id: number): boolean {
    return this.mapped[id] === 1;
  }

  /** Word `w` (0..3: the masked client address) of template `id`'s key. */
  keyWord(id: number, w: number): number {
    return this.keys[id * 6 + w]!;
  }

  /** Template id for the key in the scratch, or 0. */
  lookup(): number {
    const v = this.map.get();
    return Math.max(v, 0);
  }

  /** Creates a template for the key in the scratch; 0 when the table is full. */
  create(svcIdx: number, destIdx: number, timeoutMs: number, now: number): number {
    if (this.freeTop === 0) return 0;
    const id = this.free[--this.freeTop]!;
    if (!this.map.set(id)) {
      this.free[this.freeTop++] = id;
      return 0;
    }
    this.keys.set(this.map.key, id * 6);
    this.mapped[id] = 1;
    this.svc[id] = svcIdx;
    this.dest[id] = destIdx;
    this.refs[id] = 0;
    this.timeoutMs[id] = timeoutMs;
    this.expires[id] = now + timeoutMs;
    this.wheel.insert(id, now + timeoutMs);
    return id;
  }

  /** A new connection placed by template `id`. */
  use(id: number, now: number): void {
    this.refs[id]! += 1;
    this.expires[id] = now + this.timeoutMs[id]!;
  }

  /** A connection placed by template `id` ended. */
  unref(id: number, now: number): void {
    const r = this.refs[id]! - 1;
    this.refs[id] = r;
    // An orphan (its service was deleted or changed) goes with its last connection.
    if (r === 0 && this.mapped[id] === 0) this.release(id);
    else if (r === 0) this.expires[id] = Math.max(this.expires[id]!, now + this.timeoutMs[id]!);
  }

  /** Takes every template of service `svcIdx` out of lookups (service deleted or its mask changed). */
  orphanService(svcIdx: number): void {
    for (let id = 1; id <= this.max; id++) {
      if (this.mapped[id] !== 1 || this.svc[id] !== svcIdx) continue;
      this.unmap(id);
      if (this.refs[id] === 0) this.release(id);
    }
  }

  sweep(now: number, budget: number): number {
    this.now = now;
    return this.wheel.sweep(now, this.expires, 1, 0, budget, this.onExpire);
  }

  private expire(id: number): void {
    if (this.refs[id]! > 0) {
      // IPVS keeps a template while it controls connections: look again a timeout later.
      this.expires[id] = this.now + this.timeoutMs[id]!;
      this.wheel.unlink(id);
      this.wheel.insert(id, this.expires[id]!);
      return;
    }
    this.unmap(id);
    this.release(id);
  }

  private unmap(id: number): void {
    if (this.mapped[id] === 0) return;
    this.map.key.set(this.keys.subarray(id * 6, id * 6 + 6));
    this.map.delete();
    this.mapped[id] = 0;
  }

  private release(id: number): void {
    if (this.wheel.next[id] !== 0) this.wheel.unlink(id);
    this.onRelease(this.dest[id]!);
    this.dest[id] = 0;
    this.free[this.freeTop++] = id;
  }
}
