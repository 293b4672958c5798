// The eBPF TOA reader's life cycle, driven through bpftool with argument arrays:
//
//   load    bpftool prog loadall OBJ PIN/progs pinmaps PIN/maps   (the embedded object, once)
//           bpftool cgroup attach CGROUP sock_ops|getpeername4|getpeername6 pinned PIN/progs/X multi
//   unload  bpftool cgroup detach CGROUP TYPE id ID   (where `bpftool cgroup tree` shows them)
//           then the pins go
//   status  bpftool prog show pinned / cgroup tree / map dump pinned PIN/maps/toa_counters
//
// Why bpftool and not libbpf in a native helper: Debian packages it (apt-get install bpftool), it
// speaks JSON (-j), it pins (so nothing has to stay running and `unload`/`status` find the
// reader from another process), and loading/attaching is all the reader needs: no ring buffers,
// no per-event user-space work. The cgroup attachments are the kernel's own (BPF_PROG_ATTACH with
// BPF_F_ALLOW_MULTI): they hold the programs until detached or the cgroup goes, and they coexist
// with other programs on the same cgroup (systemd's, for example).
//
// Pin layout under PIN (default /sys/fs/bpf/lvsadm-toa):
//   progs/toa_sockops progs/toa_peer4 progs/toa_peer6   maps/toa_peers maps/toa_counters
//   build-<12 hex of the object's sha256>/              (empty directory: which build is loaded)

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { TOA_BPF_OBJECT_BASE64, TOA_BPF_OBJECT_SHA256 } from './bpf/toa-object.js';
import { cgroup2Root, checkCgroupDir, ensureCgroup2Root } from './cgroup.js';
import { ToaError } from './errors.js';
import { BPF_FS_MAGIC, findProgram, fsType, kernelFilesystems, type ToaSys, tail } from './sys.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/lvsadm-toa';
export const BPFFS_MOUNT = '/sys/fs/bpf';
/** Environment variable naming the bpftool to use (default: bpftool from PATH or sbin). */
export const BPFTOOL_ENV = 'LVSADM_BPFTOOL';

/** The programs of toa.bpf.c: pin name, bpftool attach type, and the names bpftool's JSON uses. */
export const TOA_PROGS = [
  { name: 'toa_sockops', attach: 'sock_ops', json: ['cgroup_sock_ops', 'sock_ops'] },
  { name: 'toa_peer4', attach: 'getpeername4', json: ['cgroup_inet4_getpeername', 'getpeername4'] },
  { name: 'toa_peer6', attach: 'getpeername6', json: ['cgroup_inet6_getpeername', 'getpeername6'] },
] as const;
export const TOA_MAPS = ['toa_peers', 'toa_counters'] as const;

