// Whole op lists as one PacketBatch: process(batch, now) with several packets runs the batch
// prefetch and keeps state from one slot to the next (a SYN and its later packets, interleaved
// flows, SYNPROXY cookie ACKs, queued data and RS SYN-ACKs that release it mid-batch). Each batch
// goes through a fast-path and a full-path engine and must give, slot for slot, the verdicts and
// bytes that a full-path reference gives one packet at a time; the engines' own output queue
// (txq, drained between batches only, as the daemon does) and their final state must match too.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { PacketBatch, VERDICT_TX } from '../../src/dataplane/batch.js';
import { toHex } from '../support/hex.js';
import { tcp4, udp4 } from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';
import { engine } from './helpers.js';

const VIP = '203.0.113.10';
const LIP = '192.0.2.200';
const RS = ['192.0.2.21', '192.0.2.22'];

function plain(fastPath: boolean): Engine {
  const e = engine({ fastPath });
  for (const proto of ['tcp', 'udp'] as const) {
    const key = { proto, addr: VIP, port: 80 };
    e.addService(key, { sched: 'rr' });
    for (const r of RS) e.addDest(key, { addr: r, port: 8080 });
    e.addLaddr(key, LIP);
  }
  return e;
}

function synproxy(fastPath: boolean): Engine {
  const e = engine({ fastPath, cookieSecret: new Uint32Array([1, 2, 3, 4]) });
  const key = { proto: 'tcp' as const, addr: VIP, port: 80 };
  e.addService(key, { sched: 'rr', synproxy: true });
  e.addDest(key, { addr: RS[0]!, port: 8080 });
  e.addLaddr(key, LIP);
  return e;
}

/** What the engine made of one slot: verdict and bytes (hex). */
type Slot = [number, string];

/** The txq's slots, then emptied. */
function drain(e: Engine): Slot[] {
  const out: Slot[] = [];
  for (let i = 0; i < e.txq.count; i++) out.push([e.txq.verdict[i]!, toHex(e.txq.packet(i))]);
  e.txq.clear();
  return out;
}

const one = new PacketBatch(1);

/** One packet in a batch of its own (no prefetch, nothing shared with other slots). */
function alone(e: Engine, pkt: Uint8Array, now: number): Slot {
  one.clear();
  assert.ok(one.push(pkt) >= 0);
  e.process(one, now);
  return [one.verdict[0]!, toHex(one.packet(0))];
}

/** A packet made when its turn comes, from what the reference answered so far. */
type Build = () => Uint8Array;
interface Chunk {
  now: number;
  pkts: Build[];
  tick: boolean;
}

/**
 * Runs the chunks through the reference (full path, one packet at a time; `learn` sees each
 * answer) and as whole batches through a fast-path and a full-path engine; compares everything.
 * Returns the reference and what each batch left in the txq, for the caller's own checks.
 */
function differential(
  make: (fastPath: boolean) => Engine,
  chunks: Chunk[],
  learn: (pkt: Uint8Array, out: Slot) => void = () => {},
): { ref: Engine; txqs: Slot[][] } {
  const ref = make(false);
  const txqs: Slot[][] = [];
  const batched = [make(true), make(false)] as const;
  for (const [n, chunk] of chunks.entries()) {
    const pkts: Uint8Array[] = [];
    const want: Slot[] = [];
    for (const build of chunk.pkts) {
      const pkt = build();
      pkts.push(pkt);
      const out = alone(ref, pkt, chunk.now);
      want.push(out);
      learn(pkt, out);
    }
    const wantTxq = drain(ref);
    txqs.push(wantTxq);
    for (const [k, e] of batched.entries()) {
      const what = `batch ${n}, ${k === 0 ? 'fast' : 'full'} path`;
      const b = new PacketBatch(Math.max(1, pkts.length));
      for (const p of pkts) assert.ok(b.push(p) >= 0);
      e.process(b, chunk.now);
      const got = pkts.map((_, i): Slot => [b.verdict[i]!, toHex(b.packet(i))]);
      for (let i = 0; i < pkts.length; i++) assert.deepEqual(got[i], want[i], `${what}, slot ${i}`);
      assert.deepEqual(drain(e), wantTxq, `${what}: txq`);
    }
    if (chunk.tick) for (const e of [ref, ...batched]) e.tick(chunk.now);
  }
  for (const [k, e] of batched.entries()) {
    const what = k === 0 ? 'fast path' : 'full path';
    assert.deepEqual([...e.connections()], [...ref.connections()], `${what}: connections`);
    assert.deepEqual(e.listServices(), ref.listServices(), `${what}: services and dests`);
    assert.deepEqual(e.counterValues(), ref.counterValues(), `${what}: counters`);
  }
  return { ref, txqs };
}

