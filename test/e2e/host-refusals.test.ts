// End to end, what the host cannot carry out and who owns the plumbing (issue 9, defects 8 and 11):
// a VIP or LIP that the LB host cannot route into its TUN is refused with the reason (exit 1) and
// changes nothing (listing and state file); a second daemon that fails to start on the same TUN
// name leaves the running daemon's routes alone; a service without LIP is warned about.
// Root only (else skipped; failed under CI=true).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { STATE_FILE } from '../../src/control/state-store.js';
import { privileged } from '../support/privileges.js';
import {
  ensureBuilt,
  ensureTools,
  REPO,
  removeLeftovers,
  runOk,
  run as runProgram,
  skipReason,
  Topology,
} from './topology.js';

const { describe } = privileged(skipReason());
const VS = '203.0.113.10:80';
const LIP = '192.0.2.200';

describe('e2e: refusals of what the host cannot carry out; plumbing ownership', { timeout: 300_000 }, () => {
  let net: Topology;

  before(async () => {
    await ensureTools();
    await ensureBuilt();
    await removeLeftovers();
    net = await Topology.create({ rsCount: 1 });
    await net.startDaemon();
    await net.startNginx(net.rs[0]!);
  });

  after(async () => {
    await net?.destroy();
  });

  const stateFile = () => {
    try {
      return readFileSync(join(net.stateDir, STATE_FILE), 'utf8');
    } catch {
      return '(none)';
    }
  };
  const routes = async () => runOk('ip', ['-n', net.lb, 'route', 'show', 'dev', net.tun]);

  test('-A and -a warn that the service has no local address yet; -L too, on stderr only', async () => {
    const a = await net.lvsadm('-A', '-t', VS, '-s', 'rr');
    assert.equal(a.code, 0);
    assert.match(
      a.err,
      /warning: -t 203\.0\.113\.10:80 has no local address yet: add one with -P -t 203\.0\.113\.10:80 -z LIP; until then its connections are dropped/,
    );
    const d = await net.lvsadm('-a', '-t', VS, '-r', `${net.rs[0]!.v4}:80`, '-b');
    assert.equal(d.code, 0);
    assert.match(d.err, /has no local address yet/);
    const l = await net.lvsadm('-L', '-n');
    assert.match(l.err, /-t 203\.0\.113\.10:80 has no local address yet/);
    assert.match(l.out, /^TCP {2}203\.0\.113\.10:80 rr\n/m, 'the service line is as ipvsadm prints it');
    const p = await net.lvsadm('-P', '-t', VS, '-z', LIP);
    assert.deepEqual([p.code, p.err], [0, '']);
    const l2 = await net.lvsadm('-L', '-n');
    assert.equal(l2.err, '', 'no warning once it has one');
  });

  test('a VIP that is an address of the LB host: exit 255 with the reason, nothing changed', async () => {
    const before = [await net.lvsadmOk('-S', '-n'), stateFile(), await routes()];
    const r = await net.lvsadm('-A', '-t', '198.51.100.1:80', '-s', 'rr');
    assert.equal(r.code, 255); // ipvsadm's status for a refused change
    assert.match(r.err, /virtual address 198\.51\.100\.1 is an address of out0 on this host/);
    // a host route someone else made for it: the VIP's packets would go there
    await runOk('ip', ['-n', net.lb, 'route', 'add', '203.0.113.50/32', 'dev', 'out0']);
    const routed = await net.lvsadm('-A', '-t', '203.0.113.50:80', '-s', 'rr');
    assert.equal(routed.code, 255);
    assert.match(
      routed.err,
      /203\.0\.113\.50 already has a route in the main table that lvsadm did not install/,
    );
    await runOk('ip', ['-n', net.lb, 'route', 'del', '203.0.113.50/32', 'dev', 'out0']);
    assert.deepEqual([await net.lvsadmOk('-S', '-n'), stateFile(), await routes()], before);
  });

  test('LIPs that blackhole the service: refused with the reason, nothing changed', async () => {
    const before = [await net.lvsadmOk('-S', '-n'), stateFile(), await routes()];
    const cases: [string, RegExp][] = [
      [net.rs[0]!.v4, /local address 192\.0\.2\.21 is a real server's address/],
      ['192.0.2.1', /local address 192\.0\.2\.1 is an address of br0 on this host/],
      ['0.0.0.0', /0\.0\.0\.0 cannot be a local address/],
      ['203.0.113.200', /local address 203\.0\.113\.200 is outside every connected subnet of this host/],
    ];
    for (const [lip, why] of cases) {
      const r = await net.lvsadm('-P', '-t', VS, '-z', lip);
      assert.equal(r.code, 255, `-z ${lip}: ${r.err}`);
      assert.match(r.err, why);
    }
    // in a restore batch, all or nothing, naming the line
    const rest = await run('-R', `-A -t 203.0.113.11:80 -s rr\n-P -t 203.0.113.11:80 -z 0.0.0.0\n`);
    assert.equal(rest.code, 255);
    assert.match(rest.err, /line 2: .*0\.0\.0\.0 cannot be a local address/);
    assert.deepEqual([await net.lvsadmOk('-S', '-n'), stateFile(), await routes()], before);
  });

  test('a second daemon that cannot open the same TUN name leaves the running one alone', async () => {
    const before = await routes();
    assert.match(before, /203\.0\.113\.10/);
    const r = await net.secondDaemon(join(net.tmp, 'other.sock'), join(net.tmp, 'other-state'), net.tun);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /busy/i);
    assert.equal(await routes(), before, 'routes untouched');
    const c = await net.run(net.client, 'curl', ['-sS', '--fail', '-m', '10', `http://${VS}/name`]);
    assert.equal(c.code, 0, c.stderr);
  });

  test('leaves nothing behind', async () => {
    await net.destroyAndCheck();
  });

  /** bin/lvsadm with stdin (for -R). */
  async function run(op: string, input: string) {
    const r = await runProgram(process.execPath, [join(REPO, 'bin/lvsadm'), op], {
      input,
      env: { ...process.env, LVSADM_SOCKET: net.socket },
    });
    return { code: r.code, err: r.stderr };
  }
});
