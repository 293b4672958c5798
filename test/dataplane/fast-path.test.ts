// The hand-inlined IPv4 fast path must be indistinguishable from the full path: same bytes out,
// same verdicts, same connection states, deadlines and counters, on random traffic; also for
// SYNPROXY flows, whose sequence numbers the fast path shifts itself.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { type TcpOption, tcp4, udp4 } from '../support/packet-builder.js';
import { engine, send } from './helpers.js';

function setup(fastPath: boolean): Engine {
  const e = engine({ fastPath });
  for (const proto of ['tcp', 'udp'] as const) {
    const key = { proto, addr: '203.0.113.10', port: 80 };
    e.addService(key, { sched: 'rr' });
    e.addDest(key, { addr: '192.0.2.21', port: 8080 });
    e.addDest(key, { addr: '192.0.2.22', port: 8080 });
    e.addLaddr(key, '192.0.2.200');
  }
  return e;
}

/** One packet through both engines (then a tick when asked): the same verdict and bytes out. */
function step(a: Engine, b: Engine, pkt: Uint8Array, now: number, tick: boolean): void {
  const ra = send(a, pkt, now);
  const rb = send(b, pkt, now);
  assert.equal(ra.tx, rb.tx);
  assert.deepEqual([...ra.out], [...rb.out]);
  if (tick) {
    a.tick(now);
    b.tick(now);
  }
}

/** Both engines hold the same connections, dest counts and counters. */
function sameState(a: Engine, b: Engine): void {
  assert.deepEqual([...a.connections()], [...b.connections()]);
  assert.deepEqual(a.listServices(), b.listServices());
  assert.deepEqual(a.counterValues(), b.counterValues());
}

const FLAGS = ['S', 'A', 'PA', 'FA', 'R', 'RA', 'SA', '', 'U', 'AE'];

describe('fast path', () => {
  test('fast and full path agree on random IPv4 traffic in both directions', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            out: fc.boolean(),
            udp: fc.boolean(),
            client: fc.integer({ min: 2, max: 5 }),
            cport: fc.integer({ min: 1000, max: 1003 }),
            lport: fc.integer({ min: 1025, max: 1030 }),
            rs: fc.constantFrom('192.0.2.21', '192.0.2.22'),
            flags: fc.constantFrom(...FLAGS),
            ttl: fc.constantFrom(64, 2, 1),
            data: fc.uint8Array({ maxLength: 40 }),
            dt: fc.integer({ min: 0, max: 70_000 }),
            tick: fc.boolean(),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (ops) => {
          const a = setup(true);
          const b = setup(false);
          let now = 0;
          for (const o of ops) {
            now += o.dt;
            const cip = `198.51.100.${o.client}`;
            const pkt = o.out
              ? o.udp
                ? udp4(o.rs, 8080, '192.0.2.200', o.lport, o.data, { ip: { ttl: o.ttl } })
                : tcp4(o.rs, 8080, '192.0.2.200', o.lport, o.flags, { data: o.data, ip: { ttl: o.ttl } })
              : o.udp
                ? udp4(cip, o.cport, '203.0.113.10', 80, o.data, { ip: { ttl: o.ttl } })
                : tcp4(cip, o.cport, '203.0.113.10', 80, o.flags, { data: o.data, ip: { ttl: o.ttl } });
            step(a, b, pkt, now, o.tick);
          }
          sameState(a, b);
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  test('fast and full path agree on SYNPROXY flows (seq/ack shift, options, ACK storms)', () => {
    const spSetup = (fastPath: boolean): Engine => {
      const e = engine({ fastPath, cookieSecret: new Uint32Array([1, 2, 3, 4]) });
      const key = { proto: 'tcp' as const, addr: '203.0.113.10', port: 80 };
      e.addService(key, { sched: 'rr', synproxy: true });
      e.addDest(key, { addr: '192.0.2.21', port: 8080 });
      e.addLaddr(key, '192.0.2.200');
      return e;
    };
    const CLIENTS = 3;
    const opt = (kind: number, base: number): TcpOption[] =>
      kind === 0
        ? []
        : kind === 1
          ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[base + 10, base + 20]] }]
          : [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: base, ecr: 7 }];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            out: fc.boolean(),
            client: fc.integer({ min: 0, max: CLIENTS - 1 }),
            flags: fc.constantFrom('A', 'A', 'PA', 'PA', 'FA', 'R', 'S', ''),
            // small steps so identical RS segments in a row (ACK storms) happen too
            seq: fc.integer({ min: 0, max: 3 }),
            ack: fc.integer({ min: 0, max: 3 }),
            options: fc.constantFrom(0, 0, 0, 1, 2),
            data: fc.uint8Array({ maxLength: 20 }),
            dt: fc.integer({ min: 0, max: 20_000 }),
            tick: fc.boolean(),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        (ops) => {
          const a = spSetup(true);
          const b = spSetup(false);
          let now = 1000;
          // Handshakes: SYN -> cookie, cookie ACK -> SYN to the RS, RS SYN-ACK -> ACK to the RS.
          const cookies: number[] = [];
          const lports: number[] = [];
          for (let c = 0; c < CLIENTS; c++) {
            const cip = `198.51.100.${2 + c}`;
            const syn = tcp4(cip, 40000, '203.0.113.10', 80, 'S', { seq: 100 });
            const ca = send(a, syn, now);
            assert.deepEqual([...ca.out], [...send(b, syn, now).out]);
            cookies.push(ca.d.tcp!.seq);
            const ack = tcp4(cip, 40000, '203.0.113.10', 80, 'A', { seq: 101, ack: cookies[c]! + 1 });
            const ra = send(a, ack, now);
            assert.deepEqual([...ra.out], [...send(b, ack, now).out]);
            lports.push(ra.d.tcp!.sport);
            const sa = tcp4('192.0.2.21', 8080, '192.0.2.200', lports[c]!, 'SA', { seq: 5000, ack: 101 });
            assert.deepEqual([...send(a, sa, now).out], [...send(b, sa, now).out]);
          }
          for (const o of ops) {
            now += o.dt;
            const c = o.client;
            const pkt = o.out
              ? tcp4('192.0.2.21', 8080, '192.0.2.200', lports[c]!, o.flags, {
                  seq: 5001 + o.seq * 100,
                  ack: 101 + o.ack * 100,
                  options: opt(o.options, 101),
                  data: o.data,
                })
              : tcp4(`198.51.100.${2 + c}`, 40000, '203.0.113.10', 80, o.flags, {
                  seq: 101 + o.seq * 100,
                  ack: cookies[c]! + 1 + o.ack * 100,
                  options: opt(o.options, cookies[c]!),
                  data: o.data,
                });
            step(a, b, pkt, now, o.tick);
          }
          sameState(a, b);
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});
