// Executes control requests against the engine, keeping the configuration model, the engine and
// the state file in step.
//
// Reads are answered from the engine (live counters) or, for `dump`, from the model. A change is
// first run on the model as a dry run (the model is the only validator: it checks everything,
// every request of a batch in order; a refusal there changes nothing anywhere). Then each request
// is compiled into the engine's tables (engine-tables.ts) and mirrored in the model. The engine
// refuses only what the model does not know (table sizes, addresses still draining
// connections); then the requests already written are undone with their inverses, derived from
// the model before each one, which the engine carries out exactly (what the change deleted comes
// back with its counters and connections), and the model is rolled back. After a change: listeners are
// told (host plumbing: routes and proxy neighbours for the VIPs and LIPs) and the state is saved;
// the answer goes out once both are done, so an acknowledged change survives kill -9.
//
// Long changes (an -R of thousands of requests) run in slices: after SLICE_REQUESTS requests or
// SLICE_MS, whichever comes first, the event loop runs (packets, timers, other sockets) before
// the next slice. Dry run, engine run and rollback are all sliced; the change stays
// all-or-nothing, and one change runs at a time (changes queue in changeTurn). While a change is
// being applied, reads of the configuration (list, dump, timeouts, sysctls) wait for it to end, so
// they see the state before it (refused) or after it, never half of it; they are not queued
// behind later changes. Counters, status and the connection listing answer at once (live state).
// The connection listing streams in chunks of CONN_CHUNK with the event loop run between them.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LvsError } from '../common/errors.js';
import { knobsToSysctls, SYSCTL_NAMES } from '../common/sysctls.js';
import type { Engine } from '../dataplane/engine.js';
import { BatchError, type Config, ConfigModel, configToRequests, type Undo } from './config-model.js';
import { EngineTables } from './engine-tables.js';
import { type Log, silentLog } from './log.js';
import type { ConnInfo, Request, Results, StatusInfo } from './protocol.js';
import type { StateStore } from './state-store.js';

/** Called after every successful configuration change, in change order; awaited before the answer. */
export type ChangeListener = (model: ConfigModel) => void | Promise<void>;

/** One request against the host, before it is applied to `model` (earlier ones are): a refusal or null. */
export type RequestCheck = (r: Request, model: ConfigModel) => LvsError | null;

/**
 * Asked before a change is applied, with its requests (a batch's, flat) and the model before
 * them: the check the dry run then applies to each request (null: none needed). A refusal
 * changes nothing anywhere (the daemon's host check: src/host/host-check.ts).
 */
export type HostCheck = (reqs: readonly Request[], model: ConfigModel) => Promise<RequestCheck | null>;

/** Most requests applied between two turns of the event loop. */
export const SLICE_REQUESTS = 1024;
/** Longest a slice runs before the event loop gets a turn (checked every SLICE_CHECK requests). */
export const SLICE_MS = 4;
const SLICE_CHECK = 32;
/** Connections per chunk of a streamed listing (1-2 ms of work, about 100 KB of JSON, per turn). */
export const CONN_CHUNK = 512;

/** Receives the parts of a streamed result, in order; the next part waits for its promise. */
export type PartSink = (items: unknown[]) => void | Promise<void>;

/** Counts the work of a slice; due() says when to give the event loop a turn. */
class Slice {
  private n = 0;
  private t0 = performance.now();

  due(): boolean {
    this.n++;
    if (this.n >= SLICE_REQUESTS) return true;
    return this.n % SLICE_CHECK === 0 && performance.now() - this.t0 >= SLICE_MS;
  }

  async yield(): Promise<void> {
    await nextTurn();
    this.n = 0;
    this.t0 = performance.now();
  }
}

/** What undoes an applied change: the engine's inverse requests and the model's undo steps. */
interface AppliedChange {
  engineUndo: Request[][];
  modelUndo: Undo[];
  slice: Slice;
}

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
  /** The engine whose tables the control service writes (it writes them alone). */
  engine: Engine;
  /** Where changes are saved; none: changes live in memory only. */
  store?: StateStore | null;
  log?: Log;
  /** For `status`. */
  version?: string;
  tun?: string;
  /** Milliseconds clock for uptime (default Date.now). */
  now?: () => number;
  hostCheck?: HostCheck;
  /**
   * Carries the configuration out on the host (routes, proxy entries), inside each change's turn.
   * A change it fails for is undone exactly (engine and model) and the previous configuration is
   * plumbed again; the caller gets EHOST. The restore at start is plumbed too (a failure there is
   * logged: the periodic repair goes on trying).
   */
  plumb?: (model: ConfigModel) => Promise<void>;
}

