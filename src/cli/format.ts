// Output exactly as ipvsadm prints it (print_title, print_service_entry, print_largenum, list_conn,
// list_timeout in ipvsadm.c; Alibaba's -G and -P/-j additions). Pure: daemon results in, text out.
//
// Decisions where lvsadm had to adapt ipvsadm:
// - Names: without -n, addresses and ports are named from /etc/hosts and /etc/services only (no DNS),
//   through the injected Names; -n prints numbers. Layout is the same either way.
// - -c: the standard columns keep their place and width (pro expire state source virtual
//   destination) and lvsadm adds one last column, `local` (the FULLNAT LIP:lport), so scripts that
//   read fields 1-6 are unaffected.
// - -S: always numeric (so -R never depends on name files), the forwarding flag is -b (FULLNAT, what
//   -R reads back), -x/-y are kept when set, -j enable / --toa off only when they differ from the
//   defaults, and each service's local addresses follow as -P lines after all services (Alibaba).
// - -S: non-default sysctls follow everything else as `--sysctl name=value` lines (one per sysctl,
//   in the table's order), so ipvsadm-restore can still read the lines before them; -R reads them.
// - --sysctl: `name = value` lines as `sysctl -a` prints them.
// - -L --ext-stats: the engine counters as /proc/net/ip_vs_ext_stats names them, in groups (see
//   formatExtStats).
// - Sorting: as ipvsadm, -L sorts services (family, protocol, address, port) and real servers
//   (address, port) unless --nosort, and -S always sorts; -G and -c keep the daemon's order (as
//   Alibaba's -G and the kernel's connection listing do).
import { type Family, parseIp } from '../common/addr.js';
import { defaultSysctls, SYSCTL_NAMES, type SysctlValues } from '../common/sysctls.js';
import { FWD_FULLNAT, FWD_LOCAL, FWD_MASQ, FWD_ROUTE, FWD_TUNNEL } from '../common/vocabulary.js';
import type {
  ConnInfo,
  Results,
  ServiceConfig,
  ServiceInfo,
  ServiceKey,
  Timeouts,
} from '../control/protocol.js';
import { type Names, NO_NAMES } from './names.js';
import { DEFAULT_FORMAT, type FormatOptions, type View } from './parse.js';

type ProtoName = ServiceKey['proto'];

/** The IPVS version the listing header and --version claim compatibility with. */
export const IPVS_VERSION = '1.2.1';
/** The -L header's size= when the daemon sends none (an older daemon): IPVS's default 2^12. */
export const CONN_TAB_SIZE = 4096;

const SCHED_F_1 = 1;
const SCHED_F_2 = 2;
const SCHED_F_3 = 4;

// ---- printf helpers --------------------------------------------------------------------------

/** `%-Ns` */
function left(s: string | number, n: number): string {
  return String(s).padEnd(n);
}

/** `%Ns` */
function right(s: string | number, n: number): string {
  return String(s).padStart(n);
}

/** ipvsadm's print_largenum: `%9llu` below 1e8, else `%8llu` + K/M/G/T; `--exact` prints it all. */
export function largenum(n: number, exact = false): string {
  const v = Math.max(0, Math.floor(n));
  if (exact) {
    const s = String(BigInt(v));
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 1e8) return right(v, 9);
  if (v < 1e9) return `${right(Math.floor(v / 1e3), 8)}K`;
  if (v < 1e11) return `${right(Math.floor(v / 1e6), 8)}M`;
  if (v < 1e14) return `${right(Math.floor(v / 1e9), 8)}G`;
  return `${right(Math.floor(v / 1e12), 8)}T`;
}

// ---- names -----------------------------------------------------------------------------------

function familyOf(addr: string): Family {
  return addr.includes(':') ? 6 : 4;
}

/** ipvsadm's addrport_to_anyname: `addr:port`, IPv6 as `[addr]:port`; names unless numeric. */
export function addrPort(
  addr: string,
  port: number,
  proto: ProtoName,
  numeric: boolean,
  names: Names,
): string {
  const host = numeric ? addr : (names.addrHost(addr) ?? addr);
  const p = numeric ? String(port) : (names.portService(port, proto) ?? String(port));
  return familyOf(addr) === 6 ? `[${host}]:${p}` : `${host}:${p}`;
}

