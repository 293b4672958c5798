// A thin rtnetlink layer for the host plumbing, on the `netlink` npm package (prebuilt N-API
// binding for AF_NETLINK sockets plus typed rtnetlink messages). Every operation the plumbing
// needs is a plain rtnetlink request, so nothing here runs `ip`:
//
//   links            RTM_GETLINK dump
//   link up          RTM_NEWLINK (SETLINK) ifi_flags/ifi_change IFF_UP
//   addrgenmode none RTM_NEWLINK (SETLINK) IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = 1 } };
//                    the package types IFLA_AF_SPEC as a map family -> raw payload, so the one
//                    nested attribute is encoded here (8 bytes)
//   addresses        RTM_GETADDR dump
//   routes           RTM_GETROUTE dump (all tables, both families; the package does not set
//                    NETLINK_GET_STRICT_CHK, so filtering by table/protocol/device is done here),
//                    RTM_NEWROUTE / RTM_DELROUTE with rtm_protocol = our marker
//   proxy neighbours RTM_GETNEIGH dump with ndm_flags = NTF_PROXY (the kernel then dumps the
//                    proxy table), RTM_NEWNEIGH / RTM_DELNEIGH with NTF_PROXY; NDA_PROTOCOL marks
//                    ours (stored for proxy entries by kernels >= 5.x, shown by `ip neigh show proxy`)
//
// Errors name the operation and address the way `ip` would spell the command, plus the errno.

import type { RtNetlinkSocket, rt } from 'netlink';
import netlink from 'netlink';
import { type Family, formatIp, parseIp } from '../common/addr.js';
import { HostError } from './errors.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const RT_TABLE_MAIN = 254;
/**
 * rtnetlink protocol number that marks lvsadm's routes and proxy neighbour entries: `ip route show
 * proto 250`, `ip neigh show proxy` prints `proto 250`. Values >= RTPROT_STATIC (4) are not
 * interpreted by the kernel; 250 is unassigned in iproute2's rt_protos.
 */
export const RTPROT_LVSADM = 250;

const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;

export interface LinkInfo {
  index: number;
  name: string;
  up: boolean;
  loopback: boolean;
}

/** An interface address with its prefix: the connected subnet `addr/prefixLen` on `ifindex`. */
export interface IfAddress {
  family: Family;
  ifindex: number;
  addr: string;
  prefixLen: number;
}

export interface RouteInfo {
  family: Family;
  dst: string;
  dstLen: number;
  table: number;
  protocol: number;
  /** Output device, undefined for multipath or device-less routes. */
  oif: number | undefined;
}

export interface ProxyEntry {
  family: Family;
  dst: string;
  ifindex: number;
  /** NDA_PROTOCOL, undefined when the entry has none. */
  protocol: number | undefined;
}

export interface RtnlOptions {
  /** Timeout of one request in ms (default 5000). */
  timeoutMs?: number;
}

function familyOf(af: number | undefined): Family | null {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
}

function afOf(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

/** Canonical text and wire bytes of an IP address; throws HOST_CONFIG on bad text. */
export function ipBytes(text: string): { family: Family; text: string; bytes: Buffer } {
  const ip = parseIp(text);
  if (!ip) throw new HostError('HOST_CONFIG', `not an IP address: ${JSON.stringify(text)}`);
  const n = ip.family === 4 ? 1 : 4;
  const bytes = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) bytes.writeUInt32BE(ip.words[i]!, i * 4);
  return { family: ip.family, text: formatIp(ip.family, ip.words), bytes };
}

function ipText(family: Family, bytes: Buffer | undefined): string | null {
  const len = family === 4 ? 4 : 16;
  if (!bytes || bytes.length < len) return null;
  const words = new Uint32Array(4);
  for (let i = 0; i < len / 4; i++) words[i] = bytes.readUInt32BE(i * 4);
  return formatIp(family, words);
}

function routeProtocolNumber(p: rt.Route['protocol']): number {
  if (typeof p === 'number') return p;
  if (typeof p === 'string') return netlink.rt.RouteProtocol[p] as number;
  return 0;
}

function protocolAttr(b: Buffer | undefined): number | undefined {
  return b && b.length >= 1 ? b[0] : undefined;
}

