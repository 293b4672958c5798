// Executes control requests against the engine, keeping the configuration model, the engine and
// the state file in step.
//
// Reads are answered from the engine (live counters) or, for `dump`, from the model. A change is
// first run on the model as a dry run (checks everything, including every request of a batch in
// order; a refusal there changes nothing anywhere). Then the requests go to the engine one by one,
// each mirrored in the model. The engine validates each request before changing anything, so it
// can refuse only for what the model does not know (table sizes, addresses still draining
// connections); then the requests already applied are undone with their inverses, derived from
// the model before each one, and the model is rolled back exactly. After a change: listeners are
// told (host plumbing: routes and proxy neighbours for the VIPs and LIPs) and the state is saved;
// the answer goes out once both are done, so an acknowledged change survives kill -9.
import { LvsError } from '../common/errors.js';
import type { Engine } from '../dataplane/engine.js';
import {
  BatchError,
  type Config,
  ConfigModel,
  configFromServiceInfos,
  configToRequests,
  type Undo,
} from './config-model.js';
import { type Log, silentLog } from './log.js';
import type { Request, Results, StatusInfo } from './protocol.js';
import type { StateStore } from './state-store.js';
import { knobsToSysctls, SYSCTL_NAMES, sysctlsToKnobs } from './sysctl.js';

/** What the control service needs of the engine (an Engine; tests may wrap one). */
export type ControlEngine = Pick<
  Engine,
  | 'addService'
  | 'editService'
  | 'delService'
  | 'flush'
  | 'addDest'
  | 'editDest'
  | 'delDest'
  | 'addLaddr'
  | 'delLaddr'
  | 'zero'
  | 'setTimeoutsTriple'
  | 'getTimeouts'
  | 'setSynproxyKnobs'
  | 'getSynproxyKnobs'
  | 'listServices'
  | 'getService'
  | 'totals'
  | 'connections'
  | 'counterValues'
  | 'connCount'
> & { readonly cfg: { readonly connCapacity: number } };

/** Called after every successful configuration change, in change order; awaited before the answer. */
export type ChangeListener = (model: ConfigModel) => void | Promise<void>;

/**
 * Asked before a change is applied, with its requests (a batch's, flat) and the model before
 * them: the first one the host cannot carry out (its index and refusal), or null. A refusal
 * changes nothing anywhere (the daemon's host check: src/host/host-check.ts).
 */
export type HostCheck = (
  reqs: readonly Request[],
  model: ConfigModel,
) => Promise<{ index: number; error: LvsError } | null>;

/** Connections listed when a listConns request gives no limit. */
export const DEFAULT_CONN_LIMIT = 100_000;

/** A failure of the control plane itself (not a refused request): code EINTERNAL or ESTATE. */
export class ControlFailure extends Error {
  readonly code: 'EINTERNAL' | 'ESTATE';

  constructor(code: 'EINTERNAL' | 'ESTATE', message: string) {
    super(message);
    this.name = 'ControlFailure';
    this.code = code;
  }
}

export interface ControlServiceOptions {
  engine: ControlEngine;
  /** Where changes are saved; none: changes live in memory only. */
  store?: StateStore | null;
  log?: Log;
  /** For `status`. */
  version?: string;
  tun?: string;
  /** Milliseconds clock for uptime (default Date.now). */
  now?: () => number;
  hostCheck?: HostCheck;
}

/** Applies one request to the engine. */
export function applyToEngine(engine: ControlEngine, r: Request): void {
  switch (r.op) {
    case 'addService':
      engine.addService(r.svc, r.opts);
      return;
    case 'editService':
      engine.editService(r.svc, r.opts);
      return;
    case 'delService':
      engine.delService(r.svc);
      return;
    case 'flush':
      engine.flush();
      return;
    case 'addDest':
      engine.addDest(r.svc, r.dest);
      return;
    case 'editDest':
      engine.editDest(r.svc, r.addr, r.port, r.change);
      return;
    case 'delDest':
      engine.delDest(r.svc, r.addr, r.port);
      return;
    case 'addLaddr':
      engine.addLaddr(r.svc, r.addr);
      return;
    case 'delLaddr':
      engine.delLaddr(r.svc, r.addr);
      return;
    case 'zero':
      engine.zero(r.svc);
      return;
    case 'setTimeouts':
      engine.setTimeoutsTriple(r.timeouts);
      return;
    case 'setSysctl':
      // The engine checks all the knobs before it changes any.
      engine.setSynproxyKnobs(sysctlsToKnobs(r.values));
      return;
    default:
      throw new LvsError('EINVAL', `${r.op} is not a change the engine applies`);
  }
}

