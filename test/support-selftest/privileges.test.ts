// test/support/privileges.ts and scripts/run-tests.mjs: with CI=true a suite that cannot run is
// a failure (never a skip), and a skipped or todo test fails the run; outside CI both skip.
// Child test files under fixtures/ are run with a forced "cannot run" reason.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inCi, PreconditionError, privileged } from '../support/privileges.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const GATED = join(REPO, 'test/support-selftest/fixtures/gated.ts');
const SKIPS = join(REPO, 'test/support-selftest/fixtures/skips.ts');
const REASON = 'forced by the self-test: no such privilege';

interface Run {
  code: number | null;
  out: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** The env of a child: CI as given (undefined: unset), the forced reason if any. */
function envWith(ci: string | undefined, reason?: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CI;
  delete env.LVSADM_SELFTEST_REASON;
  delete env.NODE_TEST_CONTEXT; // else the child reports to this runner instead of printing TAP
  if (ci !== undefined) env.CI = ci;
  if (reason !== undefined) env.LVSADM_SELFTEST_REASON = reason;
  return env;
}

const tapOf = (file: string, env: NodeJS.ProcessEnv) =>
  run(['--import', 'tsx', '--test', '--test-reporter=tap', file], env);

/** The TAP result line of a test: "ok", "not ok", with its directive if any. */
function result(tap: string, name: string): string {
  const m = new RegExp(`^\\s*((?:not )?ok) \\d+ - ${name}(?: # (SKIP|TODO)\\b.*)?$`, 'm').exec(tap);
  assert.ok(m, `no result for ${name} in:\n${tap}`);
  return m[2] ? `${m[1]} # ${m[2]}` : m[1]!;
}

describe('privileged(): skip outside CI, fail under CI=true', () => {
  test('CI=true and a reason: each gated suite and test fails with the reason; nothing skips', async () => {
    const r = await tapOf(GATED, envWith('true', REASON));
    assert.equal(r.code, 1, r.out);
    assert.equal(result(r.out, 'gated suite'), 'not ok');
    assert.equal(result(r.out, 'gated test'), 'not ok');
    assert.equal(result(r.out, 'gated inside a test'), 'not ok');
    assert.equal(result(r.out, 'not gated'), 'ok');
    assert.doesNotMatch(r.out, /# SKIP/);
    const failures = r.out.match(
      /cannot run here, and CI=true turns that into a failure: forced by the self-test/g,
    );
    assert.equal(failures?.length, 3, r.out);
    assert.doesNotMatch(r.out, /before hook ran|went on/, 'a failed gate runs nothing of the suite');
  });

  test('no CI and a reason: each gated suite and test is skipped with the reason', async () => {
    for (const ci of [undefined, 'false', '']) {
      const r = await tapOf(GATED, envWith(ci, REASON));
      assert.equal(r.code, 0, r.out);
      assert.equal(result(r.out, 'gated suite'), 'ok # SKIP');
      assert.equal(result(r.out, 'gated test'), 'ok # SKIP');
      assert.equal(result(r.out, 'gated inside a test'), 'ok # SKIP');
      assert.equal(result(r.out, 'not gated'), 'ok');
      assert.equal(r.out.match(new RegExp(`# SKIP ${REASON}`, 'g'))?.length, 3, r.out);
      assert.doesNotMatch(r.out, /before hook ran|went on/);
    }
  });

  test('CI=true and no reason: everything runs and passes', async () => {
    const r = await tapOf(GATED, envWith('true'));
    assert.equal(r.code, 0, r.out);
    assert.equal(result(r.out, 'inside the gated suite'), 'ok');
    assert.equal(result(r.out, 'gated inside a test'), 'ok');
    assert.match(r.out, /gated suite: before hook ran/);
    assert.match(r.out, /gated inside a test: went on/);
  });

  test('inCi reads CI as CI systems set it', () => {
    for (const v of ['true', '1', 'yes', 'TRUE']) assert.equal(inCi({ CI: v }), true, v);
    for (const v of [undefined, '', 'false', '0', 'no']) assert.equal(inCi({ CI: v }), false, String(v));
    assert.equal(privileged('x', { CI: 'true' }).reason, 'x');
    assert.match(new PreconditionError('needs root').message, /CI=true .*: needs root$/);
  });
});

describe('scripts/run-tests.mjs under CI=true', () => {
  const runTests = (file: string, env: NodeJS.ProcessEnv) =>
    run([join(REPO, 'scripts/run-tests.mjs'), file], env);

  test('a skipped or todo test fails the run, in one line after the summary', async () => {
    const r = await runTests(SKIPS, envWith('true'));
    assert.equal(r.code, 1, r.out);
    const lines = r.out.trimEnd().split('\n');
    assert.equal(
      lines.at(-1),
      'run-tests: FAIL: CI=true allows no skipped or todo tests, found 2: skipped on purpose (SKIP: the self-test wants a skip); todo on purpose (TODO: the self-test wants a todo)',
    );
    assert.match(lines.at(-2)!, /^ℹ duration_ms /, 'the spec summary comes right before');
    assert.ok(lines.some((l) => /^ℹ skipped 1$/.test(l)) && lines.some((l) => /^ℹ todo 1$/.test(l)));
  });

  test('without CI the same file passes; under CI a file without skips passes', async () => {
    const r = await runTests(SKIPS, envWith(undefined));
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /run-tests: FAIL/);
    assert.match(r.out.trimEnd().split('\n').at(-1)!, /^ℹ duration_ms /);
    const ok = await runTests(GATED, envWith('true'));
    assert.equal(ok.code, 0, ok.out);
    assert.doesNotMatch(ok.out, /run-tests: FAIL/);
  });

  test('a failing gate under CI fails the run by itself', async () => {
    const r = await runTests(GATED, envWith('true', REASON));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^ℹ fail 3$/m);
    assert.match(r.out, /^ℹ skipped 0$/m);
  });
});
