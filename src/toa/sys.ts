// What `lvsadm toa` needs from the system: running programs (argument arrays, never a shell),
// finding them, file-system magic numbers, mount points. Tests swap `proc` for a fake tree and
// `uid` to see the messages for a kernel or a user without what is needed.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  cwd?: string;
}

export interface ToaSys {
  /** Effective uid (0: root). */
  uid: number;
  /** Where procfs is mounted ('/proc'). */
  proc: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Runs a program to its end; never throws for a non-zero exit (code 127: could not start). */
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** Runs `cmd args` without a shell; output capped at 64 MiB, killed after timeoutMs. */
export function runProgram(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20, cwd: opts.cwd },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          resolve({ code: 127, stdout: '', stderr: `${cmd}: ${err.message}` });
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 128 + 9) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export function defaultSys(env: Readonly<Record<string, string | undefined>> = process.env): ToaSys {
  return {
    uid: typeof process.geteuid === 'function' ? process.geteuid() : -1,
    proc: '/proc',
    env,
    run: runProgram,
  };
}

/** The last lines of a program's error output, for messages. */
export function tail(text: string, lines = 12): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Full path of a program: `override` (an env value) if set, else the first executable in PATH,
 * then in the sbin directories (which a user's PATH often lacks). Null when there is none.
 */
export function findProgram(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  override?: string,
): string | null {
  const forced = override ? env[override] : undefined;
  if (forced) return isExecutable(forced) ? forced : null;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---- file systems ------------------------------------------------------------------------------

/** statfs f_type values (linux/magic.h). */
export const BPF_FS_MAGIC = 0xcafe4a11;
export const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The file-system type of the file system holding `path`, or null if it cannot be read. */
export function fsType(path: string): number | null {
  try {
    return Number(statfsSync(path).type);
  } catch {
    return null;
  }
}

export interface MountEntry {
  /** Root of the mount within its file system ('/' unless a bind mount of a subdirectory). */
  root: string;
  mountPoint: string;
  fsType: string;
}

/** `\040`-style escapes of /proc/self/mountinfo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Parses /proc/self/mountinfo text (proc(5)). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 6 || f.length < sep + 2) continue;
    out.push({ root: unescapeMount(f[3]!), mountPoint: unescapeMount(f[4]!), fsType: f[sep + 1]! });
  }
  return out;
}

export function readMounts(sys: ToaSys): MountEntry[] {
  try {
    return parseMountInfo(readFileSync(join(sys.proc, 'self/mountinfo'), 'utf8'));
  } catch {
    return [];
  }
}

// ---- the view of whoever ran `ip netns exec` ---------------------------------------------------

/**
 * `ip netns exec` runs its command in a mount namespace of its own with a new sysfs on /sys: the
 * cgroup2 and bpffs mounts below it are gone there, and mounting bpffs again would make a new,
 * empty instance (pins live per instance). The nearest ancestor process in another mount
 * and network namespace (the shell that ran `ip netns exec`) still has them: its view is
 * /proc/PID/root. Those ancestors' roots, nearest first.
 */
function outerRoots(sys: ToaSys): string[] {
  const ns = (pid: string, kind: 'mnt' | 'net') => {
    try {
      return readlinkSync(join(sys.proc, pid, 'ns', kind));
    } catch {
      return null;
    }
  };
  const ppid = (pid: string) => {
    try {
      return /^PPid:\s*(\d+)/m.exec(readFileSync(join(sys.proc, pid, 'status'), 'utf8'))?.[1] ?? '0';
    } catch {
      return '0';
    }
  };
  const mnt = ns('self', 'mnt');
  const net = ns('self', 'net');
  const out: string[] = [];
  if (mnt === null || net === null) return out;
  // other network namespace too: what `ip netns exec` makes (a mere private mount namespace, whose
  // mounts were changed on purpose, is left as it is)
  for (let pid = ppid('self'), n = 0; pid !== '0' && n < 64; pid = ppid(pid), n++) {
    const m = ns(pid, 'mnt');
    const x = ns(pid, 'net');
    if (m !== null && x !== null && m !== mnt && x !== net) out.push(join(sys.proc, pid, 'root'));
  }
  return out;
}

/** Whether `path`, or its nearest existing ancestor, is on a file system of type `magic`. */
function onFs(path: string, magic: number): boolean {
  for (let p = path; ; p = dirname(p)) {
    if (existsSync(p)) return fsType(p) === magic;
    if (dirname(p) === p) return false;
  }
}

/**
 * `path` as this process can use it: itself when it is (or would be) on a file system of type
 * `magic` here, else the same path seen from the nearest outer mount namespace where it is
 * (`ip netns exec`: /proc/PID/root/sys/fs/...), else itself (for the usual messages).
 */
export function outerPath(sys: ToaSys, path: string, magic: number): string {
  if (!isAbsolute(path) || onFs(path, magic)) return path;
  for (const root of outerRoots(sys)) {
    const via = join(root, path);
    if (onFs(via, magic)) return via;
  }
  return path;
}

/** The cgroup2 root mount seen from an outer mount namespace (see outerRoots), or null. */
export function outerCgroup2Root(sys: ToaSys): string | null {
  for (const root of outerRoots(sys)) {
    let mounts: MountEntry[];
    try {
      mounts = parseMountInfo(readFileSync(join(dirname(root), 'mountinfo'), 'utf8'));
    } catch {
      continue;
    }
    const m = mounts.find((e) => e.fsType === 'cgroup2' && e.root === '/');
    if (m && fsType(join(root, m.mountPoint)) === CGROUP2_SUPER_MAGIC) return join(root, m.mountPoint);
  }
  return null;
}

/** File systems the kernel knows (/proc/filesystems), or null if unreadable. */
export function kernelFilesystems(sys: ToaSys): Set<string> | null {
  try {
    const text = readFileSync(join(sys.proc, 'filesystems'), 'utf8');
    return new Set(
      text
        .split('\n')
        .map((l) => l.trim().split(/\s+/).pop() ?? '')
        .filter((s) => s !== ''),
    );
  } catch {
    return null;
  }
}

/** `uname -r` of the running kernel, from procfs. */
export function kernelRelease(sys: ToaSys): string {
  try {
    return readFileSync(join(sys.proc, 'sys/kernel/osrelease'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

// ---- the checkout ------------------------------------------------------------------------------

/**
 * The lvsadm package root: the nearest directory above this file whose package.json is named
 * lvsadm (src/toa/ under tsx, dist/src/toa/ when built).
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'lvsadm') return dir;
      } catch {
        // unreadable: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no lvsadm package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