export class ControlService {
  readonly engine: ControlEngine;
  private cur: ConfigModel;
  private readonly store: StateStore | null;
  private readonly log: Log;
  private readonly listeners = new Set<ChangeListener>();
  private readonly version: string;
  private readonly tun: string;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly saver: SaveQueue | null;
  private readonly hostCheck: HostCheck | null;

  constructor(opts: ControlServiceOptions) {
    this.engine = opts.engine;
    this.hostCheck = opts.hostCheck ?? null;
    this.cur = new ConfigModel(opts.engine.getTimeouts(), knobsToSysctls(opts.engine.getSynproxyKnobs()));
    this.store = opts.store ?? null;
    this.log = opts.log ?? silentLog;
    this.version = opts.version ?? '0.0.0';
    this.tun = opts.tun ?? '';
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    const store = this.store;
    this.saver = store ? new SaveQueue(() => store.save(this.cur.toConfig())) : null;
  }

  /** The configuration as applied (read it, do not change it). */
  get model(): ConfigModel {
    return this.cur;
  }

  /** Registers a change listener; returns a function removing it. */
  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Puts a stored configuration into the engine (at start, from the state store), replacing what
   * it has, as one all-or-nothing batch. Listeners are told; nothing is saved (it came from there).
   */
  async restore(config: Config): Promise<void> {
    this.change([{ op: 'flush' }, ...configToRequests(config)], true);
    await this.notify();
  }

  /** Executes one request; throws LvsError (refused), BatchError or ControlFailure. */
  async execute<K extends Request['op']>(req: Extract<Request, { op: K }>): Promise<Results[K]>;
  async execute(req: Request): Promise<unknown>;
  async execute(req: Request): Promise<unknown> {
    const e = this.engine;
    switch (req.op) {
      case 'list': {
        if (req.svc) return { services: [e.getService(req.svc)] } satisfies Results['list'];
        return { services: e.listServices(), totals: e.totals().stats } satisfies Results['list'];
      }
      case 'listConns': {
        const conns = [...e.connections(req.limit ?? DEFAULT_CONN_LIMIT)];
        return { conns, total: e.connCount } satisfies Results['listConns'];
      }
      case 'getTimeouts':
        return e.getTimeouts();
      case 'getSysctl': {
        const all = knobsToSysctls(e.getSynproxyKnobs());
        const out: Results['getSysctl'] = {};
        for (const n of req.names ?? SYSCTL_NAMES) out[n] = all[n];
        return out;
      }
      case 'dump':
        return this.cur.toConfig() satisfies Results['dump'];
      case 'counters':
        return e.counterValues();
      case 'status':
        return {
          version: this.version,
          pid: process.pid,
          uptimeS: Math.floor((this.now() - this.startedAt) / 1000),
          tun: this.tun,
          connCount: e.connCount,
          connCapacity: e.cfg.connCapacity,
        } satisfies StatusInfo;
      case 'zero':
        // Counters only: nothing to save, nothing for the host plumbing.
        this.change([req]);
        return null;
      case 'batch':
        await this.checkedChange(req.requests, true);
        break;
      default:
        await this.checkedChange([req], false);
    }
    await Promise.all([this.notify(), this.save()]);
    return null;
  }

