// Validation of untrusted requests read from the control socket (JSON.parse output). Every field
// is checked for type and range and unknown fields are refused, so a typo in a client (`weigth`)
// fails loudly instead of being ignored. Semantic checks (does the service exist, is the
// scheduler known, ...) are the model's and the engine's: this only makes sure the shapes are
// what protocol.ts says. Errors name the offending field by its path (`req.requests[3].dest.port`).
import { parseIp } from '../common/addr.js';
import { isSysctlName, MAX_SYSCTL_VALUE, SYSCTL_NAMES } from '../common/sysctls.js';
import { PROTOCOL_VERSION, type Request, type RequestEnvelope, type ResponseError } from './protocol.js';

/** Most requests in one batch (an -R of a large configuration is one batch). */
export const MAX_BATCH_REQUESTS = 200_000;
/** Largest listConns limit a client may ask for. */
export const MAX_CONN_LIMIT = 1 << 24;
/** Longest persistence timeout in seconds (as the engine: the value in ms fits 31 bits). */
export const MAX_PERSIST_TIMEOUT_S = Math.floor(0x7fffffff / 1000);
export const MAX_WEIGHT = 65535;
export const MAX_THRESHOLD = 0x7fffffff;
export const MAX_TIMEOUT_S = 0x7fffffff;
/** Longest scheduler name accepted on the wire (real ones are 2-5 letters). */
const MAX_SCHED_NAME = 32;
/** Longest address text (IPv6 with an embedded IPv4 is at most 45). */
const MAX_ADDR_TEXT = 64;

/** An error as the wire carries it. */
export type WireError = ResponseError;

export type EnvelopeCheck =
  | { ok: true; env: RequestEnvelope }
  /** `id` is the envelope's id when it could be read, else 0. */
  | { ok: false; id: number; error: WireError };

class Invalid extends Error {}

