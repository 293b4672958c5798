// Large changes and listings do not hold the event loop: a batch is applied in slices (and stays
// all-or-nothing, scheduler positions included), reads of the configuration never see half of
// one, and the connection listing covers every connection, streamed in chunks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BatchError } from '../../src/control/config-model.js';
import { CONN_CHUNK, ControlService, SLICE_REQUESTS } from '../../src/control/control-service.js';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { ConnInfo, Request } from '../../src/control/protocol.js';
import { PacketBatch } from '../../src/dataplane/batch.js';
import { tcp4 } from '../support/packet-builder.js';
import { engineConfig, LIP, LIP2, normalize, RS1, RS2, RS3, SVC, smallEngine, VIP2 } from './helpers.js';

const SVC_MH = { proto: 'tcp', addr: VIP2, port: 80 } as const;
const SVC_SH = { proto: 'tcp', addr: VIP2, port: 81 } as const;

/** 198.18.0.0/15, host number n (n < 2^17). */
function benchAddr(n: number): string {
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/** SYNs from distinct 198.18/15 clients to `vip:port`, through the engine at time `now`. */
function syns(e: Engine, vip: string, port: number, from: number, count: number, now: number): void {
  const b = new PacketBatch(256);
  for (let i = 0; i < count; ) {
    b.clear();
    for (let k = 0; k < 256 && i < count; k++, i++) {
      const n = from + i;
      b.push(tcp4(benchAddr(n >> 4), 1024 + (n & 15), vip, port, 'S', { seq: n }));
    }
    e.process(b, now);
  }
}

async function setUp(e: Engine): Promise<ControlService> {
  const cs = new ControlService({ engine: e });
  const reqs: Request[] = [
    { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
    { op: 'addService', svc: SVC_MH, opts: { sched: 'mh' } },
    { op: 'addService', svc: SVC_SH, opts: { sched: 'sh' } },
  ];
  for (const svc of [SVC, SVC_MH, SVC_SH]) {
    for (const rs of [RS1, RS2, RS3]) reqs.push({ op: 'addDest', svc, dest: { addr: rs, port: 80 } });
    reqs.push({ op: 'addLaddr', svc, addr: LIP });
  }
  await cs.execute({ op: 'batch', requests: reqs });
  return cs;
}

/** The real server each new connection got, in order, for SYNs from clients `from`..`from+n`. */
function picks(e: Engine, from: number, n: number, now: number): string[] {
  const before = new Set([...e.connections()].map((c) => `${c.caddr}:${c.cport}>${c.vaddr}:${c.vport}`));
  for (const [vip, port] of [
    [SVC.addr, SVC.port],
    [SVC_MH.addr, SVC_MH.port],
    [SVC_SH.addr, SVC_SH.port],
  ] as const)
    syns(e, vip, port, from, n, now);
  return [...e.connections()]
    .filter((c) => !before.has(`${c.caddr}:${c.cport}>${c.vaddr}:${c.vport}`))
    .map((c) => `${c.caddr}:${c.cport}>${c.vaddr}:${c.vport}=${c.daddr}`)
    .sort();
}

describe('sliced batches', () => {
  test('a batch refused by the engine at its last request leaves engine and model as before, scheduler positions included', async () => {
    const added = 3 * SLICE_REQUESTS;
    // Room for all but the last real server of the batch: the engine (not the model) refuses it.
    const mk = () => smallEngine({ maxDests: 9 + added - 1, connCapacity: 4096 });
    const a = mk();
    const b = mk();
    const csA = await setUp(a);
    await setUp(b);
    // Move the schedulers and counters somewhere first (rr is at its second dest now).
    assert.deepEqual(picks(a, 0, 4, 1000), picks(b, 0, 4, 1000));
    const modelBefore = csA.model.toConfig();

    const reqs: Request[] = [
      { op: 'editDest', svc: SVC, addr: RS2, port: 80, change: { weight: 7 } },
      { op: 'addLaddr', svc: SVC, addr: LIP2 },
      { op: 'addService', svc: { proto: 'udp', addr: VIP2, port: 53 }, opts: { sched: 'wlc' } },
    ];
    for (let i = 0; i < added; i++) {
      const svc = [SVC, SVC_MH, SVC_SH][i % 3]!;
      reqs.push({ op: 'addDest', svc, dest: { addr: benchAddr(1000 + i), port: 80 } });
    }
    const order: string[] = [];
    setImmediate(() => order.push('event loop'));
    const err = await csA.execute({ op: 'batch', requests: reqs }).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    order.push('batch done');
    assert.ok(err instanceof BatchError, String(err));
    assert.equal(err.index, reqs.length - 1);
    assert.equal(err.code, 'NO_MEMORY');
    assert.deepEqual(order, ['event loop', 'batch done'], 'the batch yielded to the event loop');

    assert.deepEqual(csA.model.toConfig(), modelBefore);
    assert.deepEqual(normalize(engineConfig(a)), normalize(engineConfig(b)));
    assert.deepEqual(a.listServices(), b.listServices(), 'counters and order as before');
    assert.deepEqual(a.counterValues(), b.counterValues());
    // Same next picks as the engine that never saw the batch: rr position, mh and sh tables.
    assert.deepEqual(picks(a, 100, 5, 2000), picks(b, 100, 5, 2000));
  });

  test('a batch of 20,000 requests lets a callback scheduled before it run before it completes', async () => {
    const e = smallEngine({ maxDests: 25_000, maxServices: 64 });
    const cs = new ControlService({ engine: e });
    const reqs: Request[] = [];
    for (let s = 0; s < 20; s++) {
      const svc = { proto: 'tcp', addr: VIP2, port: 1000 + s } as const;
      reqs.push({ op: 'addService', svc, opts: { sched: s % 2 === 0 ? 'wlc' : 'mh' } });
      for (let d = 0; d < 999; d++)
        reqs.push({ op: 'addDest', svc, dest: { addr: benchAddr(s * 1000 + d), port: 80 } });
    }
    reqs.push({ op: 'addLaddr', svc: { proto: 'tcp', addr: VIP2, port: 1000 }, addr: LIP });
    assert.equal(reqs.length, 20_001);
    const order: string[] = [];
    let seen: { services: number; dests: number } | undefined;
    let counted: number | undefined;
    setImmediate(() => {
      order.push('immediate');
      // A read during the batch waits for it and then sees all of it; counters answer at once.
      void cs.execute({ op: 'list' }).then((l) => {
        seen = { services: l.services.length, dests: l.services.reduce((n, s) => n + s.dests.length, 0) };
        order.push('list');
      });
      void cs.execute({ op: 'counters' }).then((c) => {
        counted = c.conn_new;
        order.push('counters');
      });
    });
    await cs.execute({ op: 'batch', requests: reqs });
    order.push('batch');
    await new Promise((r) => setImmediate(r));
    assert.equal(order[0], 'immediate');
    assert.ok(order.indexOf('counters') < order.indexOf('batch'), order.join());
    // The list asked during the batch saw all of it (it waited), not the part applied by then.
    assert.ok(order.includes('list'));
    assert.deepEqual(seen, { services: 20, dests: 20 * 999 });
    assert.equal(counted, 0);
    assert.equal(cs.model.service({ proto: 'tcp', addr: VIP2, port: 1019 })!.dests.length, 999);
  });

  test('a read during a batch that is refused sees the configuration before it', async () => {
    const e = smallEngine({ maxDests: 4000 });
    const cs = await setUp(e);
    const before = await cs.execute({ op: 'dump' });
    const reqs: Request[] = [];
    for (let i = 0; i < 3000; i++)
      reqs.push({ op: 'addDest', svc: SVC, dest: { addr: benchAddr(i), port: 80 } });
    reqs.push({ op: 'delService', svc: { proto: 'udp', addr: VIP2, port: 9 } }); // not there: refused
    let during: unknown;
    setImmediate(() => {
      void cs.execute({ op: 'dump' }).then((d) => {
        during = d;
      });
    });
    await assert.rejects(cs.execute({ op: 'batch', requests: reqs }), { code: 'SVC_NOT_FOUND' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(during, before);
  });
});

describe('connection listing', () => {
  const N = 120_000;

  test(`lists all ${N} connections (more than 100,000), gathered or streamed in chunks`, async () => {
    const e = smallEngine({ connCapacity: 1 << 17, maxDests: 64 });
    const cs = new ControlService({ engine: e });
    await cs.execute({
      op: 'batch',
      requests: [
        { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
        ...[RS1, RS2, RS3].map((addr): Request => ({ op: 'addDest', svc: SVC, dest: { addr, port: 80 } })),
        { op: 'addLaddr', svc: SVC, addr: LIP },
        { op: 'addLaddr', svc: SVC, addr: LIP2 },
      ],
    });
    syns(e, SVC.addr, SVC.port, 0, N, 1000);
    assert.equal(e.connCount, N);

    const whole = await cs.execute({ op: 'listConns' });
    assert.equal(whole.total, N);
    assert.equal(whole.conns.length, N);
    assert.equal(whole.limit, undefined);
    const key = (c: ConnInfo) => `${c.caddr}:${c.cport}`;
    assert.equal(new Set(whole.conns.map(key)).size, N);

    const parts: number[] = [];
    const streamed: ConnInfo[] = [];
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const fin = await cs.execute({ op: 'listConns', stream: true }, (items) => {
      parts.push(items.length);
      for (const c of items) streamed.push(c as ConnInfo);
    });
    ticking = false;
    assert.deepEqual(fin.conns, []);
    assert.equal(fin.listed, N);
    assert.equal(streamed.length, N);
    assert.deepEqual(streamed, whole.conns);
    assert.ok(parts.every((n) => n <= CONN_CHUNK));
    assert.equal(parts.length, Math.ceil(N / CONN_CHUNK));
    assert.ok(turns >= parts.length - 1, `the event loop ran between chunks (${turns} turns)`);

    // A limit is said, not silent.
    const some = await cs.execute({ op: 'listConns', limit: 5 });
    assert.equal(some.conns.length, 5);
    assert.equal(some.limit, 5);
  });
});
