// End to end through the real LB: client namespace -> `lvsadm daemon` (FULLNAT, inserts TOA) ->
// real-server namespace, where a server reporting getpeername() runs in a child cgroup with the
// eBPF reader attached (loaded with bin/lvsadm toa, i.e. the built CLI). With the reader the
// server sees the client's own address and port (IPv4, IPv4 on an IPv6 socket, IPv6); a server
// outside the cgroup, and every server once the reader is unloaded, sees the LIP.
// Root only (else skipped; failed under CI=true); as root, missing tools are installed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ToaStatus } from '../../src/toa/cli.js';
import type { EbpfStatus } from '../../src/toa/ebpf.js';
import { ensureBuilt, ensureTools, removeLeftovers, Topology } from '../e2e/topology.js';
import { privileged } from '../support/privileges.js';
import {
  ensureToaDeps,
  NODE,
  REPO,
  removeToaLeftovers,
  rootSkipReason,
  run,
  startPeerServer,
  TestBpffs,
  TestCgroup,
} from './support.js';

const { describe } = privileged(rootSkipReason());
const LVSADM = join(REPO, 'bin/lvsadm');

describe('eBPF TOA reader behind lvsadm daemon', { timeout: 300_000 }, () => {
  let net: Topology | undefined;
  let bpffs: TestBpffs | undefined;
  let cg: TestCgroup | undefined;
  let pinDir = '';

  const lvsadmToa = (...args: string[]) => run(NODE, [LVSADM, 'toa', ...args], { timeoutMs: 60_000 });

  /** curl in the client namespace from a fixed local port: the body ("ADDRESS PORT"). */
  async function get(url: string, localPort: number | string): Promise<string[]> {
    const r = await net!.run(net!.client, 'curl', [
      '-sS',
      '-g',
      '-m',
      '10',
      '--local-port',
      String(localPort),
      url,
    ]);
    assert.equal(r.code, 0, `curl ${url}: ${r.stderr}`);
    return r.stdout.trim().split('\n');
  }

  before(async () => {
    await ensureTools();
    await ensureToaDeps();
    await ensureBuilt();
    await removeLeftovers();
    await removeToaLeftovers();
    bpffs = await TestBpffs.create();
    pinDir = bpffs.pinDir();
    cg = TestCgroup.create();
    net = await Topology.create({ rsCount: 1 });
    await net.startDaemon();
    const rs = net.rs[0]!;
    const svc = async (vip: string, rip: string, lip: string) => {
      await net!.lvsadmOk('-A', '-t', vip, '-s', 'rr');
      await net!.lvsadmOk('-a', '-t', vip, '-r', rip, '-b');
      await net!.lvsadmOk('-P', '-t', vip, '-z', lip);
    };
    await svc('203.0.113.10:80', `${rs.v4}:8080`, '192.0.2.200');
    await svc('203.0.113.10:81', `${rs.v4}:8081`, '192.0.2.200');
    await svc('203.0.113.10:90', `${rs.v4}:9080`, '192.0.2.200');
    await svc('[2001:db8:203::10]:80', `[${rs.v6}]:8081`, '2001:db8:2::200');

    const load = await lvsadmToa('load', '--ebpf', '--cgroup', cg.path, '--pin-dir', pinDir);
    assert.equal(load.code, 0, load.stderr);
    const spawnRs = (w: string, c: string, a: string[]) => net!.spawn(rs.ns, w, c, a, true);
    await startPeerServer(spawnRs, cg, 8080, 8081);
    await startPeerServer(spawnRs, null, 9080, 9081);
  });

  after(async () => {
    await net?.destroy();
    if (pinDir) await lvsadmToa('unload', '--ebpf', '--pin-dir', pinDir);
    await cg?.destroy();
    await bpffs?.destroy();
  });

  test('lvsadm toa is wired into bin/lvsadm', async () => {
    const r = await lvsadmToa('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: lvsadm toa COMMAND/);
    const bad = await lvsadmToa('frobnicate');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
  });

  test('IPv4 client, IPv4 socket: the server sees 198.51.100.2 and the client port', async () => {
    assert.deepEqual(await get('http://203.0.113.10/', 41001), ['198.51.100.2 41001']);
  });

  test('IPv4 client, IPv6 socket: ::ffff:198.51.100.2', async () => {
    assert.deepEqual(await get('http://203.0.113.10:81/', 41002), ['::ffff:198.51.100.2 41002']);
  });

  test('IPv6 client: 2001:db8:100::2', async () => {
    assert.deepEqual(await get('http://[2001:db8:203::10]/', 41003), ['2001:db8:100::2 41003']);
  });

  test('20 connections in a row: each reports its own client port', async () => {
    for (let port = 42001; port <= 42020; port++) {
      assert.deepEqual(await get('http://203.0.113.10/', port), [`198.51.100.2 ${port}`]);
    }
  });

  test('a server outside the reader cgroup sees the LIP', async () => {
    const [line] = await get('http://203.0.113.10:90/', 41004);
    assert.match(line!, /^192\.0\.2\.200 \d+$/);
  });

  test('status through bin/lvsadm: attached to the test cgroup, counters', async () => {
    const r = await lvsadmToa('status', '--json', '--pin-dir', pinDir);
    assert.equal(r.code, 0, r.stderr);
    const e = (JSON.parse(r.stdout) as ToaStatus).ebpf as EbpfStatus;
    assert.equal(e.loaded, true);
    assert.deepEqual([...new Set(e.attached.map((a) => a.cgroup))], [cg!.path]);
    // 23 connections to the server in the cgroup, each with TOA on its handshake ACK
    assert.deepEqual(e.counters, {
      seen: 23,
      stored: 23,
      no_option: 0,
      rewritten4: 21,
      rewritten6: 2,
      stored_late: 0,
    });
  });

  test('after unload the server sees the LIP again', async () => {
    const r = await lvsadmToa('unload', '--ebpf', '--pin-dir', pinDir);
    assert.equal(r.code, 0, r.stderr);
    const [v4] = await get('http://203.0.113.10/', 41005);
    assert.match(v4!, /^192\.0\.2\.200 \d+$/);
    const [v6] = await get('http://[2001:db8:203::10]/', 41006);
    assert.match(v6!, /^2001:db8:2::200 \d+$/);
  });
});
