// Checksum offload: a packet whose TCP/UDP checksum is partial (PacketBatch.csum = 1: the field
// holds the folded pseudo-header sum, the receiver sums the L4 bytes into it) must come out of the
// engine as the same packet with complete checksums would, once the receiver has completed it.
// Two engines get the same random traffic (FULLNAT and SYNPROXY, IPv4 and IPv6, TCP and UDP, with
// TOA, fast path on and off), one with complete checksums, one with partial ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { PacketBatch, VERDICT_TX } from '../../src/dataplane/batch.js';
import { tcp4, tcp6, udp4, udp6 } from '../support/packet-builder.js';
import { engine } from './helpers.js';

const V4 = { vip: '203.0.113.10', lip: '192.0.2.200', rs: '192.0.2.21', cip: '198.51.100.' };
const V6 = { vip: '2001:db8:203::10', lip: '2001:db8:2::200', rs: '2001:db8:2::21', cip: '2001:db8:100::' };

function setup(fastPath: boolean, toa = true): Engine {
  const e = engine({ fastPath, cookieSecret: new Uint32Array([9, 8, 7, 6]) });
  for (const f of [V4, V6]) {
    for (const [proto, port, synproxy] of [
      ['tcp', 80, false],
      ['udp', 80, false],
      ['tcp', 81, true],
    ] as const) {
      const key = { proto, addr: f.vip, port };
      e.addService(key, { sched: 'rr', synproxy, toa });
      e.addDest(key, { addr: f.rs, port: 8080 + port });
      e.addLaddr(key, f.lip);
    }
  }
  return e;
}

/** Byte offset of the L4 header and the checksum field of a TCP/UDP packet (no IPv6 extensions). */
function l4Of(p: Uint8Array): { l4: number; csum: number; proto: number } {
  const v6 = p[0]! >> 4 === 6;
  const l4 = v6 ? 40 : (p[0]! & 15) * 4;
  const proto = v6 ? p[6]! : p[9]!;
  return { l4, csum: l4 + (proto === 6 ? 16 : 6), proto };
}

