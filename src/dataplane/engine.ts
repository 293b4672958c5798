// The engine's control face: tables written by slot. The control plane (src/control) is the only
// validator of the configuration; it compiles each accepted change into these calls
// (src/control/engine-tables.ts) and keeps the map from what operators name (proto, VIP, port) to
// the slots. So the engine parses no text and formats none: it refuses only what its tables
// cannot hold (a negative result), and reads out numbers (engine-readout.ts). The packet path
// starts at core.ts.
//
// A change is a run of calls ended by commit(). Until then what it deleted is held: a deleted
// service, its real servers and a detached LIP come back in place (counters, connections,
// scheduler position) when a call with `undo` (undoing one of the change's own calls, last
// first) creates or attaches them again; that is how a refused change is undone exactly. A
// delete with `undo` is final at once. commit() makes the rest final: slots free once idle,
// expire_nodest_conn cuts their connections.
import { type Family, prefixMask } from '../common/addr.js';
import type { DestSettings, EngineKnobs, ServiceSettings } from '../common/vocabulary.js';
import { S_CLOSE, S_ESTABLISHED, S_FIN_WAIT, S_TIME_WAIT, S_UDP } from '../common/vocabulary.js';
import { defaultConfig, type EngineConfig } from './config.js';
import { CONN_F_USED } from './conn/table.js';
import { expireConn } from './conn-lifecycle.js';
import { EngineCore } from './core.js';
import { FK_PORT, flowKeyPort } from './flow-map.js';
import { LOCAL_VIP, localDelete, localFull, localGet, localSet, setAddrKey } from './local-addrs.js';
import { isPrime, MH_TAB_SIZE_MAX } from './sched/mh.js';
import { getScheduler } from './sched/registry.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, Dest, FWD_FULLNAT, type Proto, Service } from './service.js';
import { ST_STRIDE } from './stats.js';
import { retireDestStats, retireSvcStats, syncStats } from './stats-rollup.js';

/** What names a service in the engine's tables. */
export interface ServiceSpec {
  proto: Proto;
  family: Family;
  /** Address words (IPv4 in [0], the rest 0). */
  addr: Uint32Array;
  port: number;
}

// Refusals: what createService, createDest and attachLaddr return instead of a slot.
/** Every service slot is taken. */
export const REFUSED_SERVICES_FULL = -1;
/** Every real-server slot is taken (deleted ones still draining connections included). */
export const REFUSED_DESTS_FULL = -2;
/** The local-address table (VIPs and LIPs) or the LIP pool is full. */
export const REFUSED_LOCALS_FULL = -3;
/** The address is a LIP in the engine (one still draining connections, if control has none). */
export const REFUSED_ADDR_IS_LIP = -4;
/** The address is a VIP in the engine. */
export const REFUSED_ADDR_IS_VIP = -5;

/** Canonical map key of an address and port: the words. */
function addrKey(family: Family, w: ArrayLike<number>, port: number): string {
  return family === 4 ? `${w[0]}/${port}` : `${w[0]},${w[1]},${w[2]},${w[3]}/${port}`;
}

function svcKey(proto: number, family: Family, w: ArrayLike<number>, port: number): string {
  return `${proto}:${addrKey(family, w, port)}`;
}

export class Engine extends EngineCore {
  private readonly freeSvc: number[] = [];
  private readonly freeDest: number[] = [];
  /** VIP address key -> number of services on it (control path only). */
  private readonly vipRefs = new Map<string, number>();
  /**
   * expire_nodest_conn: connections of deleted services, dests and (service, LIP) pairs, cut by
   * tick() in chunks of the table (purgeLeft slots still to visit from purgeAt), not per packet.
   */
  private readonly purgeSvc = new Set<Service>();
  private readonly purgeDest = new Set<Dest>();
  private readonly purgeLaddr = new Map<Service, Set<number>>();
  private purgeAt = 1;
  private purgeLeft = 0;
  /** Deleted since the last commit(), by key, last deleted last (an undo takes the last). */
  private readonly heldSvcs = new Map<string, Service[]>();
  private readonly heldDests = new Set<Dest>();
  private readonly heldLaddrs: { svc: Service; la: number }[] = [];
  /**
   * Bumped whenever a deleted service or a LIP slot is freed: the daemon compares it on its tick
   * and then removes the plumbing of addresses that no longer drain (drainingAddrs()).
   */
  drainGen = 0;

