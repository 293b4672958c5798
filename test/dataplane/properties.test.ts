// Properties of the whole engine on random traffic: checksums stay right, the client sees
// exactly its own connection mirrored back, and no two live connections share a wire tuple.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { tcp4, tcp6, udp4, udp6 } from '../support/packet-builder.js';
import { engine, LIP6, RS6, send, VIP6 } from './helpers.js';

const v4 = fc
  .tuple(fc.constant(198), fc.constant(51), fc.constant(100), fc.integer({ min: 2, max: 254 }))
  .map((a) => a.join('.'));
const v6 = fc.integer({ min: 2, max: 0xfffe }).map((n) => `2001:db8:100::${n.toString(16)}`);
const port = fc.integer({ min: 1, max: 65535 });
const payload = fc.uint8Array({ minLength: 0, maxLength: 300 });

describe('engine properties', () => {
  test('in then out: the client gets back exactly the mirror of what it sent (IPv4 and IPv6, TCP and UDP)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        v4,
        v6,
        port,
        fc.integer({ min: 1, max: 65535 }),
        payload,
        payload,
        fc.integer({ min: 0, max: 0xffffffff }),
        (six, useUdp, c4, c6, cport, vport, reqData, respData, seq) => {
          const e = engine();
          const vip = six ? VIP6 : '203.0.113.10';
          const rs = six ? RS6 : '192.0.2.21';
          const lip = six ? LIP6 : '192.0.2.200';
          const client = six ? c6 : c4;
          const key = { proto: useUdp ? ('udp' as const) : ('tcp' as const), addr: vip, port: vport };
          e.addService(key, { sched: 'wlc' });
          e.addDest(key, { addr: rs, port: 8080 });
          e.addLaddr(key, lip);
          const req = useUdp
            ? (six ? udp6 : udp4)(client, cport, vip, vport, reqData)
            : (six ? tcp6 : tcp4)(client, cport, vip, vport, 'S', { seq, data: reqData });
          const a = send(e, req);
          assert.equal(a.tx, true);
          assert.equal(a.d.src, lip);
          assert.equal(a.d.dst, rs);
          assert.equal(a.d.l4CsumOk, true);
          const l4a = useUdp ? a.d.udp! : a.d.tcp!;
          assert.equal(l4a.dport, 8080);
          assert.deepEqual([...l4a.payload!], [...reqData]);
          // The RS answers the tuple it saw.
          const resp = useUdp
            ? (six ? udp6 : udp4)(rs, 8080, lip, l4a.sport, respData)
            : (six ? tcp6 : tcp4)(rs, 8080, lip, l4a.sport, 'SA', {
                seq: 99,
                ack: (seq + 1) >>> 0,
                data: respData,
              });
          const b = send(e, resp);
          assert.equal(b.tx, true);
          assert.equal(b.d.src, vip);
          assert.equal(b.d.dst, client);
          assert.equal(b.d.l4CsumOk, true);
          assert.equal(b.d.ipCsumOk, true);
          const l4b = useUdp ? b.d.udp! : b.d.tcp!;
          assert.equal(l4b.sport, vport);
          assert.equal(l4b.dport, cport);
          assert.deepEqual([...l4b.payload!], [...respData]);
          // Byte for byte what the client would get from a server at VIP:vport, but for TTL.
          const direct = useUdp
            ? (six ? udp6 : udp4)(vip, vport, client, cport, respData, {
                ip: six ? { hopLimit: 63 } : { ttl: 63 },
              } as never)
            : (six ? tcp6 : tcp4)(vip, vport, client, cport, 'SA', {
                seq: 99,
                ack: (seq + 1) >>> 0,
                data: respData,
                ip: six ? { hopLimit: 63 } : { ttl: 63 },
              } as never);
          assert.deepEqual([...b.out], [...direct]);
        },
      ),
      { numRuns: 300, seed: 2026 },
    );
  });

  test('no two live connections share (LIP, lport, RIP, rport, proto), under churn', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom('syn', 'syn', 'syn', 'rst', 'tick'),
            client: fc.integer({ min: 2, max: 40 }),
            cport: fc.integer({ min: 1000, max: 1010 }),
            udp: fc.boolean(),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (ops) => {
          const e = engine({ lportMin: 2000, lportMax: 2015 });
          for (const proto of ['tcp', 'udp'] as const) {
            const key = { proto, addr: '203.0.113.10', port: 80 };
            e.addService(key, { sched: 'rr' });
            e.addDest(key, { addr: '192.0.2.21', port: 80 });
            e.addDest(key, { addr: '192.0.2.22', port: 80 });
            e.addLaddr(key, '192.0.2.200');
            e.addLaddr(key, '192.0.2.201');
          }
          let now = 0;
          for (const o of ops) {
            const cip = `198.51.100.${o.client}`;
            if (o.op === 'tick') {
              now += 30_000;
              e.tick(now);
            } else if (o.op === 'syn') {
              send(
                e,
                o.udp
                  ? udp4(cip, o.cport, '203.0.113.10', 80, 'x')
                  : tcp4(cip, o.cport, '203.0.113.10', 80, 'S'),
                now,
              );
            } else if (!o.udp) {
              send(e, tcp4(cip, o.cport, '203.0.113.10', 80, 'A'), now);
              send(e, tcp4(cip, o.cport, '203.0.113.10', 80, 'R'), now);
            }
            const seen = new Set<string>();
            const clients = new Set<string>();
            for (const c of e.connections()) {
              const k = `${c.proto} ${c.laddr}:${c.lport} ${c.daddr}:${c.dport}`;
              assert.ok(!seen.has(k), `duplicate ${k}`);
              seen.add(k);
              const ck = `${c.proto} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport}`;
              assert.ok(!clients.has(ck), `two connections for ${ck}`);
              clients.add(ck);
              assert.ok(c.lport >= 2000 && c.lport <= 2015);
            }
            const svcConns = e
              .listServices()
              .reduce((n, s) => n + s.dests.reduce((m, d) => m + d.activeConns + d.inactConns, 0), 0);
            assert.equal(svcConns, e.connCount, 'dest counts agree with the table');
          }
        },
      ),
      { numRuns: 150, seed: 99 },
    );
  });
});