/** errno name from the package's "Request rejected: EEXIST" errors, or the error's own code. */
function errnoName(e: unknown): string | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /Request rejected: ([A-Z0-9]+)/.exec(msg);
  if (m) return m[1];
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const HINTS: Record<string, string> = {
  EEXIST: 'already exists',
  ENOENT: 'no such entry',
  ESRCH: 'no such entry',
  ENODEV: 'no such device',
  ENETDOWN: 'device is down',
  EPERM: 'operation not permitted (needs CAP_NET_ADMIN)',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  EAFNOSUPPORT: 'address family not supported',
};

function nlError(op: string, e: unknown): HostError {
  const errno = errnoName(e);
  const detail = errno
    ? `${errno}${HINTS[errno] ? ` (${HINTS[errno]})` : ''}`
    : e instanceof Error
      ? e.message
      : String(e);
  return new HostError('HOST_NETLINK', `${op}: ${detail}`, errno);
}

/** One rtnetlink socket in the current network namespace. */
export class Rtnl {
  private readonly sock: RtNetlinkSocket;
  private readonly timeout: number;
  private closed = false;

  private constructor(sock: RtNetlinkSocket, timeoutMs: number) {
    this.sock = sock;
    this.timeout = timeoutMs;
  }

  static open(opts: RtnlOptions = {}): Rtnl {
    let sock: RtNetlinkSocket;
    try {
      sock = netlink.createRtNetlink();
    } catch (e) {
      throw nlError('open rtnetlink socket', e);
    }
    return new Rtnl(sock, opts.timeoutMs ?? 5000);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.socket.close();
  }