  constructor(config: Partial<EngineConfig> = {}, now = 0) {
    const cfg = { ...defaultConfig(), ...config };
    if (!isPrime(cfg.mhTableSize) || cfg.mhTableSize > MH_TAB_SIZE_MAX)
      throw new RangeError(`mh table size ${cfg.mhTableSize} must be a prime up to ${MH_TAB_SIZE_MAX}`);
    super(cfg, now);
    for (let i = cfg.maxServices - 1; i >= 0; i--) this.freeSvc.push(i);
    for (let i = cfg.maxDests - 1; i >= 0; i--) this.freeDest.push(i);
  }

  /** A live (configured, not deleted) service slot, or undefined. */
  service(slot: number): Service | undefined {
    const s = this.svcs[slot];
    return s && !s.deleted ? s : undefined;
  }

  /** A configured real-server slot, or undefined. */
  dest(slot: number): Dest | undefined {
    const d = this.dests[slot];
    return d?.available ? d : undefined;
  }

  private liveService(slot: number): Service {
    const s = this.service(slot);
    if (!s) throw new RangeError(`no service in slot ${slot}`);
    return s;
  }

  private liveDest(slot: number): Dest {
    const d = this.dest(slot);
    if (!d) throw new RangeError(`no real server in slot ${slot}`);
    return d;
  }

  // ---- services -------------------------------------------------------------------------------

  /**
   * A new service: its slot, or a REFUSED_* code. With `undo` (undoing a delete of this change),
   * the deleted one comes back instead, with its counters and connections.
   */
  createService(spec: ServiceSpec, p: ServiceSettings, undo = false): number {
    const k = svcKey(spec.proto, spec.family, spec.addr, spec.port);
    const held = undo ? this.heldSvcs.get(k)?.pop() : undefined;
    if (held) return this.reviveService(held, p);
    const local = localGet(this, spec.family, spec.addr);
    if (local >= 0) return REFUSED_ADDR_IS_LIP;
    if (local !== LOCAL_VIP && localFull(this, spec.family)) return REFUSED_LOCALS_FULL;
    const idx = this.freeSvc.pop() ?? this.reclaimHeldService();
    if (idx === undefined) return REFUSED_SERVICES_FULL;

    const svc = new Service(idx, spec.proto, spec.family, spec.addr.slice(), spec.port);
    svc.mhTableSize = this.cfg.mhTableSize;
    this.setParams(svc, p);
    svc.sched = getScheduler(p.sched)!;
    svc.sched.initService(svc);
    this.svcs[idx] = svc;
    this.svcAddr.set(svc.addr, idx * 4);
    this.svcStats.reset(idx);
    this.mapService(svc, idx);
    return idx;
  }

  private mapService(svc: Service, idx: number): void {
    const m = this.svcMap;
    setAddrKey(m.key, svc.addr, svc.family);
    m.key[FK_PORT] = flowKeyPort(svc.port, svc.proto, svc.family);
    m.set(idx);
    const vk = addrKey(svc.family, svc.addr, 0);
    this.vipRefs.set(vk, (this.vipRefs.get(vk) ?? 0) + 1);
    localSet(this, svc.family, svc.addr, LOCAL_VIP);
  }

  private reviveService(svc: Service, p: ServiceSettings): number {
    svc.held = false;
    svc.deleted = false;
    this.mapService(svc, svc.idx);
    this.updateService(svc.idx, p);
    return svc.idx;
  }

  private setParams(svc: Service, p: ServiceSettings): void {
    svc.schedFlags = p.schedFlags;
    svc.persistTimeout = p.persistTimeout;
    svc.persistPrefix = p.persistPrefix;
    prefixMask(svc.family, p.persistPrefix, svc.persistMask);
    if (svc.family === 4) svc.persistMask.fill(0, 1);
    svc.synproxy = p.synproxy;
    svc.toa = p.toa;
  }

