#!/usr/bin/env node
// Runs every test/**/*.test.ts through node's test runner with tsx as the loader.
// Node 20's --test has no glob support, so the file list is built here.
// With CI=true a skipped or todo test fails the run: a second reporter writes TAP to a temp file,
// and its SKIP/TODO directives are counted after the spec reporter's summary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** As test/support/privileges.ts reads it. */
function inCi() {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0' && v !== 'no';
}

/** `ok N - name # SKIP reason` and `# TODO` lines of a TAP stream (any nesting depth). */
function skippedInTap(tap) {
  const found = [];
  for (const line of tap.split('\n')) {
    const m = /^\s*(?:not )?ok \d+ - (.*?) # (SKIP|TODO)\b ?(.*)$/i.exec(line);
    if (m) found.push({ name: m[1], kind: m[2].toUpperCase(), reason: m[3] });
  }
  return found;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test', []).sort();
const ci = inCi();
const tmp = ci ? mkdtempSync(join(tmpdir(), 'lvsadm-run-tests-')) : '';
const tapFile = join(tmp, 'results.tap');
const reporters = ci
  ? [
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
    ]
  : ['--test-reporter=spec'];
let status;
try {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporters, ...files], {
    stdio: 'inherit',
  });
  status = r.status ?? 1;
  if (ci) {
    let tap;
    try {
      tap = readFileSync(tapFile, 'utf8');
    } catch (e) {
      console.log(`run-tests: CI=true but no TAP results to check for skips (${e.message})`);
      status = 1;
    }
    if (tap !== undefined) {
      const skipped = skippedInTap(tap);
      if (skipped.length > 0) {
        const list = skipped.map((s) => `${s.name} (${s.kind}${s.reason ? `: ${s.reason}` : ''})`).join('; ');
        console.log(
          `run-tests: FAIL: CI=true allows no skipped or todo tests, found ${skipped.length}: ${list}`,
        );
        status = 1;
      }
    }
  }
} finally {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
