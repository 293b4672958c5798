// lvsadm daemon: the engine on a TUN device, driven through the control socket.
// Start-up order matters: take the instance locks and refuse if another daemon owns the socket
// (before touching anything of the host), then host plumbing (cleans up after a crashed run,
// creates the TUN without IPv6 chatter), then the control plane (restores the saved configuration, which brings routes and
// proxy entries in step), then the packet pump and the clock.
import { getRandomValues } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Family, formatIp } from '../common/addr.js';
import type { ConfigModel } from '../control/config-model.js';
import type { Log } from '../control/log.js';
import { probeSocket } from '../control/server.js';
import { type ControlPlane, startControlPlane } from '../control/start.js';
import type { PacketBatch } from '../dataplane/batch.js';
import { PacketBatch as Batch } from '../dataplane/batch.js';
import { Engine } from '../dataplane/engine.js';
import { needsHostCheck, requestChecker } from '../host/host-check.js';
import { HostPlumber } from '../host/plumber.js';
import type { PacketIo } from '../io/pump.js';
import { Pump } from '../io/pump.js';
import { OFFLOAD_HEADROOM, OFFLOAD_SLOT_SIZE, TunIo } from '../io/tun-io.js';
import { InstanceLock } from './instance-lock.js';
import { portsLowWarner } from './ports-low-warning.js';

export interface DaemonOptions {
  socketPath: string;
  stateDir: string;
  tun: string;
  /** TUN queues (multi-queue when > 1). */
  queues: number;
  /**
   * TUN checksum/segmentation offload: the kernel hands over TCP GSO packets up to 64 KB with
   * partial checksums, and takes them back that way (one read and one write per 64 KB).
   * 'auto' uses it where the kernel offers it and says so when it does not.
   */
  offload: 'on' | 'off' | 'auto';
  connCapacity: number;
  /** Engine clock tick: expiry and rate estimation (ms). */
  tickMs: number;
  /**
   * How often the host plumbing is brought in step again (ms, 0 = never): a link that goes down
   * takes the proxy entries on it along, and someone may delete a route or entry by hand.
   */
  hostCheckMs: number;
  /** SYN cookie secret rotation period (ms). */
  cookieRotateMs: number;
  version: string;
  log: Log;
}