/** Slots of the toa_counters map (enum toa_counter in toa.bpf.c). */
export const COUNTER_NAMES = [
  'seen',
  'stored',
  'no_option',
  'rewritten4',
  'rewritten6',
  'stored_late',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type EbpfCounters = Record<CounterName, number>;

/** Marker directory naming the loaded build. */
export const BUILD_ID = TOA_BPF_OBJECT_SHA256.slice(0, 12);
const BUILD_PREFIX = 'build-';

export interface Out {
  write(s: string): unknown;
}

export interface Attachment {
  cgroup: string;
  id: number;
  name: string;
  /** bpftool's attach type word: sock_ops, getpeername4, getpeername6 */
  attach: string;
  /** for an orphan: the other pin directory of the same BPF file system that holds it */
  pinnedAt?: string;
}

export interface EbpfStatus {
  pinDir: string;
  /** all pins there */
  loaded: boolean;
  /** some pins there, not all (an interrupted load) */
  partial: boolean;
  /** the build marker found (12 hex), null if none */
  build: string | null;
  /** that is this lvsadm's build */
  current: boolean;
  programs: { name: string; id: number }[];
  /** where the pinned programs are attached */
  attached: Attachment[];
  /** programs named like ours attached somewhere, but not the pinned ones (pins removed by hand) */
  orphans: Attachment[];
  counters: EbpfCounters | null;
}

// ---- checks ------------------------------------------------------------------------------------

export function requireRoot(sys: ToaSys, what: string): void {
  if (sys.uid !== 0) throw new ToaError('NOT_ROOT', `${what} needs root (CAP_SYS_ADMIN and CAP_BPF)`);
}

export function requireBpf(sys: ToaSys): void {
  if (!existsSync(join(sys.proc, 'sys/kernel/unprivileged_bpf_disabled')))
    throw new ToaError(
      'NO_BPF',
      'this kernel has no BPF support (CONFIG_BPF_SYSCALL is off): use the kernel module (lvsadm toa build; lvsadm toa load)',
    );
}

export function bpftoolPath(sys: ToaSys): string {
  const p = findProgram('bpftool', sys.env, BPFTOOL_ENV);
  if (!p)
    throw new ToaError(
      'NO_TOOL',
      sys.env[BPFTOOL_ENV]
        ? `${BPFTOOL_ENV}=${sys.env[BPFTOOL_ENV]} is not an executable`
        : 'bpftool not found: install it (apt-get install bpftool)',
    );
  return p;
}

/** Checks the pin directory's parent is a BPF file system, mounting bpffs at /sys/fs/bpf if needed. */
export async function ensurePinParent(sys: ToaSys, pinDir: string): Promise<{ mounted: boolean }> {
  if (pinDir.includes('.'))
    // libbpf turns dots of pin paths into underscores
    throw new ToaError('PIN_DIR', `pin directory ${pinDir}: no dots allowed (libbpf rewrites them)`);
  const parent = dirname(pinDir);
  if (fsType(parent) === BPF_FS_MAGIC) return { mounted: false };
  if (parent !== BPFFS_MOUNT)
    throw new ToaError(
      'PIN_DIR',
      `${parent} is not on a BPF file system (mount one there: mount -t bpf bpf ${parent})`,
    );
  const fss = kernelFilesystems(sys);
  if (fss && !fss.has('bpf')) throw new ToaError('NO_BPF', 'this kernel has no BPF file system (bpffs)');
  mkdirSync(parent, { recursive: true });
  const r = await sys.run('mount', ['-t', 'bpf', 'bpf', parent]);
  if (r.code !== 0 || fsType(parent) !== BPF_FS_MAGIC)
    throw new ToaError('PIN_DIR', `mounting the BPF file system at ${parent} failed: ${tail(r.stderr)}`);
  return { mounted: true };
}

// ---- bpftool ------------------------------------------------------------------------------------

async function bpftoolJson<T>(sys: ToaSys, tool: string, args: string[]): Promise<T> {
  const r = await sys.run(tool, ['-j', ...args]);
  if (r.code !== 0) {
    throw new ToaError('BPF_ATTACH', `bpftool ${args.join(' ')} failed: ${tail(r.stderr || r.stdout)}`);
  }
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new ToaError(
      'BPF_ATTACH',
      `bpftool ${args.join(' ')}: unexpected output ${r.stdout.slice(0, 200)}`,
    );
  }
}

async function bpftoolOk(sys: ToaSys, tool: string, args: string[], code: 'BPF_LOAD' | 'BPF_ATTACH') {
  const r = await sys.run(tool, args);
  if (r.code !== 0)
    throw new ToaError(code, `bpftool ${args.join(' ')} failed:\n${tail(r.stderr || r.stdout)}`);
}

const progPin = (pinDir: string, name: string) => join(pinDir, 'progs', name);
const mapPin = (pinDir: string, name: string) => join(pinDir, 'maps', name);

interface PinState {
  present: boolean;
  complete: boolean;
  build: string | null;
  /** pinned programs by name -> id */
  ids: Map<string, number>;
}

