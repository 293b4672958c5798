// TOA: the client's address rides to the RS in a TCP option on the segments that complete or
// directly follow the handshake; the RS's MSS is lowered so the option always fits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { PacketBatch, VERDICT_TX } from '../../src/dataplane/batch.js';
import { tcp4, tcp6 } from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';
import { CIP, CIP6, counter, fixture, LIP, LIP6, RS1, RS6, SVC, SVC6, send, VIP, VIP6 } from './helpers.js';

/** SYN in, SYN-ACK (MSS 1460, seq 5000) out; returns the SYN-ACK as the client saw it. */
function handshake(e: Engine, six = false) {
  if (six) {
    send(e, tcp6(CIP6, 40000, VIP6, 80, 'S', { seq: 100 }));
    return send(
      e,
      tcp6(RS6, 80, LIP6, 1025, 'SA', { seq: 5000, ack: 101, options: [{ kind: 'mss', value: 1440 }] }),
    );
  }
  send(e, tcp4(CIP, 40000, VIP, 80, 'S', { seq: 100 }));
  return send(
    e,
    tcp4(RS1, 80, LIP, 1025, 'SA', {
      seq: 5000,
      ack: 101,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }],
    }),
  );
}

describe('TOA', () => {
  test('IPv4: MSS lowered by 8, handshake ACK carries [254][8][port][addr] first', () => {
    const e = fixture();
    const sa = handshake(e);
    assert.deepEqual(sa.d.tcp!.options, [{ kind: 'mss', value: 1452 }, { kind: 'sackOk' }]);
    assert.equal(sa.d.l4CsumOk, true);
    const ack = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'A', { seq: 101, ack: 5001, options: [{ kind: 'ts', val: 7, ecr: 9 }] }),
    );
    assert.equal(ack.tx, true);
    assert.equal(ack.d.dst, RS1);
    assert.deepEqual(ack.d.tcp!.options, [
      { kind: 'toa', port: 40000, addr: CIP },
      { kind: 'ts', val: 7, ecr: 9 },
    ]);
    assert.equal(ack.d.ipCsumOk, true);
    assert.equal(ack.d.l4CsumOk, true);
    assert.equal(ack.d.totalLength, 20 + 20 + 12 + 8);
    assert.equal(counter(e, 'fullnat_add_toa_ok'), 1);
    // The first request segment (same ack) carries it too, its payload intact.
    const data = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'PA', { seq: 101, ack: 5001, data: 'GET / HTTP/1.0\r\n\r\n' }),
    );
    assert.deepEqual(data.d.tcp!.options, [{ kind: 'toa', port: 40000, addr: CIP }]);
    assert.equal(Buffer.from(data.d.tcp!.payload!).toString(), 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(data.d.l4CsumOk, true);
    // Once the client acks RS data, no more TOA.
    send(e, tcp4(RS1, 80, LIP, 1025, 'PA', { seq: 5001, ack: 119, data: 'HTTP/1.0 200 OK\r\n' }));
    const later = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: 119, ack: 5018 }));
    assert.deepEqual(later.d.tcp!.options, []);
    assert.equal(counter(e, 'fullnat_add_toa_ok'), 2);
  });

  test('IPv6: MSS lowered by 20, option of length 20 with the client address', () => {
    const e = fixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    const sa = handshake(e, true);
    assert.deepEqual(sa.d.tcp!.options, [{ kind: 'mss', value: 1420 }]);
    const ack = send(e, tcp6(CIP6, 40000, VIP6, 80, 'A', { seq: 101, ack: 5001 }));
    assert.deepEqual(ack.d.tcp!.options, [{ kind: 'toa', port: 40000, addr: CIP6 }]);
    assert.equal(ack.d.payloadLength, 40);
    assert.equal(ack.d.l4CsumOk, true);
  });

  test('SYN and RST never carry TOA; a service with TOA off leaves MSS and ACK alone', () => {
    const e = fixture();
    handshake(e);
    const rst = send(e, tcp4(CIP, 40000, VIP, 80, 'RA', { seq: 101, ack: 5001 }));
    assert.deepEqual(rst.d.tcp!.options, []);
    const off = fixture();
    off.editService(SVC, { toa: false });
    const sa = handshake(off);
    assert.deepEqual(sa.d.tcp!.options, [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }]);
    const ack = send(off, tcp4(CIP, 40000, VIP, 80, 'A', { seq: 101, ack: 5001 }));
    assert.deepEqual(ack.d.tcp!.options, []);
    assert.equal(counter(off, 'fullnat_add_toa_ok'), 0);
  });

  test('a full header makes room by dropping NOPs; without NOPs it is counted head_full', () => {
    const e = fixture();
    handshake(e);
    // 40 bytes of options: timestamps, SACK with 3 blocks (26) ... padded with NOPs.
    const nops = Array.from({ length: 8 }, () => ({ kind: 'nop' as const }));
    const withNops = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'A', {
        seq: 101,
        ack: 5001,
        options: [
          ...nops,
          { kind: 'ts', val: 1, ecr: 2 },
          {
            kind: 'sack',
            blocks: [
              [1, 2],
              [3, 4],
            ],
          },
          { kind: 'nop' },
          { kind: 'nop' },
        ],
      }),
    );
    assert.equal(withNops.tx, true);
    assert.deepEqual(withNops.d.tcp!.options, [
      { kind: 'toa', port: 40000, addr: CIP },
      { kind: 'ts', val: 1, ecr: 2 },
      {
        kind: 'sack',
        blocks: [
          [1, 2],
          [3, 4],
        ],
      },
    ]);
    assert.equal(withNops.d.l4CsumOk, true);
    const fullSegment = tcp4(CIP, 40000, VIP, 80, 'A', {
      seq: 101,
      ack: 5001,
      options: [
        {
          kind: 'sack',
          blocks: [
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
          ],
        },
        { kind: 'raw', bytes: new Uint8Array([30, 6, 1, 2, 3, 4]) },
      ],
    });
    const full = send(e, fullSegment);
    assert.equal(full.tx, true, 'forwarded without TOA');
    assert.equal(
      full.d.tcp!.options!.some((o) => o.kind === 'toa'),
      false,
    );
    assert.equal(full.d.l4CsumOk, true);
    // This connection's RS already got TOA (on the segment above): nothing was lost.
    assert.equal(counter(e, 'fullnat_add_toa_head_full'), 0);
    // The same full segment as a connection's first candidate is a loss, and counted.
    const e2 = fixture();
    handshake(e2);
    const first = send(e2, fullSegment);
    assert.equal(first.tx, true);
    assert.deepEqual(first.d.tcp!.options, full.d.tcp!.options);
    assert.equal(counter(e2, 'fullnat_add_toa_head_full'), 1);
  });

  test('a packet that would exceed the MTU is forwarded without TOA and counted fail_len', () => {
    const e = fixture({ cfg: { mtu: 1500 } });
    handshake(e);
    const big = send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: 101, ack: 5001, data: 'x'.repeat(1460) }));
    assert.equal(big.tx, true);
    assert.equal(big.d.totalLength, 1500);
    assert.equal(counter(e, 'fullnat_add_toa_fail_len'), 1);
  });

  test('once TOA reached the RS, later segments that cannot take it are no failure', () => {
    const e = fixture({ cfg: { mtu: 1500 } });
    handshake(e);
    const ack = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: 101, ack: 5001 }));
    assert.deepEqual(ack.d.tcp!.options, [{ kind: 'toa', port: 40000, addr: CIP }]);
    // A full-sized request segment before the RS's first byte (as coalesced uploads are).
    const big = send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: 101, ack: 5001, data: 'x'.repeat(1460) }));
    assert.equal(big.tx, true);
    assert.equal(big.d.totalLength, 1500, 'forwarded as it came');
    assert.equal(counter(e, 'fullnat_add_toa_ok'), 1);
    assert.equal(counter(e, 'fullnat_add_toa_fail_len'), 0);
    assert.equal(counter(e, 'fullnat_add_toa_head_full'), 0);
  });

  test('without headroom the payload moves back instead', () => {
    const e = fixture();
    handshake(e);
    const batch = new PacketBatch(2, 256, 0);
    batch.push(tcp4(CIP, 40000, VIP, 80, 'PA', { seq: 101, ack: 5001, data: 'hello' }));
    e.process(batch, 1000);
    assert.equal(batch.verdict[0], VERDICT_TX);
    assert.equal(batch.off[0], 0);
    const d = decodePacket(batch.packet(0));
    assert.deepEqual(d.tcp!.options, [{ kind: 'toa', port: 40000, addr: CIP }]);
    assert.equal(Buffer.from(d.tcp!.payload!).toString(), 'hello');
    assert.equal(d.l4CsumOk, true);
  });
});
