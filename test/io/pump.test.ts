// The pump and the in-memory adapter: budgets per wakeup, continuation, verdicts, counters.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketBatch, VERDICT_DROP, VERDICT_TX } from '../../src/dataplane/batch.js';
import { MemoryIo } from '../../src/io/memory-io.js';
import { Pump, type PumpEngine } from '../../src/io/pump.js';

/** Packet i: [0x45, i >> 8, i & 0xff, ...]; the fake engine sends odd-numbered ones back. */
function pkt(i: number, size = 20): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = 0x45;
  p[1] = i >> 8;
  p[2] = i & 0xff;
  return p;
}

function idOf(p: Uint8Array): number {
  return (p[1]! << 8) | p[2]!;
}

interface FakeEngine extends PumpEngine {
  seen: number[];
  times: number[];
  batchSizes: number[];
}

function fakeEngine(): FakeEngine {
  let clock = 1000;
  const e: FakeEngine = {
    seen: [],
    times: [],
    batchSizes: [],
    now: () => clock++,
    process(batch, now) {
      e.times.push(now);
      e.batchSizes.push(batch.count);
      for (let i = 0; i < batch.count; i++) {
        const p = batch.packet(i);
        e.seen.push(idOf(p));
        assert.equal(batch.verdict[i], VERDICT_DROP, 'verdicts start as DROP');
        p[3] = 0xee; // rewritten in place
        batch.verdict[i] = idOf(p) % 2 === 1 ? VERDICT_TX : VERDICT_DROP;
      }
    },
  };
  return e;
}

describe('Pump over MemoryIo', () => {
  test('one wakeup handles up to maxBatches batches, then continues with setImmediate', async () => {
    const io = new MemoryIo();
    const engine = fakeEngine();
    const pump = new Pump(io, engine, new PacketBatch(4), { maxBatches: 3 });
    for (let i = 0; i < 30; i++) io.push(pkt(i));
    assert.equal(pump.run(), 12, 'three full batches of 4');
    assert.equal(pump.counters.yields, 1);
    assert.equal(io.pending, 18);
    await new Promise((r) => setImmediate(r));
    assert.equal(io.pending, 6, 'the continuation ran one more budget');
    await new Promise((r) => setImmediate(r));
    assert.equal(io.pending, 0);
    assert.deepEqual(engine.batchSizes, [4, 4, 4, 4, 4, 4, 4, 2]);
    assert.deepEqual(
      engine.seen,
      Array.from({ length: 30 }, (_, i) => i),
    );
    assert.deepEqual(engine.times, [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007], 'now() once per batch');
    const out = io.take();
    assert.deepEqual(
      out.map(idOf),
      Array.from({ length: 15 }, (_, i) => 2 * i + 1),
    );
    assert.ok(
      out.every((p) => p[3] === 0xee && p.length === 20),
      'written as the engine left them',
    );
    assert.deepEqual(io.counters, { rx: 30, tx: 15, txDrop: 0, errors: 0 });
    assert.deepEqual(pump.counters, { wakeups: 3, batches: 8, packets: 30, yields: 2 });
    pump.stop();
  });

  test('a short batch means drained: no extra read, no continuation', () => {
    const io = new MemoryIo();
    let reads = 0;
    const readInto = io.readInto.bind(io);
    io.readInto = (b) => {
      reads++;
      return readInto(b);
    };
    const pump = new Pump(io, fakeEngine(), new PacketBatch(8));
    io.push(pkt(1), pkt(2), pkt(3));
    assert.equal(pump.run(), 3);
    assert.equal(reads, 1);
    assert.equal(pump.counters.yields, 0);
    assert.equal(pump.run(), 0, 'nothing waiting');
  });

  test('start() subscribes: pushed packets are processed without calling run()', async () => {
    const io = new MemoryIo();
    const engine = fakeEngine();
    const pump = new Pump(io, engine, new PacketBatch(2), { maxBatches: 1 });
    pump.start();
    assert.throws(() => pump.start(), /already started/);
    for (let i = 0; i < 7; i++) io.push(pkt(i));
    await io.idle();
    assert.equal(engine.seen.length, 7);
    assert.deepEqual(io.take().map(idOf), [1, 3, 5]);
    io.push(pkt(9));
    await io.idle();
    assert.deepEqual(io.take().map(idOf), [9]);
    pump.stop();
    io.push(pkt(11));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(engine.seen.length, 8, 'stopped: nothing processed');
    io.close();
    await io.idle();
  });

  test('a polling error goes to onError', () => {
    let readable: ((err?: Error) => void) | undefined;
    const io = new MemoryIo();
    io.onReadable = (cb) => {
      readable = cb;
    };
    const errors: string[] = [];
    const pump = new Pump(io, fakeEngine(), new PacketBatch(2), { onError: (e) => errors.push(e.message) });
    pump.start();
    readable!(new Error('EBADF'));
    assert.deepEqual(errors, ['EBADF']);
  });

  test('maxBatches must be a positive integer', () => {
    assert.throws(
      () => new Pump(new MemoryIo(), fakeEngine(), new PacketBatch(1), { maxBatches: 0 }),
      RangeError,
    );
  });
});

describe('MemoryIo', () => {
  test('packets longer than a slot are dropped and counted, as a TUN read does', () => {
    const io = new MemoryIo();
    const b = new PacketBatch(4, 256, 56); // 200 bytes of room
    io.push(pkt(1, 201), pkt(2, 200), pkt(3, 10));
    assert.equal(io.readInto(b), 2);
    assert.deepEqual([b.len[0], b.len[1]], [200, 10]);
    assert.equal(b.off[0], 56);
    assert.equal(io.counters.errors, 1);
  });

  test('txRoom: writes stop being accepted, the rest of the TX packets are tx drops', () => {
    const io = new MemoryIo();
    const b = new PacketBatch(8);
    for (let i = 0; i < 6; i++) b.push(pkt(i));
    b.verdict.set([VERDICT_TX, VERDICT_DROP, VERDICT_TX, VERDICT_TX, VERDICT_DROP, VERDICT_TX]);
    io.txRoom = 2;
    assert.equal(io.writeFrom(b), 2);
    assert.deepEqual(io.take().map(idOf), [0, 2]);
    assert.deepEqual(io.counters, { rx: 0, tx: 2, txDrop: 2, errors: 0 });
  });

  test('written packets are copies', () => {
    const io = new MemoryIo();
    const b = new PacketBatch(1);
    b.push(pkt(5));
    b.verdict[0] = VERDICT_TX;
    io.writeFrom(b);
    b.buf.fill(0);
    assert.equal(idOf(io.output[0]!), 5);
  });

  test('close stops notifications and refuses pushes', async () => {
    const io = new MemoryIo();
    let calls = 0;
    io.onReadable(() => calls++);
    io.push(pkt(1));
    io.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 0);
    assert.throws(() => io.push(pkt(2)), /closed/);
  });
});
