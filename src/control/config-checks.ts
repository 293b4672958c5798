// Checks on configuration values: the control model's (config-model.ts), the only validator.
import { type Family, type IpAddr, parseIp } from '../common/addr.js';
import { LvsError } from '../common/errors.js';
import { PROTO_TCP, PROTO_UDP, type Proto, SCHEDULER_NAMES } from '../common/vocabulary.js';

export const MAX_WEIGHT = 65535;
export const MAX_PERSIST_S = 0x7fffffff / 1000;
export const MAX_THRESHOLD = 0x7fffffff;

export function protoNum(p: string): Proto {
  if (p === 'tcp') return PROTO_TCP;
  if (p === 'udp') return PROTO_UDP;
  throw new LvsError('EINVAL', `unknown protocol ${String(p)}`);
}

export function parseAddr(text: string, what: string): IpAddr {
  const a = parseIp(text);
  if (!a) throw new LvsError('EINVAL', `invalid ${what} address ${JSON.stringify(text)}`);
  return a;
}

export function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new LvsError('EINVAL', `invalid ${what} port ${port}`);
}

export function checkUint(v: number | undefined, max: number, what: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) {
    throw new LvsError('EINVAL', `${what} must be an integer from 0 to ${max}`);
  }
}

export interface ServiceOptionValues {
  sched?: string;
  schedFlags?: number;
  persistTimeout?: number;
  persistPrefix?: number;
}

/** Options of -A/-E; `currentPersist` is the service's persistence timeout for -E. */
export function checkServiceOptions(
  family: Family,
  port: number,
  o: ServiceOptionValues,
  currentPersist = 0,
): void {
  if (o.sched !== undefined && !SCHEDULER_NAMES.includes(o.sched)) {
    throw new LvsError('SCHED_NOT_FOUND', `Scheduler not found: ${o.sched}`);
  }
  checkUint(o.schedFlags, 7, 'scheduler flags');
  if (
    o.persistTimeout !== undefined &&
    (!Number.isFinite(o.persistTimeout) || o.persistTimeout < 0 || o.persistTimeout > MAX_PERSIST_S)
  ) {
    throw new LvsError('EINVAL', 'persistence timeout out of range');
  }
  if (o.persistPrefix !== undefined)
    checkUint(o.persistPrefix, family === 4 ? 32 : 128, 'persistence netmask');
  if (port === 0 && (o.persistTimeout ?? currentPersist) <= 0) {
    throw new LvsError('EINVAL', 'Zero port specified for non-persistent service');
  }
}

export interface DestValues {
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
}

/** Weight and thresholds of -a/-e, against the dest's current values for -e. */
export function checkDestValues(c: DestValues, cur?: DestValues): void {
  checkUint(c.weight, MAX_WEIGHT, 'weight');
  checkUint(c.uThreshold, MAX_THRESHOLD, 'upper threshold');
  checkUint(c.lThreshold, MAX_THRESHOLD, 'lower threshold');
  const u = c.uThreshold ?? cur?.uThreshold ?? 0;
  const l = c.lThreshold ?? cur?.lThreshold ?? 0;
  if (u > 0 && l > u) throw new LvsError('EINVAL', 'lower threshold is above the upper threshold');
}
