// The configuration as the operator sees it: services with their options, real servers, local
// addresses, timeouts and the SYNPROXY sysctls. It is what `-S` prints, what the state file stores
// and what the host plumbing follows (the set of VIPs and LIPs), and the only validator of change
// requests: the engine takes what this model accepts, compiled into its tables
// (engine-tables.ts), and refuses only what its tables cannot hold (sizes, addresses still
// draining connections); the control service handles those refusals by rolling back.
//
// Changes validate fully before they mutate, so a refused change leaves the model as it was. Each
// change can also record closures undoing it exactly (order of services, dests and LIPs
// included): that is how a batch is made all-or-nothing without copying the whole model.
import { type Family, formatIp, parseIp } from '../common/addr.js';
import { LvsError } from '../common/errors.js';
import { checkSysctls, defaultSysctls, isSysctlName, type SysctlValues } from '../common/sysctls.js';
import {
  DEFAULT_SCHEDULER,
  DEFAULT_TIMEOUTS_S,
  S_ESTABLISHED,
  S_FIN_WAIT,
  S_UDP,
} from '../common/vocabulary.js';
import { checkDestValues, checkPort, checkServiceOptions, checkUint } from './config-checks.js';
import type {
  DestChange,
  DestSpec,
  Request,
  ServiceConfig,
  ServiceKey,
  ServiceOptions,
  Timeouts,
} from './protocol.js';

/** The whole configuration as plain data (the `dump` result and the state file's content). */
export interface Config {
  services: ServiceConfig[];
  timeouts: Timeouts;
  /** Every SYNPROXY sysctl (state files written before they existed have none: the store fills in
   *  the defaults). */
  sysctl: SysctlValues;
}

export type ServiceOpts = ServiceConfig['opts'];
export type DestConfig = Required<DestSpec>;
/** Undoes one change; run in reverse order of recording. */
export type Undo = () => void;

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  tcp: DEFAULT_TIMEOUTS_S[S_ESTABLISHED]!,
  tcpfin: DEFAULT_TIMEOUTS_S[S_FIN_WAIT]!,
  udp: DEFAULT_TIMEOUTS_S[S_UDP]!,
});

/** A change refused inside a batch: the refusal's code and words, and its position. */
export class BatchError extends LvsError {
  /** 0-based position of the refused request in the batch. */
  readonly index: number;
  readonly op: string;
  /** The refusal itself, as the request alone would have got it. */
  readonly refusal: LvsError;

  constructor(index: number, op: string, refusal: LvsError) {
    super(refusal.code, refusal.message);
    this.index = index;
    this.op = op;
    this.refusal = refusal;
  }
}

interface Entry {
  key: string;
  /** Creation order: services list in it (a removal undone goes back to its place). */
  seq: number;
  /** Canonical: address text as formatIp prints it. */
  svc: ServiceKey;
  family: Family;
  opts: ServiceOpts;
  dests: DestConfig[];
  /** destKey() -> the dest in `dests`: finding one does not scan the list. */
  destIdx: Map<string, DestConfig>;
  /** Canonical address texts, in the order they were added. */
  laddrs: string[];
}

function destKey(text: string, port: number): string {
  return `${port}/${text}`;
}

interface Addr {
  family: Family;
  /** Canonical text. */
  text: string;
  /** family/text: a key for maps of addresses. */
  key: string;
}

function protoCheck(p: unknown): void {
  if (p !== 'tcp' && p !== 'udp') throw new LvsError('EINVAL', `unknown protocol ${String(p)}`);
}

function parseAddr(text: string, what: string): Addr {
  const a = typeof text === 'string' ? parseIp(text) : null;
  if (!a) throw new LvsError('EINVAL', `invalid ${what} address ${JSON.stringify(text)}`);
  const canon = formatIp(a.family, a.words);
  return { family: a.family, text: canon, key: `${a.family}/${canon}` };
}

