// Server and client over a real unix socket in a temporary directory: framing, ordering,
// concurrency, bad input, versions, permissions, stale sockets, unreachable daemons, timeouts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ControlClient, ControlError } from '../../src/control/client.js';
import { ControlService } from '../../src/control/control-service.js';
import { MemoryLog } from '../../src/control/log.js';
import { PROTOCOL_VERSION, type Request, type ResponseEnvelope } from '../../src/control/protocol.js';
import {
  ControlServer,
  loadNativePeerCred,
  type PeerCredFn,
  type RequestHandler,
} from '../../src/control/server.js';
import { inCi, met, PreconditionError, rootReason } from '../support/privileges.js';
import { NOBODY_GID, NOBODY_UID, prepareUnprivileged, REPO } from '../support/unprivileged.js';
import { LIP, RS1, SVC, smallEngine, tempDir, VIP } from './helpers.js';

const V = PROTOCOL_VERSION;

/** A raw connection that sends lines and collects answer lines. */
class Raw {
  readonly sock: Socket;
  readonly lines: ResponseEnvelope[] = [];
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(path: string) {
    this.sock = createConnection(path);
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        this.lines.push(JSON.parse(this.buf.slice(0, nl)) as ResponseEnvelope);
        this.buf = this.buf.slice(nl + 1);
      }
      this.wake();
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(text: string): void {
    this.sock.write(text);
  }

