// SYNPROXY with timestamps (synproxy_timestamp=1), packet by packet: the LB's SYN-ACK carries its
// own TSval and echoes the client's, the cookie remembers it; the RS handshake carries the
// client's TSval; after the RS SYN-ACK every RS TSval is moved onto the LB's clock and every
// client TSecr back onto the RS's, by tsoff = lbTsval - rsTsval (uint32), checksums kept right.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { ServiceKey } from '../../src/control/protocol.js';
import { SynCookies } from '../../src/dataplane/syncookie.js';
import { type TcpOption, tcp4, tcp6 } from '../support/packet-builder.js';
import { type DecodedPacket, diffPackets } from '../support/packet-decoder.js';
import {
  CIP,
  CIP6,
  counter,
  fixture,
  LIP,
  LIP6,
  RS1,
  RS6,
  type Sent,
  SVC,
  SVC6,
  send,
  sendAll,
  VIP,
  VIP6,
} from './helpers.js';

const ISN = 1_000_000;
const RS_ISN = 777_000;
/** The client's TS clock: TSval of its SYN, then +1 per segment in these tests. */
const C_TS = 4_000_000;
const SECRET = Uint32Array.of(0x01234567, 0x89abcdef, 0x0badf00d, 0xdeadbeef);

/** One side of the test network: builders and addresses for IPv4 or IPv6. */
interface Net {
  mk: typeof tcp4;
  key: ServiceKey;
  cip: string;
  vip: string;
  lip: string;
  rs: string;
  /** TTL / hop limit field of an expected packet after one hop through the LB. */
  ip: (ttl: number) => object;
}
const NET4: Net = { mk: tcp4, key: SVC, cip: CIP, vip: VIP, lip: LIP, rs: RS1, ip: (ttl) => ({ ttl }) };
const NET6: Net = {
  mk: tcp6 as unknown as typeof tcp4,
  key: SVC6,
  cip: CIP6,
  vip: VIP6,
  lip: LIP6,
  rs: RS6,
  ip: (hopLimit) => ({ hopLimit }),
};

function tsEngine(n: Net = NET4, secret = SECRET, knob = true): Engine {
  const e = fixture({ key: n.key, rs: [n.rs], lips: [n.lip], cfg: { cookieSecret: secret } });
  e.editService(n.key, { synproxy: true });
  if (knob) e.setKnobs({ timestamp: true });
  return e;
}

const ts = (val: number, ecr: number): TcpOption => ({ kind: 'ts', val, ecr });
const NOP: TcpOption = { kind: 'nop' };
const tsOf = (p: DecodedPacket) =>
  p.tcp!.options!.find((o): o is Extract<TcpOption, { kind: 'ts' }> => o.kind === 'ts');
const kinds = (p: DecodedPacket) => p.tcp!.options!.filter((o) => o.kind !== 'nop').map((o) => o.kind);

function clientSyn(e: Engine, n: Net, opts: TcpOption[], cport = 40000, now = 1000): Sent {
  const r = send(e, n.mk(n.cip, cport, n.vip, 80, 'S', { seq: ISN, options: opts }), now);
  assert.equal(r.tx, true);
  assert.equal(r.d.l4CsumOk, true);
  return r;
}

const SYN_OPTS: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, NOP, NOP, ts(C_TS, 0)];

/** The cookie handshake and the client's TS-carrying ACK: returns the cookie and the LB's TSval. */
function openToRs(e: Engine, n: Net, now = 1000): { cookie: number; lb: number; rsSyn: Sent } {
  const sa = clientSyn(e, n, SYN_OPTS, 40000, now);
  const cookie = sa.d.tcp!.seq;
  const lb = tsOf(sa.d)!.val;
  const rsSyn = send(
    e,
    n.mk(n.cip, 40000, n.vip, 80, 'A', {
      seq: ISN + 1,
      ack: cookie + 1,
      options: [NOP, NOP, ts(C_TS + 1, lb)],
    }),
    now,
  );
  assert.equal(rsSyn.d.tcp!.flags, 'S');
  return { cookie, lb, rsSyn };
}

