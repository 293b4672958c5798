// What the host must be able to carry out before a change is applied (issue 9, defects 8 and 11):
// a VIP or LIP that is one of this host's own addresses is delivered locally and never reaches
// the TUN; a LIP that is unspecified, outside every connected subnet, or a real server's own
// address blackholes the service. The control service asks before it commits, so such a change
// is refused with the reason like any other refusal and nothing changes anywhere.
//
// requestChecker() and checkRequests() are pure (the daemon passes a HostView read from netlink just
// before); the control service runs the checker inside its sliced dry run.
import { type Family, formatIp, parseIp, prefixMask } from '../common/addr.js';
import { LvsError } from '../common/errors.js';
import type { ConfigModel, Undo } from '../control/config-model.js';
import type { Request } from '../control/protocol.js';

export interface HostView {
  /** The daemon's TUN device. */
  tun: string;
  /** Every address of the host (canonical text) -> its device. */
  local: ReadonlyMap<string, string>;
  /** Host routes (/32, /128) of the main table that lvsadm did not install: address -> "dev X". */
  routes?: ReadonlyMap<string, string>;
  /** Connected subnets a real server can sit in: not the TUN, not loopback. */
  subnets: readonly { family: Family; addr: string; prefixLen: number; dev: string }[];
}

export interface HostRefusal {
  /** Position of the refused request among those checked. */
  index: number;
  error: LvsError;
}

/** Whether a request names addresses the host check looks at (the others skip the netlink read). */
export function needsHostCheck(r: Request): boolean {
  if (r.op === 'batch') return r.requests.some(needsHostCheck);
  return r.op === 'addService' || r.op === 'addLaddr' || r.op === 'addDest';
}

const canon = (text: string): { family: Family; words: Uint32Array; text: string } | null => {
  const a = parseIp(text);
  return a ? { family: a.family, words: a.words, text: formatIp(a.family, a.words) } : null;
};

function inSubnet(family: Family, addr: Uint32Array, net: Uint32Array, prefixLen: number): boolean {
  const mask = prefixMask(family, prefixLen);
  for (let i = 0; i < 4; i++) if (((addr[i]! ^ net[i]!) & mask[i]!) !== 0) return false;
  return true;
}

/** Unspecified, broadcast or multicast: never a usable source address. */
function unusableSource(family: Family, w: Uint32Array): boolean {
  if (family === 4) {
    const v = w[0]! >>> 0;
    return v === 0 || v === 0xffffffff || v >>> 28 === 0xe;
  }
  return (w[0]! | w[1]! | w[2]! | w[3]!) === 0 || w[0]! >>> 24 === 0xff;
}

const svcText = (s: { proto: string; addr: string; port: number }) => {
  const a = canon(s.addr);
  const host = a && a.family === 6 ? `[${a.text}]` : (a?.text ?? s.addr);
  return `${s.proto.toUpperCase()} ${host}:${s.port}`;
};

/**
 * The check of one request against the host, for a change of `reqs` (a flat list, in order) to
 * `model`: call it for each request in turn, before that request is applied to the model, as the
 * control service's dry run does. Real-server addresses and LIPs in use are counted from the model
 * once (only when a request needs them) and then kept up to date request by request.
 */