async function pinState(sys: ToaSys, tool: string, pinDir: string): Promise<PinState> {
  const ids = new Map<string, number>();
  if (!existsSync(pinDir)) return { present: false, complete: false, build: null, ids };
  let build: string | null = null;
  for (const e of readdirSync(pinDir)) if (e.startsWith(BUILD_PREFIX)) build = e.slice(BUILD_PREFIX.length);
  for (const p of TOA_PROGS) {
    if (!existsSync(progPin(pinDir, p.name))) continue;
    const info = await bpftoolJson<{ id: number }>(sys, tool, [
      'prog',
      'show',
      'pinned',
      progPin(pinDir, p.name),
    ]);
    ids.set(p.name, info.id);
  }
  const mapsThere = TOA_MAPS.every((m) => existsSync(mapPin(pinDir, m)));
  return {
    present: true,
    complete: ids.size === TOA_PROGS.length && mapsThere && build !== null,
    build,
    ids,
  };
}

interface TreeEntry {
  cgroup: string;
  programs: { id: number; attach_type: string; name: string }[];
}

/** Every attachment of a program named like ours under the cgroup v2 root. */
async function ourAttachments(sys: ToaSys, tool: string): Promise<Attachment[]> {
  const root = cgroup2Root(sys);
  if (!root) return [];
  const tree = await bpftoolJson<TreeEntry[]>(sys, tool, ['cgroup', 'tree', root]);
  const out: Attachment[] = [];
  for (const cg of tree) {
    for (const p of cg.programs ?? []) {
      const prog = TOA_PROGS.find(
        (x) => x.name === p.name && (x.json as readonly string[]).includes(p.attach_type),
      );
      if (prog) out.push({ cgroup: resolve(cg.cgroup), id: p.id, name: p.name, attach: prog.attach });
    }
  }
  return out;
}

async function readCounters(sys: ToaSys, tool: string, pinDir: string): Promise<EbpfCounters> {
  type Entry = {
    key: number | string[];
    values: { cpu: number; value: number | string[] }[];
    formatted?: { key: number; values: { cpu: number; value: number }[] };
  };
  const dump = await bpftoolJson<Entry[]>(sys, tool, [
    'map',
    'dump',
    'pinned',
    mapPin(pinDir, 'toa_counters'),
  ]);
  const bytesToNum = (v: number | string[]): number => {
    if (typeof v === 'number') return v;
    let n = 0;
    for (let i = v.length - 1; i >= 0; i--) n = n * 256 + Number.parseInt(v[i]!, 16); // little endian
    return n;
  };
  const counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as EbpfCounters;
  for (const e of dump) {
    const key = e.formatted ? e.formatted.key : bytesToNum(e.key);
    const values = e.formatted ? e.formatted.values : e.values;
    const name = COUNTER_NAMES[key];
    if (name === undefined) continue;
    counters[name] = values.reduce((s, v) => s + bytesToNum(v.value), 0);
  }
  return counters;
}

// ---- status -------------------------------------------------------------------------------------

/**
 * Attached programs not pinned at `pinDir` may be a load with another --pin-dir: look for
 * lvsadm pin directories beside it (same BPF file system) and say where each one is pinned.
 */
async function findOtherPins(sys: ToaSys, tool: string, pinDir: string, orphans: Attachment[]) {
  const parent = dirname(pinDir);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const dir = join(parent, n);
    if (dir === pinDir || !existsSync(progPin(dir, TOA_PROGS[0].name))) continue;
    const ids = new Set((await pinState(sys, tool, dir)).ids.values());
    for (const o of orphans) if (o.pinnedAt === undefined && ids.has(o.id)) o.pinnedAt = dir;
  }
}

export async function ebpfStatus(sys: ToaSys, pinDir: string): Promise<EbpfStatus> {
  const tool = bpftoolPath(sys);
  const st = await pinState(sys, tool, pinDir);
  const all = await ourAttachments(sys, tool);
  const pinnedIds = new Set(st.ids.values());
  const orphans = all.filter((a) => !pinnedIds.has(a.id));
  if (orphans.length > 0) await findOtherPins(sys, tool, pinDir, orphans);
  return {
    pinDir,
    loaded: st.complete,
    partial: st.present && !st.complete,
    build: st.build,
    current: st.build === BUILD_ID,
    programs: [...st.ids].map(([name, id]) => ({ name, id })),
    attached: all.filter((a) => pinnedIds.has(a.id)),
    orphans,
    counters: st.complete ? await readCounters(sys, tool, pinDir) : null,
  };
}

