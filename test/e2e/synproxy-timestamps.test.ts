// End to end, SYNPROXY with TCP timestamps (`--sysctl synproxy_timestamp=1`): curl through a
// `-j enable` VIP (a few requests on one connection, then 8 MiB checked by sha256), over IPv4 and
// IPv6. While a connection is held open, `ss -tin` shows `ts` negotiated on the client's socket
// (with the LB) and on the real server's (with the LB's SYN); with the knob off neither has it.
// tcpdump on both ends shows the translation at work: every TSval the client gets from the VIP
// continues the LB's SYN-ACK clock and never goes back (no PAWS trouble: the kernels' PAWS
// counters stay 0), and every TSecr the real server gets is one of its own TSvals.
// Root only (else skipped; failed under CI=true); see topology.ts for the network.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TcpOption } from '../support/packet-builder.js';
import type { DecodedPacket } from '../support/packet-decoder.js';
import { privileged } from '../support/privileges.js';
import { Capture, counterDelta, describePackets, engineCounters, tcpPackets } from './extra.js';
import { ensureBuilt, ensureTools, removeLeftovers, skipReason, Topology } from './topology.js';

const { describe } = privileged(skipReason());
const CLIENT4 = '198.51.100.2';
const VIP4 = '203.0.113.10';
const VIP6 = '2001:db8:203::10';
const LIP4 = '192.0.2.200';
const LIP6 = '2001:db8:2::200';
const SIZE = 8 * 1024 * 1024;

type Tcp = DecodedPacket & { tcp: NonNullable<DecodedPacket['tcp']> };
type Ts = Extract<TcpOption, { kind: 'ts' }>;

const tsOf = (p: Tcp): Ts | undefined => p.tcp.options?.find((o): o is Ts => o.kind === 'ts');
/** b is not older than a on a uint32 clock (RFC 7323 comparison). */
const notOlder = (a: number, b: number) => ((b - a) | 0) >= 0;

/**
 * Established TCP sockets in `ns` matching `filter`, as `ss -tin` shows them (one string each).
 * `-e` as well: the iproute2 here (6.1) on this kernel (6.18) leaves the option flags (ts, sack)
 * out of `ss -tin` alone.
 */
async function sockets(net: Topology, ns: string, filter: string[]): Promise<string[]> {
  const out = await net.exec(ns, 'ss', '-tineH', 'state', 'established', ...filter);
  // each socket is a line with the addresses followed by its indented info line
  return out
    .replace(/\n\s+/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '');
}

/** TcpExt PAWS counters of a namespace (/proc/net/netstat is per namespace). */
async function paws(net: Topology, ns: string): Promise<Record<string, number>> {
  const lines = (await net.exec(ns, 'cat', '/proc/net/netstat')).split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[i]!.split(/\s+/).slice(1);
  const values = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
  const r: Record<string, number> = {};
  names.forEach((n, k) => {
    if (n.startsWith('PAWS')) r[n] = values[k]!;
  });
  return r;
}

