// -L -c streams the connection table: printed part by part as the daemon sends it, byte for byte
// what formatConns prints for the same connections, stdout's back-pressure respected, and every
// connection listed (more than 100,000 through a real socket, server and client).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatConns } from '../../src/cli/format.js';
import { type ControlClientLike, main } from '../../src/cli/main.js';
import { NO_NAMES } from '../../src/cli/names.js';
import { DEFAULT_FORMAT } from '../../src/cli/parse.js';
import { ControlService } from '../../src/control/control-service.js';
import type { ConnInfo, Request } from '../../src/control/protocol.js';
import { ControlServer } from '../../src/control/server.js';
import { PacketBatch } from '../../src/dataplane/batch.js';
import { LIP, LIP2, RS1, RS2, SVC, smallEngine, tempDir } from '../control/helpers.js';
import { tcp4 } from '../support/packet-builder.js';
import { CONNS, GOLDEN_CONNS, TEST_NAMES, text } from './fixtures.js';

type OnPart = (items: unknown[]) => void | Promise<void>;

/** Collects what is written. */
class Capture {
  data = '';
  parts: string[] = [];
  write(s: string): boolean {
    this.data += s;
    this.parts.push(s);
    return true;
  }
}

/** stdout that takes `room` writes, then reports back-pressure until drain() is called. */
class SlowOut extends EventEmitter {
  data = '';
  writes = 0;
  constructor(private room: number) {
    super();
  }
  write(s: string): boolean {
    this.data += s;
    this.writes++;
    return --this.room > 0;
  }
  drain(room: number): void {
    this.room = room;
    this.emit('drain');
  }
}

describe('-L -c streamed', () => {
  test('parts are printed as they come, the same text as one listing', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const seen: Request[] = [];
    const connect = (): ControlClientLike => ({
      request: async (req, opts) => {
        seen.push(req);
        await opts!.onPart!([CONNS[0]]);
        assert.equal(stdout.data.split('\n').length - 1, 3, 'title and the first line are out already');
        await opts!.onPart!([CONNS[1]]);
        return { conns: [CONNS[2]], total: 3, listed: 2 };
      },
    });
    const code = await main(['-L', '-n', '-c'], { stdout, stderr, env: {}, names: TEST_NAMES, connect });
    assert.equal(code, 0);
    assert.equal(stdout.data, text(GOLDEN_CONNS));
    assert.equal(stderr.data, '');
    assert.deepEqual(seen, [{ op: 'listConns', stream: true }]);
  });

  test('an empty table prints the title only; a limit is said on stderr', async () => {
    const out = new Capture();
    const err = new Capture();
    const connect = (): ControlClientLike => ({
      request: async () => ({ conns: [], total: 9, listed: 0, limit: 0 }),
    });
    assert.equal(await main(['-Lnc'], { stdout: out, stderr: err, env: {}, names: TEST_NAMES, connect }), 0);
    assert.equal(out.data, formatConns([]));
    assert.match(err.data, /limit 0\); the table holds 9/);
  });

  test("the next part waits for stdout's drain", async () => {
    const out = new SlowOut(1);
    const stderr = { write: () => true };
    let waited = false;
    const connect = (): ControlClientLike => ({
      request: async (_req, opts) => {
        const onPart = opts!.onPart as OnPart;
        const p = onPart([CONNS[0]]);
        assert.ok(p instanceof Promise, 'a full stdout makes the consumer wait');
        setImmediate(() => {
          waited = true;
          out.drain(10);
        });
        await p;
        assert.ok(waited);
        await onPart([CONNS[1], CONNS[2]]);
        return { conns: [], total: 3, listed: 3 };
      },
    });
    assert.equal(await main(['-Lnc'], { stdout: out, stderr, env: {}, names: TEST_NAMES, connect }), 0);
    assert.equal(out.data, text(GOLDEN_CONNS));
  });

  test('more than 100,000 connections through a real control socket are all listed', async () => {
    const N = 110_000;
    const e = smallEngine({ connCapacity: 1 << 17, maxDests: 16 });
    const cs = new ControlService({ engine: e });
    await cs.execute({
      op: 'batch',
      requests: [
        { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
        { op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } },
        { op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80 } },
        { op: 'addLaddr', svc: SVC, addr: LIP },
        { op: 'addLaddr', svc: SVC, addr: LIP2 },
      ],
    });
    const b = new PacketBatch(256);
    for (let i = 0; i < N; ) {
      b.clear();
      for (let k = 0; k < 256 && i < N; k++, i++)
        b.push(tcp4(`198.18.${(i >> 8) & 255}.${i & 255}`, 1024 + (i >> 16), SVC.addr, 80, 'S', { seq: i }));
      e.process(b, 1000);
    }
    assert.equal(e.connCount, N);
    const all: ConnInfo[] = (await cs.execute({ op: 'listConns' })).conns;
    const { dir, cleanup } = tempDir('lvsadm-conns-');
    const socketPath = join(dir, 'ctl.sock');
    const server = await ControlServer.start({ socketPath, handler: cs });
    try {
      const out = new Capture();
      const err = new Capture();
      const code = await main(['-L', '-n', '-c'], {
        stdout: out,
        stderr: err,
        env: { LVSADM_SOCKET: socketPath },
        names: NO_NAMES,
      });
      assert.equal(code, 0, err.data);
      assert.equal(err.data, '');
      assert.ok(out.parts.length > 2, 'printed in several writes, as the parts came');
      const printed = out.data;
      assert.equal(printed.split('\n').length - 1, N + 2);
      // The clock does not move here, so the text is the one listing's exactly.
      assert.equal(printed, formatConns(all, { ...DEFAULT_FORMAT, numeric: true }, NO_NAMES));
    } finally {
      await server.close();
      cleanup();
    }
  });
});
