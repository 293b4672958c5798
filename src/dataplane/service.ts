// The engine's model of virtual services and their real servers (dests). Objects are created by
// control operations only; the packet path reads them but never allocates new ones.
import type { Family } from '../common/addr.js';
import type { Scheduler } from './sched/scheduler.js';

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export type Proto = typeof PROTO_TCP | typeof PROTO_UDP;

/** Dest flags. */
export const DEST_F_AVAILABLE = 1; // still configured (cleared by delete; conns may still reference it)
export const DEST_F_OVERLOAD = 2; // upper connection threshold reached

/** Forwarding methods (only FULLNAT is implemented; the rest exist for the listing). */
export const FWD_FULLNAT = 0;
export const FWD_MASQ = 1;
export const FWD_TUNNEL = 2;
export const FWD_ROUTE = 3;
export const FWD_LOCAL = 4;

/** Scheduler flags as ipvsadm's -b flag-1,flag-2,flag-3 (sh-fallback/mh-fallback, sh-port/mh-port). */
export const SCHED_F_1 = 1;
export const SCHED_F_2 = 2;
export const SCHED_F_3 = 4;
export const SCHED_F_FALLBACK = SCHED_F_1;
export const SCHED_F_PORT = SCHED_F_2;

export class Dest {
  /** Global dest slot; connections store this number. */
  idx: number;
  svc: Service;
  readonly family: Family;
  /** Address words (IPv4 in [0]). */
  readonly addr: Uint32Array;
  readonly port: number;
  weight = 1;
  /** -x: overload when active+inactive >= this (0 = no limit). */
  uThreshold = 0;
  /** -y: leave overload when active+inactive <= this (0 = 3/4 of uThreshold). */
  lThreshold = 0;
  fwd = FWD_FULLNAT;
  flags = DEST_F_AVAILABLE;
  activeConns = 0;
  inactConns = 0;
  /** Persistence templates pointing here. */
  persistConns = 0;

  constructor(idx: number, svc: Service, family: Family, addr: Uint32Array, port: number) {
    this.idx = idx;
    this.svc = svc;
    this.family = family;
    this.addr = addr;
    this.port = port;
  }

  get available(): boolean {
    return (this.flags & DEST_F_AVAILABLE) !== 0;
  }
}

export class Service {
  /** Global service slot; connections store this number. */
  idx: number;
  readonly proto: Proto;
  readonly family: Family;
  readonly addr: Uint32Array;
  /** 0 = all ports (needs persistence, as in IPVS). */
  readonly port: number;
  sched!: Scheduler;
  schedFlags = 0;
  /** Scheduler-private state, owned by `sched`. */
  schedData: unknown = null;
  /** Maglev lookup table size (a prime), read by the mh scheduler on initService. */
  mhTableSize = 65537;
  /** Configured dests in the order they were added. */
  dests: Dest[] = [];
  /** Persistence timeout in seconds; 0 = not persistent. */
  persistTimeout = 0;
  /** Persistence netmask as a prefix length (32/128 = per client address) and as mask words. */
  persistPrefix = 32;
  persistMask = new Uint32Array([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  synproxy = false;
  toa = true;
  /** Global LIP slots of this service's local address pool (-P/-Q), chosen round robin. */
  laddrs: number[] = [];
  laddrNext = 0;
  /** Live connections (the slot is reused only when it is deleted and this is 0). */
  refs = 0;
  deleted = false;

  constructor(idx: number, proto: Proto, family: Family, addr: Uint32Array, port: number) {
    this.idx = idx;
    this.proto = proto;
    this.family = family;
    this.addr = addr;
    this.port = port;
    this.persistPrefix = family === 4 ? 32 : 128;
  }
}