  async waitFor(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async answers(n: number): Promise<ResponseEnvelope[]> {
    await this.waitFor(() => this.lines.length >= n, `${n} answers`);
    return this.lines.slice(0, n);
  }

  end(): void {
    this.sock.destroy();
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ControlError, String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** Runs one status request as user nobody (65534) in a child process: "OK" or "CODE message". */
async function statusAsNobody(path: string): Promise<string> {
  // A bundle in a world-readable dir: nobody may not be able to enter the checkout.
  const bundle = await prepareUnprivileged({
    name: 'status-as-nobody',
    resolveDir: REPO,
    source: `import { ControlClient } from './src/control/client.ts';
      try { await new ControlClient(process.argv[2], { timeoutMs: 10000 }).request({ op: 'status' }); console.log('OK'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`,
  });
  try {
    const [node, ...args] = bundle.argv(path);
    const child = spawn(node!, args, {
      uid: NOBODY_UID,
      gid: NOBODY_GID,
      cwd: bundle.dir,
      env: bundle.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    await new Promise((resolve) => child.on('close', resolve));
    return out;
  } finally {
    bundle.remove();
  }
}

describe('control server and client', () => {
  let dir: string;
  let cleanup: () => void;
  let path: string;
  let server: ControlServer;
  let service: ControlService;
  const log = new MemoryLog();

  before(async () => {
    ({ dir, cleanup } = tempDir('lvsadm-sock-'));
    path = join(dir, 'run', 'lvsadm', 'control.sock');
    service = new ControlService({ engine: smallEngine({ maxDests: 256 }) });
    server = await ControlServer.start({ socketPath: path, handler: service, log, maxLineBytes: 64 * 1024 });
  });

  after(async () => {
    await server.close();
    cleanup();
  });

  test('the socket is 0600 in a 0700 directory; the missing peer-credential check is logged once', () => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(statSync(path).isSocket());
    assert.equal(statSync(join(dir, 'run', 'lvsadm')).mode & 0o777, 0o700);
    assert.equal(log.lines.filter((l) => l.includes('peer credentials are not available')).length, 1);
  });

  test('requests and answers; the daemon refusal comes back with its code and words', async () => {
    const c = new ControlClient(path);
    try {
      assert.equal(await c.request({ op: 'addService', svc: SVC, opts: { sched: 'rr' } }), null);
      await c.request({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } });
      const list = await c.request({ op: 'list' });
      assert.equal(list.services[0]!.addr, VIP);
      assert.equal(list.services[0]!.dests[0]!.addr, RS1);
      await rejectsWith(
        c.request({ op: 'addService', svc: SVC, opts: {} }),
        'SVC_EXISTS',
        /^Service already exists$/,
      );
      await rejectsWith(
        c.request({ op: 'addDest', svc: SVC, dest: { addr: RS1, port: 70000 } }),
        'EINVAL',
        /req\.dest\.port must be an integer from 0 to 65535/,
      );
      // A refused batch says which request: the words stay ipvsadm's, the position is `index`.
      await assert.rejects(
        c.request({
          op: 'batch',
          requests: [
            { op: 'editService', svc: SVC, opts: { sched: 'wlc' } },
            { op: 'delDest', svc: SVC, addr: RS1, port: 81 },
          ],
        }),
        (e: unknown) => {
          assert.ok(e instanceof ControlError);
          assert.deepEqual([e.code, e.message, e.index], ['DEST_NOT_FOUND', 'No such destination', 1]);
          return true;
        },
      );
      assert.equal(
        (await c.request({ op: 'list' })).services[0]!.sched,
        'rr',
        'nothing of the batch applied',
      );
      const dump = await c.request({ op: 'dump' });
      assert.equal(dump.services.length, 1);
      await c.request({ op: 'delService', svc: SVC });
    } finally {
      await c.close();
    }
  });

  test('pipelined requests on one connection are executed and answered in order', async () => {
    const c = new ControlClient(path);
    try {
      const svc = { proto: 'udp' as const, addr: VIP, port: 53 };
      const ps = [
        c.request({ op: 'addService', svc, opts: {} }),
        c.request({ op: 'addDest', svc, dest: { addr: RS1, port: 53 } }),
        c.request({ op: 'list', svc }),
        c.request({ op: 'delDest', svc, addr: RS1, port: 53 }),
        c.request({ op: 'list', svc }),
        c.request({ op: 'delService', svc }),
      ] as const;
      const [a, b, l1, d, l2, e] = await Promise.all(ps);
      assert.deepEqual([a, b, d, e], [null, null, null, null]);
      assert.equal(l1.services[0]!.dests.length, 1);
      assert.equal(l2.services[0]!.dests.length, 0);
    } finally {
      await c.close();
    }
    // The same on the wire: ids in the order sent.
    const raw = new Raw(path);
    const ids = [5, 3, 9, 1];
    raw.send(`${ids.map((id) => JSON.stringify({ v: V, id, req: { op: 'getTimeouts' } })).join('\n')}\n`);
    assert.deepEqual(
      (await raw.answers(4)).map((r) => r.id),
      ids,
    );
    raw.end();
  });

  test('concurrent clients: every change applied once', async () => {
    const svc = { proto: 'tcp' as const, addr: VIP, port: 8080 };
    const c0 = new ControlClient(path);
    await c0.request({ op: 'addService', svc, opts: {} });
    const clients = Array.from({ length: 8 }, () => new ControlClient(path));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 20; j++) {
          await c.request({ op: 'addDest', svc, dest: { addr: `192.0.2.${i * 20 + j + 1}`, port: 80 } });
        }
      }),
    );
    const list = await c0.request({ op: 'list', svc });
    assert.equal(list.services[0]!.dests.length, 160);
    assert.equal(new Set(list.services[0]!.dests.map((d) => d.addr)).size, 160);
    await c0.request({ op: 'delService', svc });
    await Promise.all([c0, ...clients].map((c) => c.close()));
  });

