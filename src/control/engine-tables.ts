// The configuration compiled into the engine's tables. The model (config-model.ts) validates
// every change; this writes each accepted one to the engine as slot calls and keeps what maps the
// operator's names (proto, VIP, port; real-server address and port; LIP) to the engine's slots.
// It also reads the engine back out in the protocol's words (addresses formatted, states named).
//
// A change is written request by request, then ended by commit(). A refused change is undone by
// writing the inverses (ConfigModel.inverse) last first with `undo`: the engine then brings back
// what the change deleted in place (counters, connections, scheduler order), and commit() ends
// the change either way.
import { type Family, formatIp, parseIp } from '../common/addr.js';
import { LvsError } from '../common/errors.js';
import { knobsToSysctls, sysctlsToKnobs } from '../common/sysctls.js';
import { PROTO_TCP, PROTO_UDP, type ServiceSettings, STATE_NAMES } from '../common/vocabulary.js';
import {
  type Engine,
  REFUSED_ADDR_IS_LIP,
  REFUSED_ADDR_IS_VIP,
  REFUSED_DESTS_FULL,
  REFUSED_LOCALS_FULL,
  REFUSED_SERVICES_FULL,
} from '../dataplane/engine.js';
import {
  connections,
  connTabSize,
  counterValues,
  laddrUsage,
  readDest,
  readLaddr,
  readService,
  refreshStats,
  serviceSlots,
  templateCount,
  totals,
} from '../dataplane/engine-readout.js';
import type { Config, ConfigModel, Undo } from './config-model.js';
import type {
  ConnInfo,
  DestInfo,
  ProtoName,
  Request,
  ServiceInfo,
  ServiceKey,
  Timeouts,
} from './protocol.js';

/** The slots of one service and of what it lists. */
interface Slots {
  slot: number;
  /** destKey -> real-server slot. */
  dests: Map<string, number>;
  /** addrKey -> LIP slot. */
  laddrs: Map<string, number>;
}

interface Words {
  family: Family;
  words: Uint32Array;
  key: string;
}

/** An address the model accepted: its words and a key of them (any spelling, one key). */
function words(text: string): Words {
  const a = parseIp(text);
  if (!a) throw new LvsError('EINVAL', `invalid address ${JSON.stringify(text)}`);
  return { family: a.family, words: a.words, key: wordsKey(a.family, a.words) };
}

function wordsKey(family: Family, w: ArrayLike<number>): string {
  return family === 4 ? `${w[0]}` : `${w[0]},${w[1]},${w[2]},${w[3]}`;
}

function svcKey(k: ServiceKey): string {
  return `${k.proto}/${words(k.addr).key}/${k.port}`;
}

function refusal(code: number, what: string): LvsError {
  switch (code) {
    case REFUSED_SERVICES_FULL:
      return new LvsError('NO_MEMORY', 'too many services');
    case REFUSED_DESTS_FULL:
      return new LvsError('NO_MEMORY', 'too many real servers');
    case REFUSED_LOCALS_FULL:
      return new LvsError('NO_MEMORY', 'too many local addresses');
    case REFUSED_ADDR_IS_LIP:
      return new LvsError(
        'EINVAL',
        `${what} is a local address (LIP) whose connections still drain and cannot be a VIP until they end`,
      );
    case REFUSED_ADDR_IS_VIP:
      return new LvsError('EINVAL', `${what} is a virtual service address and cannot be a local address`);
    default:
      throw new Error(`the engine refused ${what} with an unknown code ${code}`);
  }
}

const protoName = (p: number): ProtoName => (p === PROTO_UDP ? 'udp' : 'tcp');

export class EngineTables {
  private readonly svcs = new Map<string, Slots>();
  /** Written since the last commit. */
  private dirty = false;

  constructor(readonly engine: Engine) {}

  private slots(k: ServiceKey): Slots {
    const s = this.svcs.get(svcKey(k));
    if (!s) throw new LvsError('SVC_NOT_FOUND');
    return s;
  }