export function requestChecker(
  reqs: readonly Request[],
  model: ConfigModel,
  view: HostView,
): (r: Request, model: ConfigModel) => LvsError | null {
  let rs = null as Map<string, { n: number; svc: string }> | null;
  let lips = null as Map<string, number> | null;
  const bump = <V>(m: Map<string, V>, k: string, f: (v: V | undefined) => V | undefined) => {
    const v = f(m.get(k));
    if (v === undefined) m.delete(k);
    else m.set(k, v);
  };
  const addRs = (addr: string, svc: string, d: number) =>
    bump(rs!, canon(addr)?.text ?? addr, (v) => {
      const n = (v?.n ?? 0) + d;
      return n > 0 ? { n, svc: v?.svc ?? svc } : undefined;
    });
  const addLip = (addr: string, d: number) =>
    bump(lips!, canon(addr)?.text ?? addr, (v) => ((v ?? 0) + d > 0 ? (v ?? 0) + d : undefined));
  if (reqs.some((r) => r.op === 'addLaddr' || r.op === 'addDest')) {
    rs = new Map();
    lips = new Map();
    for (const s of model.services()) {
      for (const d of s.dests) addRs(d.addr, svcText(s.svc), 1);
      for (const a of s.laddrs) addLip(a, 1);
    }
  }
  return (r, now) => {
    const why = refusal(r, view, rs, lips);
    if (why !== null) return new LvsError('EINVAL', why);
    if (rs) {
      if (r.op === 'flush') {
        rs.clear();
        lips!.clear();
      } else if (r.op === 'delService') {
        const s = now.service(r.svc);
        for (const d of s?.dests ?? []) addRs(d.addr, '', -1);
        for (const a of s?.laddrs ?? []) addLip(a, -1);
      } else if (r.op === 'addDest') {
        addRs(r.dest.addr, svcText(r.svc), 1);
      } else if (r.op === 'delDest') {
        addRs(r.addr, '', -1);
      } else if (r.op === 'addLaddr') {
        addLip(r.addr, 1);
      } else if (r.op === 'delLaddr') {
        addLip(r.addr, -1);
      }
    }
    return null;
  };
}

/**
 * The first request among `reqs` that the host cannot carry out, or null: requestChecker() over a
 * dry run on `model` (undone before returning). A request the model refuses ends the check: the
 * change is refused there anyway, in the model's words.
 */
export function checkRequests(
  reqs: readonly Request[],
  model: ConfigModel,
  view: HostView,
): HostRefusal | null {
  const check = requestChecker(reqs, model, view);
  const undo: Undo[] = [];
  try {
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const error = check(r, model);
      if (error !== null) return { index: i, error };
      try {
        model.apply(r, undo);
      } catch {
        return null;
      }
    }
    return null;
  } finally {
    for (let j = undo.length - 1; j >= 0; j--) undo[j]!();
  }
}

const foreignRoute = (what: string, addr: string, route: string, tun: string) =>
  `${what} ${addr} already has a route in the main table that lvsadm did not install (${addr} ${route}): its packets would not reach ${tun}; delete that route first`;

/** Why the host cannot carry out `r`, or null. */
function refusal(
  r: Request,
  view: HostView,
  rs: ReadonlyMap<string, { n: number; svc: string }> | null,
  lips: ReadonlyMap<string, number> | null,
): string | null {
  if (r.op === 'addService') {
    const a = canon(r.svc.addr);
    const dev = a && view.local.get(a.text);
    if (a && dev !== undefined)
      return `virtual address ${a.text} is an address of ${dev} on this host: the kernel delivers its packets locally, not into ${view.tun}; use an address the host does not have`;
    const route = a && view.routes?.get(a.text);
    if (a && route) return foreignRoute('virtual address', a.text, route, view.tun);
  } else if (r.op === 'addLaddr') {
    const a = canon(r.addr);
    if (!a) return null; // the model words it
    if (unusableSource(a.family, a.words))
      return `${a.text} cannot be a local address: real servers cannot answer to it`;
    const dev = view.local.get(a.text);
    if (dev !== undefined)
      return `local address ${a.text} is an address of ${dev} on this host: real servers' replies to it would be delivered locally, not into ${view.tun}; use an address the host does not have`;
    const of = rs?.get(a.text);
    if (of !== undefined)
      return `local address ${a.text} is a real server's address (of ${of.svc}): the real server would get packets from itself`;
    const route = view.routes?.get(a.text);
    if (route) return foreignRoute('local address', a.text, route, view.tun);
    const nets = view.subnets.filter((n) => n.family === a.family);
    if (!nets.some((n) => inSubnet(a.family, a.words, canon(n.addr)!.words, n.prefixLen))) {
      const list = nets.map((n) => `${n.addr}/${n.prefixLen} on ${n.dev}`).join(', ');
      return `local address ${a.text} is outside every connected subnet of this host (${list || `no IPv${a.family} subnet`}): real servers could not reach it; use an unused address of the real servers' subnet`;
    }
  } else if (r.op === 'addDest') {
    const a = canon(r.dest.addr);
    if (a && lips?.has(a.text))
      return `real server ${a.text} is a local address (-z) of this load balancer: FULLNAT would send it packets from its own address`;
  }
  return null;
}