const PROTO_LABEL: Record<ProtoName, string> = { tcp: 'TCP', udp: 'UDP' };
const PROTO_FLAG: Record<ProtoName, string> = { tcp: '-t', udp: '-u' };

/** Forward column of the listing. */
export function fwdName(fwd: number): string {
  switch (fwd) {
    case FWD_FULLNAT:
      return 'FullNat';
    case FWD_MASQ:
      return 'Masq';
    case FWD_TUNNEL:
      return 'Tunnel';
    case FWD_ROUTE:
      return 'Route';
    case FWD_LOCAL:
      return 'Local';
    default:
      return String(fwd);
  }
}

/** The -S switch of a forwarding method (FULLNAT is -b, which -a reads back). */
function fwdSwitch(fwd: number): string {
  switch (fwd) {
    case FWD_MASQ:
      return '-m';
    case FWD_TUNNEL:
      return '-i';
    case FWD_ROUTE:
    case FWD_LOCAL:
      return '-g';
    default:
      return '-b';
  }
}

/** ipvsadm's print_sched_flags: sh-/mh- names for sh and mh, flag-N otherwise. */
export function schedFlagNames(sched: string, flags: number): string {
  const out: string[] = [];
  if (sched === 'sh' || sched === 'mh') {
    if (flags & SCHED_F_1) out.push(`${sched}-fallback`);
    if (flags & SCHED_F_2) out.push(`${sched}-port`);
    // ipvsadm prints nothing for flag-3 here; lvsadm names it so -S output restores.
    if (flags & SCHED_F_3) out.push('flag-3');
  } else {
    if (flags & SCHED_F_1) out.push('flag-1');
    if (flags & SCHED_F_2) out.push('flag-2');
    if (flags & SCHED_F_3) out.push('flag-3');
  }
  return out.join(',');
}

/** Dotted IPv4 mask of a prefix length. */
export function prefixToDotted(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;
}

// ---- sorting (libipvs ipvs_cmp_services / ipvs_cmp_dests) ------------------------------------

function cmpAddr(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  for (let i = 0; i < 4; i++) if (x.words[i] !== y.words[i]) return x.words[i]! - y.words[i]!;
  return 0;
}

const PROTO_NUM: Record<ProtoName, number> = { tcp: 6, udp: 17 };

interface SvcSortKey {
  proto: ProtoName;
  addr: string;
  port: number;
}

export function cmpServices(a: SvcSortKey, b: SvcSortKey): number {
  return (
    familyOf(a.addr) - familyOf(b.addr) ||
    PROTO_NUM[a.proto] - PROTO_NUM[b.proto] ||
    cmpAddr(a.addr, b.addr) ||
    a.port - b.port
  );
}

export function cmpDests(a: { addr: string; port: number }, b: { addr: string; port: number }): number {
  return cmpAddr(a.addr, b.addr) || a.port - b.port;
}

// ---- -L --------------------------------------------------------------------------------------