  test('malformed JSON and invalid envelopes get an answer and the connection goes on', async () => {
    const raw = new Raw(path);
    raw.send('{nope\n');
    raw.send(`${JSON.stringify({ v: V, id: 4, req: { op: 'bogus' } })}\n`);
    raw.send(`${JSON.stringify({ v: V + 1, id: 6, req: { op: 'status' } })}\n`);
    raw.send('\n');
    raw.send(`${JSON.stringify({ v: V, id: 8, req: { op: 'getTimeouts' } })}\r\n`);
    const [a, b, c, d] = await raw.answers(4);
    assert.deepEqual(a!.ok ? null : [a!.id, a!.error.code], [0, 'EINVAL']);
    assert.ok(!a!.ok && /^malformed JSON/.test(a!.error.message));
    assert.ok(
      !b!.ok &&
        b!.id === 4 &&
        b!.error.code === 'EINVAL' &&
        /req\.op is not a known operation/.test(b!.error.message),
    );
    assert.ok(!c!.ok && c!.id === 6 && c!.error.code === 'EVERSION');
    assert.match(
      !c!.ok ? c!.error.message : '',
      new RegExp(`protocol version ${V + 1} is not supported.*speaks version ${V}`),
    );
    assert.ok(d!.ok && d!.id === 8);
    assert.deepEqual(d!.ok ? d!.result : null, { tcp: 900, tcpfin: 120, udp: 300 });
    assert.equal(d!.v, V);
    raw.end();
  });

  test('an oversized line gets E2BIG and the connection is closed; others are unaffected', async () => {
    const raw = new Raw(path);
    raw.send(`${JSON.stringify({ v: V, id: 1, req: { op: 'getTimeouts' } })}\n`);
    raw.send('x'.repeat(40 * 1024));
    raw.send('y'.repeat(40 * 1024));
    const [ok, big] = await raw.answers(2);
    assert.ok(ok!.ok);
    assert.ok(!big!.ok && big!.error.code === 'E2BIG' && /longer than 65536 bytes/.test(big!.error.message));
    await raw.waitFor(() => raw.closed, 'close');
    // One line longer than the limit that ends with a newline in the same chunk.
    const raw2 = new Raw(path);
    raw2.send(
      `${JSON.stringify({ v: V, id: 2, req: { op: 'batch', requests: new Array(8000).fill({ op: 'flush' }) } })}\n`,
    );
    const [big2] = await raw2.answers(1);
    assert.ok(!big2!.ok && big2!.error.code === 'E2BIG');
    await raw2.waitFor(() => raw2.closed, 'close');
    const c = new ControlClient(path);
    assert.ok(await c.request({ op: 'status' }));
    await c.close();
  });

  test('a large batch below the limit goes through on one line', async () => {
    const c = new ControlClient(path);
    const svc = { proto: 'tcp' as const, addr: VIP, port: 9000 };
    const requests: Request[] = [{ op: 'addService', svc, opts: {} }];
    for (let i = 1; i <= 200; i++)
      requests.push({ op: 'addDest', svc, dest: { addr: `192.0.2.${i}`, port: 9000 } });
    requests.push({ op: 'addLaddr', svc, addr: LIP });
    await c.request({ op: 'batch', requests });
    assert.equal((await c.request({ op: 'list', svc })).services[0]!.dests.length, 200);
    await c.request({ op: 'delService', svc });
    await c.close();
  });

  test('a batch is validated in slices: a bad entry past the first slice is named and nothing applies', async () => {
    const c = new ControlClient(path);
    const svc = { proto: 'tcp' as const, addr: VIP, port: 9001 };
    const requests: unknown[] = [{ op: 'addService', svc, opts: {} }];
    for (let i = 0; i < 1200; i++) requests.push({ op: 'zero' });
    requests[1100] = { op: 'zero', bogus: 1 };
    await assert.rejects(
      c.request({ op: 'batch', requests: requests as Request[] }),
      (e: unknown) =>
        e instanceof ControlError && e.code === 'EINVAL' && /req\.requests\[1100\]/.test(e.message),
    );
    assert.equal((await c.request({ op: 'list' })).services.filter((s) => s.port === 9001).length, 0);
    await c.close();
  });

