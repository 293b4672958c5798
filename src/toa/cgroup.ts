// The cgroup v2 directory the eBPF reader attaches to: `--cgroup PATH` (checked), or the root of
// the cgroup v2 hierarchy, mounting cgroup2 when nothing has it mounted (a v1-only host).

import { existsSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { ToaError } from './errors.js';
import {
  CGROUP2_SUPER_MAGIC,
  fsType,
  kernelFilesystems,
  outerCgroup2Root,
  outerPath,
  readMounts,
  type ToaSys,
  tail,
} from './sys.js';

/** Where cgroup2 is mounted when nothing has it yet. */
export const CGROUP2_MOUNT = '/sys/fs/cgroup';
/** ... unless /sys/fs/cgroup holds the v1 hierarchies (hybrid layout). */
export const CGROUP2_MOUNT_HYBRID = '/sys/fs/cgroup/unified';

/** Mount point of the whole cgroup v2 hierarchy (a mount of its root), or null. */
export function cgroup2Root(sys: ToaSys): string | null {
  const m = readMounts(sys).find((e) => e.fsType === 'cgroup2' && e.root === '/');
  // none here: maybe hidden by `ip netns exec`'s new /sys (sys.ts outerPath)
  return m ? m.mountPoint : outerCgroup2Root(sys);
}

/** Where to mount cgroup2 on this host: /sys/fs/cgroup, or .../unified if v1 lives there. */
export function cgroup2MountPoint(sys: ToaSys): string {
  const v1Below = readMounts(sys).some(
    (e) => e.mountPoint === CGROUP2_MOUNT || e.mountPoint.startsWith(`${CGROUP2_MOUNT}/`),
  );
  let nonEmpty = false;
  try {
    nonEmpty = readdirSync(CGROUP2_MOUNT).length > 0;
  } catch {
    // missing: created below
  }
  return v1Below || nonEmpty ? CGROUP2_MOUNT_HYBRID : CGROUP2_MOUNT;
}

/** The cgroup v2 root, mounted if needed; `mounted` says whether this call mounted it. */
export async function ensureCgroup2Root(sys: ToaSys): Promise<{ root: string; mounted: boolean }> {
  const found = cgroup2Root(sys);
  if (found) return { root: found, mounted: false };
  const fss = kernelFilesystems(sys);
  if (fss && !fss.has('cgroup2'))
    throw new ToaError('NO_CGROUP2', 'this kernel has no cgroup v2 (cgroup2 is not in /proc/filesystems)');
  const at = cgroup2MountPoint(sys);
  mkdirSync(at, { recursive: true });
  const r = await sys.run('mount', ['-t', 'cgroup2', 'cgroup2', at]);
  if (r.code !== 0)
    throw new ToaError(
      'NO_CGROUP2',
      `no cgroup v2 mounted, and mounting it at ${at} failed: ${tail(r.stderr)}`,
    );
  return { root: at, mounted: true };
}

/** Checks that `path` is a cgroup v2 directory; its canonical path. */
export function checkCgroupDir(sys: ToaSys, given: string): string {
  const path = outerPath(sys, given, CGROUP2_SUPER_MAGIC);
  if (!existsSync(path)) {
    const root = cgroup2Root(sys);
    throw new ToaError(
      'CGROUP_MISSING',
      `cgroup ${path} does not exist${root ? ` (cgroup v2 is mounted at ${root}; create it with mkdir)` : ''}`,
    );
  }
  if (!statSync(path).isDirectory()) throw new ToaError('CGROUP_MISSING', `${path} is not a directory`);
  if (fsType(path) !== CGROUP2_SUPER_MAGIC) {
    const root = cgroup2Root(sys);
    throw new ToaError(
      'CGROUP_MISSING',
      `${path} is not a cgroup v2 directory${root ? ` (cgroup v2 is mounted at ${root})` : ' (no cgroup v2 is mounted)'}`,
    );
  }
  // realpath would turn /proc/PID/root/... back into a path of this mount namespace
  return path === given ? realpathSync(path) : path;
}