  /**
   * Applies requests all-or-nothing to the model and the engine (synchronously: nothing else runs
   * in between). `batch` makes refusals BatchErrors naming the position.
   */
  private change(reqs: readonly Request[], batch = false): void {
    const refusal = (i: number, err: unknown): unknown =>
      batch && LvsError.is(err) && !(err instanceof BatchError) ? new BatchError(i, reqs[i]!.op, err) : err;
    // 1. Dry run on the model: every request checked in order, then undone.
    const dry: Undo[] = [];
    try {
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        try {
          if (r.op === 'batch') throw new LvsError('EINVAL', 'batch cannot be nested in a batch');
          this.cur.apply(r, dry);
        } catch (err) {
          throw refusal(i, err);
        }
      }
    } finally {
      for (let j = dry.length - 1; j >= 0; j--) dry[j]!();
    }
    // 2. For real: engine first, then the model; inverses taken from the model before each request.
    const modelUndo: Undo[] = [];
    const engineUndo: Request[][] = [];
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const inverse = this.cur.inverse(r);
      try {
        applyToEngine(this.engine, r);
      } catch (err) {
        this.rollback(engineUndo, modelUndo, err);
        throw refusal(i, err);
      }
      engineUndo.push(inverse);
      this.cur.apply(r, modelUndo);
    }
  }

  /**
   * The host check and the change it approved, one change at a time: the check is asynchronous,
   * and a change applied meanwhile could make its verdict wrong (a LIP and a real server given
   * the same address by two clients at once).
   */
  private async checkedChange(reqs: readonly Request[], batch: boolean): Promise<void> {
    const prev = this.changeTurn;
    let done!: () => void;
    this.changeTurn = new Promise((r) => {
      done = r;
    });
    await prev;
    try {
      await this.checkHost(reqs, batch);
      this.change(reqs, batch);
    } finally {
      done();
    }
  }

  private changeTurn: Promise<void> = Promise.resolve();

  private async checkHost(reqs: readonly Request[], batch: boolean): Promise<void> {
    const r = this.hostCheck ? await this.hostCheck(reqs, this.cur) : null;
    if (r) throw batch ? new BatchError(r.index, reqs[r.index]!.op, r.error) : r.error;
  }

  private rollback(engineUndo: Request[][], modelUndo: Undo[], why: unknown): void {
    if (engineUndo.length > 0) {
      this.log.info(
        `engine refused a change after ${engineUndo.length} of its requests: ${String(why)}; undoing them`,
      );
    }
    for (let j = modelUndo.length - 1; j >= 0; j--) modelUndo[j]!();
    for (let i = engineUndo.length - 1; i >= 0; i--) {
      for (const inv of engineUndo[i]!) {
        try {
          applyToEngine(this.engine, inv);
        } catch (err) {
          // The engine could not take back its own previous state (a table filled by draining
          // connections?). Make the model say what the engine really has, and tell loudly.
          const msg = `could not undo a partly applied change (${inv.op} refused: ${String(err)}); the engine keeps part of it`;
          this.log.error(msg);
          this.resync();
          void this.notify();
          this.save().catch(() => {}); // logged by save()
          throw new ControlFailure('EINTERNAL', msg);
        }
      }
    }
  }

  /** Rebuilds the model from the engine's listing (after a failed rollback). */
  private resync(): void {
    const cfg = configFromServiceInfos(
      this.engine.listServices(),
      this.engine.getTimeouts(),
      knobsToSysctls(this.engine.getSynproxyKnobs()),
    );
    try {
      this.cur = ConfigModel.fromConfig(cfg);
    } catch (err) {
      this.log.error(`cannot rebuild the configuration model from the engine: ${String(err)}`);
    }
  }

  private async notify(): Promise<void> {
    const model = this.cur;
    const pending: Promise<void>[] = [];
    for (const fn of this.listeners) {
      try {
        const r = fn(model);
        if (r)
          pending.push(r.catch((err: unknown) => this.log.error(`change listener failed: ${String(err)}`)));
      } catch (err) {
        this.log.error(`change listener failed: ${String(err)}`);
      }
    }
    await Promise.all(pending);
  }

  private async save(): Promise<void> {
    if (!this.saver || !this.store) return;
    try {
      await this.saver.request();
    } catch (err) {
      const msg = `the change is in effect, but saving ${this.store.file} failed (${(err as Error).message}): it will be lost on restart unless a later change is saved`;
      this.log.error(msg);
      throw new ControlFailure('ESTATE', msg);
    }
  }
}

/**
 * Coalesces saves: a request made while a save runs is served by the next save, which starts when
 * the running one ends and writes the state as it is then (so it includes every change made
 * before the request). Each request resolves once a save that started after it has finished.
 */
class SaveQueue {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly write: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) return this.start();
    if (!this.next) {
      this.next = this.running.then(
        () => this.startNext(),
        () => this.startNext(),
      );
    }
    return this.next;
  }

  private startNext(): Promise<void> {
    this.next = null;
    return this.start();
  }

  private start(): Promise<void> {
    const p = this.write().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }
}