  test('a second server on a live socket refuses to start; a non-socket path is not replaced', async () => {
    await assert.rejects(
      ControlServer.start({ socketPath: path, handler: service }),
      new RegExp(`another lvsadm daemon is running on ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    assert.ok(existsSync(path));
    const c = new ControlClient(path);
    assert.ok(await c.request({ op: 'status' }), 'the first server still answers');
    await c.close();
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await assert.rejects(
      ControlServer.start({ socketPath: file, handler: service }),
      /exists and is not a socket/,
    );
  });
});

describe('control server: errors, permissions, stale sockets', () => {
  test('unknown errors become EINTERNAL and are logged; LvsError-like codes pass through', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const log = new MemoryLog();
    const handler: RequestHandler = {
      execute: async (req) => {
        if (req.op === 'status') throw new TypeError('x is undefined');
        return 'fine';
      },
    };
    const path = join(dir, 's');
    const server = await ControlServer.start({ socketPath: path, handler, log });
    const c = new ControlClient(path);
    try {
      await rejectsWith(c.request({ op: 'status' }), 'EINTERNAL', /internal error: x is undefined/);
      assert.ok(log.lines.some((l) => l.includes('internal error on status') && l.includes('TypeError')));
      assert.equal(await c.request({ op: 'counters' }), 'fine');
    } finally {
      await c.close();
      await server.close();
      cleanup();
    }
    assert.equal(existsSync(path), false, 'close removes the socket');
  });

  test('peer credentials: other users are refused with EPERM; root and the own user are accepted', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const log = new MemoryLog();
    let uid: number | null = 1234;
    const peerCred: PeerCredFn = () => (uid === null ? null : { uid });
    const path = join(dir, 's');
    const server = await ControlServer.start({
      socketPath: path,
      handler: new ControlService({ engine: smallEngine() }),
      log,
      peerCred,
      allowedUids: [0, 1000],
    });
    try {
      const c = new ControlClient(path);
      await rejectsWith(
        c.request({ op: 'status' }),
        'EPERM',
        /permission denied: uid 1234 may not use the lvsadm control socket/,
      );
      assert.ok(log.lines.some((l) => l.includes('refused a control connection from uid 1234')));
      assert.ok(!log.lines.some((l) => l.includes('peer credentials are not available')));
      uid = null;
      await rejectsWith(c.request({ op: 'status' }), 'EPERM', /credentials cannot be read/);
      for (const ok of [0, 1000]) {
        uid = ok;
        assert.equal((await c.request({ op: 'status' })).pid, process.pid);
        await c.close();
      }
      // The server drops the connections as the client closes them.
      for (let i = 0; i < 100 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.connectionCount, 0);
    } finally {
      await server.close();
      cleanup();
    }
  });

  test('the native SO_PEERCRED reader, when the addon is built, sees this process as the peer', async (t) => {
    const peerCred = await loadNativePeerCred();
    if (!existsSync(join(process.cwd(), 'build', 'Release', 'lvsadm_native.node'))) {
      // Without the addon the server falls back to the socket mode (tested above); CI builds it.
      if (inCi()) throw new PreconditionError('native addon not built (npm run build:native)');
      assert.equal(peerCred, null);
      t.diagnostic('native addon not built: checked the fallback only');
      return;
    }
    assert.ok(peerCred, 'the addon is built: its reader loads');
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const seen: number[] = [];
    const path = join(dir, 's');
    const server = await ControlServer.start({
      socketPath: path,
      handler: new ControlService({ engine: smallEngine() }),
      peerCred: (s) => {
        const c = peerCred(s);
        if (c) seen.push(c.uid);
        return c;
      },
    });
    try {
      const c = new ControlClient(path);
      assert.equal((await c.request({ op: 'status' })).pid, process.pid);
      await c.close();
      assert.deepEqual(seen, [process.getuid!()]);
      if (met(t, rootReason('a child as nobody'))) {
        // Open the file mode wide: the credential check alone keeps nobody (65534) out.
        chmodSync(dir, 0o755);
        chmodSync(path, 0o666);
        // Asynchronously: this process serves the socket.
        const out = await statusAsNobody(path);
        assert.match(out, /^EPERM permission denied: uid 65534 may not use the lvsadm control socket/);
        assert.deepEqual(seen, [0, 65534]);
      }
    } finally {
      await server.close();
      cleanup();
    }
  });

  test('a stale socket file (its daemon killed) is removed and replaced', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const path = join(dir, 'stale.sock');
    try {
      // A process that listens, then dies by SIGKILL: the socket file stays, nobody listens.
      const r = spawnSync(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(statSync(path).isSocket());
      const c = new ControlClient(path);
      await rejectsWith(
        c.request({ op: 'status' }),
        'UNREACHABLE',
        /nothing listens on .*stale\.sock \(is the daemon running\?\)/,
      );
      const log = new MemoryLog();
      const server = await ControlServer.start({
        socketPath: path,
        handler: new ControlService({ engine: smallEngine() }),
        log,
      });
      assert.ok(log.lines.some((l) => l.includes('removing stale control socket')));
      assert.equal((await c.request({ op: 'status' })).pid, process.pid, 'the client reconnects');
      await c.close();
      await server.close();
    } finally {
      cleanup();
    }
  });

  test('unreachable: no socket (ENOENT) and permission denied (EACCES) say which', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    try {
      const c = new ControlClient(join(dir, 'none.sock'));
      await rejectsWith(
        c.request({ op: 'status' }),
        'UNREACHABLE',
        /none\.sock does not exist \(is the daemon running\?\)/,
      );
      await c.close();

      const path = join(dir, 'sub', 's');
      const server = await ControlServer.start({
        socketPath: path,
        handler: new ControlService({ engine: smallEngine() }),
      });
      try {
        let out: string;
        if (process.getuid?.() === 0) {
          // Root passes any mode: ask as nobody, which the 0700 directory and 0600 socket keep out.
          chmodSync(dir, 0o755);
          out = await statusAsNobody(path);
        } else {
          chmodSync(join(dir, 'sub'), 0);
          try {
            await new ControlClient(path).request({ op: 'status' });
            out = 'OK';
          } catch (e) {
            out = `${(e as ControlError).code} ${(e as Error).message}`;
          } finally {
            chmodSync(join(dir, 'sub'), 0o700);
          }
        }
        assert.match(
          out,
          /^UNREACHABLE cannot reach the lvsadm daemon: permission denied on .*\/sub\/s \(run as root\)/,
        );
      } finally {
        await server.close();
      }
    } finally {
      cleanup();
    }
  });

  test('no answer in time: TIMEOUT; a daemon that goes away mid-request: UNREACHABLE', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const path = join(dir, 's');
    const never: RequestHandler = { execute: () => new Promise(() => {}) };
    const server = await ControlServer.start({ socketPath: path, handler: never });
    try {
      const c = new ControlClient(path, { timeoutMs: 100 });
      await rejectsWith(
        c.request({ op: 'status' }),
        'TIMEOUT',
        /no answer from the lvsadm daemon on .* within 100 ms/,
      );
      const c2 = new ControlClient(path, { timeoutMs: 0 });
      const pending = c2.request({ op: 'status' });
      const check = rejectsWith(pending, 'UNREACHABLE', /closed the connection before answering/);
      await new Promise((r) => setTimeout(r, 50));
      await server.close();
      await check;
    } finally {
      await server.close();
      cleanup();
    }
  });

  test('a client that is never closed does not keep the process alive', async () => {
    const { dir, cleanup } = tempDir('lvsadm-sock-');
    const path = join(dir, 's');
    const server = await ControlServer.start({
      socketPath: path,
      handler: new ControlService({ engine: smallEngine() }),
    });
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `import('./src/control/client.ts').then(async ({ ControlClient }) => {
             const c = new ControlClient(${JSON.stringify(path)});
             const s = await c.request({ op: 'status' });
             console.log('pid ' + s.pid);
           })`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      const code = await new Promise<number | null>((resolve) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 20_000);
        child.on('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
      assert.equal(code, 0, 'exited by itself');
      assert.equal(out.trim(), `pid ${process.pid}`);
    } finally {
      await server.close();
      cleanup();
    }
  });
});
