// End to end, taking a real server out: `-e ... -w 0` quiesces it (no new connections, the open one
// keeps working) and `-d` removes it from the service. A connection is held open from the client
// (fixtures/hold-client.mjs: HTTP keep-alive on one TCP connection to the peer-address server, so
// each answer names the RS and the LIP:port it sees; the same LIP:port means the same connection).
// Root only (else skipped; failed under CI=true).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { privileged } from '../support/privileges.js';
import {
  ensureBuilt,
  ensureTools,
  type HeldConnection,
  parseList,
  removeLeftovers,
  skipReason,
  Topology,
  tally,
} from './topology.js';

const { describe } = privileged(skipReason());
const VS = '203.0.113.10:8080';

describe('e2e: -w 0 quiesces a real server, -d removes it', { timeout: 300_000 }, () => {
  let net: Topology;
  let held: HeldConnection;
  /** "rs2 192.0.2.200 1027": the held connection's RS and the LIP:port it sees. */
  let heldPeer = '';
  let heldRs = '';

  before(async () => {
    await ensureTools();
    await ensureBuilt();
    await removeLeftovers();
    net = await Topology.create();
    await net.startDaemon();
    for (const r of net.rs) await net.startPeerServer(r, 8080);
    await net.lvsadmOk('-A', '-t', VS, '-s', 'rr');
    for (const r of net.rs) await net.lvsadmOk('-a', '-t', VS, '-r', `${r.v4}:8080`, '-b');
    await net.lvsadmOk('-P', '-t', VS, '-z', '192.0.2.200');
  });

  after(async () => {
    await net?.destroy();
  });

  /** n new connections (one curl run, Connection: close); which RS answered each. */
  const newConnections = async (n: number): Promise<string[]> => {
    const args = ['-sS', '--fail', '--fail-early', '-m', '60', '-H', 'Connection: close'];
    for (let i = 0; i < n; i++) args.push(`http://${VS}/`);
    const r = await net.run(net.client, 'curl', args, 90_000);
    assert.equal(r.code, 0, `${r.stderr}\n${net.daemonLogText()}`);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]!);
  };

  const dests = async () => parseList(await net.lvsadmOk('-L', '-n')).get(`TCP ${VS}`)!;

  test('a held connection: one RS, ActiveConn 1 there', async () => {
    held = await net.holdClient('203.0.113.10', 8080);
    heldPeer = await held.get();
    heldRs = heldPeer.split(' ')[0]!;
    assert.match(heldPeer, /^rs[123] 192\.0\.2\.200 \d+$/);
    assert.equal(await held.get(), heldPeer, 'a second request on the same connection, same peer');
    const rs = net.rs.find((r) => r.name === heldRs)!;
    const d = (await dests()).find((x) => x.addr === `${rs.v4}:8080`)!;
    assert.equal(d.active, 1);
  });

  test('-w 0: 30 new connections all go to the other two (15 each); the held one keeps working', async () => {
    const rs = net.rs.find((r) => r.name === heldRs)!;
    await net.lvsadmOk('-e', '-t', VS, '-r', `${rs.v4}:8080`, '-w', '0');
    const d = (await dests()).find((x) => x.addr === `${rs.v4}:8080`)!;
    assert.equal(d.weight, 0);
    assert.equal(d.active, 1, 'the held connection is still counted');
    const got = tally(await newConnections(30));
    const others = net.rs.filter((r) => r.name !== heldRs).map((r) => r.name);
    assert.deepEqual(got, { [others[0]!]: 15, [others[1]!]: 15 });
    for (let i = 0; i < 3; i++)
      assert.equal(await held.get(), heldPeer, 'the held connection still answers, same RS and LIP:port');
  });

  test('-d: the RS is no longer listed, new connections go to the others; the held one keeps working (expire_nodest_conn=0)', async () => {
    const rs = net.rs.find((r) => r.name === heldRs)!;
    await net.lvsadmOk('-d', '-t', VS, '-r', `${rs.v4}:8080`);
    const list = await net.lvsadmOk('-L', '-n');
    assert.ok(!list.includes(`${rs.v4}:8080`), `${rs.v4}:8080 still listed:\n${list}`);
    assert.deepEqual(
      (await dests()).map((x) => x.addr),
      net.rs.filter((r) => r.name !== heldRs).map((r) => `${r.v4}:8080`),
    );
    const others = net.rs.filter((r) => r.name !== heldRs).map((r) => r.name);
    assert.deepEqual(tally(await newConnections(10)), { [others[0]!]: 5, [others[1]!]: 5 });
    assert.equal(await held.get(), heldPeer, 'the held connection still answers after -d');
    // deleting it again: ipvsadm's words and status (-1: 255)
    const again = await net.lvsadm('-d', '-t', VS, '-r', `${rs.v4}:8080`);
    assert.equal(again.code, 255);
    assert.match(again.err, /No such destination/);
    assert.equal(await held.close(), 0, 'the client closed the connection itself');
  });

  test('leaves nothing behind', async () => {
    await net.destroyAndCheck();
  });
});
