// HostPlumber end to end, in network namespaces (root only; else skipped; failed under CI=true).
// DESIGN.md's test network: client -- [out0 lb in0] -- rs, a TUN in lb held by tun-holder.pl, the
// plumber in a child process in lb. Checked with the kernel's own view (`ip route show proto 250`,
// `ip neigh show proxy`, /proc/sys) and with real traffic: ARP/NDP answers seen from rs and
// client, packets arriving in the TUN, packets written into the TUN reaching client and rs.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatIp, udp4, udp6 } from '../support/packet-builder.js';
import { privileged } from '../support/privileges.js';
import {
  inNs,
  ip,
  listenUdp,
  PlumberChild,
  readSysctl,
  removeLeftovers,
  sendUdp,
  skipReason,
  sysctlDiff,
  sysctlSnapshot,
  TestNet,
  TunHolder,
  writeSysctl,
} from './netns.js';

const PROTO = 250;
const { describe } = privileged(skipReason());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Source and destination of an IPv4/IPv6 packet. */
function addrs(p: Buffer): { src: string; dst: string } {
  if (p[0]! >> 4 === 4) return { src: formatIp(p.subarray(12, 16)), dst: formatIp(p.subarray(16, 20)) };
  return { src: formatIp(p.subarray(8, 24)), dst: formatIp(p.subarray(24, 40)) };
}

const describeTun = (pkts: string[]) =>
  pkts.map((h) => {
    const a = addrs(Buffer.from(h, 'hex'));
    return `${a.src} > ${a.dst}`;
  });

async function waitFor<T>(what: string, ms: number, fn: () => T | null | Promise<T | null>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** TcpExtIPReversePathFilter of a namespace (/proc/net/netstat). */
async function rpFilterDrops(ns: string): Promise<number> {
  const lines = (await inNs(ns, 'cat', '/proc/net/netstat')).split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const k = names.indexOf('IPReversePathFilter');
    if (names[0] === 'TcpExt:' && k > 0) return Number(values[k]);
  }
  throw new Error('no TcpExt IPReversePathFilter in /proc/net/netstat');
}

// sysctls the plumber must leave exactly as found (everything under net.ipv4/net.ipv6 except
// the TUN's own keys, which vanish with it)
const IGNORE_TUN = /\/lvt\d\//;