export class ControlService {
  readonly engine: Engine;
  /** The compiled configuration: what maps the model's names to the engine's slots. */
  readonly tables: EngineTables;
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
  private readonly plumb: ((model: ConfigModel) => Promise<void>) | null;

  constructor(opts: ControlServiceOptions) {
    this.engine = opts.engine;
    this.hostCheck = opts.hostCheck ?? null;
    this.plumb = opts.plumb ?? null;
    this.tables = new EngineTables(opts.engine);
    // An engine normally starts empty; one that does not is taken as it is.
    this.tables.resync();
    this.cur = ConfigModel.fromConfig(this.tables.config());
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
    await this.inTurn(async () => {
      await this.change([{ op: 'flush' }, ...configToRequests(config)], true, null, false);
      try {
        await this.plumb?.(this.cur);
      } catch (err) {
        this.log.error(`host plumbing of the restored configuration failed: ${(err as Error).message}`);
      }
    });
    await this.notify();
  }

  /**
   * Every live connection (up to `limit`), CONN_CHUNK at a time with a turn of the event loop
   * between chunks: to `sink` when given (then `conns` is empty), else gathered. The table is
   * walked by slot while packets go on: a connection live for the whole listing appears exactly
   * once; one created or ended meanwhile may or may not.
   */
  private async listConns(limit: number | undefined, sink?: PartSink): Promise<Results['listConns']> {
    const max = limit ?? Number.POSITIVE_INFINITY;
    const it = this.tables.connections(max);
    const all: ConnInfo[] = [];
    let listed = 0;
    for (;;) {
      const chunk: ConnInfo[] = [];
      for (let r = it.next(); ; r = it.next()) {
        if (r.done) break;
        chunk.push(r.value);
        if (chunk.length >= CONN_CHUNK) break;
      }
      listed += chunk.length;
      if (chunk.length > 0) {
        if (sink) await sink(chunk);
        else for (const c of chunk) all.push(c);
      }
      if (chunk.length < CONN_CHUNK) break;
      await nextTurn();
    }
    // Entries as listed: connections and persistence templates.
    const total = this.tables.connCount + this.tables.templateCount;
    const out: Results['listConns'] = { conns: all, total, listed };
    // Stopped by the limit with more in the table: say so (the listing is not complete).
    if (limit !== undefined && listed >= limit && total > listed) out.limit = limit;
    return out;
  }

  /** Resolves once no change is being applied (reads of the configuration wait for this). */
  private async settled(): Promise<void> {
    while (this.applying) await this.applying;
  }

  /** Set while a change is being applied (it may yield between slices). */
  private applying: Promise<void> | null = null;