  /** Every setting of a live service at once (ipvsadm -E): what changes takes effect now. */
  updateService(slot: number, p: ServiceSettings): void {
    const svc = this.liveService(slot);
    this.touch(svc);
    const maskChanged =
      p.persistPrefix !== svc.persistPrefix || p.persistTimeout > 0 !== svc.persistTimeout > 0;
    const flagsChanged = p.schedFlags !== svc.schedFlags;
    this.setParams(svc, p);
    if (maskChanged) this.persist.orphanService(svc.idx);
    if (p.sched !== svc.sched.name) {
      svc.sched.doneService?.(svc);
      svc.schedData = null;
      svc.sched = getScheduler(p.sched)!;
      svc.sched.initService(svc);
    } else if (flagsChanged) {
      // Flags change how sh/mh hash: rebuild.
      svc.sched.doneService?.(svc);
      svc.sched.initService(svc);
    }
  }

  /** Its connections keep working until they end, unless expire_nodest_conn cuts them (at commit). */
  deleteService(slot: number, undo = false): void {
    const svc = this.liveService(slot);
    this.touch(svc);
    // Its dests stay in its list, and the scheduler's state as it is: an undo brings the service
    // back whole (rr goes on where it was). They go to the trash, unavailable, parked.
    for (const d of svc.dests) {
      d.flags &= ~DEST_F_AVAILABLE;
      d.trashedAt = this.now;
      d.parked = true;
      this.trash.set(`${svc.idx}:${addrKey(d.family, d.addr, d.port)}`, d);
    }
    for (const la of svc.laddrs) this.unrefLaddr(la);
    svc.laddrsBefore = svc.laddrs;
    svc.laddrs = [];
    const m = this.svcMap;
    setAddrKey(m.key, svc.addr, svc.family);
    m.key[FK_PORT] = flowKeyPort(svc.port, svc.proto, svc.family);
    m.delete();
    const vk = addrKey(svc.family, svc.addr, 0);
    const n = (this.vipRefs.get(vk) ?? 1) - 1;
    if (n === 0) {
      this.vipRefs.delete(vk);
      localDelete(this, svc.family, svc.addr);
    } else {
      this.vipRefs.set(vk, n);
    }
    svc.deleted = true;
    if (undo) {
      this.finalService(svc);
      this.trashOfDeleted = true;
      return;
    }
    svc.held = true;
    const k = svcKey(svc.proto, svc.family, svc.addr, svc.port);
    const stack = this.heldSvcs.get(k);
    if (stack) stack.push(svc);
    else this.heldSvcs.set(k, [svc]);
  }

  /** Scheduler positions of the services the current change touched, as they were before it. */
  private readonly schedBefore = new Map<Service, unknown>();

  /** Before the change's first touch of a service's dests or settings: remember the rotation. */
  private touch(svc: Service): void {
    if (!this.schedBefore.has(svc)) this.schedBefore.set(svc, svc.sched.position?.(svc));
  }

  /** Set when connections were marked to be cut; the next commit starts a round of the table. */
  private purgeMarked = false;
  /** The trash holds dests of services deleted for good: commit frees them. */
  private trashOfDeleted = false;

  /** A deleted service is final: its slot frees once idle, expire_nodest_conn marks its connections. */
  private finalService(svc: Service): void {
    svc.held = false;
    // Templates exist only while persistence is on: skip the template scan otherwise.
    if (svc.persistTimeout > 0) this.persist.orphanService(svc.idx);
    if (this.sp.knobs.expireNodestConn && svc.refs > 0) {
      this.purgeSvc.add(svc);
      // its LIPs too, so that drainingAddrs() does not keep them for the connections being cut
      this.purgeLaddr.set(svc, new Set(svc.laddrsBefore));
      this.purgeMarked = true;
    }
    if (svc.refs === 0) this.freeService(svc);
  }

  /** Frees the trashed dests of services deleted for good (one pass, however many services). */
  private dropTrashOfDeleted(): void {
    for (const [k, d] of this.trash) {
      if (!d.svc.deleted || d.svc.held) continue;
      this.trash.delete(k);
      this.forget(d);
      this.releaseTemplateDestIfIdle(d.idx);
    }
  }

