// Brings up the control plane of a daemon: refuse if another daemon owns the socket, load the
// state (refuse to start on a corrupt file), restore it into the engine, then listen. The daemon
// (src/daemon/) calls this once its engine exists; tests run it in a child process.

import type { Engine } from '../dataplane/engine.js';
import type { ConfigModel } from './config-model.js';
import { type ChangeListener, ControlService, type HostCheck } from './control-service.js';
import { type Log, stderrLog } from './log.js';
import { ControlServer, loadNativePeerCred, type PeerCredFn, probeSocket } from './server.js';
import { StateStore } from './state-store.js';

export interface ControlPlaneOptions {
  engine: Engine;
  stateDir: string;
  socketPath: string;
  log?: Log;
  /** SO_PEERCRED reader; 'native' (default) loads the addon's, null relies on the socket mode. */
  peerCred?: PeerCredFn | null | 'native';
  /** Told about the restored configuration and every change after it. */
  onChange?: ChangeListener;
  /** Asked before every change (not the restore at start). */
  hostCheck?: HostCheck;
  /** Carries every change out on the host; a change it fails for is undone (ControlServiceOptions). */
  plumb?: (model: ConfigModel) => Promise<void>;
  version?: string;
  tun?: string;
}

export interface ControlPlane {
  service: ControlService;
  server: ControlServer;
  store: StateStore;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.log ?? stderrLog;
  // Before touching the state directory: a live daemon may be saving into it right now.
  if ((await probeSocket(opts.socketPath)) === 'live') {
    throw new Error(`another lvsadm daemon is running on ${opts.socketPath}`);
  }
  const store = new StateStore(opts.stateDir, { log });
  const config = await store.load();
  const service = new ControlService({
    engine: opts.engine,
    store,
    log,
    ...(opts.version !== undefined ? { version: opts.version } : {}),
    ...(opts.tun !== undefined ? { tun: opts.tun } : {}),
    ...(opts.hostCheck !== undefined ? { hostCheck: opts.hostCheck } : {}),
    ...(opts.plumb !== undefined ? { plumb: opts.plumb } : {}),
  });
  if (opts.onChange) service.onChange(opts.onChange);
  if (config) {
    await service.restore(config);
    log.info(`restored ${config.services.length} services from ${store.file}`);
  }
  const peerCred =
    opts.peerCred === undefined || opts.peerCred === 'native' ? await loadNativePeerCred() : opts.peerCred;
  const server = await ControlServer.start({ socketPath: opts.socketPath, handler: service, peerCred, log });
  return { service, server, store, close: () => server.close() };
}
