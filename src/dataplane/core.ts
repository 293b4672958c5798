// The engine's tables and the state of the packet being processed, composed from the modules that
// do each job (as IPVS splits ip_vs_core.c, ip_vs_conn.c, ip_vs_xmit.c):
//   pipeline.ts       batches, prefetch, tick          fast-path.ts    the IPv4 fast path
//   full-path.ts      validation and dispatch          xmit.ts         FULLNAT rewrite in/out, TOA
//   conn-lifecycle.ts creation, states, expiry         conn-lookup.ts  in/out tuple lookups
//   local-addrs.ts    VIP/LIP table, service lookup    stats-rollup.ts dest -> service -> total sums
// Those are plain functions over this object's fields (monomorphic, no dispatch on the packet
// path). Everything allocates nothing per packet: typed-array tables, one reusable PacketInfo and
// scheduler context, verdicts as numbers and drop reasons as counters. Control operations
// (engine.ts) build the tables.

import { S_CLOSE, S_LAST, S_TIME_WAIT } from '../common/vocabulary.js';
import { Addr4Map } from './addr4-map.js';
import { PacketBatch, VERDICT_DROP } from './batch.js';
import type { EngineConfig } from './config.js';
import { CONN_F_SP_WAIT, CONN_STRIDE, ConnTable, W_FLAGS } from './conn/table.js';
import { ExpiryWheel } from './conn/timers.js';
import { expireConn, releaseTemplateDest } from './conn-lifecycle.js';
import { C_COUNT } from './counters.js';
import { FlowMap } from './flow-map.js';
import { FragCache } from './frag-cache.js';
import { IcmpTranslator } from './icmp-xlate.js';
import { LaddrPool } from './laddr-pool.js';
import { PacketInfo } from './packet/parse.js';
import { PersistTable } from './persistence.js';
import { processBatch, tickEngine } from './pipeline.js';
import { newSchedCtx } from './sched/scheduler.js';
import type { Dest, Service } from './service.js';
import { ST_STRIDE, Stats } from './stats.js';
import { Synproxy } from './synproxy.js';
import { ToaWriter } from './toa.js';

export class EngineCore {
  readonly cfg: EngineConfig;
  readonly counters = new Float64Array(C_COUNT);
  readonly conns: ConnTable;
  readonly wheel: ExpiryWheel;
  readonly laddrs: LaddrPool;
  readonly persist: PersistTable;
  /**
   * Per-dest counters are the only ones the packet path touches. Service and total counters are
   * sums over dests, rebuilt by syncStats() (stats-rollup.ts); what a freed dest or service had
   * counted moves into the retired arrays so the sums never go back.
   */
  readonly destStats: Stats;
  readonly svcStats: Stats;
  readonly totalStats: Stats;
  readonly svcRetired: Float64Array;
  readonly totalRetired = new Float64Array(ST_STRIDE);
  /** Persistence template id per connection (0 = none). */
  readonly connTmpl: Uint32Array;
  /** Flat copies of service / dest addresses for the packet path (4 words per slot). */
  readonly svcAddr: Uint32Array;
  readonly destAddr: Uint32Array;
  readonly destPort: Uint16Array;
  readonly svcs: (Service | undefined)[];
  readonly dests: (Dest | undefined)[];
  /** (VIP, port, proto, family) -> service slot. */
  readonly svcMap: FlowMap;
  /** IPv6 address -> LIP slot, or LOCAL_VIP (IPv4 addresses are in local4). */
  readonly localMap: FlowMap;
  /** IPv4 address -> LIP slot, or LOCAL_VIP. */
  readonly local4: Addr4Map;
  /** Timeout per state in ms. */
  readonly timeoutMs = new Float64Array(S_LAST);
  /** The packet being processed on the full path (parsePacket fills it). */
  readonly pi = new PacketInfo();
  /** Scheduler input for the connection being created (conn-lifecycle.ts newConn). */
  readonly sctx = newSchedCtx();
  readonly icmp: IcmpTranslator;
  readonly frags: FragCache;
  readonly toa = new ToaWriter();
  /** SYNPROXY state machine, knobs and cookies. */
  readonly sp: Synproxy;
  /**
   * Packets the engine makes itself (SYN retransmissions, released SYNPROXY segments), to be
   * written out after process() or tick() and then cleared by the caller.
   */
  readonly txq: PacketBatch;
  /** The (LIP slot, dest index, rport) that last reached laddr_ports_low (engine-readout.ts portsLow()). */
  portsLowLaddr = -1;
  portsLowDest = -1;
  portsLowRport = 0;
  /** Where the packet being processed lies after processing (TOA may move and grow it). */
  txOff = 0;
  txLen = 0;
  /** Free bytes before and after the packet being processed, in its batch slot. */
  roomFront = 0;
  roomBack = 0;
  readonly expireCb = (id: number): void => {
    // A SYNPROXY connection waiting for its RS wakes for SYN retransmissions first.
    if ((this.conns.w[id * CONN_STRIDE + W_FLAGS]! & CONN_F_SP_WAIT) !== 0 && this.sp.onTimer(id)) return;
    expireConn(this, id);
  };
  /** Engine time of the packets being processed (ms). */
  now: number;
  /**
   * The packet being processed has a partial L4 checksum (offload, PacketBatch.csum): rewrites
   * patch the pseudo-header sum only. Paths that build or keep packets complete it first.
   */
  partial = false;
  /** Prefetch targets of the batch (pipeline.ts). */
  readonly pfIds = new Uint32Array(256);
  /** Address scratch for prefetch() and the fast path; pfSink keeps prefetch loads from being optimised away. */
  readonly pfSrc = new Uint32Array(4);
  readonly pfDst = new Uint32Array(4);
  pfSink = 0;