function svcKeyString(proto: string, a: Addr, port: number): string {
  return `${proto}/${a.key}/${port}`;
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function dec(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}

function addrKeyOf(text: string): string {
  return `${text.includes(':') ? 6 : 4}/${text}`;
}

function copyEntry(e: Entry): Entry {
  const dests = e.dests.map((d) => ({ ...d }));
  return {
    key: e.key,
    seq: e.seq,
    svc: { ...e.svc },
    family: e.family,
    opts: { ...e.opts },
    dests,
    destIdx: new Map(dests.map((d) => [destKey(d.addr, d.port), d])),
    laddrs: e.laddrs.slice(),
  };
}

function entryConfig(e: Entry): ServiceConfig {
  return {
    svc: { ...e.svc },
    opts: { ...e.opts },
    dests: e.dests.map((d) => ({ ...d })),
    laddrs: e.laddrs.slice(),
  };
}

/**
 * The requests that rebuild `config` from an empty one, in order (timeouts and every sysctl first,
 * so the result does not depend on the sysctls the target had; a missing one is its default).
 */
export function configToRequests(config: Config): Request[] {
  const out: Request[] = [
    { op: 'setTimeouts', timeouts: { ...config.timeouts } },
    { op: 'setSysctl', values: { ...defaultSysctls(), ...config.sysctl } },
  ];
  for (const s of config.services) out.push(...serviceRequests(s));
  return out;
}

function serviceRequests(s: ServiceConfig): Request[] {
  const out: Request[] = [{ op: 'addService', svc: { ...s.svc }, opts: { ...s.opts } }];
  for (const d of s.dests) out.push({ op: 'addDest', svc: { ...s.svc }, dest: { ...d } });
  for (const a of s.laddrs) out.push({ op: 'addLaddr', svc: { ...s.svc }, addr: a });
  return out;
}

/** A new service's settings: the given ones, ipvsadm's defaults for the rest. */
function withDefaults(family: Family, o: ServiceOptions): ServiceOpts {
  return {
    sched: o.sched ?? DEFAULT_SCHEDULER,
    schedFlags: o.schedFlags ?? 0,
    persistTimeout: o.persistTimeout ?? 0,
    persistPrefix: o.persistPrefix ?? (family === 4 ? 32 : 128),
    synproxy: o.synproxy ?? false,
    toa: o.toa ?? true,
  };
}

function destWithDefaults(text: string, d: DestSpec): DestConfig {
  return {
    addr: text,
    port: d.port,
    weight: d.weight ?? 1,
    uThreshold: d.uThreshold ?? 0,
    lThreshold: d.lThreshold ?? 0,
  };
}

/** The settings `o` gives, over `cur`. */
function merged<T extends object>(cur: T, o: Partial<T>): T {
  const next = { ...cur };
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) next[k] = o[k] as T[keyof T];
  return next;
}

export class ConfigModel {
  private svcs = new Map<string, Entry>();
  /** VIP address key -> services on it. */
  private vipRefs = new Map<string, number>();
  /** LIP address key -> services listing it. */
  private lipRefs = new Map<string, number>();
  private tmo: Timeouts;
  private sys: SysctlValues;
  private nextSeq = 0;
  /** A removal was undone: svcs is out of creation order until inOrder() sorts it. */
  private unordered = false;

  constructor(timeouts: Timeouts = DEFAULT_TIMEOUTS, sysctl: SysctlValues = defaultSysctls()) {
    this.tmo = { ...timeouts };
    this.sys = { ...sysctl };
  }

  /** A model holding `config`, every part checked as if it were requested (throws LvsError). */
  static fromConfig(config: Config): ConfigModel {
    const m = new ConfigModel();
    m.apply({ op: 'batch', requests: configToRequests(config) });
    return m;
  }