export interface Daemon {
  readonly engine: Engine;
  /** Resolves when the daemon has stopped (after stop() or a signal). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const lock = InstanceLock.acquire(opts.stateDir, opts.socketPath);
  try {
    return await startLocked(opts, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function startLocked(opts: DaemonOptions, lock: InstanceLock): Promise<Daemon> {
  const log = opts.log;
  // A daemon of an older version holds no lock: the socket still tells.
  if ((await probeSocket(opts.socketPath)) === 'live') {
    throw new Error(`another lvsadm daemon is running on ${opts.socketPath}`);
  }
  const clock = () => performance.now();
  // A fresh random seed per start (the default) also starts each LIP's port cursor elsewhere (lportRandomStart).
  const engine = new Engine({ connCapacity: opts.connCapacity, lportRandomStart: true }, clock());
  const plumber = new HostPlumber({ stateDir: opts.stateDir, log: (l) => log.info(l) });
  let tun: TunIo | null = null;
  await plumber.start({
    tun: opts.tun,
    createTun: () => {
      try {
        tun = TunIo.open({ name: opts.tun, queues: opts.queues, offload: opts.offload !== 'off' });
      } catch (e) {
        if (opts.offload !== 'auto') throw e;
        log.warn(`tun ${opts.tun}: no offload (${(e as Error).message}); one packet per MTU`);
        tun = TunIo.open({ name: opts.tun, queues: opts.queues });
      }
    },
  });
  const tunIo = tun as unknown as TunIo;

  // Routes and proxy entries follow the configured VIPs and LIPs, and those of deleted services
  // and LIPs whose connections still drain (engine.drainingAddrs(); looked at again when the
  // engine's drainGen moves, on the tick): deleting them must not cut their connections in half.
  // Changes are applied one at a time, and only the latest wanted state matters when several
  // queue up. A failure that repeats on every periodic check is logged once, until it changes.
  let configured: ConfigModel | null = null;
  const wantedNow = () => {
    const d = engine.drainingAddrs();
    const text = (l: { family: Family; addr: Uint32Array }[]) => l.map((a) => formatIp(a.family, a.addr));
    const union = (a: string[], b: string[]) => (b.length === 0 ? a : [...new Set([...a, ...b])]);
    return {
      vips: union(configured?.vips() ?? [], text(d.vips)),
      lips: union(configured?.lips() ?? [], text(d.lips)),
    };
  };
  let current: { vips: string[]; lips: string[] } = { vips: [], lips: [] };
  let wanted: { vips: string[]; lips: string[] } | null = null;
  let syncing: Promise<void> = Promise.resolve();
  let lastError = '';
  const syncWanted = (): Promise<void> => {
    syncing = syncing.then(async () => {
      const w = wanted;
      if (!w) return;
      wanted = null;
      try {
        await plumber.sync(w);
        lastError = '';
      } catch (e) {
        const msg = (e as Error).message;
        if (msg !== lastError) log.error(`host sync: ${msg}`);
        lastError = msg;
      }
    });
    return syncing;
  };
  let drainGen = engine.drainGen;
  const syncHost = (model: ConfigModel): Promise<void> => {
    configured = model;
    drainGen = engine.drainGen;
    current = wantedNow();
    wanted = current;
    return syncWanted();
  };
  // A change's own plumbing (in its turn): a failure is thrown back, so the control service
  // undoes the change and plumbs the previous configuration (all or nothing, host included).
  const plumbChange = (model: ConfigModel): Promise<void> => {
    configured = model;
    drainGen = engine.drainGen;
    current = wantedNow();
    wanted = null;
    const w = current;
    const run = syncing.then(async () => {
      await plumber.sync(w);
    });
    syncing = run.then(
      () => {
        lastError = '';
      },
      () => {},
    );
    return run;
  };

  let control: ControlPlane;
  try {
    control = await startControlPlane({
      engine,
      stateDir: opts.stateDir,
      socketPath: opts.socketPath,
      log,
      plumb: plumbChange,
      // Refuses, before anything changes, what the host cannot carry out (host-check.ts).
      hostCheck: async (reqs, model) =>
        reqs.some(needsHostCheck) ? requestChecker(reqs, model, await plumber.view()) : null,
      version: opts.version,
      tun: opts.tun,
    });
  } catch (e) {
    tunIo.close();
    await plumber.stop();
    throw e;
  }

  // Packets the engine makes itself go out right after the batch that caused them.
  const flushTxq = (): void => {
    if (engine.txq.count > 0) {
      tunIo.writeFrom(engine.txq);
      engine.txq.clear();
    }
  };
  const io: PacketIo = {
    readInto: (b: PacketBatch) => tunIo.readInto(b),
    writeFrom: (b: PacketBatch) => {
      const n = tunIo.writeFrom(b);
      flushTxq();
      return n;
    },
    onReadable: (cb) => tunIo.onReadable(cb),
    close: () => tunIo.close(),
    get counters() {
      return tunIo.counters;
    },
  };
  const batch = tunIo.offload ? new Batch(64, OFFLOAD_SLOT_SIZE, OFFLOAD_HEADROOM) : new Batch(64);
  const pump = new Pump(io, { process: (b, now) => engine.process(b, now), now: clock }, batch, {
    onError: (err) => log.error(`tun: ${err.message}`),
  });
  pump.start();
  const warnPortsLow = portsLowWarner(engine, log);
  const ticker = setInterval(() => {
    const now = clock();
    engine.tick(now);
    warnPortsLow(now);
    flushTxq();
    if (engine.drainGen !== drainGen) void syncHost(configured ?? control.service.model);
  }, opts.tickMs);
  const hostChecker =
    opts.hostCheckMs > 0
      ? setInterval(() => {
          wanted ??= current;
          void syncWanted();
        }, opts.hostCheckMs)
      : null;
  const rotator = setInterval(
    () => engine.rotateCookieSecret(getRandomValues(new Uint32Array(4))),
    opts.cookieRotateMs,
  );
  log.info(
    `lvsadm daemon ${opts.version}: tun ${opts.tun}${tunIo.offload ? ' (offload)' : ''}, control socket ${opts.socketPath}, state ${opts.stateDir}`,
  );

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(ticker);
      clearInterval(rotator);
      if (hostChecker) clearInterval(hostChecker);
      pump.stop();
      await control.close();
      await syncing;
      await plumber.stop();
      tunIo.close();
      lock.release();
      log.info('lvsadm daemon stopped; routes, proxy entries and sysctls restored');
      resolveDone();
    })();
    return stopping;
  };
  return { engine, done, stop };
}
