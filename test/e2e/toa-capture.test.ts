// End to end, TOA on the wire: one curl through the VIP (a fixed client port, `--local-port`)
// with tcpdump on the real server's eth0 and on the client's eth0; the pcaps are read back with the
// project's reader (src/io/pcap.ts) and the test decoder (test/support/packet-decoder.ts).
// For FULLNAT without and with SYNPROXY, over IPv4 and IPv6, the RS sees:
//   SYN (LIP -> RS, no TOA), its own SYN-ACK, then the handshake-completing ACK (LIP -> RS),
//   which carries TOA right after the fixed TCP header: kind 254, the client's address and the
//   port curl used. With SYNPROXY that ACK is made by the LB itself and must carry TOA too.
// The client sees a SYN-ACK whose MSS leaves room for TOA: without SYNPROXY the RS's MSS lowered
// by 8 (IPv4) or 20 (IPv6); with SYNPROXY the LB's own SYN-ACK with init_mss (1452), and the RS
// gets the client's MSS back from the cookie in the LB's SYN.
// TOA is never on a SYN or an RST, only on segments acking the RS's first data byte, and never
// reaches the client.
// Root only (else skipped; failed under CI=true); see topology.ts for the network.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DecodedPacket } from '../support/packet-decoder.js';
import { privileged } from '../support/privileges.js';
import {
  Capture,
  counterDelta,
  countersSource,
  describePackets,
  engineCounters,
  mssOf,
  tcpPackets,
  toaOptions,
} from './extra.js';
import {
  ensureBuilt,
  ensureTools,
  type RealServer,
  removeLeftovers,
  skipReason,
  Topology,
} from './topology.js';

const { describe } = privileged(skipReason());
const CLIENT4 = '198.51.100.2';
const CLIENT6 = '2001:db8:100::2';
const VIP4 = '203.0.113.10';
const VIP6 = '2001:db8:203::10';
/** SYNPROXY's init_mss default (DESIGN: Alibaba's 1452, room for TOA on a 1500 MTU). */
const INIT_MSS = 1452;

type Tcp = DecodedPacket & { tcp: NonNullable<DecodedPacket['tcp']> };

interface Case {
  name: string;
  v6: boolean;
  synproxy: boolean;
  port: number;
  /** index into net.rs */
  rs: number;
  lip: string;
  localPort: number;
}

const CASES: Case[] = [
  { name: 'IPv4', v6: false, synproxy: false, port: 80, rs: 0, lip: '192.0.2.200', localPort: 40001 },
  { name: 'IPv4 SYNPROXY', v6: false, synproxy: true, port: 81, rs: 1, lip: '192.0.2.201', localPort: 40002 },
  { name: 'IPv6', v6: true, synproxy: false, port: 80, rs: 2, lip: '2001:db8:2::200', localPort: 40003 },
  {
    name: 'IPv6 SYNPROXY',
    v6: true,
    synproxy: true,
    port: 81,
    rs: 0,
    lip: '2001:db8:2::201',
    localPort: 40004,
  },
];

const svcOf = (c: Case) => (c.v6 ? `[${VIP6}]:${c.port}` : `${VIP4}:${c.port}`);
const rsAddr = (c: Case, r: RealServer) => (c.v6 ? r.v6 : r.v4);