  /**
   * Ends the current change: what it deleted is final (an undo can no longer bring it
   * back). Slots free once idle; expire_nodest_conn marks their connections to be cut.
   * `undone`: the change was undone in full; the schedulers' rotations go back to where they
   * were (rr and wrr restart a pass on any change of their dests otherwise).
   */
  commit(undone = false): void {
    if (undone)
      for (const [svc, at] of this.schedBefore)
        if (at !== undefined && this.svcs[svc.idx] === svc && !svc.deleted) svc.sched.setPosition?.(svc, at);
    this.schedBefore.clear();
    const cut = this.sp.knobs.expireNodestConn;
    for (const stack of this.heldSvcs.values()) for (const svc of stack) this.finalService(svc);
    if (this.heldSvcs.size > 0 || this.trashOfDeleted) this.dropTrashOfDeleted();
    this.heldSvcs.clear();
    this.trashOfDeleted = false;
    for (const d of this.heldDests) {
      d.heldPos.length = 0;
      if (cut && this.dests[d.idx] === d && !d.available && !d.svc.deleted) this.markDest(d);
    }
    this.heldDests.clear();
    for (const { svc, la } of this.heldLaddrs) {
      svc.laddrHeldPos.delete(la);
      if (cut && !svc.deleted && !svc.laddrs.includes(la) && this.laddrs.family[la] !== 0)
        this.markLaddr(svc, la);
    }
    this.heldLaddrs.length = 0;
    // A whole round of the table from here covers every connection.
    if (this.purgeMarked) this.purgeLeft = this.conns.capacity;
    this.purgeMarked = false;
  }

  private markDest(d: Dest): void {
    this.purgeDest.add(d);
    this.purgeMarked = true;
  }

  private markLaddr(svc: Service, la: number): void {
    const set = this.purgeLaddr.get(svc) ?? new Set<number>();
    set.add(la);
    this.purgeLaddr.set(svc, set);
    this.purgeMarked = true;
  }

  /** A held service's slot when every one is taken: it cannot be undone exactly any more. */
  private reclaimHeldService(): number | undefined {
    for (const stack of this.heldSvcs.values()) {
      const i = stack.findIndex((s) => s.refs === 0);
      if (i < 0) continue;
      const svc = stack.splice(i, 1)[0]!;
      this.finalService(svc);
      this.trashOfDeleted = true;
      return this.freeSvc.pop();
    }
    return undefined;
  }

  /** Slots of the connection table visited per tick while something is to be cut. */
  private static readonly PURGE_CHUNK = 1 << 17;

  override tick(now: number): void {
    super.tick(now);
    if (this.purgeLeft > 0) this.purgeStep();
    if (this.trash.size > 0) this.sweepTrash(now);
  }

  private purgeStep(): void {
    const ct = this.conns;
    let n = Math.min(this.purgeLeft, Engine.PURGE_CHUNK);
    this.purgeLeft -= n;
    for (; n > 0; n--) {
      const id = this.purgeAt;
      this.purgeAt = id >= ct.capacity ? 1 : id + 1;
      if ((ct.flags(id) & CONN_F_USED) === 0) continue;
      const svc = this.svcs[ct.svc(id)]!;
      const las = this.purgeLaddr.get(svc);
      if (
        this.purgeSvc.has(svc) ||
        this.purgeDest.has(this.dests[ct.dest(id)]!) ||
        (las?.has(ct.laddr(id)) === true && !svc.laddrs.includes(ct.laddr(id)))
      )
        expireConn(this, id);
    }
    if (this.purgeLeft === 0) {
      this.purgeSvc.clear();
      this.purgeDest.clear();
      this.purgeLaddr.clear();
      this.drainGen++;
    }
  }

  /**
   * Addresses no longer configured whose connections still drain: VIPs of deleted services and
   * LIPs no service lists, as (family, words). The host keeps routing them into the TUN until the
   * last one ends; those being cut by expire_nodest_conn are left out (their plumbing goes at once).
   */
  drainingAddrs(): {
    vips: { family: Family; addr: Uint32Array }[];
    lips: { family: Family; addr: Uint32Array }[];
  } {
    const vips: { family: Family; addr: Uint32Array }[] = [];
    const lips: { family: Family; addr: Uint32Array }[] = [];
    // What the change in progress deleted is cut at its commit when expire_nodest_conn is on:
    // its plumbing goes with the change.
    const cutHeld = this.sp.knobs.expireNodestConn;
    for (const svc of this.svcs)
      if (svc?.deleted && svc.refs > 0 && !this.purgeSvc.has(svc) && !(cutHeld && svc.held))
        vips.push({ family: svc.family, addr: svc.addr });
    const lp = this.laddrs;
    const cut = new Set<number>();
    for (const set of this.purgeLaddr.values()) for (const la of set) cut.add(la);
    if (cutHeld) {
      for (const { la } of this.heldLaddrs) cut.add(la);
      for (const stack of this.heldSvcs.values())
        for (const svc of stack) for (const la of svc.laddrsBefore) cut.add(la);
    }
    for (let la = 0; la < lp.family.length; la++) {
      if (lp.family[la] === 0 || lp.svcRefs[la] !== 0 || lp.conns[la] === 0 || cut.has(la)) continue;
      lips.push({ family: lp.family[la] as Family, addr: lp.addr.slice(la * 4, la * 4 + 4) });
    }
    return { vips, lips };
  }

