// kill -9 survival: a daemon in a child process is killed without warning; the next one, started
// on the same state directory and socket path, comes back with every acknowledged change and
// replaces the stale socket. A second daemon on a live socket refuses to start.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../../src/control/client.js';
import type { Config } from '../../src/control/config-model.js';
import { LIP, LIP2, RS1, RS2, SVC, tempDir, VIP2 } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/daemon.ts', import.meta.url));
const children = new Set<ChildProcess>();

interface Daemon {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Starts the fixture daemon; resolves once it printed "ready" (or exited). */
async function startDaemon(socket: string, stateDir: string): Promise<Daemon & { ready: boolean }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, socket, stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  return { child, stderr: () => err, exited, ready };
}

async function kill9(d: Daemon): Promise<void> {
  d.child.kill('SIGKILL');
  assert.equal(await d.exited, null);
}

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('kill -9 survival', () => {
  test('acknowledged changes survive kill -9; the stale socket is replaced; a live daemon is not', async () => {
    const { dir, cleanup } = tempDir('lvsadm-crash-');
    try {
      const socket = join(dir, 'run', 'control.sock');
      const state = join(dir, 'state');
      const a = await startDaemon(socket, state);
      assert.ok(a.ready, a.stderr());
      const c = new ControlClient(socket, { timeoutMs: 20_000 });
      await c.request({ op: 'addService', svc: SVC, opts: { sched: 'rr', synproxy: true } });
      await c.request({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80, weight: 3 } });
      await c.request({ op: 'addLaddr', svc: SVC, addr: LIP });
      await c.request({ op: 'setTimeouts', timeouts: { tcp: 600 } });
      await c.request({ op: 'setSysctl', values: { synproxy_init_mss: 1400, synproxy_sack: 0 } });
      await c.request({
        op: 'batch',
        requests: [
          { op: 'addService', svc: { proto: 'udp', addr: VIP2, port: 53 }, opts: { persistTimeout: 60 } },
          { op: 'addDest', svc: { proto: 'udp', addr: VIP2, port: 53 }, dest: { addr: RS2, port: 53 } },
          { op: 'addLaddr', svc: { proto: 'udp', addr: VIP2, port: 53 }, addr: LIP2 },
        ],
      });
      const before: Config = await c.request({ op: 'dump' });
      assert.equal(before.services.length, 2);

      await kill9(a);
      assert.ok(statSync(socket).isSocket(), 'the killed daemon left its socket behind');
      await assert.rejects(c.request({ op: 'status' }), { code: 'UNREACHABLE' });

      const b = await startDaemon(socket, state);
      assert.ok(b.ready, b.stderr());
      assert.match(b.stderr(), /removing stale control socket/);
      assert.deepEqual(await c.request({ op: 'dump' }), before);
      // Restored into the engine, not only into the model.
      const list = await c.request({ op: 'list' });
      assert.deepEqual(
        list.services.map((s) => [
          s.proto,
          s.addr,
          s.port,
          s.sched,
          s.synproxy,
          s.dests.map((d) => `${d.addr}:${d.weight}`),
          s.laddrs.map((l) => l.addr),
        ]),
        [
          ['tcp', SVC.addr, 80, 'rr', true, [`${RS1}:3`], [LIP]],
          ['udp', VIP2, 53, 'wlc', false, [`${RS2}:1`], [LIP2]],
        ],
      );
      assert.deepEqual(await c.request({ op: 'getTimeouts' }), { tcp: 600, tcpfin: 120, udp: 300 });
      // The sysctls too, read back from the engine.
      assert.deepEqual(await c.request({ op: 'getSysctl', names: ['synproxy_init_mss', 'synproxy_sack'] }), {
        synproxy_init_mss: 1400,
        synproxy_sack: 0,
      });
      assert.equal(statSync(socket).mode & 0o777, 0o600);

      // A second daemon on the same socket refuses and leaves everything alone.
      const dup = await startDaemon(socket, state);
      assert.equal(dup.ready, false);
      assert.equal(await dup.exited, 1);
      assert.match(
        dup.stderr(),
        new RegExp(`another lvsadm daemon is running on ${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
      assert.equal((await c.request({ op: 'status' })).pid, b.child.pid, 'the first one still answers');

      // Killed in the middle of a stream of changes: every acknowledged one is back, the file is whole.
      const acked: string[] = [];
      let stop = false;
      const writer = (async () => {
        for (let i = 1; i < 250 && !stop; i++) {
          const addr = `192.0.2.${i}`;
          try {
            await c.request({
              op: 'addDest',
              svc: { proto: 'udp', addr: VIP2, port: 53 },
              dest: { addr, port: 5353 },
            });
            acked.push(addr);
          } catch {
            return;
          }
        }
      })();
      while (acked.length < 20) await new Promise((r) => setTimeout(r, 5));
      await kill9(b);
      stop = true;
      await writer;
      const d = await startDaemon(socket, state);
      assert.ok(d.ready, d.stderr());
      const after: Config = await c.request({ op: 'dump' });
      const restored = new Set(after.services[1]!.dests.map((x) => x.addr));
      for (const addr of acked) assert.ok(restored.has(addr), `acknowledged ${addr} survived`);
      assert.ok(restored.size - 1 <= acked.length + 1, 'at most the one change in flight besides');
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0);
      assert.equal(existsSync(socket), false, 'a clean stop removes the socket');
      await c.close();
    } finally {
      cleanup();
    }
  });

  test('a corrupt state file stops the start with an error naming it; a copy is kept', async () => {
    const { dir, cleanup } = tempDir('lvsadm-crash-');
    try {
      const socket = join(dir, 'control.sock');
      const state = join(dir, 'state');
      const a = await startDaemon(socket, state);
      assert.ok(a.ready, a.stderr());
      const c = new ControlClient(socket);
      await c.request({ op: 'addService', svc: SVC, opts: {} });
      await kill9(a);
      writeFileSync(join(state, 'state.json'), '{"format":"lvsadm-state","version":1,"config":{"serv');
      const b = await startDaemon(socket, state);
      assert.equal(b.ready, false);
      assert.equal(await b.exited, 1);
      assert.match(b.stderr(), new RegExp(`state file ${join(state, 'state.json')} is corrupt`));
      assert.ok(readdirSync(state).some((n) => n.startsWith('state.json.corrupt-')));
      assert.ok(existsSync(join(state, 'state.json')));
      await c.close();
    } finally {
      cleanup();
    }
  });
});
