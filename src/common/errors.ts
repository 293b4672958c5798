// Errors of the control path. The engine's packet path never throws: it counts.
// Codes are stable; messages are ipvsadm's words where ipvsadm has words for the case.

export type LvsErrorCode =
  | 'EINVAL' // malformed argument or out-of-range value
  | 'SVC_EXISTS'
  | 'SVC_NOT_FOUND'
  | 'DEST_EXISTS'
  | 'DEST_NOT_FOUND'
  | 'LADDR_EXISTS'
  | 'LADDR_NOT_FOUND'
  | 'SCHED_NOT_FOUND'
  | 'NO_MEMORY' // a fixed-size table is full
  | 'FAMILY_MISMATCH'
  | 'UNSUPPORTED'
  | 'EHOST'; // the host could not carry out a change (routes, proxy entries): it was undone

const DEFAULT_MESSAGES: Record<LvsErrorCode, string> = {
  EINVAL: 'Invalid argument',
  SVC_EXISTS: 'Service already exists',
  SVC_NOT_FOUND: 'Service not defined',
  DEST_EXISTS: 'Destination already exists',
  DEST_NOT_FOUND: 'No such destination',
  LADDR_EXISTS: 'Local address already exists',
  LADDR_NOT_FOUND: 'No such local address',
  SCHED_NOT_FOUND: 'Scheduler not found',
  NO_MEMORY: 'Memory allocation problem',
  FAMILY_MISMATCH: 'Address family mismatch',
  UNSUPPORTED: 'Operation not supported',
  EHOST: 'The host could not carry out the change',
};

const BRAND = Symbol.for('lvsadm.LvsError');

export class LvsError extends Error {
  readonly code: LvsErrorCode;
  readonly [BRAND] = true;

  constructor(code: LvsErrorCode, message?: string) {
    super(message ?? DEFAULT_MESSAGES[code]);
    this.name = 'LvsError';
    this.code = code;
  }

  static is(e: unknown): e is LvsError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