  private freeService(svc: Service): void {
    this.drainGen++;
    retireSvcStats(this, svc);
    svc.sched.doneService?.(svc);
    this.svcs[svc.idx] = undefined;
    this.freeSvc.push(svc.idx);
  }

  // ---- real servers ---------------------------------------------------------------------------

  /**
   * A real server of a live service: its slot or REFUSED_DESTS_FULL. One deleted from this service
   * less than TRASH_MS ago comes back instead (IPVS's trash: its counters and connections), at the
   * end of the list, or with `undo` (undoing a delete of this change) where it was.
   */
  createDest(
    svcSlot: number,
    family: Family,
    addr: Uint32Array,
    port: number,
    p: DestSettings,
    undo = false,
  ): number {
    const svc = this.liveService(svcSlot);
    this.touch(svc);
    const old = this.fromTrash(svc, addr, port);
    if (old) {
      this.revive(svc, old, p, undo);
      return old.idx;
    }
    const idx = this.freeDest.pop() ?? this.reclaimTrash();
    if (idx === undefined) return REFUSED_DESTS_FULL;
    const d = new Dest(idx, svc, family, addr.slice(), port);
    this.laddrs.invalidateTuples();
    d.fwd = FWD_FULLNAT;
    this.dests[idx] = d;
    this.destAddr.set(d.addr, idx * 4);
    this.destPort[idx] = port;
    this.destStats.reset(idx);
    this.setDestParams(d, p);
    svc.dests.push(d);
    svc.sched.addDest?.(svc, d);
    return idx;
  }

  private setDestParams(d: Dest, p: DestSettings): void {
    d.weight = p.weight;
    d.uThreshold = p.uThreshold;
    d.lThreshold = p.lThreshold;
    // New thresholds take effect now, as __ip_vs_update_dest does.
    const total = d.activeConns + d.inactConns;
    if (d.uThreshold === 0 || total < d.uThreshold) d.flags &= ~DEST_F_OVERLOAD;
    else d.flags |= DEST_F_OVERLOAD;
  }

  /** Weight and thresholds of a configured real server (ipvsadm -e). */
  updateDest(slot: number, p: DestSettings): void {
    const d = this.liveDest(slot);
    this.touch(d.svc);
    this.setDestParams(d, p);
    d.svc.sched.updDest?.(d.svc, d);
  }

  /**
   * Kept in the trash; its connections drain, or are cut (expire_nodest_conn: at commit, or at
   * once with `undo`).
   */
  deleteDest(slot: number, undo = false): void {
    const d = this.liveDest(slot);
    this.touch(d.svc);
    this.unlinkDest(d.svc, d, !undo);
    if (undo && this.sp.knobs.expireNodestConn) this.markDest(d);
  }

  /** `hold`: remember its position, for an undo of this change to put it back there. */
  private unlinkDest(svc: Service, d: Dest, hold: boolean): void {
    const pos = svc.dests.lastIndexOf(d);
    svc.dests.splice(pos, 1);
    d.flags &= ~DEST_F_AVAILABLE;
    svc.sched.delDest?.(svc, d);
    d.trashedAt = this.now;
    this.trash.set(`${svc.idx}:${addrKey(d.family, d.addr, d.port)}`, d);
    if (hold) {
      d.heldPos.push(pos);
      this.heldDests.add(d);
    }
  }

  // ---- the dest trash ----------------------------------------------------------------------------
  // As IPVS's: a deleted real server is kept TRASH_MS (its slot, counters, connections), and
  // adding it again revives it. So -d then -a keeps its statistics and connections, and undoing a
  // -d (a refused batch) restores it exactly, scheduler order included.

  static readonly TRASH_MS = 60_000;
  /** Trashed dests by service slot and address key, oldest first (a Map keeps insertion order). */
  private readonly trash = new Map<string, Dest>();