describe('e2e: SYNPROXY with TCP timestamps', { timeout: 120_000 }, () => {
  let net: Topology;
  let sha = '';

  before(async () => {
    await ensureTools();
    await ensureBuilt();
    await removeLeftovers();
    net = await Topology.create({ rsCount: 1 });
    await net.startDaemon();
    sha = net.makeRandomFile('ts.bin', SIZE);
    const rs = net.rs[0]!;
    await net.startNginx(rs);
    await net.lvsadmOk('-A', '-t', `${VIP4}:80`, '-s', 'rr', '-j', 'enable');
    await net.lvsadmOk('-a', '-t', `${VIP4}:80`, '-r', `${rs.v4}:80`, '-b');
    await net.lvsadmOk('-P', '-t', `${VIP4}:80`, '-z', LIP4);
    await net.lvsadmOk('-A', '-t', `[${VIP6}]:80`, '-s', 'rr', '-j', 'enable');
    await net.lvsadmOk('-a', '-t', `[${VIP6}]:80`, '-r', `[${rs.v6}]:80`, '-b');
    await net.lvsadmOk('-P', '-t', `[${VIP6}]:80`, '-z', LIP6);
    assert.equal(await net.lvsadmOk('--sysctl', 'synproxy_timestamp=1'), '');
  });

  after(async () => {
    await net?.destroy();
  });

  test('IPv4: requests and 8 MiB intact; the LB clock never goes back; the RS gets its own TSvals echoed', async () => {
    assert.equal(await net.lvsadmOk('--sysctl', 'synproxy_timestamp'), 'synproxy_timestamp = 1\n');
    const rs = net.rs[0]!;
    // headers only, and a big buffer: the transfer is fast and every segment matters here
    const cap = { snaplen: 128, bufferKiB: 8192 };
    const clFilter = `tcp and host ${VIP4}`;
    const clCap = await Capture.start(net, net.client, 'eth0', clFilter, 'client-ts', 50_000, 60, cap);
    const rsCap = await Capture.start(net, rs.ns, 'eth0', `tcp and host ${LIP4}`, 'rs-ts', 50_000, 60, cap);
    const paws0 = { client: await paws(net, net.client), rs: await paws(net, rs.ns) };
    const c0 = await engineCounters(net);

    const url = `http://${VIP4}/name`;
    const r = await net.run(net.client, 'curl', ['-sS', '--fail', '-m', '20', url, url, url]);
    assert.equal(r.code, 0, `curl: ${r.stderr}\n${net.daemonLogText()}`);
    assert.equal(r.stdout, 'rs1\nrs1\nrs1\n');
    const dl = await net.download(`http://${VIP4}/ts.bin`, 60);
    assert.equal(dl.code, 0, `curl: ${dl.stderr}\n${net.daemonLogText()}`);
    assert.equal(dl.bytes, SIZE);
    assert.equal(dl.sha256, sha, 'sha256 of what arrived');

    const cl = tcpPackets(await clCap.stopAndDecode());
    const rsPkts = tcpPackets(await rsCap.stopAndDecode());
    const d = counterDelta(c0, await engineCounters(net));
    const paws1 = { client: await paws(net, net.client), rs: await paws(net, rs.ns) };

    // the client side, per connection (its port): every VIP segment has TS, continuing the
    // SYN-ACK's TSval and never going back; the download's clock moves on
    const byPort = new Map<number, Tcp[]>();
    for (const p of cl) {
      const port = p.src === CLIENT4 ? p.tcp.sport : p.tcp.dport;
      byPort.set(port, [...(byPort.get(port) ?? []), p]);
    }
    assert.equal(
      byPort.size,
      2,
      `two connections (requests, download):\n${describePackets(cl.slice(0, 20))}`,
    );
    const spans: number[] = [];
    for (const [port, pkts] of byPort) {
      const fromVip = pkts.filter((p) => p.src === VIP4);
      const synAck = fromVip[0]!;
      assert.equal(synAck.tcp.flags, 'SA', `port ${port}: the LB's SYN-ACK first`);
      const clientSyn = pkts.find((p) => p.tcp.flags === 'S')!;
      assert.equal(tsOf(synAck)?.ecr, tsOf(clientSyn)?.val, 'the SYN-ACK echoes the client TSval');
      let last = tsOf(synAck)!.val;
      for (const p of fromVip) {
        const t = tsOf(p);
        assert.ok(t, `port ${port}: a VIP segment without TS: ${describePackets([p])}`);
        assert.ok(notOlder(last, t.val), `port ${port}: TSval ${t.val} after ${last}`);
        last = t.val;
      }
      spans.push((last - tsOf(synAck)!.val) >>> 0);
    }
    assert.ok(Math.max(...spans) > 0, `the LB-side clock moved during the transfer: ${spans}`);

    // the RS side, per connection (the LIP port; Linux gives each connection its own TS offset):
    // the LB's SYN carries the client's TSval with TSecr 0, and every TSecr the RS gets after its
    // SYN-ACK is on that connection's RS clock: one of its TSvals (unless the capture lost that
    // segment: then at least within a second of the TSvals captured; the LB's clock is a random
    // 32-bit offset away)
    const rsClock = new Map<number, { sent: Set<number>; first: number; latest: number }>();
    let checked = 0;
    let exact = 0;
    for (const p of rsPkts) {
      const t = tsOf(p);
      assert.ok(t, `an RS-side segment without TS: ${describePackets([p])}`);
      const lport = p.src === rs.v4 ? p.tcp.dport : p.tcp.sport;
      const c = rsClock.get(lport);
      if (p.src === rs.v4) {
        if (!c) rsClock.set(lport, { sent: new Set([t.val]), first: t.val, latest: t.val });
        else {
          c.sent.add(t.val);
          if (notOlder(c.latest, t.val)) c.latest = t.val;
        }
      } else if (p.tcp.flags === 'S') {
        assert.equal(t.ecr, 0, 'TSecr 0 on the SYN to the RS');
      } else {
        const onRsClock =
          c !== undefined &&
          notOlder((c.first - 1000) >>> 0, t.ecr) &&
          notOlder(t.ecr, (c.latest + 1000) >>> 0);
        assert.ok(
          onRsClock,
          `TSecr ${t.ecr} is not on the RS clock (${c?.first}..${c?.latest}, ${rsCap.summary}): ${describePackets([p])}`,
        );
        checked++;
        if (c.sent.has(t.ecr)) exact++;
      }
    }
    assert.equal(rsClock.size, 2, 'two connections on the RS side');
    assert.ok(checked > 10, `${checked} LB -> RS segments checked`);
    assert.ok(exact >= checked * 0.95, `${exact} of ${checked} TSecrs are RS TSvals (${rsCap.summary})`);

    assert.deepEqual(paws1, paws0, 'no segment rejected by PAWS on either end');
    assert.equal(d.synproxy_ack_ok, 2);
    assert.equal(d.synproxy_rs_no_ts ?? 0, 0);
    console.log(
      `synproxy ts: ${JSON.stringify({ client: cl.length, rs: rsPkts.length, rsTsecr: { checked, exact }, spans, paws: paws1, captures: [clCap.summary, rsCap.summary] })}`,
    );
  });

  test('ss -tin: ts on the client and on the RS socket, over IPv4 and IPv6; none with the knob off', async () => {
    const rs = net.rs[0]!;
    const check = async (vip: string, want: boolean) => {
      const held = await net.holdClient(vip, 80);
      try {
        assert.match(await held.get(), /nginx|html/i, 'a request on the held connection');
        const cl = await sockets(net, net.client, ['sport', '=', `:${held.localPort}`]);
        const srv = await sockets(net, rs.ns, ['sport', '=', ':80']);
        assert.equal(cl.length, 1, cl.join('\n'));
        assert.equal(srv.length, 1, `the held connection is the RS's only one:\n${srv.join('\n')}`);
        const has = (s: string) => /\sts\s/.test(` ${s} `);
        assert.equal(has(cl[0]!), want, `client ${vip}: ${cl[0]}`);
        assert.equal(has(srv[0]!), want, `RS ${vip}: ${srv[0]}`);
      } finally {
        await held.close();
      }
    };
    await check(VIP4, true);
    await check(VIP6, true);
    const dl = await net.download(`http://[${VIP6}]/ts.bin`, 60);
    assert.equal(dl.code, 0, dl.stderr);
    assert.equal(dl.sha256, sha, 'IPv6: sha256 of what arrived');
    await net.lvsadmOk('--sysctl', 'synproxy_timestamp=0');
    await check(VIP4, false);
    await net.lvsadmOk('--sysctl', 'synproxy_timestamp=1');
  });

  test('leaves nothing behind', async () => {
    await net.destroyAndCheck();
  });
});
