// Finding a connection by either of its tuples: in (client -> VIP, the in-index chains of the
// connection table) and out (RS -> LIP, the LIP's per-lport chains). The fast path (fast-path.ts)
// has its own IPv4-only copy of both walks, inlined.
import {
  CONN_F_IPV6,
  CONN_F_UDP,
  CONN_F_USED,
  CONN_STRIDE,
  type ConnTable,
  W_CADDR,
  W_CVPORT,
  W_DEST,
  W_FLAGS,
  W_INNEXT,
  W_LDPORT,
  W_SVC,
} from './conn/table.js';
import type { LaddrPool } from './laddr-pool.js';
import { PROTO_UDP } from './service.js';

/** What an out lookup reads: the LIP chains, the connections and the dest addresses. */
export interface OutTables {
  readonly conns: ConnTable;
  readonly laddrs: LaddrPool;
  readonly destAddr: Uint32Array;
}

/** Walks in-index chain `bucket` for (caddr:cport -> vaddr:vport); 0 when absent. */
export function lookupIn(
  ct: ConnTable,
  svcAddr: Uint32Array,
  bucket: number,
  proto: number,
  v6: boolean,
  c: Uint32Array,
  ci: number,
  cport: number,
  v: Uint32Array,
  vi: number,
  vport: number,
): number {
  const w = ct.w;
  const want = CONN_F_USED | (v6 ? CONN_F_IPV6 : 0) | (proto === PROTO_UDP ? CONN_F_UDP : 0);
  const ports = ((cport << 16) | vport) >>> 0;
  const sa = svcAddr;
  for (let id = ct.inHead[bucket]!; id !== 0; ) {
    const o = id * CONN_STRIDE;
    if (
      w[o + W_CVPORT] === ports &&
      w[o + W_CADDR] === c[ci] &&
      (w[o + W_FLAGS]! & (CONN_F_USED | CONN_F_IPV6 | CONN_F_UDP)) === want
    ) {
      const so = w[o + W_SVC]! * 4;
      if (
        sa[so] === v[vi] &&
        (!v6 ||
          (w[o + 1] === c[ci + 1] &&
            w[o + 2] === c[ci + 2] &&
            w[o + 3] === c[ci + 3] &&
            sa[so + 1] === v[vi + 1] &&
            sa[so + 2] === v[vi + 2] &&
            sa[so + 3] === v[vi + 3]))
      ) {
        return id;
      }
    }
    id = w[o + W_INNEXT]!;
  }
  return 0;
}

/** The connection of LIP slot `la` whose lport is `lport` and whose RS is raddr:rport; 0 if none. */
export function lookupOut(
  t: OutTables,
  la: number,
  proto: number,
  v6: boolean,
  lport: number,
  raddr: Uint32Array,
  ri: number,
  rport: number,
): number {
  const lp = t.laddrs;
  const next = lp.outNext;
  for (let id = lp.out[la * 2 + (proto === PROTO_UDP ? 1 : 0)]![lport]!; id !== 0; id = next[id]!) {
    if (outMatches(t, id, proto, v6, raddr, ri, rport)) return id;
  }
  return 0;
}

/** Connection `id` is of this protocol/family and its real server is raddr:rport. */
function outMatches(
  t: OutTables,
  id: number,
  proto: number,
  v6: boolean,
  raddr: Uint32Array,
  ri: number,
  rport: number,
): boolean {
  const w = t.conns.w;
  const o = id * CONN_STRIDE;
  const f = w[o + W_FLAGS]!;
  if (((f & CONN_F_UDP) !== 0) !== (proto === PROTO_UDP) || ((f & CONN_F_IPV6) !== 0) !== v6) return false;
  if ((w[o + W_LDPORT]! & 0xffff) !== rport) return false;
  const da = t.destAddr;
  const d = w[o + W_DEST]! * 4;
  return (
    da[d] === raddr[ri] &&
    da[d + 1] === raddr[ri + 1] &&
    da[d + 2] === raddr[ri + 2] &&
    da[d + 3] === raddr[ri + 3]
  );
}
