// ICMP errors about SYNPROXY connections (issue 9): the quoted TCP header is translated back
// into the sequence space (and TS clock) of the end that gets the error, exactly undoing what
// the forwarding path did to the quoted segment. An error from the client side quotes an RS
// segment the LB shifted (seq += delta, TSval += tsoff): the RS must see its own seq and TSval,
// or Linux ignores the error as out of window and PMTU discovery stalls. An error from the RS
// side quotes a client segment (ack, SACK edges -= delta, TSecr -= tsoff): the client must see
// its own. Each case is checked against the original segment byte for byte, over every quote
// length (fields past the quote are left alone; the inner checksum is patched when quoted, so
// it equals the original segment's, and a whole quoted segment verifies), with the outer
// checksums verified by the decoder's own computation (ICMPv6's over the pseudo-header).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import type { ServiceKey } from '../../src/control/protocol.js';
import { icmp4, icmp6, ipv4, ipv6, quote, type TcpOption, tcp4, tcp6 } from '../support/packet-builder.js';
import type { DecodedPacket } from '../support/packet-decoder.js';
import { CIP, CIP6, counter, fixture, LIP, LIP6, RS1, RS6, SVC, SVC6, send, VIP, VIP6 } from './helpers.js';

const ISN = 1_000_000;
const RS_ISN = 777_000;
const C_TS = 4_000_000;
const RS_TS = 123_456_789;
const SECRET = Uint32Array.of(0x01234567, 0x89abcdef, 0x0badf00d, 0xdeadbeef);
const NOP: TcpOption = { kind: 'nop' };
const ts = (val: number, ecr: number): TcpOption => ({ kind: 'ts', val, ecr });
const sack = (...blocks: [number, number][]): TcpOption => ({ kind: 'sack', blocks });

interface Net {
  fam: string;
  mk: typeof tcp4;
  key: ServiceKey;
  cip: string;
  vip: string;
  lip: string;
  rs: string;
  /** The LB's own client-side address (the kernel's too-big reports come from it). */
  lbOut: string;
  /** A router on the RS side. */
  rsGw: string;
  /** Frag-needed (IPv4) or Packet Too Big (IPv6), MTU 1280, quoting `q`. */
  tooBig: (src: string, dst: string, q: Uint8Array) => Uint8Array;
  /** Destination (port) unreachable quoting `q`: any ICMP error is translated alike. */
  unreach: (src: string, dst: string, q: Uint8Array) => Uint8Array;
}

const NET4: Net = {
  fam: 'IPv4',
  mk: tcp4,
  key: SVC,
  cip: CIP,
  vip: VIP,
  lip: LIP,
  rs: RS1,
  lbOut: '198.51.100.1',
  rsGw: '192.0.2.1',
  tooBig: (src, dst, q) => ipv4({ src, dst, payload: icmp4({ type: 3, code: 4, rest: 1280, data: q }) }),
  unreach: (src, dst, q) => ipv4({ src, dst, payload: icmp4({ type: 3, code: 3, data: q }) }),
};
const NET6: Net = {
  fam: 'IPv6',
  mk: tcp6 as unknown as typeof tcp4,
  key: SVC6,
  cip: CIP6,
  vip: VIP6,
  lip: LIP6,
  rs: RS6,
  lbOut: '2001:db8:100::1',
  rsGw: '2001:db8:2::1',
  tooBig: (src, dst, q) => ipv6({ src, dst, payload: icmp6({ type: 2, code: 0, rest: 1280, data: q }) }),
  unreach: (src, dst, q) => ipv6({ src, dst, payload: icmp6({ type: 1, code: 4, data: q }) }),
};

const DATA = 'z'.repeat(1200);

