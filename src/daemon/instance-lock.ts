// One daemon per state directory and per control socket. Probing the socket alone leaves a race:
// two daemons started together both find it stale, and the second then cleans up the first's
// routes and proxy entries as if they were a crash's leftovers. An exclusive flock(2) on a file
// in each place closes it, and the kernel drops the lock when its holder dies, kill -9 included,
// so a crashed daemon never blocks the next start. The files stay (removing a lock file races
// with the next locker); they hold the holder's pid for the message.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadNative } from '../native/index.js';

export class InstanceBusyError extends Error {
  readonly code = 'EBUSY';
}

export class InstanceLock {
  private fds: number[];

  private constructor(fds: number[]) {
    this.fds = fds;
  }

  /** Lock files of a daemon using this state dir and this control socket, with what they guard. */
  static paths(stateDir: string, socketPath: string): { path: string; guards: string }[] {
    return [
      { path: join(stateDir, 'daemon.lock'), guards: `the state dir ${stateDir}` },
      { path: `${socketPath}.lock`, guards: `the control socket ${socketPath}` },
    ];
  }

  /** Takes every lock, or none: throws InstanceBusyError naming the holder's pid. */
  static acquire(stateDir: string, socketPath: string): InstanceLock {
    const native = loadNative();
    const fds: number[] = [];
    try {
      for (const { path, guards } of InstanceLock.paths(stateDir, socketPath)) {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        const fd = openSync(path, 'a+', 0o600);
        fds.push(fd);
        if (!native.tryLock(fd)) {
          const holder = readFileSync(path, 'utf8').trim();
          const who = /^\d+$/.test(holder) ? ` (pid ${holder})` : '';
          throw new InstanceBusyError(`another lvsadm daemon${who} is running with ${guards}`);
        }
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`, 0);
      }
    } catch (e) {
      for (const fd of fds) closeSync(fd);
      throw e;
    }
    return new InstanceLock(fds);
  }

  /** Drops the locks (also happens by itself when the process exits). */
  release(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds = [];
  }
}