// ---- load ---------------------------------------------------------------------------------------

export interface EbpfLoadOptions {
  pinDir: string;
  /** cgroup v2 directory; default: the root of the hierarchy */
  cgroup?: string;
}

async function detach(sys: ToaSys, tool: string, a: Attachment): Promise<void> {
  await bpftoolOk(sys, tool, ['cgroup', 'detach', a.cgroup, a.attach, 'id', String(a.id)], 'BPF_ATTACH');
}

/** Writes the embedded object to a temp file, runs fn with its path, removes it. */
async function withObjectFile<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-toa-'));
  try {
    const file = join(dir, 'toa.bpf.o');
    writeFileSync(file, Buffer.from(TOA_BPF_OBJECT_BASE64, 'base64'), { mode: 0o600 });
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function ebpfLoad(sys: ToaSys, opts: EbpfLoadOptions, out: Out): Promise<void> {
  requireRoot(sys, 'loading the eBPF TOA reader');
  requireBpf(sys);
  const tool = bpftoolPath(sys);
  let cgroup: string;
  if (opts.cgroup !== undefined) {
    cgroup = checkCgroupDir(sys, opts.cgroup);
  } else {
    const r = await ensureCgroup2Root(sys);
    if (r.mounted) out.write(`mounted cgroup2 at ${r.root}\n`);
    cgroup = checkCgroupDir(sys, r.root);
  }
  const pinDir = resolve(opts.pinDir);
  if ((await ensurePinParent(sys, pinDir)).mounted)
    out.write(`mounted the BPF file system at ${BPFFS_MOUNT}\n`);

  let st = await pinState(sys, tool, pinDir);
  if (st.complete && st.build !== BUILD_ID)
    throw new ToaError(
      'OTHER_BUILD',
      `another build of the eBPF TOA reader (${st.build}) is loaded at ${pinDir}; this lvsadm has ${BUILD_ID}: run \`lvsadm toa unload --ebpf\` first`,
    );
  if (st.present && !st.complete) {
    out.write(`removing the remains of an interrupted load at ${pinDir}\n`);
    await removeAll(sys, tool, pinDir, st);
    st = await pinState(sys, tool, pinDir);
  }

  const loadedNow = !st.complete;
  if (loadedNow) {
    mkdirSync(pinDir, { recursive: true });
    try {
      await withObjectFile(async (obj) => {
        const r = await sys.run(tool, [
          'prog',
          'loadall',
          obj,
          join(pinDir, 'progs'),
          'pinmaps',
          join(pinDir, 'maps'),
        ]);
        if (r.code !== 0) {
          const log = r.stderr || r.stdout;
          const hint = /Operation not permitted|Invalid argument|unknown func|not supported/i.test(log)
            ? ' (does this kernel have BPF_PROG_TYPE_SOCK_OPS, cgroup getpeername hooks (5.8+) and socket storage?)'
            : '';
          throw new ToaError('BPF_LOAD', `loading the eBPF TOA reader failed${hint}:\n${tail(log, 20)}`);
        }
      });
      mkdirSync(join(pinDir, `${BUILD_PREFIX}${BUILD_ID}`));
    } catch (e) {
      rmSync(pinDir, { recursive: true, force: true });
      throw e;
    }
    st = await pinState(sys, tool, pinDir);
  }

  const already = (await ourAttachments(sys, tool)).filter((a) => a.cgroup === cgroup);
  const done: Attachment[] = [];
  try {
    for (const p of TOA_PROGS) {
      const id = st.ids.get(p.name)!;
      if (already.some((a) => a.id === id)) continue;
      const r = await sys.run(tool, [
        'cgroup',
        'attach',
        cgroup,
        p.attach,
        'pinned',
        progPin(pinDir, p.name),
        'multi',
      ]);
      if (r.code !== 0) {
        const log = tail(r.stderr || r.stdout);
        const hint = /Operation not permitted/.test(log)
          ? ' (a program attached there without BPF_F_ALLOW_MULTI blocks others)'
          : /Invalid argument|not supported/.test(log)
            ? ' (no cgroup BPF in this kernel? CONFIG_CGROUP_BPF)'
            : '';
        throw new ToaError(
          'BPF_ATTACH',
          `attaching ${p.name} (${p.attach}) to ${cgroup} failed${hint}: ${log}`,
        );
      }
      done.push({ cgroup, id, name: p.name, attach: p.attach });
    }
  } catch (e) {
    for (const a of done) await detach(sys, tool, a).catch(() => undefined);
    if (loadedNow) rmSync(pinDir, { recursive: true, force: true });
    throw e;
  }
  if (done.length === 0) {
    out.write(`eBPF TOA reader already loaded (${pinDir}) and attached to ${cgroup}\n`);
  } else {
    out.write(
      `eBPF TOA reader ${loadedNow ? 'loaded' : 'already loaded'} (pinned at ${pinDir}), attached to ${cgroup}: ${done.map((a) => a.attach).join(' ')}\n`,
    );
  }
}

// ---- unload -------------------------------------------------------------------------------------

/** Detaches every attachment of the pinned programs, removes the pins. */
async function removeAll(sys: ToaSys, tool: string, pinDir: string, st: PinState): Promise<void> {
  const ids = new Set(st.ids.values());
  for (const a of await ourAttachments(sys, tool)) if (ids.has(a.id)) await detach(sys, tool, a);
  rmSync(pinDir, { recursive: true, force: true });
}

export interface EbpfUnloadOptions {
  pinDir: string;
  /** detach from this cgroup only (the pins stay while it is attached elsewhere) */
  cgroup?: string;
  /**
   * also detach programs named like ours that are not the pinned ones (left attached after
   * their pins were removed by hand, or pinned in another directory)
   */
  orphans?: boolean;
}

export async function ebpfUnload(sys: ToaSys, opts: EbpfUnloadOptions, out: Out): Promise<void> {
  requireRoot(sys, 'unloading the eBPF TOA reader');
  const tool = bpftoolPath(sys);
  const pinDir = resolve(opts.pinDir);
  const st = await pinState(sys, tool, pinDir);
  const ids = new Set(st.ids.values());
  const all = await ourAttachments(sys, tool);
  const cgroup = opts.cgroup !== undefined ? checkCgroupDir(sys, opts.cgroup) : undefined;
  const inScope = (a: Attachment) => cgroup === undefined || a.cgroup === cgroup;
  const mine = all.filter((a) => ids.has(a.id));
  const orphans = opts.orphans ? all.filter((a) => !ids.has(a.id) && inScope(a)) : [];
  const detached = [...mine.filter(inScope), ...orphans];
  for (const a of detached) await detach(sys, tool, a);
  const where = [...new Set(detached.map((a) => a.cgroup))];
  if (where.length > 0) out.write(`detached the eBPF TOA reader from ${where.join(', ')}\n`);
  else if (cgroup !== undefined) out.write(`eBPF TOA reader not attached to ${cgroup}\n`);

  const rest = mine.filter((a) => !inScope(a));
  if (rest.length > 0) {
    out.write(
      `still attached to ${[...new Set(rest.map((a) => a.cgroup))].join(', ')}: pins kept at ${pinDir}\n`,
    );
    return;
  }
  if (st.present) {
    rmSync(pinDir, { recursive: true, force: true });
    out.write(`eBPF TOA reader unloaded: ${pinDir} removed\n`);
  } else if (detached.length === 0 && cgroup === undefined) {
    out.write(`eBPF TOA reader not loaded (nothing at ${pinDir}): nothing to do\n`);
  }
}