  /** An independent deep copy. */
  clone(): ConfigModel {
    const m = new ConfigModel(this.tmo, this.sys);
    for (const [k, e] of this.inOrder()) m.svcs.set(k, copyEntry(e));
    m.nextSeq = this.nextSeq;
    m.vipRefs = new Map(this.vipRefs);
    m.lipRefs = new Map(this.lipRefs);
    return m;
  }

  get timeouts(): Timeouts {
    return { ...this.tmo };
  }

  /** Every SYNPROXY sysctl's value. */
  get sysctl(): SysctlValues {
    return { ...this.sys };
  }

  get serviceCount(): number {
    return this.svcs.size;
  }

  /** Plain deep copy of the configuration, services in the order they were added. */
  toConfig(): Config {
    return { services: this.services(), timeouts: { ...this.tmo }, sysctl: { ...this.sys } };
  }

  services(): ServiceConfig[] {
    const out: ServiceConfig[] = [];
    for (const e of this.inOrder().values()) out.push(entryConfig(e));
    return out;
  }

  /**
   * The services in creation order. Undoing a removal puts the entry back at the end of the map
   * (O(1)) and marks the order stale; it is sorted here once, when it is next read, instead of
   * rebuilding the map on every undo (a dry run undoes every request of a batch).
   */
  private inOrder(): Map<string, Entry> {
    if (this.unordered) {
      const all = [...this.svcs.values()].sort((a, b) => a.seq - b.seq);
      this.svcs.clear();
      for (const e of all) this.svcs.set(e.key, e);
      this.unordered = false;
    }
    return this.svcs;
  }

  /** One service's configuration, or undefined. */
  service(key: ServiceKey): ServiceConfig | undefined {
    const e = this.lookup(key);
    return e ? entryConfig(e) : undefined;
  }

  /** Virtual addresses in use (canonical text, sorted). */
  vips(): string[] {
    return [...this.vipRefs.keys()].map((k) => k.slice(2)).sort();
  }

  /** Local addresses listed by some service (canonical text, sorted). */
  lips(): string[] {
    return [...this.lipRefs.keys()].map((k) => k.slice(2)).sort();
  }

  // ---- changes --------------------------------------------------------------------------------

  /**
   * Applies one change request, or throws LvsError and changes nothing. `undo`, when given,
   * receives closures that undo the change exactly (run them last first). A batch is applied in
   * order and all-or-nothing; its refusals are BatchErrors naming the position.
   */
  apply(req: Request, undo?: Undo[]): void {
    switch (req.op) {
      case 'addService':
        this.addService(req.svc, req.opts ?? {}, undo);
        return;
      case 'editService':
        this.editService(req.svc, req.opts ?? {}, undo);
        return;
      case 'delService':
        this.removeEntry(this.find(req.svc), undo);
        return;
      case 'flush':
        this.flush(undo);
        return;
      case 'addDest':
        this.addDest(req.svc, req.dest, undo);
        return;
      case 'editDest':
        this.editDest(req.svc, req.addr, req.port, req.change ?? {}, undo);
        return;
      case 'delDest':
        this.delDest(req.svc, req.addr, req.port, undo);
        return;
      case 'addLaddr':
        this.addLaddr(req.svc, req.addr, undo);
        return;
      case 'delLaddr':
        this.delLaddr(req.svc, req.addr, undo);
        return;
      case 'zero':
        if (req.svc) this.find(req.svc);
        return;
      case 'setTimeouts':
        this.setTimeouts(req.timeouts ?? {}, undo);
        return;
      case 'setSysctl':
        this.setSysctl(req.values ?? {}, undo);
        return;
      case 'batch':
        this.batch(req.requests, undo);
        return;
      default:
        throw new LvsError('EINVAL', `${(req as Request).op} is not a configuration change`);
    }
  }