  constructor(cfg: EngineConfig, now: number) {
    this.cfg = cfg;
    this.now = now;
    this.conns = new ConnTable(cfg.connCapacity, cfg.seed);
    this.wheel = new ExpiryWheel(cfg.connCapacity, cfg.wheelSlots, cfg.wheelGranularityMs, now);
    this.persist = new PersistTable(cfg.maxTemplates, now, cfg.seed ^ 0x5bd1e995);
    this.persist.onRelease = (d) => releaseTemplateDest(this, d);
    this.svcStats = new Stats(cfg.maxServices);
    this.destStats = new Stats(cfg.maxDests);
    this.totalStats = new Stats(1);
    this.svcRetired = new Float64Array(cfg.maxServices * ST_STRIDE);
    this.connTmpl = new Uint32Array(cfg.connCapacity + 1);
    this.svcAddr = new Uint32Array(cfg.maxServices * 4);
    this.destAddr = new Uint32Array(cfg.maxDests * 4);
    this.laddrs = new LaddrPool(
      cfg.maxLaddrs,
      cfg.lportMin,
      cfg.lportMax,
      this.conns.w,
      this.destAddr,
      cfg.maxLaddrTuples,
      cfg.lportRandomStart ? cfg.seed : null,
    );
    this.destPort = new Uint16Array(cfg.maxDests);
    this.svcs = new Array<Service | undefined>(cfg.maxServices).fill(undefined);
    this.dests = new Array<Dest | undefined>(cfg.maxDests).fill(undefined);
    let cap = 16;
    while (cap * 3 < cfg.maxServices * 4) cap *= 2;
    this.svcMap = new FlowMap(cap, cfg.seed ^ 0x27d4eb2f);
    cap = 16;
    while (cap * 3 < (cfg.maxServices + cfg.maxLaddrs) * 4) cap *= 2;
    this.localMap = new FlowMap(cap, cfg.seed ^ 0x165667b1);
    this.local4 = new Addr4Map(cap);
    // FULLNAT's closing timeouts are sysctls (timeout_timewait, timeout_close), held with the knobs.
    cfg.timeouts[S_TIME_WAIT] = cfg.knobs.timeoutTimeWait;
    cfg.timeouts[S_CLOSE] = cfg.knobs.timeoutClose;
    this.setTimeouts(cfg.timeouts);
    this.frags = new FragCache(cfg.fragEntries, 30_000, cfg.seed ^ 0x3c6ef372);
    this.txq = new PacketBatch(cfg.txqSize);
    this.sp = new Synproxy(this, { ...cfg.knobs }, cfg.cookieSecret, cfg.synproxyQueueSlots);
    this.icmp = new IcmpTranslator(this, this.sp.ts);
  }

  setTimeouts(seconds: readonly number[]): void {
    for (let s = 0; s < S_LAST; s++) this.timeoutMs[s] = seconds[s]! * 1000;
  }

  /**
   * Processes every packet of the batch at engine time `now` (ms): each slot gets VERDICT_TX
   * (rewritten in place, to be written back) or VERDICT_DROP (with its reason counted).
   */
  process(batch: PacketBatch, now: number): void {
    processBatch(this, batch, now);
  }

  /** Expires connections and templates whose time has come, and runs the rate estimators. */
  tick(now: number): void {
    tickEngine(this, now);
  }

  drop(reason: number): number {
    this.counters[reason]! += 1;
    return VERDICT_DROP;
  }

  /** Hook for engine.ts: frees slots of deleted services, dests and LIPs once unused. */
  onConnGone(_svc: Service, _dest: Dest, _la: number): void {}

  /** Hook for engine.ts: frees a removed dest's slot once nothing (connection, template) uses it. */
  releaseTemplateDestIfIdle(_destIdx: number): void {}
}
