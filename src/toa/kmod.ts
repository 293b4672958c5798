// The TOA kernel module (src/toa/kmod/toa.c): build against a kernel build directory, insmod,
// rmmod, and its /proc/net/toa_stats.
//
//   lvsadm toa build [--kdir DIR] [--out DIR] [--strict]
//     copies toa.c and Kbuild to OUT (default <checkout>/build/toa-kmod/<kernel release>) and runs
//     make -C KDIR M=OUT modules   (KDIR default /lib/modules/$(uname -r)/build; --strict: W=1
//     and any compiler warning fails the build)

import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireRoot } from './ebpf.js';
import { ToaError } from './errors.js';
import { findProgram, kernelRelease, packageRoot, type ToaSys, tail } from './sys.js';

export const MODULE_NAME = 'toa';
export const MODULE_SOURCES = ['toa.c', 'Kbuild', 'Makefile'] as const;

export interface Out {
  write(s: string): unknown;
}

export function moduleSourceDir(): string {
  return join(packageRoot(), 'src', 'toa', 'kmod');
}

/** Where `build` puts toa.ko for a kernel release unless told otherwise. */
export function defaultBuildDir(release: string): string {
  return join(packageRoot(), 'build', 'toa-kmod', release);
}

/** The kernel has loadable module support (CONFIG_MODULES): /proc/modules exists. */
export function moduleSupport(sys: ToaSys): boolean {
  return existsSync(join(sys.proc, 'modules'));
}