const decoded = (s: Slot) => decodePacket(Uint8Array.from(Buffer.from(s[1], 'hex')));

/** Splits ops into chunks where `o.cut` says, time moving on at each chunk. */
function chunked<O extends { cut: boolean; dt: number; tick: boolean }>(
  ops: O[],
  build: (o: O) => Build,
): Chunk[] {
  const chunks: Chunk[] = [];
  let now = 1000;
  let cur: Chunk | undefined;
  for (const o of ops) {
    if (!cur || o.cut) {
      now += o.dt;
      cur = { now, pkts: [], tick: o.tick };
      chunks.push(cur);
    }
    cur.pkts.push(build(o));
  }
  return chunks;
}

describe('batches against one packet at a time', () => {
  test('a TCP connection from SYN to FIN and a UDP exchange, each in one batch', () => {
    const lport = { tcp: 1025, udp: 1025 };
    const learnLport = (pkt: Uint8Array, out: Slot) => {
      if (out[0] !== VERDICT_TX || decodePacket(pkt).dst !== VIP) return;
      const d = decoded(out);
      if (d.tcp) lport.tcp = d.tcp.sport;
      else if (d.udp) lport.udp = d.udp.sport;
    };
    const c = '198.51.100.2';
    const rsPort = () => lport.tcp;
    const { ref } = differential(
      plain,
      [
        {
          now: 1000,
          tick: true,
          pkts: [
            () => tcp4(c, 40000, VIP, 80, 'S', { seq: 100 }),
            () => tcp4(RS[0]!, 8080, LIP, rsPort(), 'SA', { seq: 5000, ack: 101 }),
            () => tcp4(c, 40000, VIP, 80, 'A', { seq: 101, ack: 5001 }),
            () => tcp4(c, 40000, VIP, 80, 'PA', { seq: 101, ack: 5001, data: new Uint8Array(30).fill(1) }),
            () => tcp4(RS[0]!, 8080, LIP, rsPort(), 'PA', { seq: 5001, ack: 131, data: new Uint8Array(9) }),
            () => tcp4(c, 40000, VIP, 80, 'FA', { seq: 131, ack: 5010 }),
            () => tcp4(RS[0]!, 8080, LIP, rsPort(), 'FA', { seq: 5010, ack: 132 }),
            () => tcp4(c, 40000, VIP, 80, 'A', { seq: 132, ack: 5011 }),
          ],
        },
        {
          now: 2000,
          tick: false,
          pkts: [
            () => udp4(c, 5353, VIP, 80, new Uint8Array(12).fill(7)),
            () => udp4(RS[0]!, 8080, LIP, lport.udp, new Uint8Array(5)),
            () => udp4(c, 5353, VIP, 80, new Uint8Array(3)),
          ],
        },
      ],
      learnLport,
    );
    const v = ref.counterValues();
    assert.equal(v.conn_new, 2, 'one TCP and one UDP connection');
    assert.equal(v.tx_pkts, 11, 'every packet forwarded');
  });

  test('random interleaved flows, SYNs and their later packets in the same batches', () => {
    const FLAGS = ['S', 'S', 'A', 'PA', 'FA', 'R', 'SA', ''];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            out: fc.boolean(),
            udp: fc.boolean(),
            client: fc.integer({ min: 2, max: 4 }),
            cport: fc.integer({ min: 1000, max: 1002 }),
            lport: fc.nat(),
            rs: fc.constantFrom(...RS),
            flags: fc.constantFrom(...FLAGS),
            data: fc.uint8Array({ maxLength: 30 }),
            cut: fc.integer({ min: 0, max: 9 }).map((n) => n < 1), // batches of ~5 on average
            dt: fc.integer({ min: 0, max: 70_000 }),
            tick: fc.boolean(),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (ops) => {
          // lports the reference handed out, by protocol: out-direction packets pick one.
          const lports: Record<'tcp' | 'udp', number[]> = { tcp: [], udp: [] };
          const chunks = chunked(ops, (o) => () => {
            const cip = `198.51.100.${o.client}`;
            if (o.out) {
              const seen = lports[o.udp ? 'udp' : 'tcp'];
              const lport = seen.length > 0 ? seen[o.lport % seen.length]! : 1025;
              return o.udp
                ? udp4(o.rs, 8080, LIP, lport, o.data)
                : tcp4(o.rs, 8080, LIP, lport, o.flags, { data: o.data });
            }
            return o.udp
              ? udp4(cip, o.cport, VIP, 80, o.data)
              : tcp4(cip, o.cport, VIP, 80, o.flags, { data: o.data });
          });
          differential(plain, chunks, (pkt, out) => {
            if (out[0] !== VERDICT_TX || decodePacket(pkt).dst !== VIP) return;
            const d = decoded(out);
            if (d.tcp) lports.tcp.push(d.tcp.sport);
            else if (d.udp) lports.udp.push(d.udp.sport);
          });
        },
      ),
      { numRuns: 200, seed: 21 },
    );
  });

  /** Per client: the cookie of its SYN-ACK and the lport of its RS SYN, as the reference made them. */
  function spLearner(clients: number) {
    const cookie = Array.from({ length: clients }, () => 0);
    const lport = Array.from({ length: clients }, () => 1025);
    const learn = (pkt: Uint8Array, out: Slot) => {
      const d = decodePacket(pkt);
      if (out[0] !== VERDICT_TX || d.dst !== VIP || !d.tcp) return;
      const c = Number(d.src.split('.')[3]) - 2;
      const o = decoded(out);
      if (o.tcp?.flags === 'SA') cookie[c] = o.tcp.seq;
      else if (o.tcp?.flags === 'S') lport[c] = o.tcp.sport;
    };
    return { cookie, lport, learn };
  }
  const cip = (c: number) => `198.51.100.${2 + c}`;

  test('SYNPROXY in one batch: SYNs, cookie ACKs, queued data, RS SYN-ACKs releasing it mid-batch', () => {
    const { cookie, lport, learn } = spLearner(3);
    const syn = (c: number) => () => tcp4(cip(c), 40000, VIP, 80, 'S', { seq: 100 });
    const ack = (c: number) => () => tcp4(cip(c), 40000, VIP, 80, 'A', { seq: 101, ack: cookie[c]! + 1 });
    const data = (c: number, seq: number, n: number) => () =>
      tcp4(cip(c), 40000, VIP, 80, 'PA', { seq, ack: cookie[c]! + 1, data: new Uint8Array(n).fill(c + 1) });
    const rsSynAck = (c: number) => () => tcp4(RS[0]!, 8080, LIP, lport[c]!, 'SA', { seq: 5000, ack: 101 });
    const rsData = (c: number) => () =>
      tcp4(RS[0]!, 8080, LIP, lport[c]!, 'PA', { seq: 5001, ack: 121, data: new Uint8Array(7).fill(9) });
    const { ref, txqs } = differential(
      synproxy,
      [
        {
          now: 1000,
          tick: false,
          pkts: [
            syn(0),
            syn(1),
            ack(0),
            data(0, 101, 10), // queued: the RS has not answered yet
            ack(1),
            syn(2),
            data(1, 101, 20),
            rsSynAck(0), // releases client 0's data into the txq, mid-batch
            data(0, 111, 10), // straight through now
            ack(2),
            rsSynAck(1),
            rsData(0),
            data(2, 101, 5),
            rsSynAck(2),
            rsData(1),
            ack(0), // a repeated ACK of an established connection
          ],
        },
      ],
      learn,
    );
    const v = ref.counterValues();
    assert.equal(v.synproxy_syn_cookie, 3);
    assert.equal(v.synproxy_ack_ok, 3);
    assert.equal(v.synproxy_data_queued, 3, 'each client had data waiting for its RS');
    assert.equal(v.conn_new, 3);
    const released = txqs[0]!
      .filter(([verdict]) => verdict === VERDICT_TX)
      .map(decoded)
      .filter((d) => d.dst === RS[0] && (d.tcp?.payload?.length ?? 0) > 0)
      .map((d) => [d.tcp!.sport, d.tcp!.payload!.length]);
    assert.deepEqual(
      released,
      [
        [lport[0], 10],
        [lport[1], 20],
        [lport[2], 5],
      ],
      "each RS SYN-ACK released its client's queued data",
    );
  });

  test('random SYNPROXY traffic of interleaved clients, in batches', () => {
    const CLIENTS = 3;
    // Mostly each client's next step of a whole connection, so handshakes, queued data and
    // releases of several clients land in the same batch; sometimes any packet at all.
    const SCRIPT = ['syn', 'ack', 'data', 'data', 'rsSynAck', 'data', 'rsData', 'fin'] as const;
    const ANY = [...SCRIPT, 'rst', 'rsRst'] as const;
    type Kind = (typeof ANY)[number];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            client: fc.integer({ min: 0, max: CLIENTS - 1 }),
            any: fc.option(fc.constantFrom(...ANY), { freq: 5 }),
            seq: fc.integer({ min: 0, max: 3 }),
            data: fc.uint8Array({ minLength: 1, maxLength: 20 }),
            cut: fc.integer({ min: 0, max: 9 }).map((n) => n < 1), // batches of ~10 on average
            dt: fc.integer({ min: 0, max: 20_000 }),
            tick: fc.boolean(),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        (ops) => {
          const { cookie, lport, learn } = spLearner(CLIENTS);
          const step = Array.from({ length: CLIENTS }, () => 0);
          const kinds: Kind[] = ops.map((o) => o.any ?? SCRIPT[step[o.client]!++ % SCRIPT.length]!);
          let k = 0;
          const chunks = chunked(ops, (o) => {
            const kind = kinds[k++]!;
            return () => {
              const c = o.client;
              const seq = 101 + o.seq * 20;
              const ack = cookie[c]! + 1;
              const rs = (flags: string, data?: Uint8Array) =>
                tcp4(RS[0]!, 8080, LIP, lport[c]!, flags, {
                  seq: flags === 'SA' ? 5000 : 5001,
                  ack: 101,
                  data,
                });
              switch (kind) {
                case 'syn':
                  return tcp4(cip(c), 40000, VIP, 80, 'S', { seq: 100 });
                case 'ack':
                  return tcp4(cip(c), 40000, VIP, 80, 'A', { seq: 101, ack });
                case 'data':
                  return tcp4(cip(c), 40000, VIP, 80, 'PA', { seq, ack, data: o.data });
                case 'fin':
                  return tcp4(cip(c), 40000, VIP, 80, 'FA', { seq, ack });
                case 'rst':
                  return tcp4(cip(c), 40000, VIP, 80, 'R', { seq, ack });
                case 'rsSynAck':
                  return rs('SA');
                case 'rsData':
                  return rs('PA', o.data);
                default:
                  return rs('R');
              }
            };
          });
          differential(synproxy, chunks, learn);
        },
      ),
      { numRuns: 200, seed: 33 },
    );
  });
});