  /**
   * Writes one request the model accepted, resolved (ConfigModel.resolve, or an inverse); throws
   * LvsError when the engine cannot hold it, having changed nothing. `undo`: it undoes a request
   * of the current change.
   */
  write(r: Request, undo = false): void {
    const e = this.engine;
    this.dirty = true;
    switch (r.op) {
      case 'addService': {
        const a = words(r.svc.addr);
        const slot = e.createService(
          {
            proto: r.svc.proto === 'udp' ? PROTO_UDP : PROTO_TCP,
            family: a.family,
            addr: a.words,
            port: r.svc.port,
          },
          r.opts as ServiceSettings,
          undo,
        );
        if (slot < 0) throw refusal(slot, r.svc.addr);
        this.svcs.set(svcKey(r.svc), { slot, dests: new Map(), laddrs: new Map() });
        return;
      }
      case 'editService':
        e.updateService(this.slots(r.svc).slot, r.opts as ServiceSettings);
        return;
      case 'delService': {
        const k = svcKey(r.svc);
        const s = this.slots(r.svc);
        e.deleteService(s.slot, undo);
        this.svcs.delete(k);
        return;
      }
      case 'flush':
        for (const s of this.svcs.values()) e.deleteService(s.slot, undo);
        this.svcs.clear();
        return;
      case 'addDest': {
        const s = this.slots(r.svc);
        const a = words(r.dest.addr);
        const d = r.dest;
        const slot = e.createDest(
          s.slot,
          a.family,
          a.words,
          d.port,
          { weight: d.weight!, uThreshold: d.uThreshold!, lThreshold: d.lThreshold! },
          undo,
        );
        if (slot < 0) throw refusal(slot, d.addr);
        s.dests.set(`${a.key}/${d.port}`, slot);
        return;
      }
      case 'editDest': {
        const c = r.change;
        e.updateDest(this.destSlot(this.slots(r.svc), r.addr, r.port), {
          weight: c.weight!,
          uThreshold: c.uThreshold!,
          lThreshold: c.lThreshold!,
        });
        return;
      }
      case 'delDest': {
        const s = this.slots(r.svc);
        const k = `${words(r.addr).key}/${r.port}`;
        e.deleteDest(this.destSlot(s, r.addr, r.port), undo);
        s.dests.delete(k);
        return;
      }
      case 'addLaddr': {
        const s = this.slots(r.svc);
        const a = words(r.addr);
        const la = e.attachLaddr(s.slot, a.family, a.words, undo);
        if (la < 0) throw refusal(la, r.addr);
        s.laddrs.set(a.key, la);
        return;
      }
      case 'delLaddr': {
        const s = this.slots(r.svc);
        const k = words(r.addr).key;
        const la = s.laddrs.get(k);
        if (la === undefined) throw new LvsError('LADDR_NOT_FOUND');
        e.detachLaddr(s.slot, la, undo);
        s.laddrs.delete(k);
        return;
      }
      case 'zero':
        e.zeroStats(r.svc ? this.slots(r.svc).slot : -1);
        return;
      case 'setTimeouts':
        e.setTimeoutsTriple(r.timeouts);
        return;
      case 'setSysctl':
        e.setKnobs(sysctlsToKnobs(r.values));
        return;
      default:
        throw new LvsError('EINVAL', `${r.op} is not a change the engine applies`);
    }
  }

  /**
   * Ends the change written since the last commit (the engine's deletions become final);
   * `undone`: it was undone in full (the schedulers' rotations go back too).
   */
  commit(undone = false): void {
    if (this.dirty) this.engine.commit(undone);
    this.dirty = false;
  }

  private destSlot(s: Slots, addr: string, port: number): number {
    const slot = s.dests.get(`${words(addr).key}/${port}`);
    if (slot === undefined) throw new LvsError('DEST_NOT_FOUND');
    return slot;
  }

  // ---- read-outs ------------------------------------------------------------------------------

  /** Services in the engine's slot order, with live counters. */
  listServices(): ServiceInfo[] {
    const e = this.engine;
    refreshStats(e);
    const usage = laddrUsage(e);
    return serviceSlots(e).map((slot) => this.serviceInfo(slot, usage));
  }

  getService(key: ServiceKey): ServiceInfo {
    const e = this.engine;
    const slot = this.slots(key).slot;
    refreshStats(e);
    return this.serviceInfo(slot, laddrUsage(e));
  }

  private serviceInfo(slot: number, usage: Uint32Array): ServiceInfo {
    const e = this.engine;
    const v = readService(e, slot);
    return {
      proto: protoName(v.proto),
      family: v.family,
      addr: formatIp(v.family, v.addr),
      port: v.port,
      ...v.params,
      conns: v.conns,
      stats: v.stats,
      rates: v.rates,
      dests: v.dests.map((d) => destInfo(readDest(e, d))),
      laddrs: v.laddrs.map((la) => {
        const l = readLaddr(e, la, usage);
        return {
          addr: formatIp(l.family, l.addr),
          family: l.family,
          conns: l.conns,
          conflicts: l.conflicts,
          portCount: l.portCount,
          tcpPortsUsed: l.tcpPortsUsed,
          udpPortsUsed: l.udpPortsUsed,
        };
      }),
    };
  }

