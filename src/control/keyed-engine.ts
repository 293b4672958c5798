// An engine driven by name, as operators name things (proto, VIP, port; real-server address),
// without a control service: benchmarks, dataplane tests, embedding. Each change goes the
// daemon's way, checked by a ConfigModel and compiled into the engine's tables by EngineTables
// (applyNow), and listings are read back through them.
import { formatIp } from '../common/addr.js';
import { knobsToSysctls } from '../common/sysctls.js';
import type { EngineConfig } from '../dataplane/config.js';
import { Engine } from '../dataplane/engine.js';
import { counterValues, portsLow } from '../dataplane/engine-readout.js';
import { ConfigModel } from './config-model.js';
import { applyNow, EngineTables } from './engine-tables.js';
import type {
  ConnInfo,
  DestChange,
  DestSpec,
  Request,
  ServiceInfo,
  ServiceKey,
  ServiceOptions,
  SysctlValues,
} from './protocol.js';

export class KeyedEngine extends Engine {
  readonly model: ConfigModel;
  readonly tables: EngineTables;

  constructor(config: Partial<EngineConfig> = {}, now = 0) {
    super(config, now);
    this.tables = new EngineTables(this);
    this.model = new ConfigModel(this.getTimeouts(), knobsToSysctls(this.getKnobs()));
  }

  /** One request: refused (LvsError) with nothing changed, or carried out in model and engine. */
  apply(r: Request): void {
    applyNow(this.model, this.tables, r);
  }

  addService(svc: ServiceKey, opts: ServiceOptions = {}): void {
    this.apply({ op: 'addService', svc, opts });
  }

  editService(svc: ServiceKey, opts: ServiceOptions): void {
    this.apply({ op: 'editService', svc, opts });
  }

  delService(svc: ServiceKey): void {
    this.apply({ op: 'delService', svc });
  }

  flush(): void {
    this.apply({ op: 'flush' });
  }

  addDest(svc: ServiceKey, dest: DestSpec): void {
    this.apply({ op: 'addDest', svc, dest });
  }

  editDest(svc: ServiceKey, addr: string, port: number, change: DestChange): void {
    this.apply({ op: 'editDest', svc, addr, port, change });
  }

  delDest(svc: ServiceKey, addr: string, port: number): void {
    this.apply({ op: 'delDest', svc, addr, port });
  }

  addLaddr(svc: ServiceKey, addr: string): void {
    this.apply({ op: 'addLaddr', svc, addr });
  }

  delLaddr(svc: ServiceKey, addr: string): void {
    this.apply({ op: 'delLaddr', svc, addr });
  }

  zero(svc?: ServiceKey): void {
    this.apply(svc ? { op: 'zero', svc } : { op: 'zero' });
  }

  /** Checked by the model (the engine's own setKnobs takes what it is given). */
  setSysctl(values: Partial<SysctlValues>): void {
    this.apply({ op: 'setSysctl', values });
  }

  listServices(): ServiceInfo[] {
    return this.tables.listServices();
  }

  /** Slots read back from the engine first: also when a ControlService, not these tables, wrote it. */
  getService(svc: ServiceKey): ServiceInfo {
    this.tables.resync();
    return this.tables.getService(svc);
  }

  hasService(svc: ServiceKey): boolean {
    try {
      this.getService(svc);
      return true;
    } catch {
      return false;
    }
  }

  /** drainingAddrs() as text. */
  draining(): { vips: string[]; lips: string[] } {
    const d = this.drainingAddrs();
    const text = (l: typeof d.vips) => l.map((a) => formatIp(a.family, a.addr));
    return { vips: text(d.vips), lips: text(d.lips) };
  }

  /** The pair laddr_ports_low last named, as text. */
  portsLow(): { laddr: string; rs: string; rport: number } | null {
    const p = portsLow(this);
    return p && { laddr: formatIp(p.family, p.laddr), rs: formatIp(p.family, p.rs), rport: p.rport };
  }

  connections(limit?: number): Generator<ConnInfo> {
    return this.tables.connections(limit);
  }

  totals(): ReturnType<EngineTables['totals']> {
    return this.tables.totals();
  }

  counterValues(): Record<string, number> {
    return counterValues(this);
  }

  get connCount(): number {
    return this.conns.count;
  }

  get templateCount(): number {
    return this.tables.templateCount;
  }
}
