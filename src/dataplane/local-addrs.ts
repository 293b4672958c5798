// The engine's local addresses (VIPs and LIPs) and its service lookup: which address is ours, and
// which service a (proto, family, vaddr, vport) names. The tables are the core's (core.ts); these
// functions take only the tables they read.
import type { Addr4Map } from './addr4-map.js';
import { FK_EXTRA, FK_PORT, type FlowMap, flowKeyPort } from './flow-map.js';

// What the local-address table maps an address to: a LIP's pool slot (>= 0), LOCAL_VIP, or -1
// for an address that is neither.
export const LOCAL_VIP = -2;
export const LOCAL_NONE = -1;

/** The local-address tables: IPv4 addresses in local4, IPv6 ones in localMap. */
export interface LocalTables {
  readonly local4: Addr4Map;
  readonly localMap: FlowMap;
}

/** LIP slot, LOCAL_VIP or -1 for an address of either family (control path and ICMP). */
export function localGet(t: LocalTables, family: number, a: Uint32Array): number {
  return family === 6 ? localGet6(t.localMap, a) : t.local4.get(a[0]!);
}

export function localGet6(m: FlowMap, a: Uint32Array): number {
  setAddrKey(m.key, a, 6);
  return m.get();
}

/** Maps a local address; false when the table is full. */
export function localSet(t: LocalTables, family: number, a: Uint32Array, v: number): boolean {
  if (family === 4) return t.local4.set(a[0]!, v);
  setAddrKey(t.localMap.key, a, 6);
  return t.localMap.set(v);
}

export function localDelete(t: LocalTables, family: number, a: Uint32Array): void {
  if (family === 4) {
    t.local4.delete(a[0]!);
    return;
  }
  setAddrKey(t.localMap.key, a, 6);
  t.localMap.delete();
}

/** Room for one more local address (VIP or LIP) of this family. */
export function localFull(t: LocalTables, family: number): boolean {
  return family === 4 ? t.local4.full : t.localMap.size >= t.localMap.maxSize;
}

export function setAddrKey(k: Uint32Array, a: Uint32Array, family: number): void {
  k[0] = a[0]!;
  k[1] = a[1]!;
  k[2] = a[2]!;
  k[3] = a[3]!;
  k[FK_PORT] = family << 24;
  k[FK_EXTRA] = 0;
}

/** Service slot for (proto, family, vaddr, vport), falling back to a port-0 service; -1 if none. */
export function findService(
  svcMap: FlowMap,
  proto: number,
  family: number,
  addr: Uint32Array,
  port: number,
): number {
  const k = svcMap.key;
  setAddrKey(k, addr, family);
  k[FK_PORT] = flowKeyPort(port, proto, family);
  let s = svcMap.get();
  if (s < 0 && port !== 0) {
    k[FK_PORT] = flowKeyPort(0, proto, family);
    s = svcMap.get();
  }
  return s;
}