/** A SYNPROXY connection through the whole handshake, with or without timestamps. */
function established(n: Net, withTs: boolean): { e: Engine; cookie: number; lb: number } {
  const e = fixture({ key: n.key, rs: [n.rs], lips: [n.lip], cfg: { cookieSecret: SECRET } });
  e.editService(n.key, { synproxy: true });
  if (withTs) e.setKnobs({ timestamp: true });
  const synOpts: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }];
  if (withTs) synOpts.push(NOP, NOP, ts(C_TS, 0));
  const sa = send(e, n.mk(n.cip, 40000, n.vip, 80, 'S', { seq: ISN, options: synOpts }));
  assert.equal(sa.d.tcp!.flags, 'SA');
  const cookie = sa.d.tcp!.seq;
  const lbTs = sa.d.tcp!.options!.find((o) => o.kind === 'ts');
  assert.equal(lbTs !== undefined, withTs);
  const lb = lbTs?.kind === 'ts' ? lbTs.val : 0;
  const ackOpts = withTs ? [NOP, NOP, ts(C_TS + 1, lb)] : [];
  const syn = send(
    e,
    n.mk(n.cip, 40000, n.vip, 80, 'A', { seq: ISN + 1, ack: cookie + 1, options: ackOpts }),
  );
  assert.equal(syn.d.tcp!.flags, 'S');
  const synAckOpts: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }];
  if (withTs) synAckOpts.push(NOP, NOP, ts(RS_TS, C_TS + 1));
  const ack = send(
    e,
    n.mk(n.rs, 80, n.lip, 1025, 'SA', { seq: RS_ISN, ack: ISN + 1, options: synAckOpts }),
    1001,
  );
  assert.equal(ack.d.tcp!.flags, 'A');
  assert.notEqual(cookie, RS_ISN, 'a non-zero delta');
  return { e, cookie, lb };
}

/** The TCP bytes of a built packet (no IP header, no extension headers here). */
function tcpBytes(pkt: Uint8Array): Uint8Array {
  return pkt.subarray(pkt[0]! >> 4 === 4 ? (pkt[0]! & 15) * 4 : 40);
}

/** Checks the translated error and returns its quoted packet. */
function checkError(r: ReturnType<typeof send>, src: string, dst: string, isrc: string, idst: string) {
  assert.equal(r.tx, true);
  assert.equal(r.d.src, src);
  assert.equal(r.d.dst, dst);
  assert.equal(r.d.ipCsumOk, true, 'outer IPv4 header checksum');
  assert.equal(r.d.l4CsumOk, true, 'outer ICMP checksum (ICMPv6: with the pseudo-header)');
  const inner = r.d.icmp!.inner!;
  assert.equal(inner.src, isrc);
  assert.equal(inner.dst, idst);
  assert.equal(inner.ipCsumOk, true, 'inner IPv4 header checksum');
  return inner;
}

/** The quoted TCP bytes equal `want` up to the quote's length; a whole quote verifies. */
function sameTcp(inner: DecodedPacket, want: Uint8Array, what: string): void {
  const got = inner.l4;
  assert.ok(got.length > 0 && got.length <= want.length, `${what}: quoted ${got.length} bytes`);
  assert.deepEqual([...got], [...want.subarray(0, got.length)], what);
  if (got.length === want.length) assert.equal(inner.l4CsumOk, true, `${what}: whole quote verifies`);
}

// Quote lengths (TCP bytes): the RFC 792 minimum (seq only), the fixed header (ack, checksum),
// part of the TS option (left alone), TS whole, part of a SACK option, and everything.
const LENGTHS = [8, 20, 28, 32, 40, Number.POSITIVE_INFINITY];