  totals(): ReturnType<typeof totals> {
    refreshStats(this.engine);
    return totals(this.engine);
  }

  /** Every connection, then every persistence template (up to `limit` in all). */
  *connections(limit?: number): Generator<ConnInfo> {
    for (const c of connections(this.engine, limit)) {
      const info: ConnInfo = {
        proto: protoName(c.proto),
        family: c.family,
        caddr: formatIp(c.family, c.caddr),
        cport: c.cport,
        vaddr: formatIp(c.family, c.vaddr),
        vport: c.vport,
        laddr: c.template ? '' : formatIp(c.family, c.laddr),
        lport: c.lport,
        daddr: formatIp(c.family, c.daddr),
        dport: c.dport,
        state: STATE_NAMES[c.state]!,
        expiresIn: c.expiresIn,
      };
      if (c.template) info.template = true;
      yield info;
    }
  }

  get connCount(): number {
    return this.engine.conns.count;
  }

  get templateCount(): number {
    return templateCount(this.engine);
  }

  get connTabSize(): number {
    return connTabSize(this.engine);
  }

  counterValues(): Record<string, number> {
    return counterValues(this.engine);
  }

  getTimeouts(): Timeouts {
    return this.engine.getTimeouts();
  }

  /**
   * The configuration the engine holds, read back from its tables (after an undo the engine
   * could not finish: the model is rebuilt from this). The slot maps are rebuilt from it too.
   */
  config(): Config {
    const e = this.engine;
    const services = serviceSlots(e).map((slot) => {
      const v = readService(e, slot);
      return {
        svc: { proto: protoName(v.proto), addr: formatIp(v.family, v.addr), port: v.port },
        opts: { ...v.params },
        dests: v.dests.map((d) => {
          const dv = readDest(e, d);
          return { addr: formatIp(dv.family, dv.addr), port: dv.port, ...dv.params };
        }),
        laddrs: v.laddrs.map((la) => {
          const lp = e.laddrs;
          return formatIp(lp.family[la] as Family, lp.addr.subarray(la * 4, la * 4 + 4));
        }),
      };
    });
    return {
      services,
      timeouts: e.getTimeouts(),
      sysctl: knobsToSysctls(e.getKnobs()),
    };
  }

  /** Rebuilds the slot maps from the engine's tables (they then match config()). */
  resync(): void {
    const e = this.engine;
    this.svcs.clear();
    for (const slot of serviceSlots(e)) {
      const v = readService(e, slot);
      const s: Slots = { slot, dests: new Map(), laddrs: new Map() };
      for (const d of v.dests) {
        const dv = readDest(e, d);
        s.dests.set(`${wordsKey(dv.family, dv.addr)}/${dv.port}`, d);
      }
      for (const la of v.laddrs)
        s.laddrs.set(wordsKey(v.family, e.laddrs.addr.subarray(la * 4, la * 4 + 4)), la);
      this.svcs.set(`${protoName(v.proto)}/${wordsKey(v.family, v.addr)}/${v.port}`, s);
    }
  }
}

function destInfo(d: ReturnType<typeof readDest>): DestInfo {
  return {
    addr: formatIp(d.family, d.addr),
    port: d.port,
    family: d.family,
    fwd: d.fwd,
    ...d.params,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    overloaded: d.overloaded,
    stats: d.stats,
    rates: d.rates,
  };
}

/**
 * One change request, synchronously: checked by `model`, written to the engine, committed; a
 * refusal changes neither. For an engine driven without a control service (benchmarks, tests,
 * embedding); the daemon's changes go through ControlService, which slices long batches.
 */
export function applyNow(model: ConfigModel, tables: EngineTables, r: Request): void {
  const reqs = r.op === 'batch' ? r.requests : [r];
  const check: Undo[] = [];
  try {
    model.apply(r, check);
  } finally {
    for (let i = check.length - 1; i >= 0; i--) check[i]!();
  }
  const undo: Request[][] = [];
  const modelUndo: Undo[] = [];
  try {
    for (const q of reqs) {
      const inverse = model.inverse(q);
      tables.write(model.resolve(q));
      undo.push(inverse);
      model.apply(q, modelUndo);
    }
  } catch (err) {
    for (let i = modelUndo.length - 1; i >= 0; i--) modelUndo[i]!();
    for (let i = undo.length - 1; i >= 0; i--) for (const inv of undo[i]!) tables.write(inv, true);
    tables.commit(true);
    throw err;
  }
  tables.commit();
}