describe('e2e: TOA as the real server sees it (tcpdump)', { timeout: 300_000 }, () => {
  let net: Topology;
  /** Per case: segments the RS received with TOA, and what fullnat_add_toa_ok counted. */
  const counted: { case: string; segmentsWithToa: number; toaOk: number }[] = [];

  before(async () => {
    await ensureTools();
    await ensureBuilt();
    await removeLeftovers();
    // Without TUN offload: this suite checks every checksum the engine writes as the wire shows
    // it, and offloaded packets carry partial ones that the real server's kernel completes
    // (partial-csum.test.ts checks that path against this one).
    net = await Topology.create({ daemonArgs: ['--offload', 'off'] });
    await net.startDaemon();
    for (const r of net.rs) await net.startNginx(r);
    for (const c of CASES) {
      const svc = svcOf(c);
      const r = net.rs[c.rs]!;
      await net.lvsadmOk('-A', '-t', svc, '-s', 'rr', ...(c.synproxy ? ['-j', 'enable'] : []));
      await net.lvsadmOk('-a', '-t', svc, '-r', c.v6 ? `[${r.v6}]:80` : `${r.v4}:80`, '-b');
      await net.lvsadmOk('-P', '-t', svc, '-z', c.lip);
    }
  });

  after(async () => {
    await net?.destroy();
  });

  for (const c of CASES) {
    test(`${c.name}: TOA with the client's address and port on the handshake-completing ACK`, async () => {
      const r = net.rs[c.rs]!;
      const rip = rsAddr(c, r);
      const client = c.v6 ? CLIENT6 : CLIENT4;
      const vip = c.v6 ? VIP6 : VIP4;
      const fam = c.v6 ? 'ip6' : 'ip';
      const rsCap = await Capture.start(
        net,
        r.ns,
        'eth0',
        `${fam} and tcp port 80`,
        `${r.name}-${c.localPort}`,
        200,
        30,
      );
      const clCap = await Capture.start(
        net,
        net.client,
        'eth0',
        `${fam} and tcp port ${c.localPort}`,
        `client-${c.localPort}`,
        200,
        30,
      );
      const c0 = await engineCounters(net);
      const url = c.v6 ? `http://[${VIP6}]:${c.port}/name` : `http://${VIP4}:${c.port}/name`;
      const res = await net.run(net.client, 'curl', [
        '-sS',
        '-g',
        '--fail',
        '-m',
        '20',
        '--local-port',
        String(c.localPort),
        '-w',
        ' %{local_port}',
        url,
      ]);
      const rsAll = tcpPackets(await rsCap.stopAndDecode());
      const clAll = tcpPackets(await clCap.stopAndDecode());
      const d = counterDelta(c0, await engineCounters(net));
      assert.equal(res.code, 0, `curl: ${res.stderr}\n${net.daemonLogText()}`);
      assert.equal(res.stdout, `${r.name}\n ${c.localPort}`, 'answered by the RS, from the fixed port');

      // the RS side: this connection is the one from the LIP
      const rsPkts = rsAll.filter((p) => p.src === c.lip || p.dst === c.lip);
      const dump = `RS ${r.name} saw:\n${describePackets(rsAll)}\nclient saw:\n${describePackets(clAll)}`;
      const fromLb = (p: Tcp) => p.src === c.lip && p.dst === rip;
      const fromRs = (p: Tcp) => p.src === rip && p.dst === c.lip;
      for (const p of rsPkts) {
        assert.deepEqual(p.errors, [], describePackets([p]));
        // what the RS received is checked; what it sends is captured before the veth fills in
        // its checksum (offload), so those are not
        if (fromLb(p)) assert.equal(p.l4CsumOk, true, `TCP checksum of ${describePackets([p])}`);
      }
      const synIdx = rsPkts.findIndex((p) => fromLb(p) && p.tcp.flags === 'S');
      assert.ok(synIdx >= 0, `no SYN to the RS\n${dump}`);
      const syn = rsPkts[synIdx]!;
      const saIdx = rsPkts.findIndex((p, i) => i > synIdx && fromRs(p) && p.tcp.flags === 'SA');
      assert.ok(saIdx > synIdx, `no SYN-ACK from the RS\n${dump}`);
      const synAck = rsPkts[saIdx]!;
      const ackIdx = rsPkts.findIndex((p, i) => i > saIdx && fromLb(p));
      assert.ok(ackIdx > saIdx, `nothing from the LB after the RS's SYN-ACK\n${dump}`);
      const ack = rsPkts[ackIdx]!;
      // the third packet of the handshake as the RS sees it
      assert.equal(ack.tcp.flags, 'A', `the handshake-completing segment is a bare ACK\n${dump}`);
      assert.equal(ack.tcp.ack, (synAck.tcp.seq + 1) >>> 0, 'it acks the RS ISN + 1');
      assert.equal(ack.tcp.seq, (syn.tcp.seq + 1) >>> 0, 'in the sequence space of the SYN');
      assert.equal(ack.tcp.payloadLength, 0);
      const toa = toaOptions(ack);
      assert.deepEqual(
        toa,
        [{ kind: 'toa', port: c.localPort, addr: client }],
        `TOA on the handshake-completing ACK\n${dump}`,
      );
      // right after the fixed 20-byte header: kind 254, length 8 (IPv4) or 20 (IPv6)
      assert.equal(ack.tcp.optionBytes![0], 254, 'TOA is the first option');
      assert.equal(ack.tcp.optionBytes![1], c.v6 ? 20 : 8, 'TOA length');
      // never on a SYN or an RST; only on segments acking the RS's first data byte
      for (const p of rsPkts) {
        if (toaOptions(p).length === 0) continue;
        assert.ok(fromLb(p), `TOA only towards the RS: ${describePackets([p])}`);
        assert.doesNotMatch(p.tcp.flags ?? '', /[SR]/, `TOA on ${describePackets([p])}`);
        assert.equal(
          p.tcp.ack,
          (synAck.tcp.seq + 1) >>> 0,
          `TOA past the handshake: ${describePackets([p])}`,
        );
      }
      assert.equal(toaOptions(syn).length, 0);

      // the client side
      const clSyn = clAll.find((p) => p.src === client && p.tcp.flags === 'S');
      const clSynAck = clAll.find((p) => p.src === vip && p.tcp.flags === 'SA');
      assert.ok(clSyn && clSynAck, `client handshake\n${dump}`);
      assert.equal(clSyn.tcp.sport, c.localPort);
      assert.equal(clSynAck.tcp.dport, c.localPort);
      for (const p of clAll) {
        assert.deepEqual(toaOptions(p), [], `TOA reached the client: ${describePackets([p])}`);
        if (p.src === vip) assert.equal(p.l4CsumOk, true, `TCP checksum of ${describePackets([p])}`);
      }
      const rsMss = mssOf(synAck)!;
      const clientSeesMss = mssOf(clSynAck);
      const report = {
        case: c.name,
        localPort: c.localPort,
        clientSynMss: mssOf(clSyn),
        lbSynToRsMss: mssOf(syn),
        rsSynAckMss: rsMss,
        clientSynAckMss: clientSeesMss,
        toa: toa[0],
        segmentsWithToa: rsPkts.filter((p) => toaOptions(p).length > 0).map((p) => p.tcp.flags),
        toaOk: d.fullnat_add_toa_ok,
        countersFrom: countersSource,
      };
      console.log(`toa: ${JSON.stringify(report)}`);
      if (c.synproxy) {
        // the LB answered the client itself; the RS's SYN-ACK never went to the client.
        // Its MSS is min(client MSS, init_mss), init_mss being 32 bytes less for IPv6 (20 more of
        // IP header, 12 more of TOA).
        const cap = c.v6 ? INIT_MSS - 32 : INIT_MSS;
        assert.equal(clientSeesMss, Math.min(cap, mssOf(clSyn) ?? cap), `SYNPROXY SYN-ACK MSS\n${dump}`);
        assert.equal(mssOf(syn), mssOf(clSyn), 'the RS gets the client MSS back from the cookie');
        assert.equal(
          clAll.filter((p) => p.src === vip && p.tcp.flags === 'SA').length,
          1,
          'one SYN-ACK to the client (the LB cookie)',
        );
        assert.equal(d.synproxy_ack_ok, 1);
      } else {
        assert.equal(clientSeesMss, rsMss - (c.v6 ? 20 : 8), `RS MSS ${rsMss} lowered for TOA\n${dump}`);
        assert.equal(mssOf(syn), mssOf(clSyn), "the client's SYN reaches the RS with its MSS");
      }
      assert.ok((d.fullnat_add_toa_ok ?? 0) >= 1, 'fullnat_add_toa_ok counted');
      counted.push({
        case: c.name,
        segmentsWithToa: report.segmentsWithToa.length,
        toaOk: d.fullnat_add_toa_ok ?? 0,
      });
      assert.equal(d.fullnat_add_toa_fail_len ?? 0, 0);
      assert.equal(d.fullnat_add_toa_head_full ?? 0, 0);
    });
  }

  // Found by this suite: the ACK the LB makes for the RS under SYNPROXY carried TOA uncounted.
  test('fullnat_add_toa_ok counts every segment that reached the RS with TOA', () => {
    assert.equal(counted.length, CASES.length, 'every case ran');
    for (const x of counted) assert.equal(x.toaOk, x.segmentsWithToa, JSON.stringify(x));
  });

  test('leaves nothing behind', async () => {
    assert.ok(net.livePids().length > 0, 'the suite had processes to clean up');
    await net.destroyAndCheck();
  });
});
