// SYNPROXY packet by packet: cookie SYN-ACK, cookie-checked ACK opening the RS side, the RS
// handshake completed by the LB (with TOA), sequence translation both ways, queueing, retries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { tcp4, tcp6 } from '../support/packet-builder.js';
import {
  CIP,
  CIP6,
  counter,
  drainTxq,
  fixture,
  LIP,
  LIP6,
  RS1,
  RS6,
  SVC,
  SVC6,
  send,
  sendAll,
  VIP,
  VIP6,
} from './helpers.js';

const ISN = 1_000_000;
const RS_ISN = 777_000;

function spFixture(opts: Parameters<typeof fixture>[0] = {}): Engine {
  const e = fixture(opts);
  e.editService(opts.key ?? SVC, { synproxy: true });
  return e;
}

/** SYN -> cookie SYN-ACK; returns the cookie. */
function synAck(e: Engine, cport = 40000, now = 1000): number {
  const r = send(
    e,
    tcp4(CIP, cport, VIP, 80, 'S', {
      seq: ISN,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sackOk' },
        { kind: 'wscale', value: 7 },
        { kind: 'ts', val: 5, ecr: 0 },
      ],
    }),
    now,
  );
  assert.equal(r.tx, true);
  return r.d.tcp!.seq;
}