  private async req<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HostError('HOST_NETLINK', `${op}: rtnetlink socket is closed`);
    try {
      return await fn();
    } catch (e) {
      throw nlError(op, e);
    }
  }

  async links(): Promise<LinkInfo[]> {
    const msgs = await this.req('link show', () => this.sock.getLinks(undefined, undefined, this.opts()));
    const out: LinkInfo[] = [];
    for (const m of msgs) {
      if (m.data.index === undefined || m.attrs.ifname === undefined) continue;
      const flags = m.data.flags;
      out.push({
        index: m.data.index,
        name: m.attrs.ifname,
        up: flags?.up === true,
        loopback: flags?.loopback === true,
      });
    }
    return out;
  }

  /** The link called `name`; throws HOST_NETLINK/ENODEV when there is none. */
  async link(name: string): Promise<LinkInfo> {
    const l = (await this.links()).find((x) => x.name === name);
    if (!l) throw new HostError('HOST_NETLINK', `link ${name}: ENODEV (no such device)`, 'ENODEV');
    return l;
  }

  async setLinkUp(link: LinkInfo): Promise<void> {
    await this.req(`link set ${link.name} up`, () =>
      this.sock.setLink({ index: link.index, change: { up: true }, flags: { up: true } }, {}, this.opts()),
    );
  }

  /** `ip link set DEV addrgenmode none`: no IPv6 link-local address, so no DAD, RS or MLD from it. */
  async setAddrGenModeNone(link: LinkInfo): Promise<void> {
    const inner = Buffer.alloc(8);
    inner.writeUInt16LE(5, 0); // nla_len: 4-byte header + u8
    inner.writeUInt16LE(IFLA_INET6_ADDR_GEN_MODE, 2);
    inner.writeUInt8(IN6_ADDR_GEN_MODE_NONE, 4);
    await this.req(`link set ${link.name} addrgenmode none`, () =>
      this.sock.setLink({ index: link.index }, { afSpec: new Map([[AF_INET6, inner]]) }, this.opts()),
    );
  }

  async addresses(): Promise<IfAddress[]> {
    const msgs = await this.req('address show', () =>
      this.sock.getAddresses(undefined, undefined, this.opts()),
    );
    const out: IfAddress[] = [];
    for (const m of msgs) {
      const family = familyOf(m.data.family);
      if (!family || m.data.index === undefined || m.data.prefixlen === undefined) continue;
      // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
      const addr = ipText(family, m.attrs.local ?? m.attrs.address);
      if (addr === null) continue;
      out.push({ family, ifindex: m.data.index, addr, prefixLen: m.data.prefixlen });
    }
    return out;
  }

  /** Every route of every table, both families. */
  async routes(): Promise<RouteInfo[]> {
    const msgs = await this.req('route show', () =>
      this.sock.getRoutes({ family: 0 }, undefined, this.opts()),
    );
    const out: RouteInfo[] = [];
    for (const m of msgs) {
      const family = familyOf(m.data.family);
      if (!family) continue;
      const dstLen = m.data.dstLen ?? 0;
      const dst = dstLen === 0 ? (family === 4 ? '0.0.0.0' : '::') : ipText(family, m.attrs.dst);
      if (dst === null) continue;
      out.push({
        family,
        dst,
        dstLen,
        table: m.attrs.table ?? m.data.table ?? 0,
        protocol: routeProtocolNumber(m.data.protocol),
        oif: m.attrs.oif,
      });
    }
    return out;
  }

  private hostRoute(dst: string, protocol: number): { data: rt.Route; attrs: rt.RouteAttrs; name: string } {
    const ip = ipBytes(dst);
    const dstLen = ip.family === 4 ? 32 : 128;
    return {
      data: {
        family: afOf(ip.family),
        dstLen,
        table: RT_TABLE_MAIN,
        protocol: protocol as rt.RouteProtocol,
        // what `ip route add A/32 dev X` installs: scope link for IPv4, universe for IPv6
        scope: ip.family === 4 ? 'LINK' : 'UNIVERSE',
        type: 'UNICAST',
      },
      attrs: { dst: ip.bytes },
      name: `${ip.text}/${dstLen}`,
    };
  }

  /** `ip route add A/32|A/128 dev LINK proto P` in the main table; EEXIST if any route has that key. */
  async addHostRoute(dst: string, link: LinkInfo, protocol: number): Promise<void> {
    const r = this.hostRoute(dst, protocol);
    await this.req(`route add ${r.name} dev ${link.name} proto ${protocol}`, () =>
      this.sock.newRoute(r.data, { ...r.attrs, oif: link.index }, this.opts(NLM_F_CREATE | NLM_F_EXCL)),
    );
  }

  /** Deletes only the route with this protocol on this device (the kernel matches both). */
  async delHostRoute(dst: string, link: { index: number; name: string }, protocol: number): Promise<void> {
    const r = this.hostRoute(dst, protocol);
    r.data.scope = 'NOWHERE'; // match any scope, as `ip route del` does
    await this.req(`route del ${r.name} dev ${link.name} proto ${protocol}`, () =>
      this.sock.delRoute(r.data, { ...r.attrs, oif: link.index }, this.opts()),
    );
  }

  /** `ip neigh show proxy`: the proxy (pneigh) entries of both families. */
  async proxyNeighbours(): Promise<ProxyEntry[]> {
    const msgs = await this.req('neigh show proxy', () =>
      this.sock.getNeighbors({ flags: { proxy: true } }, undefined, this.opts()),
    );
    const out: ProxyEntry[] = [];
    for (const m of msgs) {
      const family = familyOf(m.data.family);
      if (!family || !m.data.flags?.proxy || m.data.ifindex === undefined) continue;
      const dst = ipText(family, m.attrs.dst);
      if (dst === null) continue;
      out.push({ family, dst, ifindex: m.data.ifindex, protocol: protocolAttr(m.attrs.protocol) });
    }
    return out;
  }

  /** `ip neigh add proxy A dev LINK protocol P` (replaces an existing entry's flags, never fails on one). */
  async addProxyNeighbour(dst: string, link: LinkInfo, protocol: number): Promise<void> {
    const ip = ipBytes(dst);
    await this.req(`neigh add proxy ${ip.text} dev ${link.name}`, () =>
      this.sock.newNeighbor(
        { family: afOf(ip.family), ifindex: link.index, flags: { proxy: true } },
        { dst: ip.bytes, protocol: Buffer.from([protocol]) },
        this.opts(NLM_F_CREATE | NLM_F_EXCL),
      ),
    );
  }

  async delProxyNeighbour(dst: string, link: { index: number; name: string }): Promise<void> {
    const ip = ipBytes(dst);
    await this.req(`neigh del proxy ${ip.text} dev ${link.name}`, () =>
      this.sock.delNeighbor(
        { family: afOf(ip.family), ifindex: link.index, flags: { proxy: true } },
        { dst: ip.bytes },
        this.opts(),
      ),
    );
  }

  private opts(flags = 0): { flags: number; timeout: number } {
    return { flags, timeout: this.timeout };
  }
}