function sum16(p: Uint8Array, from: number, to: number, s: number): number {
  for (let i = from; i < to; i += 2) s += (p[i]! << 8) | (i + 1 < to ? p[i + 1]! : 0);
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function pseudo(p: Uint8Array): number {
  const { l4, proto } = l4Of(p);
  const v6 = p[0]! >> 4 === 6;
  const len = p.length - l4;
  return v6 ? sum16(p, 8, 40, 0) + proto + len : sum16(p, 12, 20, 0) + proto + len;
}

/** The packet as an offloading sender hands it over: the field holds the pseudo-header sum. */
function toPartial(p: Uint8Array): Uint8Array {
  const q = p.slice();
  const { csum } = l4Of(q);
  const s = fold(pseudo(q));
  q[csum] = s >> 8;
  q[csum + 1] = s & 0xff;
  return q;
}

/** What the receiver does with a partial packet: sums the L4 bytes, field included, and stores it. */
function complete(p: Uint8Array): Uint8Array {
  const q = p.slice();
  const { l4, csum, proto } = l4Of(q);
  let c = ~fold(sum16(q, l4, q.length, 0)) & 0xffff;
  if (proto === 17 && c === 0) c = 0xffff;
  q[csum] = c >> 8;
  q[csum + 1] = c & 0xff;
  return q;
}

/** One packet through the engine; out = the bytes as the next hop sees them (partial ones completed). */
function send(e: Engine, pkt: Uint8Array, partial: boolean, now: number): { tx: boolean; out: number[] }[] {
  const b = new PacketBatch(2, 2048 + 128, 128);
  const i = b.push(partial ? toPartial(pkt) : pkt);
  b.csum[i] = partial ? 1 : 0;
  e.process(b, now);
  const res = [
    { tx: b.verdict[i] === VERDICT_TX, out: [...(b.csum[i] ? complete(b.packet(i)) : b.packet(i))] },
  ];
  // The engine's own packets (released SYNPROXY data, SYN retransmissions) are whole.
  const q = e.txq;
  for (let k = 0; k < q.count; k++) {
    assert.equal(q.csum[k], 0, 'engine-made packets carry complete checksums');
    res.push({ tx: q.verdict[k] === VERDICT_TX, out: [...q.packet(k)] });
  }
  q.clear();
  return res;
}

describe('partial checksums (offload)', () => {
  test('the partial path gives the next hop the same bytes as the complete path', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.record({
            v6: fc.boolean(),
            out: fc.boolean(),
            udp: fc.boolean(),
            sp: fc.boolean(),
            client: fc.integer({ min: 2, max: 3 }),
            lport: fc.integer({ min: 1025, max: 1028 }),
            flags: fc.constantFrom('S', 'A', 'PA', 'SA', 'FA', 'R'),
            seq: fc.integer({ min: 0, max: 3 }),
            data: fc.uint8Array({ maxLength: 30 }),
            dt: fc.integer({ min: 0, max: 3000 }),
          }),
          { minLength: 1, maxLength: 50 },
        ),
        (fastPath, ops) => {
          const a = setup(fastPath);
          const b = setup(fastPath);
          let now = 1000;
          let cookie = 0;
          for (const o of ops) {
            now += o.dt;
            const f = o.v6 ? V6 : V4;
            const port = o.udp ? 80 : o.sp ? 81 : 80;
            const cip = `${f.cip}${o.client}`;
            const seq = 1000 + o.seq * 50;
            // ACKs to a SYNPROXY VIP carry the last cookie seen so handshakes do happen.
            const ack = o.sp && !o.out ? (cookie + 1 + o.seq * 10) >>> 0 : 5000 + o.seq * 50;
            const pkt = o.out
              ? o.udp
                ? (o.v6 ? udp6 : udp4)(f.rs, 8080 + port, f.lip, o.lport, o.data)
                : (o.v6 ? tcp6 : tcp4)(f.rs, 8080 + port, f.lip, o.lport, o.flags, {
                    seq: 5000 + o.seq * 50,
                    ack: 1001,
                    data: o.data,
                    ...(o.flags === 'SA' ? { options: [{ kind: 'mss' as const, value: 1460 }] } : {}),
                  })
              : o.udp
                ? (o.v6 ? udp6 : udp4)(cip, 40000, f.vip, port, o.data)
                : (o.v6 ? tcp6 : tcp4)(cip, 40000, f.vip, port, o.flags, { seq, ack, data: o.data });
            const ra = send(a, pkt, false, now);
            const rb = send(b, pkt, true, now);
            assert.deepEqual(rb, ra);
            const first = ra[0]!;
            if (o.sp && !o.out && o.flags === 'S' && first.tx) {
              const d = new DataView(Uint8Array.from(first.out).buffer);
              cookie = d.getUint32((o.v6 ? 40 : 20) + 4);
            }
            if (o.dt > 2500) {
              a.tick(now);
              b.tick(now);
            }
          }
          assert.deepEqual([...a.connections()], [...b.connections()]);
          assert.deepEqual(a.counterValues(), b.counterValues());
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });

  test('a partial packet of an established flow stays partial, with only the pseudo-header patched', () => {
    const e = setup(true);
    const syn = tcp4('198.51.100.2', 40000, V4.vip, 80, 'S', { seq: 1000 });
    const [s] = send(e, syn, true, 1000);
    assert.equal(s!.tx, true);
    const b = new PacketBatch(2, 2048 + 128, 128);
    const i = b.push(
      toPartial(tcp4('198.51.100.2', 40000, V4.vip, 80, 'PA', { seq: 1001, ack: 1, data: 'x' })),
    );
    b.csum[i] = 1;
    e.process(b, 1001);
    assert.equal(b.verdict[i], VERDICT_TX);
    assert.equal(b.csum[i], 1, 'still partial: the receiver completes it');
    const out = b.packet(i).slice();
    const { csum } = l4Of(out);
    assert.equal(
      (out[csum]! << 8) | out[csum + 1]!,
      fold(pseudo(out)),
      'the field is the new pseudo-header sum',
    );
  });

  test('scripted flows (handshake with and without TOA, SYNPROXY with kept data, both ways, FIN): the same bytes', () => {
    for (const [fastPath, toa] of [
      [true, true],
      [false, true],
      [true, false],
    ] as const) {
      for (const f of [V4, V6]) {
        for (const sp of [false, true]) {
          const a = setup(fastPath, toa);
          const b = setup(fastPath, toa);
          const v6 = f === V6;
          const t = v6 ? tcp6 : tcp4;
          const port = sp ? 81 : 80;
          const cip = `${f.cip}2`;
          let now = 1000;
          const both = (pkt: Uint8Array) => {
            const ra = send(a, pkt, false, now);
            assert.deepEqual(send(b, pkt, true, now), ra, `${v6 ? 'v6' : 'v4'} sp=${sp} fast=${fastPath}`);
            now += 10;
            return ra;
          };
          const dv = (r: { out: number[] }) => new DataView(Uint8Array.from(r.out).buffer);
          const l4 = v6 ? 40 : 20;
          const synOut = both(
            t(cip, 40000, f.vip, port, 'S', { seq: 1000, options: [{ kind: 'mss', value: 1460 }] }),
          );
          let lport: number;
          let ack = 1;
          if (sp) {
            const cookie = dv(synOut[0]!).getUint32(l4 + 4);
            ack = (cookie + 1) >>> 0;
            const toRs = both(t(cip, 40000, f.vip, port, 'PA', { seq: 1001, ack, data: 'early' }));
            lport = dv(toRs[0]!).getUint16(l4);
            // more data while the RS handshake is pending: kept, released after it
            both(t(cip, 40000, f.vip, port, 'PA', { seq: 1006, ack, data: 'more!' }));
          } else {
            lport = dv(synOut[0]!).getUint16(l4);
          }
          // RS SYN-ACK (MSS lowered for TOA), then the client's ACK that carries TOA.
          const synack = both(
            t(f.rs, 8080 + port, f.lip, lport, 'SA', {
              seq: 7000,
              ack: 1001,
              options: [{ kind: 'mss', value: 1460 }],
            }),
          );
          assert.equal(synack[0]!.tx, true);
          if (!sp) both(t(cip, 40000, f.vip, port, 'A', { seq: 1001, ack: 7001 }));
          const rsAck = sp ? ack : 7001;
          const c = sp ? 1011 : 1006; // the client's next sequence number
          both(t(cip, 40000, f.vip, port, 'PA', { seq: c, ack: rsAck, data: 'hello' }));
          both(t(f.rs, 8080 + port, f.lip, lport, 'PA', { seq: 7001, ack: c + 5, data: 'world' }));
          both(
            t(cip, 40000, f.vip, port, 'A', {
              seq: c + 5,
              ack: (rsAck + 5) >>> 0,
              options: [
                { kind: 'nop' },
                { kind: 'nop' },
                { kind: 'sack', blocks: [[rsAck + 10, rsAck + 20]] },
              ],
            }),
          );
          both(t(f.rs, 8080 + port, f.lip, lport, 'FA', { seq: 7006, ack: c + 5 }));
          both(t(cip, 40000, f.vip, port, 'FA', { seq: c + 5, ack: (rsAck + 6) >>> 0 }));
          assert.deepEqual([...a.connections()], [...b.connections()]);
          assert.deepEqual(a.counterValues(), b.counterValues());
          assert.equal((a.counterValues().fullnat_add_toa_ok ?? 0) > 0, toa, 'TOA inserted when on');
        }
      }
    }
  });
});