describe('SYNPROXY', () => {
  test('a SYN gets a cookie SYN-ACK from the VIP and leaves no state', () => {
    const e = spFixture();
    const r = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'S', {
        seq: ISN,
        options: [
          { kind: 'mss', value: 1460 },
          { kind: 'sackOk' },
          { kind: 'wscale', value: 7 },
          { kind: 'ts', val: 5, ecr: 0 },
        ],
      }),
    );
    assert.equal(r.tx, true);
    assert.equal(r.d.src, VIP);
    assert.equal(r.d.dst, CIP);
    assert.equal(r.d.ttl, 63);
    assert.equal(r.d.tcp!.flags, 'SA');
    assert.equal(r.d.tcp!.sport, 80);
    assert.equal(r.d.tcp!.dport, 40000);
    assert.equal(r.d.tcp!.ack, ISN + 1);
    // init_mss 1452, SACK offered back; no wscale (knob 0) and no timestamps (knob off).
    assert.deepEqual(
      r.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1452 }, { kind: 'sackOk' }],
    );
    assert.equal(r.d.ipCsumOk, true);
    assert.equal(r.d.l4CsumOk, true);
    assert.equal(e.connCount, 0);
    assert.equal(counter(e, 'synproxy_syn_cookie'), 1);
  });

  test('the whole exchange: ACK opens the RS side, the LB completes it with TOA, seqs are shifted', () => {
    const e = spFixture();
    const cookie = synAck(e);
    // Client ACK with a valid cookie: becomes our SYN to the RS, with the client's options.
    const syn = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    assert.equal(syn.tx, true);
    assert.equal(syn.d.src, LIP);
    assert.equal(syn.d.dst, RS1);
    assert.equal(syn.d.tcp!.flags, 'S');
    assert.equal(syn.d.tcp!.seq, ISN);
    assert.deepEqual(
      syn.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }],
    );
    assert.equal(syn.d.l4CsumOk, true);
    assert.equal(e.connCount, 1);
    assert.equal([...e.connections()][0]!.state, 'SYN_SENT');
    assert.equal(counter(e, 'synproxy_ack_ok'), 1);
    // RS SYN-ACK: becomes the ACK completing the RS handshake, carrying TOA; nothing to the client.
    const ack = send(
      e,
      tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1, options: [{ kind: 'mss', value: 1460 }] }),
    );
    assert.equal(ack.tx, true);
    assert.equal(ack.d.src, LIP);
    assert.equal(ack.d.dst, RS1);
    assert.equal(ack.d.tcp!.flags, 'A');
    assert.equal(ack.d.tcp!.seq, ISN + 1);
    assert.equal(ack.d.tcp!.ack, RS_ISN + 1);
    assert.deepEqual(
      ack.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'toa', port: 40000, addr: CIP }],
    );
    assert.equal(ack.d.l4CsumOk, true);
    assert.equal([...e.connections()][0]!.state, 'ESTABLISHED');
    assert.equal(e.listServices()[0]!.dests[0]!.activeConns, 1);
    // RS -> client: seq moves into the cookie's space.
    const resp = send(e, tcp4(RS1, 80, LIP, 1025, 'PA', { seq: RS_ISN + 1, ack: ISN + 1, data: 'hello' }));
    assert.equal(resp.d.dst, CIP);
    assert.equal(resp.d.tcp!.seq, cookie + 1);
    assert.equal(resp.d.tcp!.ack, ISN + 1);
    assert.equal(resp.d.l4CsumOk, true);
    // Client -> RS: ack and every SACK edge move back into the RS's space.
    const sack = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'A', {
        seq: ISN + 1,
        ack: cookie + 6,
        options: [
          { kind: 'nop' },
          { kind: 'nop' },
          {
            kind: 'sack',
            blocks: [
              [cookie + 10, cookie + 20],
              [cookie + 30, cookie + 40],
            ],
          },
        ],
      }),
    );
    assert.equal(sack.d.tcp!.ack, RS_ISN + 6);
    const blocks = sack.d.tcp!.options!.find((o) => o.kind === 'sack') as { blocks: [number, number][] };
    assert.deepEqual(blocks.blocks, [
      [RS_ISN + 10, RS_ISN + 20],
      [RS_ISN + 30, RS_ISN + 40],
    ]);
    assert.equal(sack.d.l4CsumOk, true);
  });

  test('SACK edges at odd offsets keep the checksum right', () => {
    const e = spFixture();
    const cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    const odd = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'A', {
        seq: ISN + 1,
        ack: cookie + 6,
        options: [{ kind: 'nop' }, { kind: 'sack', blocks: [[cookie + 10, cookie + 20]] }],
      }),
    );
    const b = odd.d.tcp!.options!.find((o) => o.kind === 'sack') as { blocks: [number, number][] };
    assert.deepEqual(b.blocks, [[RS_ISN + 10, RS_ISN + 20]]);
    assert.equal(odd.d.l4CsumOk, true);
  });

  test('client data before the RS answers is kept (bounded) and sent, in order, after the handshake', () => {
    const e = spFixture();
    const cookie = synAck(e);
    const first = send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: ISN + 1, ack: cookie + 1, data: 'one' }));
    assert.equal(first.d.tcp!.flags, 'S', 'data on the cookie ACK: still our SYN to the RS');
    for (const [i, part] of ['two', 'three', 'four'].entries()) {
      const r = send(
        e,
        tcp4(CIP, 40000, VIP, 80, 'PA', { seq: ISN + 4 + i * 5, ack: cookie + 1, data: part }),
      );
      assert.equal(r.tx, false, 'kept, not forwarded yet');
    }
    assert.equal(counter(e, 'synproxy_data_queued'), 3);
    assert.equal(counter(e, 'synproxy_queue_full'), 1, 'max_saved_acks = 3');
    assert.equal(counter(e, 'drop_pkts'), 1, 'kept segments are not drops; the refused one is');
    const { main, extra } = sendAll(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    assert.equal(main.d.tcp!.flags, 'A');
    assert.deepEqual(
      extra.map((p) => Buffer.from(p.tcp!.payload!).toString()),
      ['one', 'two', 'three'],
    );
    for (const p of extra) {
      assert.equal(p.src, LIP);
      assert.equal(p.dst, RS1);
      assert.equal(p.tcp!.ack, RS_ISN + 1);
      assert.equal(p.l4CsumOk, true);
      assert.deepEqual(
        p.tcp!.options!.filter((o) => o.kind === 'toa'),
        [{ kind: 'toa', port: 40000, addr: CIP }],
      );
    }
  });

  // Found by the offload tests: released segments kept their slot's stale offset and length
  // unless TOA resized them, so with TOA off the kept data went out empty.
  test('kept client data is sent whole after the handshake also when TOA is off', () => {
    const e = spFixture();
    e.editService(SVC, { toa: false });
    const cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: ISN + 1, ack: cookie + 1, data: 'one' }));
    send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: ISN + 4, ack: cookie + 1, data: 'two!' }));
    const { extra } = sendAll(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    assert.deepEqual(
      extra.map((p) => Buffer.from(p.tcp!.payload!).toString()),
      ['one', 'two!'],
    );
    for (const p of extra) {
      assert.equal(p.dst, RS1);
      assert.equal(p.l4CsumOk, true);
      assert.equal(p.tcp!.options?.some((o) => o.kind === 'toa') ?? false, false);
    }
  });

  test('ACKs without a valid cookie cost nothing and are counted', () => {
    const e = spFixture();
    for (let i = 0; i < 200; i++) {
      assert.equal(send(e, tcp4(CIP, 30000 + i, VIP, 80, 'A', { seq: i * 7919, ack: i * 104729 })).tx, false);
    }
    assert.equal(e.connCount, 0);
    assert.ok(counter(e, 'synproxy_bad_ack') >= 199);
  });

  test('a SYN flood keeps no state', () => {
    const e = spFixture();
    for (let i = 0; i < 5000; i++)
      send(e, tcp4(`198.51.100.${2 + (i % 200)}`, 1024 + i, VIP, 80, 'S', { seq: i }));
    assert.equal(e.connCount, 0);
    assert.equal(counter(e, 'synproxy_syn_cookie'), 5000);
  });

  test('a cookie expires after 4 minutes and is tied to its tuple', () => {
    const e = spFixture();
    const cookie = synAck(e, 40000, 0);
    assert.equal(
      send(e, tcp4(CIP, 40001, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }), 1000).tx,
      false,
      'other port',
    );
    assert.equal(
      send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 2, ack: cookie + 1 }), 1000).tx,
      false,
      'other ISN',
    );
    assert.equal(
      send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }), 4 * 60_000 + 1).tx,
      false,
      'too old',
    );
    assert.equal(
      send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }), 3 * 60_000 + 1).tx,
      true,
      'still fine',
    );
  });

  test('an RST from the RS reaches the client in the cookie sequence space', () => {
    const e = spFixture();
    const cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    const r = send(e, tcp4(RS1, 80, LIP, 1025, 'RA', { seq: 0, ack: ISN + 1 }));
    assert.equal(r.tx, true);
    assert.equal(r.d.src, VIP);
    assert.equal(r.d.dst, CIP);
    assert.equal(r.d.tcp!.flags, 'R');
    assert.equal(r.d.tcp!.seq, cookie + 1);
    assert.equal(r.d.l4CsumOk, true);
    assert.equal([...e.connections()][0]!.state, 'CLOSE');
    assert.equal(counter(e, 'synproxy_rs_rst'), 1);
    // The closing entry has no sequence delta: a late client segment (no new cookie) is passed
    // on unshifted (the RS answers it with a RST), not shifted by what the wait state kept there.
    const late = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 100, data: 'x' }));
    assert.equal(late.tx, true);
    assert.equal(late.d.dst, RS1);
    assert.equal(late.d.tcp!.ack, (cookie + 100) >>> 0);
  });

  test('a client RST while the RS handshake is pending aborts the RS side too', () => {
    const e = spFixture();
    const cookie = synAck(e, 40000, 0);
    const syn = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }), 0);
    assert.equal(syn.d.tcp!.flags, 'S');
    // A blind RST far from the client's sequence is dropped and changes nothing.
    assert.equal(send(e, tcp4(CIP, 40000, VIP, 80, 'R', { seq: ISN + 100_000 }), 10).tx, false);
    assert.equal([...e.connections()][0]!.state, 'SYN_SENT');
    const rst = send(e, tcp4(CIP, 40000, VIP, 80, 'R', { seq: ISN + 1 }), 20);
    assert.equal(rst.tx, true);
    assert.equal(rst.d.dst, RS1);
    assert.equal(rst.d.src, LIP);
    assert.equal(rst.d.tcp!.flags, 'R');
    assert.equal(rst.d.tcp!.seq, ISN + 1, 'in the window of the RS, which holds our SYN at ISN');
    assert.equal(rst.d.tcp!.dport, 80);
    assert.equal(rst.d.tcp!.sport, syn.d.tcp!.sport, 'the LIP port of the SYN');
    assert.equal(rst.d.l4CsumOk, true);
    assert.equal([...e.connections()][0]!.state, 'CLOSE');
    assert.equal(counter(e, 'synproxy_client_rst'), 1);
    // No more SYN retransmissions to the RS for this connection.
    for (let t = 100; t <= 8_000; t += 100) {
      e.tick(t);
      assert.deepEqual(drainTxq(e), []);
    }
  });

  test('a silent RS gets the SYN again at 1, 2 and 4 s, then the entry goes', () => {
    const e = spFixture();
    const cookie = synAck(e, 40000, 0);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }), 0);
    const seen: number[] = [];
    for (let t = 100; t <= 20_000; t += 100) {
      e.tick(t);
      for (const p of drainTxq(e)) {
        assert.equal(p.tcp!.flags, 'S');
        assert.equal(p.tcp!.seq, ISN);
        assert.equal(p.dst, RS1);
        seen.push(t);
      }
    }
    assert.equal(seen.length, 3);
    assert.ok(seen[0]! >= 1000 && seen[0]! <= 1200);
    assert.ok(seen[1]! >= 3000 && seen[1]! <= 3200);
    assert.ok(seen[2]! >= 7000 && seen[2]! <= 7200);
    assert.equal(e.connCount, 0);
    assert.equal(counter(e, 'synproxy_rs_timeout'), 1);
  });

  test('duplicate ACKs whose SACK blocks move on are loss recovery, not a storm', () => {
    const e = spFixture();
    const cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    // The client's segment at ISN+1 was lost; the RS acks ISN+1 for each later one, SACKing more.
    let passed = 0;
    for (let i = 0; i < 15; i++) {
      const sack: [number, number][] = [[ISN + 1001, ISN + 1001 + 1000 * (i + 1)]];
      const dup = tcp4(RS1, 80, LIP, 1025, 'A', {
        seq: RS_ISN + 1,
        ack: ISN + 1,
        options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: sack }],
      });
      if (send(e, dup).tx) passed++;
    }
    assert.equal(passed, 15);
    assert.equal(counter(e, 'synproxy_ack_storm'), 0);
    // The same SACK over and over is a storm again.
    const same = tcp4(RS1, 80, LIP, 1025, 'A', {
      seq: RS_ISN + 1,
      ack: ISN + 1,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[ISN + 1001, ISN + 2001]] }],
    });
    for (let i = 0; i < 12; i++) send(e, same);
    assert.ok(counter(e, 'synproxy_ack_storm') > 0);
  });

  test('an ACK storm from the RS is cut after ack_storm_thresh identical segments', () => {
    const e = spFixture();
    const cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    let passed = 0;
    for (let i = 0; i < 15; i++)
      if (send(e, tcp4(RS1, 80, LIP, 1025, 'A', { seq: RS_ISN + 1, ack: ISN + 1 })).tx) passed++;
    assert.equal(passed, 10);
    assert.equal(counter(e, 'synproxy_ack_storm'), 5);
    assert.equal(
      send(e, tcp4(RS1, 80, LIP, 1025, 'A', { seq: RS_ISN + 1, ack: ISN + 9 })).tx,
      true,
      'a new ack passes',
    );
  });

  test('a connection in TIME_WAIT is reused by a new cookie ACK', () => {
    const e = spFixture();
    let cookie = synAck(e);
    send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    send(e, tcp4(CIP, 40000, VIP, 80, 'FA', { seq: ISN + 1, ack: cookie + 1 }));
    send(e, tcp4(RS1, 80, LIP, 1025, 'FA', { seq: RS_ISN + 1, ack: ISN + 2 }));
    assert.equal([...e.connections()][0]!.state, 'TIME_WAIT');
    cookie = send(e, tcp4(CIP, 40000, VIP, 80, 'S', { seq: ISN + 5000 })).d.tcp!.seq;
    const syn = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 5001, ack: cookie + 1 }));
    assert.equal(syn.d.tcp!.flags, 'S');
    assert.equal(syn.d.tcp!.seq, ISN + 5000);
    assert.equal(syn.d.tcp!.sport, 1026, 'a fresh local port');
    assert.equal(e.connCount, 1);
    // The new SYN already ended the closing entry (IPVS conn_reuse), before any cookie came back.
    assert.equal(counter(e, 'conn_reused'), 1);
  });

  test('with defer on, only data opens the RS side', () => {
    const e = spFixture();
    e.setKnobs({ defer: true });
    const cookie = synAck(e);
    assert.equal(send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 })).tx, false);
    assert.equal(e.connCount, 0);
    assert.equal(counter(e, 'synproxy_defer_drop'), 1);
    const r = send(e, tcp4(CIP, 40000, VIP, 80, 'PA', { seq: ISN + 1, ack: cookie + 1, data: 'GET /' }));
    assert.equal(r.d.tcp!.flags, 'S');
    assert.equal(e.connCount, 1);
  });

  test('IPv6: the same exchange with a 20-byte TOA', () => {
    const e = spFixture({ key: SVC6, rs: [RS6], lips: [LIP6] });
    const sa = send(
      e,
      tcp6(CIP6, 40000, VIP6, 80, 'S', { seq: ISN, options: [{ kind: 'mss', value: 1440 }] }),
    );
    assert.equal(sa.d.src, VIP6);
    assert.equal(sa.d.l4CsumOk, true);
    const cookie = sa.d.tcp!.seq;
    const syn = send(e, tcp6(CIP6, 40000, VIP6, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    assert.equal(syn.d.dst, RS6);
    assert.deepEqual(
      syn.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1440 }],
    );
    assert.deepEqual(
      sa.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1420 }],
      'init_mss - 32 for IPv6',
    );
    const ack = send(e, tcp6(RS6, 80, LIP6, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    assert.equal(counter(e, 'fullnat_add_toa_ok'), 1, 'the ACK the LB builds counts');
    assert.deepEqual(
      ack.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'toa', port: 40000, addr: CIP6 }],
    );
    assert.equal(ack.d.l4CsumOk, true);
    const resp = send(e, tcp6(RS6, 80, LIP6, 1025, 'PA', { seq: RS_ISN + 1, ack: ISN + 1, data: 'x' }));
    assert.equal(resp.d.tcp!.seq, cookie + 1);
  });

  test('knobs are validated as a whole', () => {
    const e = spFixture();
    assert.throws(() => e.setSysctl({ synproxy_wscale: 15 }), /wscale/);
    assert.throws(() => e.setSysctl({ synproxy_init_mss: 1400, synproxy_syn_retry: 9 }), /syn_retry/);
    assert.equal(e.getKnobs().initMss, 1452, 'nothing changed');
    assert.throws(() => e.setSysctl({ synproxy_timestamp: 2 }), /synproxy_timestamp must be 0 or 1/);
    e.setSysctl({ synproxy_init_mss: 1400, synproxy_sack: 0 });
    const r = send(e, tcp4(CIP, 1, VIP, 80, 'S', { options: [{ kind: 'sackOk' }] }));
    assert.deepEqual(
      r.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1400 }],
    );
    const small = send(e, tcp4(CIP, 2, VIP, 80, 'S', { options: [{ kind: 'mss', value: 1200 }] }));
    assert.deepEqual(
      small.d.tcp!.options!.filter((o) => o.kind !== 'nop'),
      [{ kind: 'mss', value: 1200 }],
      'never above the client MSS',
    );
  });
});
