// The layering rules of DESIGN.md ("Architecture"), checked on the import graph of src/: imports
// flow one way, the CLI never loads the engine, the packet layer knows nothing above it, and no
// module imports itself through others. Only imports that load code count: `import type` and
// `export type` are erased (verbatimModuleSyntax keeps every other import, even of types only).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SRC = join(ROOT, 'src');

interface Edges {
  /** Static imports that load code: repo-relative paths of .ts files. */
  local: string[];
  /** import() targets, repo-relative. */
  dynamic: string[];
  /** Bare specifiers (packages, node: builtins). */
  external: string[];
}

function listTs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listTs(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function rel(p: string): string {
  return relative(ROOT, p);
}

function edgesOf(file: string): Edges {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const e: Edges = { local: [], dynamic: [], external: [] };
  const target = (spec: string): string => rel(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  const add = (spec: string, dynamic: boolean): void => {
    if (!spec.startsWith('.')) e.external.push(spec);
    else (dynamic ? e.dynamic : e.local).push(target(spec));
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      if (!n.importClause?.isTypeOnly) add(n.moduleSpecifier.text, false);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      if (!n.isTypeOnly) add(n.moduleSpecifier.text, false);
    } else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] &&
      ts.isStringLiteral(n.arguments[0])
    ) {
      add(n.arguments[0].text, true);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return e;
}

const graph = new Map<string, Edges>(listTs(SRC).map((f) => [rel(f), edgesOf(f)]));

function staticClosure(start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const d of graph.get(f)?.local ?? []) todo.push(d);
  }
  return seen;
}

function under(f: string, ...dirs: string[]): boolean {
  return dirs.some((d) => f.startsWith(`src/${d}/`));
}

test('every relative import names a file that exists', () => {
  const missing: string[] = [];
  for (const [f, e] of graph)
    for (const d of [...e.local, ...e.dynamic]) if (!graph.has(d)) missing.push(`${f} -> ${d}`);
  assert.deepEqual(missing, []);
});

test('no import cycles among modules that load each other', () => {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const dfs = (u: string): void => {
    state.set(u, 1);
    stack.push(u);
    for (const v of [...graph.get(u)!.local, ...graph.get(u)!.dynamic]) {
      if (!graph.has(v)) continue;
      if (state.get(v) === 1) cycles.push([...stack.slice(stack.indexOf(v)), v].join(' -> '));
      else if (!state.has(v)) dfs(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) dfs(f);
  assert.deepEqual(cycles, []);
});

test('the CLI loads no engine, daemon, host or I/O code for ipvsadm commands', () => {
  const loaded = [...staticClosure('src/cli/main.ts')];
  const wrong = loaded.filter((f) =>
    under(f, 'dataplane', 'daemon', 'host', 'io', 'native', 'health', 'toa', 'tui'),
  );
  assert.deepEqual(wrong, []);
  // The check above must be looking at the real graph: main does reach its parser and the vocabulary.
  assert.ok(loaded.includes('src/cli/parse.ts') && loaded.includes('src/common/vocabulary.ts'));
});

test('the engine imports only the engine, common/ and node:crypto (no I/O, control or host)', () => {
  const wrong: string[] = [];
  for (const [f, e] of graph) {
    if (!under(f, 'dataplane')) continue;
    for (const d of e.local) if (!under(d, 'dataplane', 'common')) wrong.push(`${f} -> ${d}`);
    for (const d of e.dynamic) wrong.push(`${f} -> import(${d})`);
    for (const x of e.external) if (x !== 'node:crypto') wrong.push(`${f} -> ${x}`);
  }
  assert.deepEqual(wrong, []);
});

test('one model: the engine validates nothing and holds no text (no errors, no address parsing or formatting)', () => {
  const wrong: string[] = [];
  for (const f of graph.keys()) {
    if (!under(f, 'dataplane')) continue;
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const name of ['LvsError', 'formatIp', 'parseIp'])
      if (new RegExp(`\\b${name}\\b`).test(text)) wrong.push(`${f} uses ${name}`);
    if (graph.get(f)!.local.includes('src/common/errors.ts')) wrong.push(`${f} -> src/common/errors.ts`);
  }
  assert.deepEqual(wrong, []);
  // The control model is where requests are checked: it does use them.
  assert.match(readFileSync(join(SRC, 'control/config-model.ts'), 'utf8'), /\bLvsError\b/);
});

test('the packet layer imports only itself and common/', () => {
  const wrong: string[] = [];
  for (const [f, e] of graph) {
    if (!f.startsWith('src/dataplane/packet/')) continue;
    for (const d of e.local)
      if (!d.startsWith('src/dataplane/packet/') && !under(d, 'common')) wrong.push(`${f} -> ${d}`);
  }
  assert.deepEqual(wrong, []);
});

test('common/ is the bottom layer: it imports nothing of the project above it', () => {
  const wrong: string[] = [];
  for (const [f, e] of graph) {
    if (!under(f, 'common')) continue;
    for (const d of [...e.local, ...e.dynamic]) if (!under(d, 'common')) wrong.push(`${f} -> ${d}`);
  }
  assert.deepEqual(wrong, []);
});

test('control/ never imports the daemon, the CLI, host plumbing or packet I/O', () => {
  const wrong: string[] = [];
  for (const [f, e] of graph) {
    if (!under(f, 'control')) continue;
    for (const d of [...e.local, ...e.dynamic])
      if (under(d, 'daemon', 'cli', 'host', 'io', 'native', 'tui')) wrong.push(`${f} -> ${d}`);
  }
  assert.deepEqual(wrong, []);
});
