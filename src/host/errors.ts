// Errors of the host plumbing. Each names the operation and the object it was about
// ("route add 203.0.113.10/32 dev lvs0 proto 250: EEXIST ..."), and carries a stable code.

export type HostErrorCode =
  | 'HOST_NETLINK' // the kernel refused an rtnetlink request (errno in `errno`)
  | 'HOST_SYSCTL' // reading or writing /proc/sys failed
  | 'HOST_STATE' // the state file could not be read or written
  | 'HOST_CONFIG' // an address or device in the configuration cannot be plumbed
  | 'HOST_PARTIAL'; // several operations failed; `causes` lists them

const BRAND = Symbol.for('lvsadm.HostError');

export class HostError extends Error {
  readonly code: HostErrorCode;
  /** errno name (`EEXIST`, `ENOENT`, ...) when the kernel or the file system gave one. */
  readonly errno: string | undefined;
  /** The failed operations, for HOST_PARTIAL. */
  readonly causes: readonly HostError[];
  readonly [BRAND] = true;

  constructor(code: HostErrorCode, message: string, errno?: string, causes: readonly HostError[] = []) {
    super(message);
    this.name = 'HostError';
    this.code = code;
    this.errno = errno;
    this.causes = causes;
  }

  static is(e: unknown): e is HostError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }

  /** One error for a list of failures: the error itself when there is one, HOST_PARTIAL otherwise. */
  static combine(what: string, errors: readonly HostError[]): HostError {
    if (errors.length === 1) return errors[0]!;
    const lines = errors.map((e) => `  ${e.message}`).join('\n');
    return new HostError(
      'HOST_PARTIAL',
      `${what}: ${errors.length} operations failed:\n${lines}`,
      undefined,
      errors,
    );
  }
}

/** errno name of a Node system error (`err.code`), or undefined. */
export function errnoOf(e: unknown): string | undefined {
  if (HostError.is(e)) return e.errno;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Wraps anything thrown into a HostError with the given code and operation text. */
export function asHostError(code: HostErrorCode, op: string, e: unknown): HostError {
  if (HostError.is(e)) return e;
  const errno = errnoOf(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new HostError(code, `${op}: ${msg}`, errno);
}