  /**
   * Executes one request; throws LvsError (refused), BatchError or ControlFailure. With `sink`, a
   * listConns request that asks for a stream hands its connections to the sink in chunks and
   * resolves with an empty `conns` (the counts only).
   */
  async execute<K extends Request['op']>(
    req: Extract<Request, { op: K }>,
    sink?: PartSink,
  ): Promise<Results[K]>;
  async execute(req: Request, sink?: PartSink): Promise<unknown>;
  async execute(req: Request, sink?: PartSink): Promise<unknown> {
    const e = this.engine;
    const t = this.tables;
    switch (req.op) {
      case 'list': {
        await this.settled();
        if (req.svc) return { services: [t.getService(req.svc)] } satisfies Results['list'];
        return {
          services: t.listServices(),
          totals: t.totals().stats,
          size: t.connTabSize,
        } satisfies Results['list'];
      }
      case 'listConns':
        return this.listConns(req.limit, req.stream === true ? sink : undefined);
      case 'getTimeouts':
        await this.settled();
        return e.getTimeouts();
      case 'getSysctl': {
        await this.settled();
        const all = knobsToSysctls(e.getKnobs());
        const out: Results['getSysctl'] = {};
        for (const n of req.names ?? SYSCTL_NAMES) out[n] = all[n];
        return out;
      }
      case 'dump':
        await this.settled();
        return this.cur.toConfig() satisfies Results['dump'];
      case 'counters':
        return t.counterValues();
      case 'status':
        return {
          version: this.version,
          pid: process.pid,
          uptimeS: Math.floor((this.now() - this.startedAt) / 1000),
          tun: this.tun,
          connCount: t.connCount,
          connCapacity: e.cfg.connCapacity,
        } satisfies StatusInfo;
      case 'zero':
        // Counters only: nothing to save, nothing for the host plumbing.
        await this.inTurn(() => this.change([req], false, null, false));
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
   * Applies requests all-or-nothing to the model and the engine, in slices (see the top of the
   * file), then (`plumb`) to the host; run it in a turn (inTurn). `batch` makes refusals
   * BatchErrors naming the position.
   */
  private async change(
    reqs: readonly Request[],
    batch = false,
    check: RequestCheck | null = null,
    plumb = true,
  ): Promise<void> {
    let done!: () => void;
    this.applying = new Promise((r) => {
      done = r;
    });
    let undone = true;
    try {
      const undo = await this.applySliced(reqs, batch, check);
      if (plumb && this.plumb) await this.plumbOrUndo(undo);
      undone = false;
    } finally {
      // Applied or undone (a refusal is thrown once the undo is done), the change is over: what
      // it deleted is final in the engine.
      this.tables.commit(undone);
      this.applying = null;
      done();
    }
  }

  /** The host refused what the engine and model now hold: undo both, plumb the old state back. */
  private async plumbOrUndo(undo: AppliedChange): Promise<void> {
    try {
      await this.plumb!(this.cur);
      return;
    } catch (err) {
      const why = (err as Error).message;
      await this.rollback(undo.engineUndo, undo.modelUndo, `host plumbing failed: ${why}`, undo.slice);
      try {
        await this.plumb!(this.cur);
      } catch (again) {
        this.log.error(`host plumbing of the previous configuration failed too: ${(again as Error).message}`);
      }
      throw new LvsError('EHOST', `the host could not carry out the change (${why}); nothing was changed`);
    }
  }

  private async applySliced(
    reqs: readonly Request[],
    batch: boolean,
    check: RequestCheck | null,
  ): Promise<AppliedChange> {
    const refusal = (i: number, err: unknown): unknown =>
      batch && LvsError.is(err) && !(err instanceof BatchError) ? new BatchError(i, reqs[i]!.op, err) : err;
    const slice = new Slice();
    // 1. Dry run on the model: every request checked in order, then undone.
    const dry: Undo[] = [];
    try {
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        try {
          if (r.op === 'batch') throw new LvsError('EINVAL', 'batch cannot be nested in a batch');
          // The host check first: it sees the model with the earlier requests applied.
          const no = check?.(r, this.cur);
          if (no) throw no;
          this.cur.apply(r, dry);
        } catch (err) {
          throw refusal(i, err);
        }
        if (slice.due()) await slice.yield();
      }
    } finally {
      for (let j = dry.length - 1; j >= 0; j--) {
        dry[j]!();
        if (slice.due()) await slice.yield();
      }
    }
    // 2. For real: engine first, then the model; the request resolved and its inverses taken from
    // the model before each request.
    const modelUndo: Undo[] = [];
    const engineUndo: Request[][] = [];
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const inverse = this.cur.inverse(r);
      try {
        this.tables.write(this.cur.resolve(r));
      } catch (err) {
        await this.rollback(engineUndo, modelUndo, err, slice);
        throw refusal(i, err);
      }
      engineUndo.push(inverse);
      this.cur.apply(r, modelUndo);
      if (slice.due()) await slice.yield();
    }
    return { engineUndo, modelUndo, slice };
  }

  /**
   * The host check and the change it approved, one change at a time: the check is asynchronous,
   * and a change applied meanwhile could make its verdict wrong (a LIP and a real server given
   * the same address by two clients at once).
   */
  private checkedChange(reqs: readonly Request[], batch: boolean): Promise<void> {
    return this.inTurn(async () => {
      // Read what the host has (netlink) before the change starts: reads need not wait for it.
      const check = this.hostCheck ? await this.hostCheck(reqs, this.cur) : null;
      await this.change(reqs, batch, check);
    });
  }

  /** Runs `fn` when every change queued before it has ended. */
  private async inTurn(fn: () => Promise<void>): Promise<void> {
    const prev = this.changeTurn;
    let done!: () => void;
    this.changeTurn = new Promise((r) => {
      done = r;
    });
    await prev;
    try {
      await fn();
    } finally {
      done();
    }
  }

  private changeTurn: Promise<void> = Promise.resolve();

  private async rollback(
    engineUndo: Request[][],
    modelUndo: Undo[],
    why: unknown,
    slice: Slice,
  ): Promise<void> {
    if (engineUndo.length > 0) {
      this.log.info(
        `a change failed after ${engineUndo.length} of its requests were applied (${String(why)}); undoing them`,
      );
    }
    for (let j = modelUndo.length - 1; j >= 0; j--) {
      modelUndo[j]!();
      if (slice.due()) await slice.yield();
    }
    for (let i = engineUndo.length - 1; i >= 0; i--) {
      if (slice.due()) await slice.yield();
      for (const inv of engineUndo[i]!) {
        try {
          this.tables.write(inv, true);
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

  /** Rebuilds the slot maps and the model from the engine's tables (after a failed rollback). */
  private resync(): void {
    this.tables.resync();
    const cfg = this.tables.config();
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
