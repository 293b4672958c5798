// host-state.json in the daemon's state directory: what a running plumber changed that the kernel
// would not undo by itself when the daemon dies. Routes are not listed (they carry our rtnetlink
// protocol number and vanish with the TUN); proxy neighbour entries are, because they outlive the
// TUN, and so are the original sysctl values. Written atomically (temp file, fsync, rename,
// fsync of the directory) before every change it describes, so after kill -9 the next start
// finds at least everything that was changed.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { asHostError, errnoOf, HostError } from './errors.js';
import type { SavedSysctl } from './sysctl.js';

export const HOST_STATE_FILE = 'host-state.json';
const VERSION = 1;

export interface ProxyRecord {
  addr: string;
  dev: string;
}

export interface HostState {
  version: number;
  /** pid of the plumber that wrote it (for messages). */
  pid: number;
  tun: string;
  routeProtocol: number;
  /** Original values, in the order they must be restored. */
  sysctls: SavedSysctl[];
  /** Proxy neighbour entries this plumber added. */
  proxies: ProxyRecord[];
}

export function hostStatePath(stateDir: string): string {
  return join(stateDir, HOST_STATE_FILE);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validate(path: string, v: unknown): HostState {
  const bad = (what: string) => new HostError('HOST_STATE', `${path}: ${what}`);
  if (!isRecord(v)) throw bad('not a JSON object');
  if (v.version !== VERSION) throw bad(`unsupported version ${JSON.stringify(v.version)}`);
  if (typeof v.tun !== 'string' || typeof v.routeProtocol !== 'number')
    throw bad('missing tun or routeProtocol');
  if (!Array.isArray(v.sysctls) || !Array.isArray(v.proxies)) throw bad('missing sysctls or proxies');
  for (const s of v.sysctls)
    if (!isRecord(s) || typeof s.key !== 'string' || typeof s.value !== 'string')
      throw bad('bad sysctl entry');
  for (const p of v.proxies)
    if (!isRecord(p) || typeof p.addr !== 'string' || typeof p.dev !== 'string') throw bad('bad proxy entry');
  return v as unknown as HostState;
}

/** The state left by a previous run, or null when there is none. */
export function readHostState(stateDir: string): HostState | null {
  const path = hostStatePath(stateDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw asHostError('HOST_STATE', `read ${path}`, e);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw asHostError('HOST_STATE', `parse ${path}`, e);
  }
  return validate(path, v);
}

export function writeHostState(stateDir: string, state: HostState): void {
  const path = hostStatePath(stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dfd = openSync(stateDir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    throw asHostError('HOST_STATE', `write ${path}`, e);
  }
}

export function removeHostState(stateDir: string): void {
  const path = hostStatePath(stateDir);
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw asHostError('HOST_STATE', `remove ${path}`, e);
  }
}