/** The RS's SYN-ACK with TSval `rsTs`: the LB's ACK to the RS. */
function rsSynAck(e: Engine, n: Net, rsTs: number): Sent {
  return send(
    e,
    n.mk(n.rs, 80, n.lip, 1025, 'SA', {
      seq: RS_ISN,
      ack: ISN + 1,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, NOP, NOP, ts(rsTs, C_TS + 1)],
    }),
    1001,
  );
}

/** The whole handshake; returns what the translation depends on. */
function established(e: Engine, n: Net, rsTs: number): { cookie: number; lb: number } {
  const { cookie, lb } = openToRs(e, n);
  const ack = rsSynAck(e, n, rsTs);
  assert.equal(ack.d.tcp!.flags, 'A');
  return { cookie, lb };
}

/** RS data with `options`; the packet as the client gets it. */
function rsData(e: Engine, n: Net, options: TcpOption[], data = 'hello'): Sent {
  return send(e, n.mk(n.rs, 80, n.lip, 1025, 'PA', { seq: RS_ISN + 1, ack: ISN + 1, options, data }), 1002);
}

/** A client ACK with `options` for `ackOf` RS bytes; the packet as the RS gets it. */
function clientAck(e: Engine, n: Net, cookie: number, options: TcpOption[], ackOf = 5): Sent {
  return send(
    e,
    n.mk(n.cip, 40000, n.vip, 80, 'A', { seq: ISN + 1, ack: cookie + 1 + ackOf, options }),
    1003,
  );
}

function cookieHasTs(cookie: number): boolean {
  const c = new SynCookies(SECRET);
  c.setTuple(false, Uint32Array.of(0xc6336402), Uint32Array.of(0xcb00710a), 40000, 80);
  assert.equal(c.check(cookie, ISN, 0), true, 'a valid cookie for CIP:40000 -> VIP:80');
  return c.data.ts;
}

