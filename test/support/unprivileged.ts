// Children that run as another user (nobody): they cannot be pointed at the checkout, which may
// live where that user cannot enter (/root is 0700 on Debian, so is a mktemp -d folder) and
// then cannot load tsx or the sources. prepareUnprivileged() bundles the child's entry with
// esbuild (tsx's own dependency) into one file in a fresh world-readable temp dir, next to the
// package files the code looks for (package.json, binding.gyp, the native addon), and gives the
// command to run it with. remove() deletes the dir.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const NOBODY_UID = 65534;
export const NOBODY_GID = 65534;
/** `setpriv` words that run the rest of a command as nobody without groups or capabilities. */
export const AS_NOBODY = [
  'setpriv',
  `--reuid=${NOBODY_UID}`,
  `--regid=${NOBODY_GID}`,
  '--clear-groups',
  '--inh-caps=-all',
];

/** What the packages' own code looks for above itself: packageRoot() in src/native and src/toa. */
const PACKAGE_FILES = ['package.json', 'binding.gyp', 'build/Release/lvsadm_native.node'];

export interface UnprivilegedChild {
  /** The world-readable directory holding the bundle; also a good cwd and HOME. */
  readonly dir: string;
  /** The bundled entry. */
  readonly script: string;
  /** node and the bundle, then args: no loader, nothing read from the checkout. */
  argv(...args: string[]): string[];
  /** process.env for the child: HOME in dir, no NODE_OPTIONS (it could name tsx). */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  remove(): void;
}

type Entry = string | { source: string; resolveDir: string; name: string };

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<{ errors: unknown[] }>;
}

/** esbuild as tsx resolves it (it is tsx's dependency, not ours). */
function esbuild(): EsbuildLike {
  const tsxPkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return createRequire(tsxPkg)('esbuild') as EsbuildLike;
}

/** True when every directory from / to dir lets others through (o+x). */
function othersCanEnter(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

function baseDir(): string {
  for (const d of [tmpdir(), '/tmp']) if (existsSync(d) && othersCanEnter(d)) return d;
  throw new Error(`no temp dir other users can enter (TMPDIR=${tmpdir()})`);
}

/** Bundles `entry` (a .ts path, or source text resolved from resolveDir) for another user. */
export async function prepareUnprivileged(entry: Entry): Promise<UnprivilegedChild> {
  const dir = mkdtempSync(join(baseDir(), 'lvsadm-unpriv-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    chmodSync(dir, 0o755);
    const name =
      typeof entry === 'string' ? entry.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '') : entry.name;
    const script = join(dir, `${name}.mjs`);
    await esbuild().build({
      ...(typeof entry === 'string'
        ? { entryPoints: [entry] }
        : {
            stdin: {
              contents: entry.source,
              resolveDir: entry.resolveDir,
              loader: 'ts',
              sourcefile: `${name}.ts`,
            },
          }),
      outfile: script,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'silent',
      // CommonJS dependencies inside an ES module bundle call require().
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    });
    for (const f of PACKAGE_FILES) {
      const from = join(REPO, f);
      if (!existsSync(from)) continue; // the addon may not be built; the child then says so
      const to = join(dir, f);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
    // Whatever the umask: directories 0755, files 0644.
    const open = (p: string) => {
      const st = statSync(p);
      chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
    };
    open(script);
    for (const f of PACKAGE_FILES) {
      for (let p = join(dir, f); p !== dir; p = dirname(p)) if (existsSync(p)) open(p);
    }
    return {
      dir,
      script,
      argv: (...args) => [process.execPath, script, ...args],
      env: (extra = {}) => {
        const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, ...extra };
        delete env.NODE_OPTIONS;
        return env;
      },
      remove,
    };
  } catch (e) {
    remove();
    throw e;
  }
}
