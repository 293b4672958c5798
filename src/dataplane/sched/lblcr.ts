// Locality-based least connection with replication (ip_vs_lblcr.c): each destination address maps
// to a small set of dests. The least loaded usable member serves; when there is none, or it is
// overloaded in lblc's sense, the service's weighted least-connection dest joins the set. A set
// of several members not modified for lblcr_expiration (IPVS default 24 h) loses its most loaded
// member. Sets are bounded (LBLCR_SET_MAX): a full set replaces an unusable or its most loaded
// member. Entries age and are bounded as in lblc.
import type { Dest, Service } from '../service.js';
import { LOC_EXPIRE_MS, LOC_TAB_MAX, LocTable, locOverloaded, remapDests } from './lblc.js';
import { destOverhead, destUsable, type Scheduler } from './scheduler.js';
import { wlcLeast } from './wlc.js';

export const LBLCR_SET_MAX = 8;
/** Unmodified time after which a set of several dests sheds its most loaded one. */
export const LBLCR_SHRINK_MS = LOC_EXPIRE_MS;

class LblcrState {
  dests: Dest[] = [];
  /** Dests were added since the last sync: synced before the next schedule (positions are
   *  remapped by dest identity, so one sync after N changes equals N syncs). */
  dirty = true;
  readonly tbl = new LocTable(LOC_TAB_MAX);
  /** Entry id * LBLCR_SET_MAX + k -> position in dests, in insertion order. */
  readonly members = new Int32Array(LOC_TAB_MAX * LBLCR_SET_MAX);
  readonly size = new Uint8Array(LOC_TAB_MAX);
  readonly lastMod = new Float64Array(LOC_TAB_MAX);
}

function usable(d: Dest): boolean {
  return d.available && destUsable(d);
}

// IPVS adds members at the list head: scans run newest first, so ties go to the newest member.

/** Weighted least-connection usable member: its slot k, or -1. */
function setMin(st: LblcrState, id: number): number {
  const o = id * LBLCR_SET_MAX;
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let k = st.size[id]! - 1; k >= 0; k--) {
    const d = st.dests[st.members[o + k]!]!;
    if (!usable(d)) continue;
    const doh = destOverhead(d);
    if (least < 0 || loh * d.weight > doh * lw) {
      least = k;
      loh = doh;
      lw = d.weight;
    }
  }
  return least;
}

/** Weighted most-connection member with weight > 0: its slot k, or -1. */
function setMax(st: LblcrState, id: number): number {
  const o = id * LBLCR_SET_MAX;
  let most = -1;
  let moh = 0;
  let mw = 0;
  for (let k = st.size[id]! - 1; k >= 0; k--) {
    const d = st.dests[st.members[o + k]!]!;
    if (d.weight <= 0) continue;
    const doh = destOverhead(d);
    if (most < 0 || moh * d.weight < doh * mw) {
      most = k;
      moh = doh;
      mw = d.weight;
    }
  }
  return most;
}

function setErase(st: LblcrState, id: number, k: number, now: number): void {
  const o = id * LBLCR_SET_MAX;
  const n = st.size[id]! - 1;
  for (let j = k; j < n; j++) st.members[o + j] = st.members[o + j + 1]!;
  st.size[id] = n;
  st.lastMod[id] = now;
}

function setInsert(st: LblcrState, id: number, p: number, now: number): void {
  const o = id * LBLCR_SET_MAX;
  const n = st.size[id]!;
  for (let k = 0; k < n; k++) if (st.members[o + k] === p) return;
  if (n === LBLCR_SET_MAX) {
    let victim = -1;
    for (let k = 0; k < n && victim < 0; k++) if (!usable(st.dests[st.members[o + k]!]!)) victim = k;
    if (victim < 0) victim = setMax(st, id);
    setErase(st, id, Math.max(victim, 0), now);
  }
  st.members[o + st.size[id]!] = p;
  st.size[id] = st.size[id]! + 1;
  st.lastMod[id] = now;
}

function markDirty(svc: Service): void {
  (svc.schedData as LblcrState).dirty = true;
}

function sync(svc: Service): void {
  const st = svc.schedData as LblcrState;
  st.dirty = false;
  const map = remapDests(st.dests, svc.dests);
  st.dests = svc.dests.slice();
  if (map === null) return;
  for (let id = 0; id < LOC_TAB_MAX; id++) {
    if (!st.tbl.live(id)) continue;
    const o = id * LBLCR_SET_MAX;
    let n = 0;
    for (let k = 0; k < st.size[id]!; k++) {
      const p = map[st.members[o + k]!]!;
      if (p >= 0) st.members[o + n++] = p;
    }
    st.size[id] = n;
  }
}

export const lblcr: Scheduler = {
  name: 'lblcr',
  initService(svc) {
    svc.schedData = new LblcrState();
  },
  doneService(svc) {
    svc.schedData = null;
  },
  // Adds append (old positions stay valid): synced lazily. A removal remaps the table's entries
  // at once, so that no entry points at a dest that is gone.
  addDest: markDirty,
  delDest: sync,
  updDest: markDirty,
  schedule(svc, ctx) {
    const st = svc.schedData as LblcrState;
    if (st.dirty) sync(svc);
    const now = ctx.now;
    const id = st.tbl.lookup(ctx.family, ctx.daddr, now);
    if (id >= 0) {
      const k = setMin(st, id);
      const d = k >= 0 ? st.dests[st.members[id * LBLCR_SET_MAX + k]!]! : null;
      if (st.size[id]! > 1 && now - st.lastMod[id]! > LBLCR_SHRINK_MS) {
        const m = setMax(st, id);
        if (m >= 0) setErase(st, id, m, now);
      }
      if (d !== null && !locOverloaded(svc, d)) return d;
      const p = wlcLeast(st.dests);
      if (p < 0) return null;
      setInsert(st, id, p, now);
      return st.dests[p]!;
    }
    const p = wlcLeast(st.dests);
    if (p < 0) return null;
    const nid = st.tbl.insert(ctx.family, ctx.daddr, now);
    st.members[nid * LBLCR_SET_MAX] = p;
    st.size[nid] = 1;
    st.lastMod[nid] = now;
    return st.dests[p]!;
  },
};
