// The hand-inlined IPv4 fast path must be indistinguishable from the full path: same bytes out,
// same verdicts, same connection states, deadlines and counters, on random traffic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Engine } from '../../src/dataplane/engine.js';
import { tcp4, udp4 } from '../support/packet-builder.js';
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
            const ra = send(a, pkt, now);
            const rb = send(b, pkt, now);
            assert.equal(ra.tx, rb.tx);
            assert.deepEqual([...ra.out], [...rb.out]);
            if (o.tick) {
              a.tick(now);
              b.tick(now);
            }
          }
          assert.deepEqual([...a.connections()], [...b.connections()]);
          assert.deepEqual(a.listServices(), b.listServices());
          const ca = a.counterValues();
          const cb = b.counterValues();
          assert.deepEqual(ca, cb);
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });
});