  private fromTrash(svc: Service, words: Uint32Array, port: number): Dest | undefined {
    const k = `${svc.idx}:${addrKey(svc.family, words, port)}`;
    const d = this.trash.get(k);
    // (One of an earlier service in this slot, freed in this change, is not this service's.)
    if (d === undefined || d.svc !== svc) return undefined;
    this.trash.delete(k);
    return d;
  }

  private revive(svc: Service, d: Dest, p: DestSettings, undo: boolean): void {
    const same = d.weight === p.weight && d.uThreshold === p.uThreshold && d.lThreshold === p.lThreshold;
    d.trashedAt = -1;
    d.flags |= DEST_F_AVAILABLE;
    this.setDestParams(d, p);
    if (d.parked) {
      // Its service came back whole: it is in its list already, and the scheduler's state
      // (wrr's pass too) stays as it was unless its settings differ.
      d.parked = false;
      if (!same) svc.sched.updDest?.(svc, d);
      return;
    }
    const pos = undo ? d.heldPos.pop() : undefined;
    svc.dests.splice(pos === undefined ? svc.dests.length : Math.min(pos, svc.dests.length), 0, d);
    svc.sched.addDest?.(svc, d);
  }

  /** Frees trashed dests older than TRASH_MS once idle (not those the current change holds). */
  private sweepTrash(now: number): void {
    for (const [k, d] of this.trash) {
      if (now - d.trashedAt < Engine.TRASH_MS) break; // the rest were deleted later: not due yet
      if (this.heldDests.has(d) || d.svc.held) continue;
      this.trash.delete(k);
      this.forget(d);
      this.releaseTemplateDestIfIdle(d.idx);
    }
  }

  /**
   * A slot when every one is taken: the oldest idle trashed dest gives its own up; one the
   * current change deleted only when no other can (an undo then adds it as a new server).
   */
  private reclaimTrash(): number | undefined {
    for (const held of [false, true]) {
      for (const [k, d] of this.trash) {
        if (d.activeConns + d.inactConns !== 0 || d.persistConns !== 0) continue;
        if ((d.parked || this.heldDests.has(d)) !== held) continue;
        this.trash.delete(k);
        this.forget(d);
        this.releaseTemplateDestIfIdle(d.idx);
        return this.freeDest.pop();
      }
    }
    return undefined;
  }

  /** Out of the trash for good: not revivable, not in its deleted service's list. */
  private forget(d: Dest): void {
    d.trashedAt = -1;
    this.heldDests.delete(d);
    d.heldPos.length = 0;
    if (d.parked) {
      d.parked = false;
      // Out of the list of a service an undo may yet bring back (a final one is gone whole).
      if (d.svc.held) {
        const list = d.svc.dests;
        list.splice(list.lastIndexOf(d), 1);
        d.svc.sched.delDest?.(d.svc, d);
      }
    }
  }

  override releaseTemplateDestIfIdle(destIdx: number): void {
    const d = this.dests[destIdx];
    if (d && !d.available && d.trashedAt < 0 && d.activeConns + d.inactConns === 0 && d.persistConns === 0) {
      retireDestStats(this, d);
      this.dests[destIdx] = undefined;
      this.freeDest.push(destIdx);
    }
  }

  override onConnGone(svc: Service, dest: Dest, la: number): void {
    if (svc.deleted && !svc.held && svc.refs === 0 && this.svcs[svc.idx] === svc) this.freeService(svc);
    if (!dest.available) this.releaseTemplateDestIfIdle(dest.idx);
    const lp = this.laddrs;
    if (lp.svcRefs[la] === 0 && lp.conns[la] === 0) this.destroyLaddr(la);
  }

  // ---- local addresses (FULLNAT source addresses) ---------------------------------------------

  /**
   * A local address for a live service: its LIP slot, or a REFUSED_* code. Appended to the
   * service's pool, or with `undo` (undoing a detach of this change) put back where it was.
   */
  attachLaddr(svcSlot: number, family: Family, addr: Uint32Array, undo = false): number {
    const svc = this.liveService(svcSlot);
    let la = localGet(this, family, addr);
    if (la === LOCAL_VIP) return REFUSED_ADDR_IS_VIP;
    if (la < 0) {
      if (localFull(this, family)) return REFUSED_LOCALS_FULL;
      la = this.laddrs.create(family, addr);
      if (la < 0) return REFUSED_LOCALS_FULL;
      localSet(this, family, addr, la);
    }
    this.laddrs.svcRefs[la]! += 1;
    const pos = undo ? svc.laddrHeldPos.get(la)?.pop() : undefined;
    if (pos === undefined) svc.laddrs.push(la);
    else svc.laddrs.splice(Math.min(pos, svc.laddrs.length), 0, la);
    return la;
  }

