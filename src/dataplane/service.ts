// The engine's model of virtual services and their real servers (dests). Objects are created by
// control operations only; the packet path reads them but never allocates new ones.
import type { Family } from '../common/addr.js';
import { FWD_FULLNAT, type Proto } from '../common/vocabulary.js';
import type { Scheduler } from './sched/scheduler.js';

export {
  FWD_FULLNAT,
  FWD_LOCAL,
  FWD_MASQ,
  FWD_ROUTE,
  FWD_TUNNEL,
  PROTO_TCP,
  PROTO_UDP,
  type Proto,
  SCHED_F_1,
  SCHED_F_2,
  SCHED_F_3,
  SCHED_F_FALLBACK,
  SCHED_F_PORT,
} from '../common/vocabulary.js';

/** Dest flags. */
export const DEST_F_AVAILABLE = 1; // still configured (cleared by delete; conns may still reference it)
export const DEST_F_OVERLOAD = 2; // upper connection threshold reached

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
  /** Deleted and kept for revival (Engine's trash): engine ms of the delete, -1 = not trashed. */
  trashedAt = -1;
  /** Its positions in svc.dests when deleted by the current change: an undo puts it back there. */
  heldPos: number[] = [];
  /** Deleted with its service and left in its list (an undo of the service's delete revives it there). */
  parked = false;

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
  /** Deleted by the change in progress, which may yet bring it back (Engine.commit ends that). */
  held = false;
  /** Its LIPs when it was deleted (expire_nodest_conn cuts their connections too). */
  laddrsBefore: number[] = [];
  /** Positions in `laddrs` of LIPs the current change detached (an undo puts them back there). */
  readonly laddrHeldPos = new Map<number, number[]>();

  constructor(idx: number, proto: Proto, family: Family, addr: Uint32Array, port: number) {
    this.idx = idx;
    this.proto = proto;
    this.family = family;
    this.addr = addr;
    this.port = port;
    this.persistPrefix = family === 4 ? 32 : 128;
  }
}