describe('HostPlumber: start, sync, traffic, stop', () => {
  let net: TestNet;
  let stateDir: string;
  let child: PlumberChild;
  let before0: Map<string, string>;
  const TUN = 'lvt0';
  const lb = () => net.ns.lb;

  before(async () => {
    await removeLeftovers();
    net = await TestNet.create();
    stateDir = mkdtempSync(join(tmpdir(), 'lvh-state-'));
    // strict reverse-path filtering everywhere in the LB (also on the TUN, created later)
    await writeSysctl(lb(), 'net/ipv4/conf/all/rp_filter', '1');
    await writeSysctl(lb(), 'net/ipv4/conf/default/rp_filter', '1');
    // a proxy entry someone else made: the plumber must leave it alone
    await ip('-n', lb(), 'neigh', 'add', 'proxy', '192.0.2.203', 'dev', 'in0');
    // a route someone else made for an address that will be configured as a VIP
    await ip('-n', lb(), 'route', 'add', '203.0.113.50/32', 'dev', 'out0');
    before0 = await sysctlSnapshot(lb());
    child = new PlumberChild(lb(), stateDir);
  });

  after(async () => {
    await child?.kill9().catch(() => undefined);
    await net?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('start: forwarding on, TUN up with addrgenmode none, nothing sent into the TUN', async () => {
    await child.call('start', { tun: TUN, spawnTun: true });
    assert.equal(await readSysctl(lb(), 'net/ipv4/ip_forward'), '1');
    assert.equal(await readSysctl(lb(), 'net/ipv6/conf/all/forwarding'), '1');
    assert.equal(await readSysctl(lb(), `net/ipv4/conf/${TUN}/forwarding`), '1');
    // created while default.forwarding was 0, and the default is back afterwards
    assert.equal(await readSysctl(lb(), `net/ipv6/conf/${TUN}/forwarding`), '0');
    assert.equal(await readSysctl(lb(), 'net/ipv6/conf/default/forwarding'), '1');
    const link = await ip('-n', lb(), '-d', 'link', 'show', TUN);
    assert.match(link, /addrgenmode none/);
    assert.match(link, /[<,]UP[,>]/);
    const addrs6 = await ip('-n', lb(), '-6', 'addr', 'show', 'dev', TUN);
    assert.equal(addrs6.trim(), '', 'the TUN has no IPv6 address (no link-local)');
    assert.ok(existsSync(join(stateDir, 'host-state.json')));
    // MLD reports would come within about a second of the link going up
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(describeTun(child.tunPackets()), [], 'no MLD/RS/DAD packets in the TUN');
  });

  test('sync installs exactly the VIP/LIP routes and proxy entries, with sysctls', async () => {
    const rep = await child.call<Record<string, string[]>>('sync', {
      vips: ['203.0.113.10', '2001:db8:203::10', '198.51.100.10', '2001:db8:100::10'],
      lips: ['192.0.2.200', '192.0.2.201', '2001:db8:2::200', '203.0.113.200', '192.0.2.203'],
    });
    assert.equal(rep.routesAdded!.length, 9);
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), [
      `192.0.2.200 ${TUN}`,
      `192.0.2.201 ${TUN}`,
      `192.0.2.203 ${TUN}`,
      `198.51.100.10 ${TUN}`,
      `2001:db8:100::10 ${TUN}`,
      `2001:db8:203::10 ${TUN}`,
      `2001:db8:2::200 ${TUN}`,
      `203.0.113.10 ${TUN}`,
      `203.0.113.200 ${TUN}`,
    ]);
    // LIPs on the RS side, VIPs inside the client subnet on the client side; 203.0.113.x is in
    // no connected subnet; 192.0.2.203 already had a (foreign) entry
    assert.deepEqual(await net.proxies(lb()), [
      '192.0.2.200 in0',
      '192.0.2.201 in0',
      '192.0.2.203 in0',
      '198.51.100.10 out0',
      '2001:db8:100::10 out0',
      '2001:db8:2::200 in0',
    ]);
    assert.deepEqual([...rep.proxiesAdded!].sort(), [
      '192.0.2.200 dev in0',
      '192.0.2.201 dev in0',
      '198.51.100.10 dev out0',
      '2001:db8:100::10 dev out0',
      '2001:db8:2::200 dev in0',
    ]);
    const proxyShow = await ip('-n', lb(), 'neigh', 'show', 'proxy', '192.0.2.200');
    assert.match(proxyShow, /proto 250/, 'our proxy entries carry the protocol marker');
    for (const dev of ['in0', 'out0']) {
      assert.equal(await readSysctl(lb(), `net/ipv6/conf/${dev}/proxy_ndp`), '1');
      assert.equal(await readSysctl(lb(), `net/ipv4/neigh/${dev}/proxy_delay`), '0');
      assert.equal(await readSysctl(lb(), `net/ipv6/neigh/${dev}/proxy_delay`), '0');
    }
    assert.ok(child.log.some((l) => /LIP 203\.0\.113\.200 is outside every connected subnet/.test(l)));
    assert.ok(child.log.some((l) => /proxy entry 192\.0\.2\.203 dev in0 exists and was not added/.test(l)));
    // the device-wide proxy_arp stays off
    assert.equal(await readSysctl(lb(), 'net/ipv4/conf/in0/proxy_arp'), '0');
  });

  test('rs resolves the LIPs to the LB (ARP and NDP) and its packets arrive in the TUN', async () => {
    const mac = await net.mac(lb(), 'in0');
    await sendUdp(net.ns.rs, '192.0.2.200', 7000, 'rs-lip4');
    await sendUdp(net.ns.rs, '2001:db8:2::200', 7001, 'rs-lip6');
    await waitFor('rs packets in the TUN', 3000, () => {
      const seen = describeTun(child.tunPackets());
      return seen.includes('192.0.2.21 > 192.0.2.200') && seen.includes('2001:db8:2::21 > 2001:db8:2::200')
        ? true
        : null;
    });
    assert.equal(await net.neighbour(net.ns.rs, '192.0.2.200'), mac);
    assert.equal(await net.neighbour(net.ns.rs, '2001:db8:2::200'), mac);
  });

  test('client packets to VIPs arrive in the TUN; VIPs in the client subnet are answered on out0', async () => {
    await sendUdp(net.ns.client, '203.0.113.10', 80, 'c-vip4');
    await sendUdp(net.ns.client, '2001:db8:203::10', 80, 'c-vip6');
    await sendUdp(net.ns.client, '198.51.100.10', 80, 'c-vip4-onlink');
    await sendUdp(net.ns.client, '2001:db8:100::10', 80, 'c-vip6-onlink');
    const want = [
      '198.51.100.2 > 203.0.113.10',
      '2001:db8:100::2 > 2001:db8:203::10',
      '198.51.100.2 > 198.51.100.10',
      '2001:db8:100::2 > 2001:db8:100::10',
    ];
    await waitFor('client packets in the TUN', 3000, () => {
      const seen = describeTun(child.tunPackets());
      return want.every((w) => seen.includes(w)) ? true : null;
    });
    const mac = await net.mac(lb(), 'out0');
    assert.equal(await net.neighbour(net.ns.client, '198.51.100.10'), mac);
    assert.equal(await net.neighbour(net.ns.client, '2001:db8:100::10'), mac);
  });

  test('packets written into the TUN from VIPs/LIPs pass strict rp_filter; a foreign source does not', async () => {
    assert.equal(await readSysctl(lb(), `net/ipv4/conf/${TUN}/rp_filter`), '1');
    assert.equal(await readSysctl(lb(), 'net/ipv4/conf/all/rp_filter'), '1');
    const drops0 = await rpFilterDrops(lb());
    const atClient = listenUdp(net.ns.client, 5000, 1500);
    const atRs = listenUdp(net.ns.rs, 6000, 1500);
    await Promise.all([atClient.ready, atRs.ready]);
    const pkts = [
      udp4('203.0.113.10', 80, '198.51.100.2', 5000, 'vip4'),
      udp6('2001:db8:203::10', 80, '2001:db8:100::2', 5000, 'vip6'),
      udp4('192.0.2.200', 7000, '192.0.2.21', 6000, 'lip4'),
      udp6('2001:db8:2::200', 7000, '2001:db8:2::21', 6000, 'lip6'),
      // sourced from the RS's address, which is routed via in0, not the TUN
      udp4('192.0.2.21', 80, '198.51.100.2', 5000, 'spoofed4'),
    ];
    for (const p of pkts) await child.call('write', { hex: hex(p) });
    const [c, r] = await Promise.all([atClient.done, atRs.done]);
    assert.deepEqual(c.sort(), ['vip4 from 203.0.113.10', 'vip6 from 2001:db8:203::10']);
    assert.deepEqual(r.sort(), ['lip4 from 192.0.2.200', 'lip6 from 2001:db8:2::200']);
    assert.equal(await rpFilterDrops(lb()), drops0 + 1, 'the spoofed packet was dropped by rp_filter');
  });

  test('a route for a VIP that lvsadm did not install is reported, the rest still synced', async () => {
    await assert.rejects(
      child.call('sync', {
        vips: ['203.0.113.10', '203.0.113.50'],
        lips: ['192.0.2.200', '2001:db8:2::200', '192.0.2.203'],
      }),
      /route add 203\.0\.113\.50\/32 dev lvt0 proto 250: EEXIST.*did not install/,
    );
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), [
      `192.0.2.200 ${TUN}`,
      `192.0.2.203 ${TUN}`,
      `2001:db8:2::200 ${TUN}`,
      `203.0.113.10 ${TUN}`,
    ]);
    const foreign = await ip('-n', lb(), 'route', 'show', '203.0.113.50/32');
    assert.match(foreign, /dev out0/);
  });

  test('sync is idempotent and removes what is no longer configured', async () => {
    const cfg = { vips: ['203.0.113.11'], lips: ['192.0.2.200', '192.0.2.203'] };
    const rep1 = await child.call<Record<string, string[]>>('sync', cfg);
    assert.deepEqual(rep1.routesAdded, ['203.0.113.11/32']);
    assert.deepEqual([...rep1.routesRemoved!].sort(), ['2001:db8:2::200/128', '203.0.113.10/32']);
    assert.deepEqual(rep1.proxiesRemoved, ['2001:db8:2::200 dev in0']);
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), [
      `192.0.2.200 ${TUN}`,
      `192.0.2.203 ${TUN}`,
      `203.0.113.11 ${TUN}`,
    ]);
    assert.deepEqual(await net.proxies(lb()), ['192.0.2.200 in0', '192.0.2.203 in0']);
    const rep2 = await child.call<Record<string, string[]>>('sync', cfg);
    assert.deepEqual(rep2, { routesAdded: [], routesRemoved: [], proxiesAdded: [], proxiesRemoved: [] });
    // someone deletes one of ours: the next sync puts it back
    await ip('-n', lb(), 'neigh', 'del', 'proxy', '192.0.2.200', 'dev', 'in0');
    await ip('-n', lb(), 'route', 'del', '203.0.113.11/32', 'dev', TUN);
    const rep3 = await child.call<Record<string, string[]>>('sync', cfg);
    assert.deepEqual(rep3.proxiesAdded, ['192.0.2.200 dev in0']);
    assert.deepEqual(rep3.routesAdded, ['203.0.113.11/32']);
  });

  test('bad addresses are rejected before anything changes', async () => {
    await assert.rejects(child.call('sync', { vips: ['203.0.113.300'], lips: [] }), /not an IP address/);
    await assert.rejects(
      child.call('sync', { vips: [], lips: ['192.0.2.1'] }),
      /LIP 192\.0\.2\.1 is an address of in0/,
    );
    assert.deepEqual(await net.proxies(lb()), ['192.0.2.200 in0', '192.0.2.203 in0']);
  });

  test('stop removes every route and proxy entry it made and restores sysctls exactly', async () => {
    await child.call('stop');
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), []);
    assert.deepEqual(await net.proxies(lb()), ['192.0.2.203 in0'], 'only the foreign entry is left');
    assert.ok(!existsSync(join(stateDir, 'host-state.json')));
    await child.call('closeTun');
    await child.exit();
    const after0 = await sysctlSnapshot(lb());
    assert.deepEqual(sysctlDiff(before0, after0, IGNORE_TUN), []);
  });
});