  /** Its connections drain, or are cut (expire_nodest_conn: at commit, or at once with `undo`). */
  detachLaddr(svcSlot: number, la: number, undo = false): void {
    const svc = this.liveService(svcSlot);
    const pos = svc.laddrs.indexOf(la);
    if (pos < 0) throw new RangeError(`LIP slot ${la} is not in service slot ${svcSlot}`);
    svc.laddrs.splice(pos, 1);
    svc.laddrNext = 0;
    this.unrefLaddr(la);
    if (!undo) {
      const stack = svc.laddrHeldPos.get(la);
      if (stack) stack.push(pos);
      else svc.laddrHeldPos.set(la, [pos]);
      this.heldLaddrs.push({ svc, la });
    } else if (this.sp.knobs.expireNodestConn && this.laddrs.family[la] !== 0) {
      this.markLaddr(svc, la);
    }
  }

  private unrefLaddr(la: number): void {
    const lp = this.laddrs;
    lp.svcRefs[la]! -= 1;
    // A LIP still carrying connections stays mapped so their replies find them.
    if (lp.svcRefs[la] === 0 && lp.conns[la] === 0) this.destroyLaddr(la);
  }

  private destroyLaddr(la: number): void {
    const lp = this.laddrs;
    if (lp.family[la] === 0) return;
    this.drainGen++;
    localDelete(this, lp.family[la]!, lp.addr.subarray(la * 4, la * 4 + 4));
    lp.destroy(la);
  }

  // ---- global settings ------------------------------------------------------------------------

  /** ipvsadm --set tcp tcpfin udp (seconds; 0 or absent keeps the current value). */
  setTimeoutsTriple(t: { tcp?: number; tcpfin?: number; udp?: number }): void {
    const s = this.cfg.timeouts;
    if (t.tcp) s[S_ESTABLISHED] = t.tcp;
    if (t.tcpfin) s[S_FIN_WAIT] = t.tcpfin;
    if (t.udp) s[S_UDP] = t.udp;
    this.setTimeouts(s);
  }

  getTimeouts(): { tcp: number; tcpfin: number; udp: number } {
    const s = this.cfg.timeouts;
    return { tcp: s[S_ESTABLISHED]!, tcpfin: s[S_FIN_WAIT]!, udp: s[S_UDP]! };
  }

  /** ipvsadm -Z: zero counters of one live service (and its dests) or of everything (slot -1). */
  zeroStats(svcSlot = -1): void {
    if (svcSlot >= 0) {
      const svc = this.liveService(svcSlot);
      // Draining (deleted) dests of the service count towards it too.
      for (const d of this.dests) if (d && d.svc === svc) this.destStats.zero(d.idx);
      this.svcRetired.fill(0, svc.idx * ST_STRIDE, (svc.idx + 1) * ST_STRIDE);
      this.svcStats.zero(svc.idx);
      syncStats(this);
      return;
    }
    this.destStats.zeroAll();
    this.svcRetired.fill(0);
    this.totalRetired.fill(0);
    this.svcStats.zeroAll();
    this.totalStats.zeroAll();
  }

  /** The knobs the sysctls set (control checks their ranges); absent ones keep their value. */
  setKnobs(k: Partial<EngineKnobs>): void {
    const next = { ...this.sp.knobs, ...k };
    this.sp.setKnobs(next);
    // Entries already closing keep their deadline (as IPVS: a timeout applies from the next state change).
    this.cfg.timeouts[S_TIME_WAIT] = next.timeoutTimeWait;
    this.cfg.timeouts[S_CLOSE] = next.timeoutClose;
    this.setTimeouts(this.cfg.timeouts);
  }

  getKnobs(): EngineKnobs {
    return { ...this.sp.knobs };
  }

  /** New SYN cookie secret; cookies made with the previous one stay valid until the next rotation. */
  rotateCookieSecret(secret: Uint32Array): void {
    if (secret.length < 4) throw new RangeError('cookie secret needs 4 words');
    this.sp.cookies.rotate(secret);
  }
}