  private batch(reqs: readonly Request[], outer?: Undo[]): void {
    const log: Undo[] = [];
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      try {
        if (r.op === 'batch') throw new LvsError('EINVAL', 'batch cannot be nested in a batch');
        this.apply(r, log);
      } catch (e) {
        for (let j = log.length - 1; j >= 0; j--) log[j]!();
        if (LvsError.is(e)) throw new BatchError(i, r.op, e);
        throw e;
      }
    }
    if (outer) for (const u of log) outer.push(u);
  }

  /**
   * `req` with every value it leaves to defaults or to the current configuration filled in, so
   * it says all the engine is to hold (call it before applying `req`, which it must accept).
   * Addresses keep their spelling: the engine's tables key by address words.
   */
  resolve(req: Request): Request {
    switch (req.op) {
      case 'addService':
        return { ...req, opts: withDefaults(parseAddr(req.svc.addr, 'virtual').family, req.opts ?? {}) };
      case 'editService':
        return { ...req, opts: merged(this.find(req.svc).opts, req.opts ?? {}) };
      case 'addDest':
        return { ...req, dest: destWithDefaults(req.dest.addr, req.dest) };
      case 'editDest': {
        const d = this.findDest(this.find(req.svc), req.addr, req.port)!;
        return {
          ...req,
          change: merged(
            { weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold },
            req.change ?? {},
          ),
        };
      }
      default:
        return req;
    }
  }

  /**
   * The requests that undo `req` on an engine holding this model's configuration, derived from
   * the model as it is before `req` (call this, then apply). Counters zeroed by `zero` cannot be
   * brought back: its inverse is empty. Not defined for batch (invert its parts).
   */
  inverse(req: Request): Request[] {
    switch (req.op) {
      case 'addService':
        return [{ op: 'delService', svc: { ...req.svc } }];
      case 'editService': {
        const e = this.find(req.svc);
        return [{ op: 'editService', svc: e.svc, opts: { ...e.opts } }];
      }
      case 'delService':
        return serviceRequests(entryConfig(this.find(req.svc)));
      case 'flush': {
        const out: Request[] = [];
        for (const e of this.inOrder().values()) for (const r of serviceRequests(entryConfig(e))) out.push(r);
        return out;
      }
      case 'addDest':
        return [{ op: 'delDest', svc: this.find(req.svc).svc, addr: req.dest.addr, port: req.dest.port }];
      case 'editDest': {
        const e = this.find(req.svc);
        const d = this.findDest(e, req.addr, req.port)!;
        return [
          {
            op: 'editDest',
            svc: e.svc,
            addr: d.addr,
            port: d.port,
            change: { weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold },
          },
        ];
      }
      case 'delDest': {
        const e = this.find(req.svc);
        return [{ op: 'addDest', svc: e.svc, dest: { ...this.findDest(e, req.addr, req.port)! } }];
      }
      case 'addLaddr':
        return [{ op: 'delLaddr', svc: this.find(req.svc).svc, addr: req.addr }];
      case 'delLaddr':
        return [{ op: 'addLaddr', svc: this.find(req.svc).svc, addr: parseAddr(req.addr, 'local').text }];
      case 'setTimeouts':
        return [{ op: 'setTimeouts', timeouts: { ...this.tmo } }];
      case 'setSysctl': {
        const old: Partial<SysctlValues> = {};
        for (const k of Object.keys(req.values ?? {})) if (isSysctlName(k)) old[k] = this.sys[k];
        return [{ op: 'setSysctl', values: old }];
      }
      case 'zero':
        return [];
      default:
        throw new LvsError('EINVAL', `no inverse for ${req.op}`);
    }
  }

  // ---- services -------------------------------------------------------------------------------

  private lookup(key: ServiceKey): Entry | undefined {
    const a = parseIp(key.addr);
    if (!a) return undefined;
    return this.svcs.get(svcKeyString(key.proto, addrOf(a.family, a.words), key.port));
  }

  /** Checks protocol, address, port, then existence (in that order: the refusal names the first wrong one). */
  private find(key: ServiceKey): Entry {
    protoCheck(key.proto);
    const a = parseAddr(key.addr, 'virtual');
    checkPort(key.port, 'virtual');
    const e = this.svcs.get(svcKeyString(key.proto, a, key.port));
    if (!e) throw new LvsError('SVC_NOT_FOUND');
    return e;
  }

  private checkOptions(family: Family, port: number, o: ServiceOptions, current?: ServiceOpts): void {
    checkServiceOptions(family, port, o, current?.persistTimeout);
  }

  private addService(key: ServiceKey, opts: ServiceOptions, undo?: Undo[]): void {
    protoCheck(key.proto);
    const a = parseAddr(key.addr, 'virtual');
    checkPort(key.port, 'virtual');
    this.checkOptions(a.family, key.port, opts);
    const k = svcKeyString(key.proto, a, key.port);
    if (this.svcs.has(k)) throw new LvsError('SVC_EXISTS');
    if (this.lipRefs.has(a.key))
      throw new LvsError('EINVAL', `${key.addr} is a local address (LIP) and cannot be a VIP`);
    const e: Entry = {
      key: k,
      seq: this.nextSeq++,
      svc: { proto: key.proto, addr: a.text, port: key.port },
      family: a.family,
      opts: withDefaults(a.family, opts),
      dests: [],
      destIdx: new Map(),
      laddrs: [],
    };
    this.svcs.set(k, e);
    inc(this.vipRefs, a.key);
    undo?.push(() => {
      this.svcs.delete(k);
      dec(this.vipRefs, a.key);
    });
  }

  private editService(key: ServiceKey, opts: ServiceOptions, undo?: Undo[]): void {
    const e = this.find(key);
    this.checkOptions(e.family, e.svc.port, opts, e.opts);
    const old = e.opts;
    e.opts = merged(old, opts);
    undo?.push(() => {
      e.opts = old;
    });
  }

  private removeEntry(e: Entry, undo?: Undo[]): void {
    this.svcs.delete(e.key);
    const vip = addrKeyOf(e.svc.addr);
    dec(this.vipRefs, vip);
    for (const l of e.laddrs) dec(this.lipRefs, addrKeyOf(l));
    undo?.push(() => {
      // Back at the end of the map; inOrder() restores its place when the order is next read.
      this.svcs.set(e.key, e);
      this.unordered = true;
      inc(this.vipRefs, vip);
      for (const l of e.laddrs) inc(this.lipRefs, addrKeyOf(l));
    });
  }

  private flush(undo?: Undo[]): void {
    const old = { svcs: this.svcs, vipRefs: this.vipRefs, lipRefs: this.lipRefs, unordered: this.unordered };
    this.svcs = new Map();
    this.vipRefs = new Map();
    this.lipRefs = new Map();
    this.unordered = false;
    undo?.push(() => {
      this.svcs = old.svcs;
      this.vipRefs = old.vipRefs;
      this.lipRefs = old.lipRefs;
      this.unordered = old.unordered;
    });
  }

  // ---- real servers ---------------------------------------------------------------------------

  /** A dest of the service, or undefined (the address and port are checked). */
  private findDest(e: Entry, addr: string, port: number): DestConfig | undefined {
    const a = parseAddr(addr, 'real server');
    checkPort(port, 'real server');
    return e.destIdx.get(destKey(a.text, port));
  }

  private addDest(key: ServiceKey, spec: DestSpec, undo?: Undo[]): void {
    const e = this.find(key);
    const a = parseAddr(spec.addr, 'real server');
    checkPort(spec.port, 'real server');
    if (a.family !== e.family)
      throw new LvsError(
        'FAMILY_MISMATCH',
        'real server and virtual service must be of the same address family',
      );
    checkDestValues(spec);
    const k = destKey(a.text, spec.port);
    if (e.destIdx.has(k)) throw new LvsError('DEST_EXISTS');
    const d = destWithDefaults(a.text, spec);
    e.dests.push(d);
    e.destIdx.set(k, d);
    undo?.push(() => {
      e.dests.splice(e.dests.lastIndexOf(d), 1);
      e.destIdx.delete(k);
    });
  }

  private editDest(key: ServiceKey, addr: string, port: number, c: DestChange, undo?: Undo[]): void {
    const e = this.find(key);
    const d = this.findDest(e, addr, port);
    if (!d) throw new LvsError('DEST_NOT_FOUND');
    checkDestValues(c, d);
    // In place (the index and the list share the object); every reader copies it.
    const old = { weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold };
    if (c.weight !== undefined) d.weight = c.weight;
    if (c.uThreshold !== undefined) d.uThreshold = c.uThreshold;
    if (c.lThreshold !== undefined) d.lThreshold = c.lThreshold;
    undo?.push(() => {
      Object.assign(d, old);
    });
  }

  private delDest(key: ServiceKey, addr: string, port: number, undo?: Undo[]): void {
    const e = this.find(key);
    const d = this.findDest(e, addr, port);
    if (!d) throw new LvsError('DEST_NOT_FOUND');
    const k = destKey(d.addr, d.port);
    // Found through the index; the list needs its position (a native scan).
    const pos = e.dests.lastIndexOf(d);
    e.dests.splice(pos, 1);
    e.destIdx.delete(k);
    undo?.push(() => {
      e.dests.splice(pos, 0, d);
      e.destIdx.set(k, d);
    });
  }

  // ---- local addresses ------------------------------------------------------------------------

  private addLaddr(key: ServiceKey, addr: string, undo?: Undo[]): void {
    const e = this.find(key);
    const a = parseAddr(addr, 'local');
    if (a.family !== e.family)
      throw new LvsError(
        'FAMILY_MISMATCH',
        'local address and virtual service must be of the same address family',
      );
    if (this.vipRefs.has(a.key))
      throw new LvsError('EINVAL', `${addr} is a virtual service address and cannot be a local address`);
    if (e.laddrs.includes(a.text)) throw new LvsError('LADDR_EXISTS');
    e.laddrs.push(a.text);
    inc(this.lipRefs, a.key);
    undo?.push(() => {
      e.laddrs.splice(e.laddrs.lastIndexOf(a.text), 1);
      dec(this.lipRefs, a.key);
    });
  }

  private delLaddr(key: ServiceKey, addr: string, undo?: Undo[]): void {
    const e = this.find(key);
    const a = parseAddr(addr, 'local');
    const pos = e.laddrs.indexOf(a.text);
    if (pos < 0) throw new LvsError('LADDR_NOT_FOUND');
    e.laddrs.splice(pos, 1);
    dec(this.lipRefs, a.key);
    undo?.push(() => {
      e.laddrs.splice(pos, 0, a.text);
      inc(this.lipRefs, a.key);
    });
  }

  // ---- global settings ------------------------------------------------------------------------

  private setTimeouts(t: Partial<Timeouts>, undo?: Undo[]): void {
    checkUint(t.tcp, 0x7fffffff, 'tcp timeout');
    checkUint(t.tcpfin, 0x7fffffff, 'tcpfin timeout');
    checkUint(t.udp, 0x7fffffff, 'udp timeout');
    const old = this.tmo;
    const next = { ...old };
    if (t.tcp) next.tcp = t.tcp;
    if (t.tcpfin) next.tcpfin = t.tcpfin;
    if (t.udp) next.udp = t.udp;
    this.tmo = next;
    undo?.push(() => {
      this.tmo = old;
    });
  }

  /** All the values are checked before any is taken (sysctl.ts has the names and ranges). */
  private setSysctl(values: Partial<SysctlValues>, undo?: Undo[]): void {
    checkSysctls(values);
    const old = this.sys;
    this.sys = { ...old, ...values };
    undo?.push(() => {
      this.sys = old;
    });
  }
}

function addrOf(family: Family, words: Uint32Array): Addr {
  const text = formatIp(family, words);
  return { family, text, key: `${family}/${text}` };
}
