// The words every layer shares: protocol numbers, forwarding methods, scheduler names and flags,
// TCP state numbers, names and default timeouts, the engine's knobs (the sysctls) and their
// defaults. Nothing here runs: the CLI can name a scheduler or print a
// forwarding method without loading the engine, and the engine, control plane and CLI cannot
// disagree on a value.

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export type Proto = typeof PROTO_TCP | typeof PROTO_UDP;

/** Forwarding methods (only FULLNAT forwards today; the rest exist for listings and refusals). */
export const FWD_FULLNAT = 0;
export const FWD_MASQ = 1;
export const FWD_TUNNEL = 2;
export const FWD_ROUTE = 3;
export const FWD_LOCAL = 4;

/** ipvsadm -s names in ipvsadm's listing order; the engine's registry holds exactly these. */
export const SCHEDULER_NAMES: readonly string[] = Object.freeze([
  'rr',
  'wrr',
  'lc',
  'wlc',
  'sed',
  'nq',
  'dh',
  'sh',
  'mh',
  'lblc',
  'lblcr',
  'fo',
  'ovf',
]);

export const DEFAULT_SCHEDULER = 'wlc';

/** Scheduler flags as ipvsadm's -b flag-1,flag-2,flag-3 (sh-fallback/mh-fallback, sh-port/mh-port). */
export const SCHED_F_1 = 1;
export const SCHED_F_2 = 2;
export const SCHED_F_3 = 4;
export const SCHED_F_FALLBACK = SCHED_F_1;
export const SCHED_F_PORT = SCHED_F_2;

/** Every setting of a service (-A/-E); the control model fills in ipvsadm's defaults. */
export interface ServiceSettings {
  /** Scheduler name as ipvsadm -s (default wlc). */
  sched: string;
  /** SCHED_F_* bits (ipvsadm -b). */
  schedFlags: number;
  /** Persistence timeout in seconds, 0 = off (ipvsadm -p). */
  persistTimeout: number;
  /** Persistence netmask as a prefix length (ipvsadm -M). */
  persistPrefix: number;
  synproxy: boolean;
  toa: boolean;
}

/** A real server's settings (-a/-e). */
export interface DestSettings {
  weight: number;
  /** -x: overloaded at this many connections (0 = no limit). */
  uThreshold: number;
  /** -y: no longer overloaded at this many (0 = 3/4 of uThreshold). */
  lThreshold: number;
}

/**
 * The engine's run-time knobs, set through the sysctls (sysctls.ts names them): SYNPROXY's
 * (Alibaba LVS), IPVS's expire_* and FULLNAT's closing timeouts.
 */
export interface EngineKnobs {
  /** MSS our SYN-ACK advertises (Alibaba: 1452, room for TOA on a 1500 MTU). */
  initMss: number;
  /** Offer SACK when the client does. */
  sack: boolean;
  /** Window scale we advertise when the client offers one (0 = off). The RS must use the same. */
  wscale: number;
  /** Offer timestamps when the client does (TSval/TSecr are then translated per connection). */
  timestamp: boolean;
  /** TTL / hop limit of our SYN-ACKs. */
  synackTtl: number;
  /** Open the RS side only when the client sends data, not on its bare ACK. */
  defer: boolean;
  /** SYN retransmissions to a silent RS (1 s, 2 s, 4 s ...) before giving up. */
  synRetry: number;
  /** Identical RS segments in a row dropped as an ACK storm beyond this many (0 = off). */
  ackStormThresh: number;
  /** Client segments kept while the RS handshake is pending, per connection. */
  maxSavedAcks: number;
  /**
   * IPVS's expire_nodest_conn: deleting a real server, service or LIP cuts its connections at once instead of letting them
   * drain.
   */
  expireNodestConn: boolean;
  /** IPVS's expire_quiescent_template: templates to weight-0 dests are not followed. */
  expireQuiescentTemplate: boolean;
  /**
   * Seconds a closed TCP connection keeps its entry (and so its local port toward that real
   * server) in TIME_WAIT and in CLOSE: Alibaba LVS's timeout_timewait / timeout_close. IPVS's
   * 120 / 10 by default; DPVS ships 7 / 3.
   */
  timeoutTimeWait: number;
  timeoutClose: number;
}

/** Alibaba LVS's defaults. */
export function defaultEngineKnobs(): EngineKnobs {
  return {
    initMss: 1452,
    sack: true,
    wscale: 0,
    timestamp: false,
    synackTtl: 63,
    defer: false,
    synRetry: 3,
    ackStormThresh: 10,
    maxSavedAcks: 3,
    expireNodestConn: false,
    expireQuiescentTemplate: false,
    timeoutTimeWait: 120,
    timeoutClose: 10,
  };
}

// ---- connection states (IPVS's TCP states, as IPVS numbers and prints them) ---------------------

export const S_NONE = 0;
export const S_ESTABLISHED = 1;
export const S_SYN_SENT = 2;
export const S_SYN_RECV = 3;
export const S_FIN_WAIT = 4;
export const S_TIME_WAIT = 5;
export const S_CLOSE = 6;
export const S_CLOSE_WAIT = 7;
export const S_LAST_ACK = 8;
export const S_LISTEN = 9;
export const S_SYNACK = 10;
/** UDP connections have this single state (IPVS prints it as UDP). */
export const S_UDP = 11;
export const S_LAST = 12;

export const STATE_NAMES: readonly string[] = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
  'UDP',
];

/** Default timeouts in seconds (mainline IPVS). */
export const DEFAULT_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120, 300];