export function moduleLoaded(sys: ToaSys): boolean {
  try {
    return readFileSync(join(sys.proc, 'modules'), 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${MODULE_NAME} `));
  } catch {
    return false;
  }
}

/** /proc/net/toa_stats as name -> total, or null when absent. */
export function moduleStats(sys: ToaSys): Record<string, number> | null {
  let text: string;
  try {
    text = readFileSync(join(sys.proc, 'net', 'toa_stats'), 'utf8');
  } catch {
    return null;
  }
  return parseToaStats(text);
}

/** Parses toa_stats: a header line, then `name total cpu0 cpu1 ...` per counter. */
export function parseToaStats(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && /^[a-z_0-9]+$/.test(f[0]!) && /^\d+$/.test(f[1]!)) out[f[0]!] = Number(f[1]);
  }
  return out;
}

function noModules(sys: ToaSys): ToaError {
  return new ToaError(
    'NO_MODULES',
    `this kernel (${kernelRelease(sys)}) has no loadable module support (CONFIG_MODULES is off): use the eBPF reader, lvsadm toa load --ebpf`,
  );
}

// ---- build --------------------------------------------------------------------------------------

export interface BuildOptions {
  /** kernel build directory; default /lib/modules/$(uname -r)/build */
  kdir?: string;
  /** output directory; default <checkout>/build/toa-kmod/<release> */
  out?: string;
  /** W=1, and compiler warnings fail the build */
  strict?: boolean;
}

/** The release a kernel build directory is for (include/generated/utsrelease.h). */
export function kdirRelease(kdir: string): string | null {
  try {
    const m = /UTS_RELEASE\s+"([^"]+)"/.exec(
      readFileSync(join(kdir, 'include/generated/utsrelease.h'), 'utf8'),
    );
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

/** Builds toa.ko; its path. */
export async function buildModule(sys: ToaSys, opts: BuildOptions, out: Out): Promise<string> {
  const running = kernelRelease(sys);
  const kdir = resolve(opts.kdir ?? `/lib/modules/${running}/build`);
  if (!existsSync(join(kdir, 'Makefile'))) {
    throw new ToaError(
      'NO_HEADERS',
      opts.kdir !== undefined
        ? `${kdir} is not a kernel build directory (no Makefile)`
        : `no kernel headers for ${running} (${kdir} is missing): install them (Debian: apt-get install linux-headers-${running}, or linux-headers-amd64 for Debian's current kernel) or pass --kdir DIR`,
    );
  }
  const release = kdirRelease(kdir) ?? running;
  for (const [tool, pkg] of [
    ['make', 'make'],
    ['gcc', 'gcc'],
  ] as const) {
    if (!findProgram(tool, sys.env))
      throw new ToaError('NO_TOOL', `${tool} not found: apt-get install ${pkg}`);
  }
  const dir = resolve(opts.out ?? defaultBuildDir(release));
  mkdirSync(dir, { recursive: true });
  const src = moduleSourceDir();
  for (const f of MODULE_SOURCES) copyFileSync(join(src, f), join(dir, f));
  const args = ['-C', kdir, `M=${dir}`, 'modules'];
  if (opts.strict) args.push('W=1');
  const r = await sys.run('make', args, { timeoutMs: 600_000 });
  const log = `${r.stdout}${r.stderr}`;
  if (r.code !== 0)
    throw new ToaError('BUILD', `make ${args.join(' ')} failed (exit ${r.code}):\n${tail(log, 30)}`);
  const warnings = log.split('\n').filter((l) => /\bwarning:/.test(l));
  if (opts.strict && warnings.length > 0)
    throw new ToaError('BUILD', `toa.ko built with warnings (--strict):\n${tail(log, 30)}`);
  const ko = join(dir, `${MODULE_NAME}.ko`);
  if (!existsSync(ko)) throw new ToaError('BUILD', `make succeeded but ${ko} is missing:\n${tail(log)}`);
  out.write(`built ${ko} for ${release}${warnings.length > 0 ? ` (${warnings.length} warnings)` : ''}\n`);
  return ko;
}

// ---- load / unload ------------------------------------------------------------------------------

export interface ModuleLoadOptions {
  /** toa.ko to load; default the one `build` made for the running kernel */
  file?: string;
}

export async function loadModule(sys: ToaSys, opts: ModuleLoadOptions, out: Out): Promise<void> {
  requireRoot(sys, 'loading the TOA kernel module');
  if (!moduleSupport(sys)) throw noModules(sys);
  if (moduleLoaded(sys)) {
    out.write(`kernel module ${MODULE_NAME} already loaded\n`);
    return;
  }
  const release = kernelRelease(sys);
  const file = resolve(opts.file ?? join(defaultBuildDir(release), `${MODULE_NAME}.ko`));
  if (!existsSync(file))
    throw new ToaError(
      'NO_MODULE_FILE',
      opts.file !== undefined
        ? `${file} not found`
        : `no ${MODULE_NAME}.ko built for ${release} (${file}): run lvsadm toa build first`,
    );
  const insmod = findProgram('insmod', sys.env);
  if (!insmod) throw new ToaError('NO_TOOL', 'insmod not found: apt-get install kmod');
  const r = await sys.run(insmod, [file]);
  if (r.code !== 0)
    throw new ToaError(
      'KMOD',
      `insmod ${file} failed: ${tail(r.stderr || r.stdout)} (built for another kernel? see dmesg)`,
    );
  out.write(`kernel module ${MODULE_NAME} loaded from ${file}\n`);
}

export async function unloadModule(sys: ToaSys, out: Out): Promise<void> {
  requireRoot(sys, 'unloading the TOA kernel module');
  if (!moduleSupport(sys)) throw noModules(sys);
  if (!moduleLoaded(sys)) {
    out.write(`kernel module ${MODULE_NAME} not loaded: nothing to do\n`);
    return;
  }
  const rmmod = findProgram('rmmod', sys.env);
  if (!rmmod) throw new ToaError('NO_TOOL', 'rmmod not found: apt-get install kmod');
  const r = await sys.run(rmmod, [MODULE_NAME]);
  if (r.code !== 0) throw new ToaError('KMOD', `rmmod ${MODULE_NAME} failed: ${tail(r.stderr || r.stdout)}`);
  out.write(`kernel module ${MODULE_NAME} unloaded\n`);
}
