// The daemon's control protocol: newline-delimited JSON over a unix socket.
// Every request carries the protocol version; the daemon refuses versions it does not speak.
// Operations mirror ipvsadm's: the CLI turns argv into one Request, the daemon answers one Response.
// One exception: `listConns` with `stream: true` is answered with any number of part lines
// (`{v, id, ok: true, part: [ConnInfo...]}`, in order) before its one final response, so a table
// of a million connections never has to be built, sent or parsed as one line.

import type { Family } from '../common/addr.js';
import type { SysctlName, SysctlValues } from '../common/sysctls.js';
// Types only: the counters' shape is the engine's (nothing of it is loaded).
import type { DestSettings, ServiceSettings } from '../common/vocabulary.js';
import type { DestLoad } from '../dataplane/engine-readout.js';
import type { StatsCounters, StatsRates } from '../dataplane/stats.js';

export const PROTOCOL_VERSION = 1;

export type { StatsCounters, StatsRates, SysctlName, SysctlValues };

export type ProtoName = 'tcp' | 'udp';

/** What operators name a service by (any spelling of the address; control canonicalises it). */
export interface ServiceKey {
  proto: ProtoName;
  addr: string;
  port: number;
}

/** The settings a request gives (-A/-E/-a/-e); the model fills in the rest. */
export type ServiceOptions = Partial<ServiceSettings>;

export interface DestSpec extends Partial<DestSettings> {
  addr: string;
  port: number;
}

export type DestChange = Partial<DestSettings>;

export interface DestInfo extends DestSettings, DestLoad {
  addr: string;
  port: number;
  family: Family;
  fwd: number;
}

export interface LaddrInfo {
  addr: string;
  family: Family;
  conns: number;
  conflicts: number;
  /** Local ports per (LIP, real-server address and port): a LIP runs dry per real server. */
  portCount: number;
  /** Ports the busiest real-server tuple holds on this LIP, over TCP and over UDP. */
  tcpPortsUsed: number;
  udpPortsUsed: number;
}

export interface ServiceInfo extends ServiceSettings {
  proto: ProtoName;
  family: Family;
  addr: string;
  port: number;
  conns: number;
  stats: StatsCounters;
  rates: StatsRates;
  dests: DestInfo[];
  laddrs: LaddrInfo[];
}

export interface ConnInfo {
  proto: ProtoName;
  family: Family;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  laddr: string;
  lport: number;
  daddr: string;
  dport: number;
  state: string;
  /** Milliseconds until expiry. */
  expiresIn: number;
  /** A persistence template (state NONE, no local address: laddr ''), not a connection. */
  template?: true;
}

export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** One service as configured (what -S prints, -R reads and the state file stores). */
export interface ServiceConfig {
  svc: ServiceKey;
  opts: ServiceSettings;
  dests: Required<DestSpec>[];
  laddrs: string[];
}

export type Request =
  | { op: 'addService'; svc: ServiceKey; opts: ServiceOptions }
  | { op: 'editService'; svc: ServiceKey; opts: ServiceOptions }
  | { op: 'delService'; svc: ServiceKey }
  /** -C */
  | { op: 'flush' }
  | { op: 'addDest'; svc: ServiceKey; dest: DestSpec }
  | { op: 'editDest'; svc: ServiceKey; addr: string; port: number; change: DestChange }
  | { op: 'delDest'; svc: ServiceKey; addr: string; port: number }
  /** -P / -Q */
  | { op: 'addLaddr'; svc: ServiceKey; addr: string }
  | { op: 'delLaddr'; svc: ServiceKey; addr: string }
  /** -Z (all services when svc is absent) */
  | { op: 'zero'; svc?: ServiceKey }
  /** --set tcp tcpfin udp (0 keeps a value) */
  | { op: 'setTimeouts'; timeouts: Partial<Timeouts> }
  /** --sysctl name=value ...: SYNPROXY knobs under Alibaba's sysctl names (sysctl.ts), booleans as
   *  0/1; all the values of one request are applied together or none is. */
  | { op: 'setSysctl'; values: Partial<SysctlValues> }
  /** Several changes applied all-or-nothing, in order (-R, scripted changes). */
  | { op: 'batch'; requests: Request[] }
  /** -L / -l: all services, or one */
  | { op: 'list'; svc?: ServiceKey }
  /** -L -c: every connection unless `limit` is given; `stream`: sent as part lines (see above). */
  | { op: 'listConns'; limit?: number; stream?: boolean }
  /** --timeout */
  | { op: 'getTimeouts' }
  /** --sysctl [name ...]: every sysctl's value, or the ones named (in that order) */
  | { op: 'getSysctl'; names?: SysctlName[] }
  /** -S: the configuration in a form -R accepts */
  | { op: 'dump' }
  /** -L --ext-stats: engine counters by name (drops, events), in the engine's order */
  | { op: 'counters' }
  | { op: 'status' };

export interface StatusInfo {
  version: string;
  pid: number;
  uptimeS: number;
  tun: string;
  connCount: number;
  connCapacity: number;
}

/** Result type of each operation. */
export interface Results {
  addService: null;
  editService: null;
  delService: null;
  flush: null;
  addDest: null;
  editDest: null;
  delDest: null;
  addLaddr: null;
  delLaddr: null;
  zero: null;
  setTimeouts: null;
  setSysctl: null;
  batch: null;
  /** `size`: buckets of the connection hash table (the -L header's size=, IPVS's conn_tab_size). */
  list: { services: ServiceInfo[]; totals?: ServiceInfo['stats']; size?: number };
  /**
   * `conns` is empty when streamed (the parts carried them). `total`: entries in the table at the
   * end (connections and persistence templates); `listed`: how many were sent; `limit`: present
   * only when the listing stopped at the request's limit with more entries in the table.
   */
  listConns: { conns: ConnInfo[]; total: number; listed?: number; limit?: number };
  getTimeouts: Timeouts;
  getSysctl: Partial<SysctlValues>;
  dump: { services: ServiceConfig[]; timeouts: Timeouts; sysctl: SysctlValues };
  counters: Record<string, number>;
  status: StatusInfo;
}

export interface RequestEnvelope {
  v: number;
  id: number;
  req: Request;
}

export type ResponseEnvelope =
  | { v: number; id: number; ok: true; result: unknown }
  | { v: number; id: number; ok: false; error: ResponseError };

/** One part of a streamed result; the request's ResponseEnvelope follows the last part. */
export interface PartEnvelope {
  v: number;
  id: number;
  ok: true;
  part: unknown[];
}

export interface ResponseError {
  /** Stable code: an LvsError code, or EINVAL/EVERSION/E2BIG/EPERM/EINTERNAL/ESTATE from the daemon. */
  code: string;
  /** What went wrong, in ipvsadm's words where ipvsadm has words for it. */
  message: string;
  /** For a refused batch: the 0-based position of the request that was refused. */
  index?: number;
}
