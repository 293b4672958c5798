// Preconditions of privileged suites (root, a tool, a kernel feature). Outside CI a suite that
// cannot run is reported skipped with the reason; with CI=true it fails with that reason instead,
// so CI never passes on tests that did not run. Every privileged suite goes through here.

import { describe, type SuiteContext, type TestContext, test } from 'node:test';

/** CI as CI systems set it (CI=true; also 1/yes); CI=false or unset is a developer's run. */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0' && v !== 'no';
}

export class PreconditionError extends Error {
  constructor(reason: string) {
    super(`cannot run here, and CI=true turns that into a failure: ${reason}`);
    this.name = 'PreconditionError';
  }
}

/** Options of describe()/test() that this module fills in itself. */
type Options = { timeout?: number; concurrency?: number | boolean };
type SuiteFn = (s: SuiteContext) => void | Promise<void>;
type TestFn = (t: TestContext) => void | Promise<void>;

export interface Privileged {
  /** Why the suite cannot run here, or null when it can. */
  readonly reason: string | null;
  /** describe() that runs when possible, else skips (outside CI) or is one failing test (CI). */
  describe(name: string, options: Options | SuiteFn, fn?: SuiteFn): void;
  /** test() likewise. */
  test(name: string, options: Options | TestFn, fn?: TestFn): void;
}

/** The gate for a suite whose precondition check gave `reason` (null: it can run). */
export function privileged(reason: string | null, env: NodeJS.ProcessEnv = process.env): Privileged {
  const fail = () => {
    throw new PreconditionError(reason!);
  };
  // Plain functions, so that `const { describe } = privileged(...)` keeps describe's formatting.
  return {
    reason,
    describe(name, options, fn) {
      const [opts, body] = typeof options === 'function' ? [{}, options] : [options, fn!];
      if (reason === null) describe(name, opts, body);
      else if (inCi(env))
        test(name, fail); // the body, hooks included, never runs
      else describe(name, { ...opts, skip: reason }, body);
    },
    test(name, options, fn) {
      const [opts, body] = typeof options === 'function' ? [{}, options] : [options, fn!];
      if (reason === null) test(name, opts, body);
      else if (inCi(env)) test(name, fail);
      else test(name, { ...opts, skip: reason }, body);
    },
  };
}

/**
 * For a precondition found inside a running test (a tool installed on demand): true when
 * `reason` is null; else the test is skipped (outside CI, then false is returned and the test
 * should return) or fails (CI: throws).
 */
export function met(t: TestContext, reason: string | null, env: NodeJS.ProcessEnv = process.env): boolean {
  if (reason === null) return true;
  if (inCi(env)) throw new PreconditionError(reason);
  t.skip(reason);
  return false;
}

/** The usual precondition: root on Linux. */
export function rootReason(what: string): string | null {
  if (process.platform !== 'linux') return `needs Linux (${what})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return `needs root (${what}): run the tests as root`;
  return null;
}
