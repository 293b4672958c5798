// The full path, as ip_vs_core.c: every packet the fast path (fast-path.ts) did not take. Entry
// validation, then dispatch: ICMP, fragments, replies to a LIP, packets of known connections
// (with IPVS's conn_reuse), and new connections, SYNPROXY's cookie handshake included.
import { S_CLOSE, S_TIME_WAIT } from '../common/vocabulary.js';
import { VERDICT_DROP } from './batch.js';
import { CONN_STRIDE, W_FLAGS, W_SVC } from './conn/table.js';
import { expireConn, newConn } from './conn-lifecycle.js';
import { lookupIn, lookupOut } from './conn-lookup.js';
import type { EngineCore } from './core.js';
import {
  D_NO_CONN,
  D_NO_SERVICE,
  D_NOT_LOCAL,
  D_OUT_NO_CONN,
  D_PROTO_UNSUPPORTED,
  E_CONN_REUSED,
  E_SP_REUSED,
} from './counters.js';
import { findService, LOCAL_VIP, localGet6 } from './local-addrs.js';
import { PROTO_ICMP, PROTO_ICMPV6 } from './packet/icmp.js';
import { type PacketInfo, parsePacket } from './packet/parse.js';
import { TCP_DOFF, TH_ACK, TH_FIN, TH_RST, TH_SYN } from './packet/tcp.js';
import { PROTO_TCP, PROTO_UDP } from './service.js';
import { completeL4, forwardFragTail, forwardIn, forwardOut } from './xmit.js';

/** Verdict for one packet at bytes [off, off+len) of `dv`. */
export function processOne(core: EngineCore, dv: DataView, off: number, len: number): number {
  const pi = core.pi;
  core.txOff = off;
  core.txLen = len;
  const r = parsePacket(dv, off, len, pi);
  if (r !== 0) return core.drop(r);
  const proto = pi.proto;
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    core.partial = false; // ICMP is never offloaded; replies are built whole
    return core.icmp.handle(dv, pi);
  }
  if (proto !== PROTO_TCP && proto !== PROTO_UDP) return core.drop(D_PROTO_UNSUPPORTED);
  if (pi.fragTail) return forwardFragTail(core, dv, len);

  const v6 = pi.family === 6;
  const local = v6 ? localGet6(core.localMap, pi.daddr) : core.local4.get(pi.daddr[0]!);
  if (local >= 0) {
    // RS -> client traffic arrives at a LIP; (LIP, proto, lport) names the connection.
    const oid = lookupOut(core, local, proto, v6, pi.dport, pi.saddr, 0, pi.sport);
    if (oid === 0) return core.drop(D_OUT_NO_CONN);
    return forwardOut(core, dv, oid, len);
  }
  // Connections of a deleted service still drain through an address that is no longer a VIP.
  const ct = core.conns;
  const bucket = ct.hashIn(proto, pi.saddr, 0, pi.sport, pi.daddr, 0, pi.dport, v6);
  let id = lookupIn(ct, core.svcAddr, bucket, proto, v6, pi.saddr, 0, pi.sport, pi.daddr, 0, pi.dport);
  if (id !== 0) {
    const st = (ct.w[id * CONN_STRIDE + W_FLAGS]! >>> 16) & 0xff;
    if (proto === PROTO_TCP && (st === S_TIME_WAIT || st === S_CLOSE)) {
      // A new SYN on a closing connection: IPVS's conn_reuse — end the old one, schedule anew.
      // With SYNPROXY the new connection shows itself by an ACK with a valid cookie instead.
      const f = pi.tcpFlags & (TH_SYN | TH_ACK | TH_RST);
      if (
        f === TH_SYN ||
        (f === TH_ACK && core.svcs[ct.w[id * CONN_STRIDE + W_SVC]!]!.synproxy && core.sp.validAck(dv, pi))
      ) {
        core.counters[f === TH_SYN ? E_CONN_REUSED : E_SP_REUSED]! += 1;
        expireConn(core, id);
        id = 0;
      }
    }
    if (id !== 0) return forwardIn(core, dv, id, len);
  }

  // A new connection to a VIP.
  if (local !== LOCAL_VIP) return core.drop(D_NOT_LOCAL);
  const svcIdx = findService(core.svcMap, proto, pi.family, pi.daddr, pi.dport);
  if (proto === PROTO_TCP) {
    const f = pi.tcpFlags & (TH_SYN | TH_ACK | TH_RST | TH_FIN);
    const sp = svcIdx >= 0 && core.svcs[svcIdx]!.synproxy;
    if (sp && f === TH_SYN) {
      core.partial = false; // the SYN-ACK is built whole in its place
      return core.sp.answerSyn(dv, pi);
    }
    if (sp && (f & ~TH_FIN) === TH_ACK) return synproxyAck(core, dv, pi, svcIdx, bucket);
    if (f !== TH_SYN) return core.drop(D_NO_CONN);
  }
  if (svcIdx < 0) return core.drop(D_NO_SERVICE);
  id = newConn(core, svcIdx, bucket);
  if (id === 0) return VERDICT_DROP;
  return forwardIn(core, dv, id, len);
}

/** A client ACK with no connection to a SYNPROXY service: a cookie opens the RS side. */
function synproxyAck(core: EngineCore, dv: DataView, pi: PacketInfo, svcIdx: number, bucket: number): number {
  // Its data may be kept for later, when no offload flag goes with it.
  completeL4(core, dv, pi);
  const sp = core.sp;
  if ((pi.tcpFlags & TH_FIN) !== 0 || !sp.validAck(dv, pi)) return sp.badAck();
  const thl = (dv.getUint8(pi.l4 + TCP_DOFF) >>> 4) << 2;
  if (sp.knobs.defer && pi.end - pi.l4 === thl) return sp.deferDrop();
  const id = newConn(core, svcIdx, bucket);
  if (id === 0) return VERDICT_DROP;
  return sp.openRs(dv, pi, id);
}