describe('HostPlumber: crash recovery (kill -9)', () => {
  let net: TestNet;
  let stateDir: string;
  let holder: TunHolder | null = null;
  const children: PlumberChild[] = [];
  const lb = () => net.ns.lb;
  const cfg = {
    vips: ['203.0.113.10', '2001:db8:203::10'],
    lips: ['192.0.2.200', '192.0.2.201', '2001:db8:2::200'],
  };
  const spawnChild = () => {
    const c = new PlumberChild(lb(), stateDir);
    children.push(c);
    return c;
  };

  before(async () => {
    await removeLeftovers();
    net = await TestNet.create();
    stateDir = mkdtempSync(join(tmpdir(), 'lvh-state-'));
  });

  after(async () => {
    for (const c of children) await c.kill9().catch(() => undefined);
    await holder?.close().catch(() => undefined);
    await net?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('TUN outlives the daemon: cleanupStale removes routes by protocol, proxies and sysctls', async () => {
    holder = await TunHolder.open(lb(), 'lvt1');
    const snap = await sysctlSnapshot(lb());
    const c1 = spawnChild();
    await c1.call('start', { tun: 'lvt1' });
    await c1.call('sync', cfg);
    await c1.kill9();
    assert.equal((await net.routesWithProto(lb(), PROTO)).length, 5, 'routes survive the crash');
    assert.equal((await net.proxies(lb())).length, 3, 'proxy entries survive the crash');
    assert.equal(await readSysctl(lb(), 'net/ipv4/ip_forward'), '1');
    assert.ok(existsSync(join(stateDir, 'host-state.json')));

    const c2 = spawnChild();
    const rep = await c2.call<Record<string, unknown>>('cleanupStale', { tun: 'lvt1' });
    assert.equal(rep.foundState, true);
    assert.equal((rep.routesRemoved as string[]).length, 5);
    assert.equal((rep.proxiesRemoved as string[]).length, 3);
    await c2.exit();
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), []);
    assert.deepEqual(await net.proxies(lb()), []);
    assert.ok(!existsSync(join(stateDir, 'host-state.json')));
    // addrgenmode none stays on the TUN: it is the daemon's device, set up for it on purpose
    assert.deepEqual(sysctlDiff(snap, await sysctlSnapshot(lb()), /\/lvt1\/addr_gen_mode$/), []);
  });

  test('start after a crash cleans up first, then works as usual', async () => {
    const snap = await sysctlSnapshot(lb());
    const c1 = spawnChild();
    await c1.call('start', { tun: 'lvt1' });
    await c1.call('sync', cfg);
    await c1.kill9();
    const c2 = spawnChild();
    await c2.call('start', { tun: 'lvt1' });
    assert.ok(c2.log.some((l) => /earlier run that did not stop cleanly/.test(l)));
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), []);
    assert.deepEqual(await net.proxies(lb()), []);
    await c2.call('sync', { vips: ['203.0.113.11'], lips: ['192.0.2.202'] });
    assert.deepEqual(await net.proxies(lb()), ['192.0.2.202 in0']);
    await c2.call('stop');
    await c2.exit();
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), []);
    assert.deepEqual(await net.proxies(lb()), []);
    assert.deepEqual(sysctlDiff(snap, await sysctlSnapshot(lb())), []);
    await holder!.close();
    holder = null;
  });

  test('TUN dies with the daemon: routes vanish with it, proxy entries stay until cleanupStale', async () => {
    const snap = await sysctlSnapshot(lb());
    const c1 = spawnChild();
    await c1.call('start', { tun: 'lvt2', spawnTun: true });
    await c1.call('sync', cfg);
    await c1.kill9();
    // the TUN holder sees EOF on stdin and exits: the TUN and its routes go away
    await waitFor('the TUN to vanish', 5000, async () =>
      (await ip('-n', lb(), 'link', 'show')).includes('lvt2') ? null : true,
    );
    assert.deepEqual(await net.routesWithProto(lb(), PROTO), []);
    assert.deepEqual(await net.proxies(lb()), ['192.0.2.200 in0', '192.0.2.201 in0', '2001:db8:2::200 in0']);
    const c2 = spawnChild();
    await c2.call('cleanupStale', { tun: 'lvt2' });
    await c2.exit();
    assert.deepEqual(await net.proxies(lb()), []);
    assert.deepEqual(sysctlDiff(snap, await sysctlSnapshot(lb()), IGNORE_TUN), []);
  });

  test('a start that fails undoes what it did', async () => {
    const snap = await sysctlSnapshot(lb());
    const c = spawnChild();
    await assert.rejects(c.call('start', { tun: 'nope0' }), /link nope0: ENODEV/);
    await c.exit();
    assert.ok(!existsSync(join(stateDir, 'host-state.json')));
    assert.deepEqual(sysctlDiff(snap, await sysctlSnapshot(lb())), []);
  });
});
