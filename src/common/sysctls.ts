// The engine's knobs under Alibaba LVS's sysctl names (net.ipv4.vs.synproxy_*, expire_*,
// timeout_timewait, timeout_close), as the control
// protocol, the configuration model, the state file and `lvsadm --sysctl` name them. Values are
// integers as sysctls are: booleans are 0 or 1. One table says each name's engine knob, its range
// and what it does; the model checks requests with it, the CLI parses and documents with it.
import { LvsError } from './errors.js';
import { defaultEngineKnobs, type EngineKnobs } from './vocabulary.js';

export interface SysctlSpec {
  readonly name: string;
  /** The engine's knob (EngineKnobs field). */
  readonly knob: keyof EngineKnobs;
  /** 'bool': 0 or 1 for a boolean knob; 'int': an integer from min to max. */
  readonly kind: 'bool' | 'int';
  readonly min: number;
  readonly max: number;
  /** One line for the man page. */
  readonly help: string;
}

/** In Alibaba's documentation order. Ranges are checked here (checkSysctls), by the model only. */
const SPECS = [
  {
    name: 'synproxy_init_mss',
    knob: 'initMss',
    kind: 'int',
    min: 64,
    max: 65535,
    help: 'largest MSS the SYN-ACK the load balancer answers with advertises (never above the client MSS; 32 less for IPv6); the default leaves room for TOA on a 1500-byte MTU',
  },
  {
    name: 'synproxy_sack',
    knob: 'sack',
    kind: 'bool',
    min: 0,
    max: 1,
    help: 'offer SACK to clients that ask for it',
  },
  {
    name: 'synproxy_wscale',
    knob: 'wscale',
    kind: 'int',
    min: 0,
    max: 14,
    help: 'window scale offered to clients that send one, 0 = none; the real servers must use the same',
  },
  {
    name: 'synproxy_timestamp',
    knob: 'timestamp',
    kind: 'bool',
    min: 0,
    max: 1,
    help: "offer TCP timestamps to clients that send them; TSval and TSecr are then translated between the load balancer's clock and the real server's (a real server answering without them is counted as synproxy_rs_no_ts)",
  },
  {
    name: 'synproxy_synack_ttl',
    knob: 'synackTtl',
    kind: 'int',
    min: 1,
    max: 255,
    help: 'TTL (IPv4) or hop limit (IPv6) of the SYN-ACKs',
  },
  {
    name: 'synproxy_defer',
    knob: 'defer',
    kind: 'bool',
    min: 0,
    max: 1,
    help: 'open the real-server side only when the client sends data, not on its bare ACK',
  },
  {
    name: 'synproxy_syn_retry',
    knob: 'synRetry',
    kind: 'int',
    min: 0,
    max: 6,
    help: 'SYN retransmissions to a silent real server (after 1 s, 2 s, 4 s ...) before giving up',
  },
  {
    name: 'synproxy_dup_ack_thresh',
    knob: 'ackStormThresh',
    kind: 'int',
    min: 0,
    max: 65535,
    help: 'identical real-server segments in a row beyond which they are dropped as an ACK storm, 0 = off',
  },
  {
    name: 'synproxy_skb_store_thresh',
    knob: 'maxSavedAcks',
    kind: 'int',
    min: 0,
    max: 15,
    help: 'client segments kept per connection while the real-server handshake is pending',
  },
  {
    name: 'expire_nodest_conn',
    knob: 'expireNodestConn',
    kind: 'bool',
    min: 0,
    max: 1,
    help: "as IPVS's: deleting a real server, service or local address cuts its connections at once (within a second; no RST) and its routes go at once; 0 = they keep working until they end",
  },
  {
    name: 'expire_quiescent_template',
    knob: 'expireQuiescentTemplate',
    kind: 'bool',
    min: 0,
    max: 1,
    help: "as IPVS's: a persistence template that points at a real server of weight 0 is dropped and the client scheduled anew; 0 = persistent clients stay on a quiesced server until their template expires",
  },
  {
    name: 'timeout_timewait',
    knob: 'timeoutTimeWait',
    kind: 'int',
    min: 1,
    max: 86400,
    help: 'seconds a TCP connection closed by both ends keeps its entry, and with it its local port toward that real server (IPVS: 120, fixed); a LIP then opens at most 64511 / timeout_timewait new connections per second to one real-server address and port. Keep it above the longest time a segment of the old connection may still arrive (DPVS ships 7); the real server keeps its own TIME_WAIT either way, and ports come back to a tuple only after every other port was used',
  },
  {
    name: 'timeout_close',
    knob: 'timeoutClose',
    kind: 'int',
    min: 1,
    max: 86400,
    help: 'seconds a TCP connection ended by a RST (or never opened) keeps its entry (IPVS: 10; DPVS ships 3)',
  },
] as const satisfies readonly SysctlSpec[];

export type SysctlName = (typeof SPECS)[number]['name'];
/** Every sysctl's value. */
export type SysctlValues = Record<SysctlName, number>;

export const SYSCTLS: readonly SysctlSpec[] = SPECS;
export const SYSCTL_NAMES: readonly SysctlName[] = SPECS.map((s) => s.name);
/** Largest value the wire and the state file carry (every range lies below it). */
export const MAX_SYSCTL_VALUE = 0x7fffffff;

const BY_NAME = new Map<string, SysctlSpec>(SPECS.map((s) => [s.name, s]));

export function isSysctlName(name: string): name is SysctlName {
  return BY_NAME.has(name);
}

export function sysctlSpec(name: string): SysctlSpec | undefined {
  return BY_NAME.get(name);
}

/** The engine's knobs as sysctl values. */
export function knobsToSysctls(k: EngineKnobs): SysctlValues {
  const out = {} as SysctlValues;
  for (const s of SPECS) {
    const v = k[s.knob];
    out[s.name] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  return out;
}

/** Sysctl values (names already checked) as engine knobs; only the names given. */
export function sysctlsToKnobs(values: Partial<Record<string, number>>): Partial<EngineKnobs> {
  const out: Partial<Record<keyof EngineKnobs, number | boolean>> = {};
  for (const [name, v] of Object.entries(values)) {
    const s = BY_NAME.get(name);
    if (!s || v === undefined) continue;
    out[s.knob] = s.kind === 'bool' ? v !== 0 : v;
  }
  return out as Partial<EngineKnobs>;
}

/** Alibaba's defaults (the engine's). */
export function defaultSysctls(): SysctlValues {
  return knobsToSysctls(defaultEngineKnobs());
}

/** Why `value` is not acceptable for `name` (an LvsError to throw), or undefined when it is. */
export function sysctlRefusal(name: string, value: unknown): LvsError | undefined {
  const s = BY_NAME.get(name);
  if (!s) return new LvsError('EINVAL', `unknown sysctl '${name}'`);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < s.min || value > s.max) {
    return new LvsError(
      'EINVAL',
      s.kind === 'bool' ? `${name} must be 0 or 1` : `${name} must be an integer from ${s.min} to ${s.max}`,
    );
  }
  return undefined;
}

/** Checks every value before any is used (throws the first refusal, in the order given). */
export function checkSysctls(values: Readonly<Record<string, unknown>>): void {
  for (const [name, v] of Object.entries(values)) {
    const err = sysctlRefusal(name, v);
    if (err) throw err;
  }
}