describe('SYNPROXY timestamps', () => {
  test('the SYN-ACK echoes the client TSval, carries the LB clock, and the cookie says TS-OK', () => {
    const e = tsEngine();
    const sa = clientSyn(e, NET4, SYN_OPTS);
    assert.deepEqual(kinds(sa.d), ['mss', 'sackOk', 'ts']);
    const t = tsOf(sa.d)!;
    assert.equal(t.ecr, C_TS, 'TSecr = the client TSval');
    assert.notEqual(t.val, 1000, 'not the raw engine time');
    assert.equal(cookieHasTs(sa.d.tcp!.seq), true);
    assert.equal(e.connCount, 0, 'no state for a SYN');
    // A 1 kHz clock: 500 ms later the LB's TSval is 500 more.
    const later = clientSyn(e, NET4, SYN_OPTS, 40001, 1500);
    assert.equal(tsOf(later.d)!.val, (t.val + 500) >>> 0);
    // Deterministic for a secret, and the secret moves it.
    assert.equal(tsOf(clientSyn(tsEngine(), NET4, SYN_OPTS).d)!.val, t.val);
    const other = tsEngine(NET4, Uint32Array.of(1, 2, 3, 4));
    assert.notEqual(tsOf(clientSyn(other, NET4, SYN_OPTS).d)!.val, t.val);
  });

  test('knob off, or a client SYN without TS: no TS in the SYN-ACK, no TS-OK in the cookie', () => {
    const off = tsEngine(NET4, SECRET, false);
    const a = clientSyn(off, NET4, SYN_OPTS);
    assert.deepEqual(kinds(a.d), ['mss', 'sackOk']);
    assert.equal(cookieHasTs(a.d.tcp!.seq), false);
    const on = tsEngine();
    const b = clientSyn(on, NET4, [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }]);
    assert.deepEqual(kinds(b.d), ['mss', 'sackOk']);
    assert.equal(cookieHasTs(b.d.tcp!.seq), false);
    // Its ACK may carry TS all the same: the RS is opened without.
    const syn = send(
      on,
      tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: b.d.tcp!.seq + 1, options: [NOP, NOP, ts(9, 9)] }),
    );
    assert.deepEqual(kinds(syn.d), ['mss', 'sackOk']);
  });

  for (const n of [NET4, NET6]) {
    const fam = n === NET4 ? 'IPv4' : 'IPv6';
    test(`${fam}: the RS handshake carries the client clock, then TSvals and TSecrs are shifted`, () => {
      const e = tsEngine(n);
      const { cookie, lb, rsSyn } = openToRs(e, n);
      // The SYN to the RS: the client's options, TSval from the cookie ACK, TSecr 0.
      assert.deepEqual(kinds(rsSyn.d), ['mss', 'sackOk', 'ts']);
      assert.deepEqual(tsOf(rsSyn.d), ts(C_TS + 1, 0));
      assert.equal(rsSyn.d.l4CsumOk, true);
      const RS_TS = 123_456_789;
      const ack = rsSynAck(e, n, RS_TS);
      // The LB's ACK to the RS: TOA, then TS echoing the RS.
      assert.deepEqual(kinds(ack.d), ['toa', 'ts']);
      assert.deepEqual(tsOf(ack.d), ts(C_TS + 1, RS_TS));
      assert.equal(ack.d.l4CsumOk, true);
      assert.equal(counter(e, 'synproxy_rs_no_ts'), 0);
      // RS -> client: TSval onto the LB clock (continuing the SYN-ACK's), TSecr untouched. The
      // whole packet is what a fresh build of the translated segment gives (checksum included).
      const out = rsData(e, n, [NOP, NOP, ts(RS_TS + 7, C_TS + 1)]);
      const wantOut = n.mk(n.vip, 80, n.cip, 40000, 'PA', {
        seq: cookie + 1,
        ack: ISN + 1,
        options: [NOP, NOP, ts(lb + 7, C_TS + 1)],
        data: 'hello',
        ip: n.ip(63),
      });
      assert.equal(diffPackets(out.out, wantOut), '');
      // Client -> RS: TSecr back onto the RS clock, TSval untouched.
      const inb = clientAck(e, n, cookie, [NOP, NOP, ts(C_TS + 2, lb + 7)]);
      const wantIn = n.mk(n.lip, 1025, n.rs, 80, 'A', {
        seq: ISN + 1,
        ack: RS_ISN + 6,
        options: [NOP, NOP, ts(C_TS + 2, RS_TS + 7)],
        ip: n.ip(63),
      });
      assert.equal(diffPackets(inb.out, wantIn), '');
    });
  }

  test('the TS option is found after other options and at odd offsets, both ways', () => {
    const e = tsEngine();
    const RS_TS = 50_000;
    const { cookie, lb } = established(e, NET4, RS_TS);
    const cases: [string, (t: TcpOption) => TcpOption[]][] = [
      ['after SACK', (t) => [NOP, NOP, { kind: 'sack', blocks: [[cookie + 10, cookie + 20]] }, NOP, NOP, t]],
      ['after SACK, no NOPs', (t) => [{ kind: 'sack', blocks: [[cookie + 10, cookie + 20]] }, t, NOP, NOP]],
      ['odd offset', (t) => [NOP, t, NOP]],
      [
        'odd, after an odd SACK',
        (t) => [NOP, { kind: 'sack', blocks: [[cookie + 10, cookie + 20]] }, t, NOP],
      ],
      ['behind MSS and wscale', (t) => [{ kind: 'mss', value: 1000 }, { kind: 'wscale', value: 2 }, t, NOP]],
    ];
    for (const [name, opts] of cases) {
      const out = rsData(e, NET4, opts(ts(RS_TS + 3, C_TS + 1)));
      assert.deepEqual(tsOf(out.d), ts(lb + 3, C_TS + 1), `out, ${name}`);
      assert.equal(out.d.l4CsumOk, true, `out checksum, ${name}`);
      const inb = clientAck(e, NET4, cookie, opts(ts(C_TS + 2, lb + 3)));
      assert.deepEqual(tsOf(inb.d), ts(C_TS + 2, RS_TS + 3), `in, ${name}`);
      const sack = inb.d.tcp!.options!.find((o) => o.kind === 'sack') as { blocks: number[][] } | undefined;
      if (sack) assert.deepEqual(sack.blocks, [[RS_ISN + 10, RS_ISN + 20]], `SACK still shifted, ${name}`);
      assert.equal(inb.d.l4CsumOk, true, `in checksum, ${name}`);
    }
  });

  test('segments without TS are left alone; a TSecr of 0 stays 0', () => {
    const e = tsEngine();
    const { cookie } = established(e, NET4, 70_000);
    const out = rsData(e, NET4, []);
    assert.deepEqual(out.d.tcp!.options, []);
    assert.equal(out.d.tcp!.seq, cookie + 1);
    assert.equal(out.d.l4CsumOk, true);
    const inb = clientAck(e, NET4, cookie, [NOP, NOP, ts(C_TS + 2, 0)]);
    assert.deepEqual(tsOf(inb.d), ts(C_TS + 2, 0));
    assert.equal(inb.d.l4CsumOk, true);
  });

  test('uint32 wrap-around: the offset and the translated values wrap, continuity holds', () => {
    for (const rsTs of [0xfffffff0, 0, 0x7fffffff, 0x80000000]) {
      const e = tsEngine();
      const { cookie, lb } = established(e, NET4, rsTs);
      for (const step of [1, 0x10, 0x20, 1000]) {
        const out = rsData(e, NET4, [NOP, NOP, ts((rsTs + step) >>> 0, C_TS + 1)]);
        assert.equal(tsOf(out.d)!.val, (lb + step) >>> 0, `rs ${rsTs} + ${step}`);
        assert.equal(out.d.l4CsumOk, true);
        const inb = clientAck(e, NET4, cookie, [NOP, NOP, ts(C_TS + 2, (lb + step) >>> 0)]);
        assert.equal(tsOf(inb.d)!.ecr, (rsTs + step) >>> 0);
        assert.equal(inb.d.l4CsumOk, true);
      }
    }
    // The LB clock itself wraps with engine time: an engine time that puts it just below 2^32.
    const probe = tsOf(clientSyn(tsEngine(), NET4, SYN_OPTS, 40000, 0).d)!.val;
    const now = 0x100000000 - 5 - probe;
    const e = tsEngine();
    const sa = clientSyn(e, NET4, SYN_OPTS, 40000, now);
    assert.equal(tsOf(sa.d)!.val, 0xfffffffb);
    const later = clientSyn(e, NET4, SYN_OPTS, 40001, now + 10);
    assert.equal(tsOf(later.d)!.val, 5);
  });

  test('an RS that answers without TS: counted, and nothing is translated', () => {
    const e = tsEngine();
    const { cookie, lb } = openToRs(e, NET4);
    const ack = send(e, tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1 }));
    assert.deepEqual(kinds(ack.d), ['toa'], 'no TS to an RS that did not take it');
    assert.equal(counter(e, 'synproxy_rs_no_ts'), 1);
    const out = rsData(e, NET4, [NOP, NOP, ts(42, 43)]);
    assert.deepEqual(tsOf(out.d), ts(42, 43));
    const inb = clientAck(e, NET4, cookie, [NOP, NOP, ts(C_TS + 2, lb)]);
    assert.deepEqual(tsOf(inb.d), ts(C_TS + 2, lb));
    assert.equal(inb.d.l4CsumOk, true);
  });

  test('a TS-OK cookie whose ACK carries no TS: the RS side goes on without', () => {
    const e = tsEngine();
    const sa = clientSyn(e, NET4, SYN_OPTS);
    const cookie = sa.d.tcp!.seq;
    const syn = send(e, tcp4(CIP, 40000, VIP, 80, 'A', { seq: ISN + 1, ack: cookie + 1 }));
    assert.deepEqual(kinds(syn.d), ['mss', 'sackOk']);
    const ack = rsSynAck(e, NET4, 99);
    assert.deepEqual(kinds(ack.d), ['toa']);
    assert.equal(counter(e, 'synproxy_rs_no_ts'), 0, 'the RS was not asked for TS');
    assert.deepEqual(tsOf(rsData(e, NET4, [NOP, NOP, ts(100, 7)]).d), ts(100, 7));
  });

  test('the cookie is honoured after the knob went off: the client already has our clock', () => {
    const e = tsEngine();
    const sa = clientSyn(e, NET4, SYN_OPTS);
    const lb = tsOf(sa.d)!.val;
    e.setKnobs({ timestamp: false });
    const syn = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'A', {
        seq: ISN + 1,
        ack: sa.d.tcp!.seq + 1,
        options: [NOP, NOP, ts(C_TS + 1, lb)],
      }),
    );
    assert.deepEqual(tsOf(syn.d), ts(C_TS + 1, 0));
    rsSynAck(e, NET4, 1000);
    assert.equal(tsOf(rsData(e, NET4, [NOP, NOP, ts(1001, C_TS + 1)]).d)!.val, (lb + 1) >>> 0);
  });

  test('client data queued during the RS handshake is released with TSecr on the RS clock', () => {
    const e = tsEngine();
    const sa = clientSyn(e, NET4, SYN_OPTS);
    const cookie = sa.d.tcp!.seq;
    const lb = tsOf(sa.d)!.val;
    const first = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'PA', {
        seq: ISN + 1,
        ack: cookie + 1,
        options: [NOP, NOP, ts(C_TS + 1, lb)],
        data: 'one',
      }),
    );
    assert.deepEqual(tsOf(first.d), ts(C_TS + 1, 0), 'data on the cookie ACK: our SYN to the RS');
    const second = send(
      e,
      tcp4(CIP, 40000, VIP, 80, 'PA', {
        seq: ISN + 4,
        ack: cookie + 1,
        options: [NOP, ts(C_TS + 2, lb), NOP],
        data: 'two',
      }),
    );
    assert.equal(second.tx, false, 'kept');
    const RS_TS = 0xfffffffe;
    const { main, extra } = sendAll(
      e,
      tcp4(RS1, 80, LIP, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1, options: [NOP, NOP, ts(RS_TS, C_TS + 1)] }),
    );
    assert.deepEqual(tsOf(main.d), ts(C_TS + 1, RS_TS), 'the ACK the LB builds');
    assert.deepEqual(
      extra.map((p) => Buffer.from(p.tcp!.payload!).toString()),
      ['one', 'two'],
    );
    assert.deepEqual(
      extra.map((p) => tsOf(p)),
      [ts(C_TS + 1, RS_TS), ts(C_TS + 2, RS_TS)],
    );
    for (const p of extra) {
      assert.equal(p.l4CsumOk, true);
      assert.equal(p.tcp!.ack, RS_ISN + 1);
    }
  });

  test('IPv6: the LB clock in the SYN-ACK and the TS-OK path end to end', () => {
    const e = tsEngine(NET6);
    const sa = clientSyn(e, NET6, SYN_OPTS);
    assert.deepEqual(kinds(sa.d), ['mss', 'sackOk', 'ts']);
    assert.equal(tsOf(sa.d)!.ecr, C_TS);
    const v4 = tsEngine();
    assert.equal(tsOf(sa.d)!.val, tsOf(clientSyn(v4, NET4, SYN_OPTS).d)!.val, 'one clock per engine');
  });

  test('the knob is accepted on and off', () => {
    const e = tsEngine(NET4, SECRET, false);
    assert.equal(e.getKnobs().timestamp, false);
    e.setKnobs({ timestamp: true });
    assert.equal(e.getKnobs().timestamp, true);
    assert.deepEqual(kinds(clientSyn(e, NET4, SYN_OPTS).d), ['mss', 'sackOk', 'ts']);
    e.setKnobs({ timestamp: false });
    assert.deepEqual(kinds(clientSyn(e, NET4, SYN_OPTS).d), ['mss', 'sackOk']);
  });
});
