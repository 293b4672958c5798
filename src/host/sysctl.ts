// /proc/sys access with save-and-restore.
//
// Keys are paths under /proc/sys ("net/ipv4/conf/eth0.100/forwarding"), not sysctl(8)'s dotted
// names, so device names containing dots need no escaping; `sysctlName()` gives the dotted form
// for messages. A SysctlSaver records each key's original value the first time it is changed
// (telling its owner first, so the record is on disk before the kernel changes) and restores
// them in the order they were recorded.
//
// Writes with side effects on other keys (verified on Linux 6.x in a namespace):
// - net.ipv4.ip_forward (and net.ipv4.conf.all.forwarding) rewrites net.ipv4.conf.{all,default,
//   every device}.forwarding when its value changes;
// - net.ipv6.conf.all.forwarding rewrites net.ipv6.conf.{default, every device}.forwarding,
//   even when its value does not change.
// `setGlobal` therefore records all of those first; restoring in record order puts the global key
// back first and then each device's own value.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asHostError, errnoOf, HostError } from './errors.js';

export const PROC_SYS = '/proc/sys';

export interface SavedSysctl {
  key: string;
  value: string;
}

/** sysctl(8) spelling of a key: "net/ipv6/conf/eth0.100/forwarding" -> "net.ipv6.conf.eth0/100.forwarding". */
export function sysctlName(key: string): string {
  return key
    .split('/')
    .map((s) => s.replaceAll('.', '/'))
    .join('.');
}

export function confKey(family: 4 | 6, dev: string, leaf: string): string {
  checkDev(dev);
  return `net/ipv${family}/conf/${dev}/${leaf}`;
}

export function neighKey(family: 4 | 6, dev: string, leaf: string): string {
  checkDev(dev);
  return `net/ipv${family}/neigh/${dev}/${leaf}`;
}

function checkDev(dev: string): void {
  if (dev === '' || dev === '.' || dev === '..' || dev.includes('/') || dev.includes('\0'))
    throw new HostError('HOST_CONFIG', `bad device name ${JSON.stringify(dev)}`);
}

export const IP_FORWARD = 'net/ipv4/ip_forward';
export const IPV6_ALL_FORWARDING = 'net/ipv6/conf/all/forwarding';
export const IPV6_DEFAULT_FORWARDING = 'net/ipv6/conf/default/forwarding';

/** Reads and writes /proc/sys (or another root, for tests). */
export class Sysctl {
  readonly root: string;

  constructor(root = PROC_SYS) {
    this.root = root;
  }

  read(key: string): string {
    try {
      return readFileSync(join(this.root, key), 'utf8').trim();
    } catch (e) {
      throw asHostError('HOST_SYSCTL', `read ${sysctlName(key)}`, e);
    }
  }

  /** The value, or null when the key does not exist (device gone). */
  tryRead(key: string): string | null {
    try {
      return this.read(key);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return null;
      throw e;
    }
  }

  write(key: string, value: string): void {
    try {
      writeFileSync(join(this.root, key), `${value}\n`);
    } catch (e) {
      throw asHostError('HOST_SYSCTL', `write ${sysctlName(key)}=${value}`, e);
    }
  }

  /** Entries of a directory such as net/ipv4/conf (all, default and one per device). */
  list(dir: string): string[] {
    try {
      return readdirSync(join(this.root, dir)).sort();
    } catch (e) {
      throw asHostError('HOST_SYSCTL', `list ${sysctlName(dir)}`, e);
    }
  }

  /** The keys `net/ipvF/conf/<each entry>/leaf`, for every entry of net/ipvF/conf. */
  confKeys(family: 4 | 6, leaf: string): string[] {
    return this.list(`net/ipv${family}/conf`).map((dev) => `net/ipv${family}/conf/${dev}/${leaf}`);
  }
}

/**
 * Keys whose value the kernel rewrites when `key` is written, in the order they must be restored
 * after it; empty for keys without side effects.
 */
export function collateralKeys(sys: Sysctl, key: string): string[] {
  if (key === IP_FORWARD || key === 'net/ipv4/conf/all/forwarding') {
    return sys.confKeys(4, 'forwarding');
  }
  if (key === IPV6_ALL_FORWARDING) {
    return sys.confKeys(6, 'forwarding').filter((k) => k !== IPV6_ALL_FORWARDING);
  }
  return [];
}

export interface RestoreReport {
  /** Keys written back. */
  restored: string[];
  /** Keys whose object is gone (device removed): nothing to restore. */
  gone: string[];
  errors: HostError[];
  /** The entries that could not be written back (same order as recorded). */
  failed: SavedSysctl[];
}

/**
 * Writes saved values back in record order, skipping keys that already hold their value (writing
 * net.ipv6.conf.all.forwarding again would rewrite every device) and keys that no longer exist.
 */
export function restoreSysctls(sys: Sysctl, saved: readonly SavedSysctl[]): RestoreReport {
  const report: RestoreReport = { restored: [], gone: [], errors: [], failed: [] };
  for (const { key, value } of saved) {
    try {
      const cur = sys.tryRead(key);
      if (cur === null) {
        report.gone.push(key);
        continue;
      }
      if (cur === value) continue;
      sys.write(key, value);
      report.restored.push(key);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') report.gone.push(key);
      else {
        report.errors.push(asHostError('HOST_SYSCTL', `restore ${sysctlName(key)}=${value}`, e));
        report.failed.push({ key, value });
      }
    }
  }
  return report;
}

/**
 * Changes sysctls and remembers their first values. `onRecord` runs with the whole list after
 * every new record and before the write it precedes, so a crash never loses an original value.
 */
export class SysctlSaver {
  private readonly sys: Sysctl;
  private readonly onRecord: (saved: readonly SavedSysctl[]) => void;
  private readonly list: SavedSysctl[];
  private readonly keys: Set<string>;

  constructor(
    sys: Sysctl,
    onRecord: (saved: readonly SavedSysctl[]) => void,
    initial: readonly SavedSysctl[] = [],
  ) {
    this.sys = sys;
    this.onRecord = onRecord;
    this.list = initial.map((s) => ({ ...s }));
    this.keys = new Set(this.list.map((s) => s.key));
  }

  get saved(): readonly SavedSysctl[] {
    return this.list;
  }

  /** Records the current values of keys not recorded yet (missing keys are skipped). */
  record(keys: readonly string[]): void {
    let added = false;
    for (const key of keys) {
      if (this.keys.has(key)) continue;
      const value = this.sys.tryRead(key);
      if (value === null) continue;
      this.list.push({ key, value });
      this.keys.add(key);
      added = true;
    }
    if (added) this.onRecord(this.list);
  }

  /**
   * Sets `key` to `value` unless it already has it, recording the original value of `key` and of
   * every key the kernel rewrites along with it. Returns whether it wrote.
   */
  set(key: string, value: string): boolean {
    if (this.sys.read(key) === value) return false;
    this.record([key, ...collateralKeys(this.sys, key)]);
    this.sys.write(key, value);
    return true;
  }

  /** Restores everything recorded and forgets it, except the entries that failed. */
  restore(): RestoreReport {
    const report = restoreSysctls(this.sys, this.list);
    this.list.splice(0, this.list.length, ...report.failed);
    this.keys.clear();
    for (const s of this.list) this.keys.add(s.key);
    return report;
  }
}
