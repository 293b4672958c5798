// The scheduler interface (after IPVS's struct ip_vs_scheduler) and helpers shared by several
// schedulers. schedule() runs only for new connections, but must still allocate nothing.
import type { Family } from '../../common/addr.js';
import { DEST_F_OVERLOAD, type Dest, type Service } from '../service.js';

/** What a scheduler may look at for one new connection; one object reused by the engine. */
export interface SchedCtx {
  family: Family;
  /** Client address words (IPv4 in [0]). */
  readonly saddr: Uint32Array;
  /** Packet destination address words (the VIP). */
  readonly daddr: Uint32Array;
  sport: number;
  dport: number;
  /** Engine time in ms, for schedulers that age their tables (lblc, lblcr). */
  now: number;
}

export interface Scheduler {
  /** Exactly ipvsadm's -s name. */
  readonly name: string;
  initService(svc: Service): void;
  doneService?(svc: Service): void;
  /** Called after svc.dests changed or a dest's weight/thresholds changed; rebuild tables here. */
  addDest?(svc: Service, dest: Dest): void;
  delDest?(svc: Service, dest: Dest): void;
  updDest?(svc: Service, dest: Dest): void;
  /** Picks a dest for a new connection, or null when none is usable. */
  schedule(svc: Service, ctx: SchedCtx): Dest | null;
  /**
   * Where its rotation stands, as plain data, and putting it back: for a change that is undone,
   * which leaves the dests exactly as they were (Engine.commit). Schedulers whose state is a
   * function of the dests alone (the hashing ones) need neither.
   */
  position?(svc: Service): unknown;
  setPosition?(svc: Service, at: unknown): void;
}

/** IPVS's ip_vs_dest_conn_overhead: active connections weigh 256 times an inactive one. */
export function destOverhead(d: Dest): number {
  return d.activeConns * 256 + d.inactConns;
}

/** A dest may take new connections: weight > 0 and not over its upper threshold. */
export function destUsable(d: Dest): boolean {
  return d.weight > 0 && (d.flags & DEST_F_OVERLOAD) === 0;
}

export function newSchedCtx(): SchedCtx {
  return { family: 4, saddr: new Uint32Array(4), daddr: new Uint32Array(4), sport: 0, dport: 0, now: 0 };
}

/** 32-bit multiplicative mixing of address words (and optionally a port), no allocation. */
export function hashAddr(family: Family, addr: Uint32Array, port: number, seed: number): number {
  let h = seed ^ 0x9e3779b9;
  h = Math.imul(h ^ addr[0]!, 0x85ebca6b);
  if (family === 6) {
    h = Math.imul(h ^ addr[1]!, 0xc2b2ae35);
    h = Math.imul(h ^ addr[2]!, 0x85ebca6b);
    h = Math.imul(h ^ addr[3]!, 0xc2b2ae35);
  }
  h = Math.imul(h ^ port, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}