function title(fmt: FormatOptions): string {
  const head = left('Prot LocalAddress:Port', 33);
  if (fmt.stats) {
    return `${head} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((s) => right(s, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  }
  if (fmt.rate) {
    return `${head} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((s) => right(s, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  }
  if (fmt.thresholds) {
    return `${head} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((s) => left(s, 10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  }
  if (fmt.persistentConn) {
    return `${head} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  }
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  );
}

function serviceEntry(se: ServiceInfo, fmt: FormatOptions, names: Names): string {
  const vname = addrPort(se.addr, se.port, se.proto, fmt.numeric, names);
  let svcName = `${left(PROTO_LABEL[se.proto], 4)} ${vname}`;
  if (se.family !== 6) svcName = svcName.slice(0, 33);
  let out: string;
  if (fmt.stats) {
    const s = se.stats;
    out =
      left(svcName, 33) +
      [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((n) => largenum(n, fmt.exact)).join('');
  } else if (fmt.rate) {
    const r = se.rates;
    out =
      left(svcName, 33) +
      [r.cps, r.inpps, r.outpps, r.inbps, r.outbps].map((n) => largenum(n, fmt.exact)).join('');
  } else {
    out = `${svcName} ${se.sched}`;
    if (se.schedFlags & (SCHED_F_1 | SCHED_F_2 | SCHED_F_3))
      out += ` (${schedFlagNames(se.sched, se.schedFlags)})`;
    if (se.persistTimeout > 0) {
      out += ` persistent ${se.persistTimeout}`;
      if (se.family === 4 && se.persistPrefix !== 32) out += ` mask ${prefixToDotted(se.persistPrefix)}`;
      if (se.family === 6 && se.persistPrefix !== 128) out += ` mask ${se.persistPrefix}`;
    }
    if (se.synproxy) out += ' synproxy';
  }
  out += '\n';

  const dests = fmt.nosort ? se.dests : [...se.dests].sort(cmpDests);
  for (const e of dests) {
    let dname = addrPort(e.addr, e.port, se.proto, fmt.numeric, names);
    if (e.family !== 6) dname = dname.slice(0, 28);
    if (fmt.stats) {
      const s = e.stats;
      out += `  -> ${left(dname, 28)}${[s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((n) => largenum(n, fmt.exact)).join('')}\n`;
    } else if (fmt.rate) {
      const r = e.rates;
      out += `  -> ${left(dname, 28)} ${right(r.cps, 8)} ${right(r.inpps, 8)} ${right(r.outpps, 8)}${largenum(r.inbps, fmt.exact)}${largenum(r.outbps, fmt.exact)}\n`;
    } else if (fmt.thresholds) {
      out += `  -> ${left(dname, 28)} ${left(e.uThreshold, 10)} ${left(e.lThreshold, 10)} ${left(e.activeConns, 10)} ${left(e.inactConns, 10)}\n`;
    } else if (fmt.persistentConn) {
      out += `  -> ${left(dname, 28)} ${left(e.weight, 9)} ${left(e.persistConns, 11)} ${left(e.activeConns, 10)} ${left(e.inactConns, 10)}\n`;
    } else {
      out += `  -> ${left(dname, 28)} ${left(fwdName(e.fwd), 7)} ${left(e.weight, 6)} ${left(e.activeConns, 10)} ${left(e.inactConns, 10)}\n`;
    }
  }
  return out;
}

/** -L / -l: every service (with the version header), or one service (`one`: no header line). */
export function formatList(
  services: readonly ServiceInfo[],
  fmt: FormatOptions = DEFAULT_FORMAT,
  names: Names = NO_NAMES,
  one = false,
  size = CONN_TAB_SIZE,
): string {
  let out = one ? '' : `IP Virtual Server version ${IPVS_VERSION} (size=${size})\n`;
  out += title(fmt);
  const list = fmt.nosort ? services : [...services].sort(cmpServices);
  for (const se of list) out += serviceEntry(se, fmt, names);
  return out;
}

// ---- -L -c -------------------------------------------------------------------------------------

/** -L -c: ipvsadm's columns, plus `local` (the FULLNAT LIP:lport) as the last column. */
export function formatConns(
  conns: readonly ConnInfo[],
  fmt: FormatOptions = DEFAULT_FORMAT,
  names: Names = NO_NAMES,
): string {
  return connsHeader(fmt) + formatConnLines(conns, fmt, names);
}

/**
 * The two title lines of -L -c (a streamed listing prints them, then its lines as they come):
 * ipvsadm's columns; --show-laddr adds lvsadm's `local` last.
 */
export function connsHeader(fmt: FormatOptions = DEFAULT_FORMAT): string {
  const tail = fmt.showLaddr ? `${left('destination', 18)} local` : 'destination';
  return `IPVS connection entries\npro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${tail}\n`;
}

/** The -L -c lines of some connections (no title). */
export function formatConnLines(
  conns: readonly ConnInfo[],
  fmt: FormatOptions = DEFAULT_FORMAT,
  names: Names = NO_NAMES,
): string {
  let out = '';
  for (const c of conns) {
    const secs = Math.max(0, Math.floor(c.expiresIn / 1000));
    const expire = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    const ap = (a: string, p: number) => addrPort(a, p, c.proto, fmt.numeric, names);
    // As ipvsadm's print_conn: the destination unpadded, last (unless lvsadm's local follows).
    const dest = ap(c.daddr, c.dport);
    const tail = !fmt.showLaddr ? dest : `${left(dest, 18)} ${c.laddr === '' ? '-' : ap(c.laddr, c.lport)}`;
    out += `${left(PROTO_LABEL[c.proto], 3)} ${left(expire, 6)} ${left(c.state, 11)} ${left(ap(c.caddr, c.cport), 18)} ${left(ap(c.vaddr, c.vport), 18)} ${tail}\n`;
  }
  return out;
}

// ---- --timeout ---------------------------------------------------------------------------------

export function formatTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

// ---- -G (Alibaba's get-laddr) ------------------------------------------------------------------

function laddrTitle(): string {
  return `${left('VIP:VPORT', 20)} ${left('TOTAL', 8)} ${left('SNAT_IP', 20)} ${left('CONFLICTS', 10)} ${left('CONNS', 10)} PORTS\n`;
}

/**
 * -G: Alibaba's `VIP:VPORT TOTAL SNAT_IP CONFLICTS CONNS`, the title once before the first
 * service, and a last column of lvsadm's: PORTS, `used/range` of the real-server tuple holding
 * most of that LIP's ports (TCP or UDP). A LIP runs dry per real server, not as a whole.
 */
export function formatLaddrs(services: readonly ServiceInfo[]): string {
  let out = '';
  for (const se of services) {
    if (out === '') out = laddrTitle();
    out += `${left(addrPort(se.addr, se.port, se.proto, true, NO_NAMES), 20)} ${left(se.laddrs.length, 8)} \n`;
    for (const la of se.laddrs) {
      const used = Math.max(la.tcpPortsUsed, la.udpPortsUsed);
      out += `${left('', 20)} ${left('', 8)} ${left(la.addr, 20)} ${left(la.conflicts, 10)} ${left(la.conns, 10)} ${used}/${la.portCount}\n`;
    }
  }
  return out;
}

// ---- -S ------------------------------------------------------------------------------------------

/** -S: one ipvsadm command per line, in a form -R (restore.ts) reads back. */
export function formatSave(dump: Results['dump'], names: Names = NO_NAMES): string {
  const services = [...dump.services].sort((a, b) => cmpServices(a.svc, b.svc));
  let out = '';
  for (const sc of services) out += saveService(sc, names);
  for (const sc of services) {
    const svc = `${PROTO_FLAG[sc.svc.proto]} ${saveAddr(sc.svc.addr, sc.svc.port, sc.svc.proto, names)}`;
    for (const la of sc.laddrs) out += `-P ${svc} -z ${la}\n`;
  }
  // Last, and only when not the default: a file with none stays ipvsadm-restore's to read. (A
  // daemon older than the sysctls sends none.)
  const defaults = defaultSysctls();
  const sysctl: Partial<SysctlValues> = dump.sysctl ?? {};
  for (const name of SYSCTL_NAMES) {
    const v = sysctl[name];
    if (v !== undefined && v !== defaults[name]) out += `--sysctl ${name}=${v}\n`;
  }
  return out;
}

/** -S without -n names hosts and ports as ipvsadm-save does (-R resolves them back). */
function saveAddr(addr: string, port: number, proto: ProtoName, names: Names): string {
  return addrPort(addr, port, proto, names === NO_NAMES, names);
}

function saveService(sc: ServiceConfig, names: Names): string {
  const { svc: key, opts } = sc;
  const family = familyOf(key.addr);
  const svc = `${PROTO_FLAG[key.proto]} ${saveAddr(key.addr, key.port, key.proto, names)}`;
  let out = `-A ${svc} -s ${opts.sched}`;
  if (opts.persistTimeout > 0) {
    out += ` -p ${opts.persistTimeout}`;
    if (family === 4 && opts.persistPrefix !== 32) out += ` -M ${prefixToDotted(opts.persistPrefix)}`;
    if (family === 6 && opts.persistPrefix !== 128) out += ` -M ${opts.persistPrefix}`;
  }
  if (opts.schedFlags & (SCHED_F_1 | SCHED_F_2 | SCHED_F_3))
    out += ` -b ${schedFlagNames(opts.sched, opts.schedFlags)}`;
  if (opts.synproxy) out += ' -j enable';
  if (!opts.toa) out += ' --toa off';
  out += '\n';
  for (const d of [...sc.dests].sort(cmpDests)) {
    out += `-a ${svc} -r ${saveAddr(d.addr, d.port, key.proto, names)} ${fwdSwitch(FWD_FULLNAT)} -w ${d.weight}`;
    if (d.uThreshold > 0) out += ` -x ${d.uThreshold}`;
    if (d.lThreshold > 0) out += ` -y ${d.lThreshold}`;
    out += '\n';
  }
  return out;
}

// ---- --sysctl ------------------------------------------------------------------------------------

/** --sysctl: `name = value`, one a line, in the order the daemon answered (sysctl -a's layout). */
export function formatSysctl(values: Readonly<Record<string, number>>): string {
  let out = '';
  for (const [name, v] of Object.entries(values)) out += `${name} = ${v}\n`;
  return out;
}

// ---- -L --ext-stats -----------------------------------------------------------------------------

/** Groups of --ext-stats, in print order; a counter goes to the first group whose test it passes. */
const EXT_GROUPS: readonly { title: string; has: (name: string) => boolean }[] = [
  { title: 'SYNPROXY', has: (n) => n.startsWith('synproxy_') },
  { title: 'TOA', has: (n) => n.includes('_toa_') },
  { title: 'ICMP', has: (n) => n.startsWith('icmp_') || n.startsWith('drop_icmp_') },
  {
    title: 'Connections',
    has: (n) => n.startsWith('conn_') || n.startsWith('persist_') || n.startsWith('laddr_'),
  },
  {
    title: 'Packets',
    has: (n) => n === 'rx_pkts' || n === 'tx_pkts' || n === 'drop_pkts' || n.startsWith('frag_'),
  },
  { title: 'Drops', has: (n) => n.startsWith('drop_') },
];
const EXT_ORDER = ['Packets', 'Drops', 'Connections', 'ICMP', 'TOA', 'SYNPROXY', 'Other'];
/** Width of the name column; the value follows right-aligned in EXT_VALUE_WIDTH. */
export const EXT_NAME_WIDTH = 32;
export const EXT_VALUE_WIDTH = 20;

/**
 * -L --ext-stats: every engine counter the daemon sent, one a line, under group titles in the order
 * Packets (totals), Drops (by reason), Connections, ICMP, TOA, SYNPROXY, then Other (counters this
 * CLI does not know how to group), a blank line between groups and empty groups left out. A
 * counter line is two blanks, the name left-aligned in 32 columns, a blank, the exact value
 * right-aligned in 20 (`"  %-32s %20llu"`): `awk '$1 == "conn_new" {print $2}'` reads one.
 * Within a group the daemon's order is kept (the engine's COUNTER_NAMES order).
 */
export function formatExtStats(counters: Readonly<Record<string, number>>): string {
  const groups = new Map<string, string[]>(EXT_ORDER.map((t) => [t, []]));
  for (const [name, v] of Object.entries(counters)) {
    const title = EXT_GROUPS.find((g) => g.has(name))?.title ?? 'Other';
    const value = Number.isFinite(v) ? String(BigInt(Math.max(0, Math.floor(v)))) : String(v);
    groups.get(title)!.push(`  ${left(name, EXT_NAME_WIDTH)} ${right(value, EXT_VALUE_WIDTH)}\n`);
  }
  const parts: string[] = [];
  for (const [title, lines] of groups) if (lines.length > 0) parts.push(`${title}\n${lines.join('')}`);
  return parts.join('\n');
}

// ---- dispatch ------------------------------------------------------------------------------------

/** Text for a daemon result according to the parsed view. */
export function formatResult(view: View, result: unknown, fmt: FormatOptions, names: Names): string {
  switch (view) {
    case 'list':
      return formatList(
        (result as Results['list']).services,
        fmt,
        names,
        false,
        (result as Results['list']).size,
      );
    case 'service':
      return formatList((result as Results['list']).services, fmt, names, true);
    case 'conns':
      return formatConns((result as Results['listConns']).conns, fmt, names);
    case 'timeout':
      return formatTimeouts(result as Results['getTimeouts']);
    case 'save':
      return formatSave(result as Results['dump'], fmt.numeric ? NO_NAMES : names);
    case 'laddrs':
      return formatLaddrs((result as Results['list']).services);
    case 'sysctl':
      return formatSysctl(result as Results['getSysctl']);
    case 'ext-stats':
      return formatExtStats(result as Results['counters']);
    case 'none':
      return '';
  }
}