function fail(path: string, what: string): never {
  throw new Invalid(`invalid request: ${path} ${what}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(path, `must be an object (got ${describe(v)})`);
  return v as Obj;
}

/** Refuses fields other than `allowed` (own enumerable keys; JSON.parse makes nothing else). */
function only(o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(`${path}.${k}`, 'is not a known field');
  }
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `must be an integer from ${min} to ${max} (got ${describe(v)})`);
  }
  return v;
}

function optInt(o: Obj, k: string, path: string, min: number, max: number): void {
  if (o[k] !== undefined) int(o[k], `${path}.${k}`, min, max);
}

function optBool(o: Obj, k: string, path: string): void {
  if (o[k] !== undefined && typeof o[k] !== 'boolean') {
    fail(`${path}.${k}`, `must be true or false (got ${describe(o[k])})`);
  }
}

function addr(v: unknown, path: string): void {
  if (typeof v !== 'string') fail(path, `must be an IP address string (got ${describe(v)})`);
  if (v.length > MAX_ADDR_TEXT || parseIp(v) === null)
    fail(path, `is not an IP address (got ${describe(v)})`);
}

function port(v: unknown, path: string): void {
  int(v, path, 0, 65535);
}

function svcKey(v: unknown, path: string): void {
  const o = obj(v, path);
  only(o, path, ['proto', 'addr', 'port']);
  if (o.proto !== 'tcp' && o.proto !== 'udp')
    fail(`${path}.proto`, `must be "tcp" or "udp" (got ${describe(o.proto)})`);
  addr(o.addr, `${path}.addr`);
  port(o.port, `${path}.port`);
}

function svcOpts(v: unknown, path: string): void {
  const o = obj(v, path);
  only(o, path, ['sched', 'schedFlags', 'persistTimeout', 'persistPrefix', 'synproxy', 'toa']);
  if (o.sched !== undefined) {
    const s = o.sched;
    if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SCHED_NAME) {
      fail(`${path}.sched`, `must be a scheduler name (got ${describe(s)})`);
    }
  }
  optInt(o, 'schedFlags', path, 0, 7);
  optInt(o, 'persistTimeout', path, 0, MAX_PERSIST_TIMEOUT_S);
  // The family decides 32 or 128; the model and engine check the exact bound.
  optInt(o, 'persistPrefix', path, 0, 128);
  optBool(o, 'synproxy', path);
  optBool(o, 'toa', path);
}

function destChange(o: Obj, path: string): void {
  optInt(o, 'weight', path, 0, MAX_WEIGHT);
  optInt(o, 'uThreshold', path, 0, MAX_THRESHOLD);
  optInt(o, 'lThreshold', path, 0, MAX_THRESHOLD);
}

/** Sysctl name -> integer; known names only (their ranges are the model's). */
function sysctlValues(v: unknown, path: string, atLeastOne: boolean): void {
  const o = obj(v, path);
  const names = Object.keys(o);
  if (atLeastOne && names.length === 0) fail(path, 'must set at least one sysctl');
  for (const k of names) {
    if (!isSysctlName(k)) fail(`${path}.${k}`, `is not a known sysctl (one of ${SYSCTL_NAMES.join(', ')})`);
    int(o[k], `${path}.${k}`, 0, MAX_SYSCTL_VALUE);
  }
}

const NO_FIELDS = ['op'] as const;

/** Checks one request; `nested` is true inside a batch (where batches are refused). */
function request(v: unknown, path: string, nested: boolean, deferBatch = false): Request {
  const o = obj(v, path);
  const op = o.op;
  if (typeof op !== 'string') fail(`${path}.op`, `must be an operation name (got ${describe(op)})`);
  switch (op) {
    case 'addService':
    case 'editService':
      only(o, path, ['op', 'svc', 'opts']);
      svcKey(o.svc, `${path}.svc`);
      svcOpts(o.opts, `${path}.opts`);
      break;
    case 'delService':
      only(o, path, ['op', 'svc']);
      svcKey(o.svc, `${path}.svc`);
      break;
    case 'addDest': {
      only(o, path, ['op', 'svc', 'dest']);
      svcKey(o.svc, `${path}.svc`);
      const d = obj(o.dest, `${path}.dest`);
      only(d, `${path}.dest`, ['addr', 'port', 'weight', 'uThreshold', 'lThreshold']);
      addr(d.addr, `${path}.dest.addr`);
      port(d.port, `${path}.dest.port`);
      destChange(d, `${path}.dest`);
      break;
    }
    case 'editDest': {
      only(o, path, ['op', 'svc', 'addr', 'port', 'change']);
      svcKey(o.svc, `${path}.svc`);
      addr(o.addr, `${path}.addr`);
      port(o.port, `${path}.port`);
      const c = obj(o.change, `${path}.change`);
      only(c, `${path}.change`, ['weight', 'uThreshold', 'lThreshold']);
      destChange(c, `${path}.change`);
      break;
    }
    case 'delDest':
      only(o, path, ['op', 'svc', 'addr', 'port']);
      svcKey(o.svc, `${path}.svc`);
      addr(o.addr, `${path}.addr`);
      port(o.port, `${path}.port`);
      break;
    case 'addLaddr':
    case 'delLaddr':
      only(o, path, ['op', 'svc', 'addr']);
      svcKey(o.svc, `${path}.svc`);
      addr(o.addr, `${path}.addr`);
      break;
    case 'zero':
    case 'list':
      only(o, path, ['op', 'svc']);
      if (o.svc !== undefined) svcKey(o.svc, `${path}.svc`);
      break;
    case 'setTimeouts': {
      only(o, path, ['op', 'timeouts']);
      const t = obj(o.timeouts, `${path}.timeouts`);
      only(t, `${path}.timeouts`, ['tcp', 'tcpfin', 'udp']);
      optInt(t, 'tcp', `${path}.timeouts`, 0, MAX_TIMEOUT_S);
      optInt(t, 'tcpfin', `${path}.timeouts`, 0, MAX_TIMEOUT_S);
      optInt(t, 'udp', `${path}.timeouts`, 0, MAX_TIMEOUT_S);
      break;
    }
    case 'setSysctl':
      only(o, path, ['op', 'values']);
      sysctlValues(o.values, `${path}.values`, true);
      break;
    case 'getSysctl': {
      only(o, path, ['op', 'names']);
      if (o.names === undefined) break;
      const ns = o.names;
      if (!Array.isArray(ns)) fail(`${path}.names`, `must be an array (got ${describe(ns)})`);
      if (ns.length > SYSCTL_NAMES.length * 4) {
        fail(`${path}.names`, `has ${ns.length} names, at most ${SYSCTL_NAMES.length * 4} are allowed`);
      }
      ns.forEach((n: unknown, i: number) => {
        if (typeof n !== 'string' || !isSysctlName(n)) {
          fail(`${path}.names[${i}]`, `is not a known sysctl (got ${describe(n)})`);
        }
      });
      break;
    }
    case 'batch': {
      if (nested) fail(`${path}.op`, 'batch cannot be nested in a batch');
      only(o, path, ['op', 'requests']);
      const rs = o.requests;
      if (!Array.isArray(rs)) fail(`${path}.requests`, `must be an array (got ${describe(rs)})`);
      if (rs.length > MAX_BATCH_REQUESTS) {
        fail(`${path}.requests`, `has ${rs.length} requests, at most ${MAX_BATCH_REQUESTS} are allowed`);
      }
      if (!deferBatch) for (let i = 0; i < rs.length; i++) batchEntry(rs[i], `${path}.requests`, i);
      break;
    }
    case 'listConns':
      only(o, path, ['op', 'limit', 'stream']);
      optInt(o, 'limit', path, 0, MAX_CONN_LIMIT);
      optBool(o, 'stream', path);
      break;
    case 'flush':
    case 'getTimeouts':
    case 'dump':
    case 'counters':
    case 'status':
      only(o, path, NO_FIELDS);
      break;
    default:
      fail(`${path}.op`, `is not a known operation (got ${describe(op)})`);
  }
  return o as unknown as Request;
}

const MUTATING = new Set<Request['op']>([
  'addService',
  'editService',
  'delService',
  'flush',
  'addDest',
  'editDest',
  'delDest',
  'addLaddr',
  'delLaddr',
  'zero',
  'setTimeouts',
  'setSysctl',
  'batch',
]);

/** True for operations that change the configuration or counters (and may appear in a batch, except batch). */
export function isMutating(op: Request['op']): boolean {
  return MUTATING.has(op);
}

/** Entry `i` of a batch's requests (at `path`): a change, not itself a batch. */
function batchEntry(v: unknown, path: string, i: number): Request {
  const r = request(v, `${path}[${i}]`, true);
  if (!isMutating(r.op)) fail(`${path}[${i}].op`, `${r.op} is not a change and cannot be batched`);
  return r;
}

/**
 * Checks entries [from, to) of the requests of a batch that validateEnvelope(v, true) passed
 * unchecked (the server checks a large batch in slices): null, or what is wrong.
 */
export function validateBatchEntries(reqs: readonly unknown[], from: number, to: number): WireError | null {
  try {
    for (let i = from; i < to; i++) batchEntry(reqs[i], 'req.requests', i);
    return null;
  } catch (e) {
    if (e instanceof Invalid) return { code: 'EINVAL', message: e.message };
    throw e;
  }
}

/** Checks a request that did not come through an envelope (e.g. a state file replay). */
export function validateRequest(v: unknown): { ok: true; req: Request } | { ok: false; error: WireError } {
  try {
    return { ok: true, req: request(v, 'req', false) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { code: 'EINVAL', message: e.message } };
    throw e;
  }
}

/**
 * Checks an envelope parsed from one line of the socket. With `deferBatch`, a batch's entries are
 * left to validateBatchEntries(). A version other than PROTOCOL_VERSION
 * is refused with code EVERSION (before the request is looked at: a newer client's request may
 * have shapes this daemon does not know).
 */
export function validateEnvelope(v: unknown, deferBatch = false): EnvelopeCheck {
  let id = 0;
  try {
    const o = obj(v, 'envelope');
    if (typeof o.id === 'number' && Number.isSafeInteger(o.id) && o.id >= 0) id = o.id;
    only(o, 'envelope', ['v', 'id', 'req']);
    int(o.v, 'v', 0, Number.MAX_SAFE_INTEGER);
    int(o.id, 'id', 0, Number.MAX_SAFE_INTEGER);
    if (o.v !== PROTOCOL_VERSION) {
      return {
        ok: false,
        id,
        error: {
          code: 'EVERSION',
          message: `protocol version ${String(o.v)} is not supported: this daemon speaks version ${PROTOCOL_VERSION}`,
        },
      };
    }
    const req = request(o.req, 'req', false, deferBatch);
    return { ok: true, env: { v: o.v as number, id: o.id as number, req } };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, id, error: { code: 'EINVAL', message: e.message } };
    throw e;
  }
}

/**
 * Checks the shape of a stored configuration (the state file's `config`): every option present,
 * every value in range; `sysctl` may be absent or partial (missing values are the defaults) and
 * its ranges are the model's. Whether the parts fit together (no duplicates, families) is the model's.
 * Throws an Error naming the bad field.
 */
export function checkConfigShape(v: unknown, path = 'config'): void {
  try {
    const c = obj(v, path);
    only(c, path, ['services', 'timeouts', 'sysctl']);
    const t = obj(c.timeouts, `${path}.timeouts`);
    only(t, `${path}.timeouts`, ['tcp', 'tcpfin', 'udp']);
    for (const k of ['tcp', 'tcpfin', 'udp']) int(t[k], `${path}.timeouts.${k}`, 1, MAX_TIMEOUT_S);
    // Absent in files written before the sysctls existed (and names absent are defaults).
    if (c.sysctl !== undefined) sysctlValues(c.sysctl, `${path}.sysctl`, false);
    const ss = c.services;
    if (!Array.isArray(ss)) fail(`${path}.services`, `must be an array (got ${describe(ss)})`);
    for (let i = 0; i < ss.length; i++) {
      const p = `${path}.services[${i}]`;
      const s = obj(ss[i], p);
      only(s, p, ['svc', 'opts', 'dests', 'laddrs']);
      svcKey(s.svc, `${p}.svc`);
      svcOpts(s.opts, `${p}.opts`);
      const o = s.opts as Obj;
      for (const k of ['sched', 'schedFlags', 'persistTimeout', 'persistPrefix', 'synproxy', 'toa']) {
        if (o[k] === undefined) fail(`${p}.opts.${k}`, 'is missing');
      }
      if (!Array.isArray(s.dests)) fail(`${p}.dests`, `must be an array (got ${describe(s.dests)})`);
      s.dests.forEach((d: unknown, j: number) => {
        const dp = `${p}.dests[${j}]`;
        const dd = obj(d, dp);
        only(dd, dp, ['addr', 'port', 'weight', 'uThreshold', 'lThreshold']);
        addr(dd.addr, `${dp}.addr`);
        port(dd.port, `${dp}.port`);
        int(dd.weight, `${dp}.weight`, 0, MAX_WEIGHT);
        int(dd.uThreshold, `${dp}.uThreshold`, 0, MAX_THRESHOLD);
        int(dd.lThreshold, `${dp}.lThreshold`, 0, MAX_THRESHOLD);
      });
      if (!Array.isArray(s.laddrs)) fail(`${p}.laddrs`, `must be an array (got ${describe(s.laddrs)})`);
      s.laddrs.forEach((a: unknown, j: number) => {
        addr(a, `${p}.laddrs[${j}]`);
      });
    }
  } catch (e) {
    if (e instanceof Invalid) throw new Error(e.message.replace(/^invalid request: /, ''));
    throw e;
  }
}