for (const n of [NET4, NET6]) {
  for (const withTs of [false, true]) {
    const what = `${n.fam}, ${withTs ? 'with' : 'without'} timestamps`;
    describe(`ICMP errors about a SYNPROXY connection: ${what}`, () => {
      test('an error from the client side reaches the RS quoting the seq (and TSval) it sent', () => {
        const { e, cookie, lb } = established(n, withTs);
        /** The RS segment, its TSval on the RS's clock or (as forwarded) on the LB's. */
        const rsSeg = (tsval: number) =>
          n.mk(n.rs, 80, n.lip, 1025, 'PA', {
            seq: RS_ISN + 1,
            ack: ISN + 1,
            options: withTs ? [NOP, NOP, ts(tsval, C_TS + 1)] : [],
            data: DATA,
          });
        const rsPkt = rsSeg(RS_TS + 7);
        const out = send(e, rsPkt, 1002);
        assert.equal(out.d.tcp!.seq, cookie + 1, 'the client sees the cookie sequence space');
        for (const len of LENGTHS) {
          const r = send(e, n.tooBig(n.lbOut, n.vip, quote(out.out, len)), 1003);
          const inner = checkError(r, n.lip, n.rs, n.rs, n.lip);
          assert.equal(r.d.icmp!.rest & 0xffff, 1280);
          assert.equal(inner.tcp!.seq, RS_ISN + 1, `quote ${len}: the seq the RS sent`);
          // The TS option (bytes 22..31) is translated only when quoted whole; else its TSval
          // stays on the LB's clock and the checksum accounts for that.
          const want = tcpBytes(rsSeg(len >= 32 ? RS_TS + 7 : (lb + 7) >>> 0));
          sameTcp(inner, want, `quote ${len}`);
          if (withTs && len >= 32) {
            const t = inner.tcp!.options!.find((o) => o.kind === 'ts');
            assert.deepEqual(t, ts(RS_TS + 7, C_TS + 1), `quote ${len}: the RS's own TSval`);
          }
        }
        // Any other error is translated the same way.
        const r = send(e, n.unreach(n.cip, n.vip, quote(out.out, 32)), 1003);
        sameTcp(checkError(r, n.lip, n.rs, n.rs, n.lip), tcpBytes(rsPkt), 'port unreachable');
        assert.equal(counter(e, 'icmp_xlate_in'), LENGTHS.length + 1);
      });

      test('an error from the RS side reaches the client quoting its ack, SACK edges and TSecr', () => {
        const { e, cookie, lb } = established(n, withTs);
        const delta = (cookie - RS_ISN) >>> 0;
        /** The client segment; fields at or past `upto` as the LB forwarded them (RS space). */
        const cSeg = (upto: number) => {
          const rsSpace = (v: number, at: number) => (at + 4 <= upto ? v : (v - delta) >>> 0);
          const o: TcpOption[] = withTs
            ? [NOP, NOP, ts(C_TS + 2, upto >= 32 ? (lb + 7) >>> 0 : RS_TS + 7)]
            : [];
          const s = withTs ? 36 : 24; // the first SACK edge
          o.push(NOP, NOP, sack([rsSpace(cookie + 10, s), rsSpace(cookie + 20, s + 4)]));
          return n.mk(n.cip, 40000, n.vip, 80, 'PA', {
            seq: ISN + 1,
            ack: rsSpace(cookie + 6, 10), // read with the flags, at 14
            options: o,
            data: 'x'.repeat(100),
          });
        };
        const cPkt = cSeg(Number.POSITIVE_INFINITY);
        const fwd = send(e, cPkt, 1002);
        assert.equal(fwd.d.dst, n.rs);
        assert.equal(fwd.d.tcp!.ack, RS_ISN + 6, 'the RS sees its own sequence space');
        assert.equal(
          fwd.d.tcp!.options!.some((o) => o.kind === 'toa'),
          false,
          'no TOA: same layout',
        );
        for (const len of LENGTHS) {
          const r = send(e, n.tooBig(n.rsGw, n.lip, quote(fwd.out, len)), 1003);
          const inner = checkError(r, n.vip, n.cip, n.cip, n.vip);
          sameTcp(inner, tcpBytes(cSeg(len)), `quote ${len}`);
          if (len >= 20) assert.equal(inner.tcp!.ack, cookie + 6, `quote ${len}: the ack the client sent`);
        }
        const r = send(e, n.unreach(n.rs, n.lip, quote(fwd.out, 64)), 1003);
        sameTcp(checkError(r, n.vip, n.cip, n.cip, n.vip), tcpBytes(cPkt), 'port unreachable');
        assert.equal(counter(e, 'icmp_xlate_out'), LENGTHS.length + 1);
      });

      test('a quoted client segment without ACK was not translated: it comes back as it was', () => {
        const { e, lb } = established(n, withTs);
        // A bare RST: the forward path leaves its ack field and options (TSecr) alone.
        const rst = n.mk(n.cip, 40000, n.vip, 80, 'R', {
          seq: ISN + 1,
          ack: 12345,
          options: withTs ? [NOP, NOP, ts(C_TS + 3, (lb + 9) >>> 0)] : [],
        });
        const fwd = send(e, rst, 1002);
        assert.equal(fwd.tx, true);
        assert.equal(fwd.d.tcp!.ack, 12345);
        const r = send(e, n.unreach(n.rs, n.lip, quote(fwd.out, 64)), 1003);
        sameTcp(checkError(r, n.vip, n.cip, n.cip, n.vip), tcpBytes(rst), 'RST');
      });
    });
  }
}
