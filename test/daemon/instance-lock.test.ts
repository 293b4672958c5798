// The daemon's instance locks: one holder per state dir and per socket, taken all or none, and
// free again once the holder dies, kill -9 included. The holder runs in a child process, as a
// second daemon would. Needs the native addon (built by setup).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InstanceBusyError, InstanceLock } from '../../src/daemon/instance-lock.js';

const MODULE = fileURLToPath(new URL('../../src/daemon/instance-lock.ts', import.meta.url));

/** A child that takes the locks, prints "locked", and holds them until killed. */
function holder(stateDir: string, socket: string): Promise<ChildProcess> {
  const script = `
    const { InstanceLock } = await import(${JSON.stringify(MODULE)});
    InstanceLock.acquire(${JSON.stringify(stateDir)}, ${JSON.stringify(socket)});
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`holder exited ${code}: ${err}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('InstanceLock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-lock-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a second holder of the same state dir is refused with the first one pid', async () => {
    const state = join(dir, 'a-state');
    const child = await holder(state, join(dir, 'a.sock'));
    try {
      assert.throws(
        () => InstanceLock.acquire(state, join(dir, 'other.sock')),
        (e: unknown) =>
          e instanceof InstanceBusyError &&
          e.message === `another lvsadm daemon (pid ${child.pid}) is running with the state dir ${state}`,
      );
      assert.equal(readFileSync(join(state, 'daemon.lock'), 'utf8'), `${child.pid}\n`);
    } finally {
      await killed(child);
    }
  });

  test('the same socket with another state dir is refused too, and takes no lock meanwhile', async () => {
    const sock = join(dir, 'b.sock');
    const child = await holder(join(dir, 'b-state'), sock);
    const other = join(dir, 'b-other');
    try {
      assert.throws(() => InstanceLock.acquire(other, sock), /is running with the control socket/);
      // The state dir lock it took on the way was given back: another daemon may have it.
      const l = InstanceLock.acquire(other, join(dir, 'b2.sock'));
      l.release();
    } finally {
      await killed(child);
    }
  });

  test('kill -9 of the holder frees the locks; release() frees them for the next start', async () => {
    const state = join(dir, 'c-state');
    const sock = join(dir, 'c.sock');
    const child = await holder(state, sock);
    assert.throws(() => InstanceLock.acquire(state, sock), InstanceBusyError);
    await killed(child);
    const l = InstanceLock.acquire(state, sock);
    assert.equal(readFileSync(join(state, 'daemon.lock'), 'utf8'), `${process.pid}\n`);
    l.release();
    const again = await holder(state, sock);
    await killed(again);
  });
});
