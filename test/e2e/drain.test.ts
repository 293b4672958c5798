// End to end, deleting what a transfer runs through (issue 9, defect 5): curl downloads a file from
// nginx through the VIP at a limited rate (so it lasts a few seconds); in the middle of it the real
// server is deleted (-d), or the LIP (-Q). By default the transfer goes on and arrives intact: the
// engine keeps the connection and the host keeps the LIP's route and proxy entry while it drains.
// With `--sysctl expire_nodest_conn=1` the same deletions cut it (curl fails) and the LIP's route
// goes at once. Root only (else skipped; failed under CI=true).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { privileged } from '../support/privileges.js';
import {
  ensureBuilt,
  ensureTools,
  type Proc,
  parseConns,
  removeLeftovers,
  runOk,
  skipReason,
  sleep,
  Topology,
} from './topology.js';

const { describe } = privileged(skipReason());
const VS = '203.0.113.10:80';
const LIP = '192.0.2.200';
// larger than the client's socket buffers can take in: the transfer on the wire lasts seconds too
const SIZE = 24 * 1024 * 1024;

describe('e2e: -d of a real server and -Q of a LIP during a transfer', { timeout: 300_000 }, () => {
  let net: Topology;
  let sha = '';
  let runs = 0;

  before(async () => {
    await ensureTools();
    await ensureBuilt();
    await removeLeftovers();
    net = await Topology.create({ rsCount: 2 });
    await net.startDaemon();
    sha = net.makeRandomFile('file.bin', SIZE);
    for (const r of net.rs) await net.startNginx(r);
    await net.lvsadmOk('-A', '-t', VS, '-s', 'rr');
    await net.lvsadmOk('-P', '-t', VS, '-z', LIP);
    for (const r of net.rs) await net.lvsadmOk('-a', '-t', VS, '-r', `${r.v4}:80`, '-b');
  });

  after(async () => {
    await net?.destroy();
  });

  /** curl at 3 MB/s into a file; gives up when under 1 B/s for 4 s (a cut connection). */
  const startTransfer = (): { proc: Proc; file: string } => {
    const file = join(net.tmp, `dl${runs++}.bin`);
    const proc = net.spawn(net.client, 'curl', 'curl', [
      '-sS',
      '--fail',
      '--limit-rate',
      '3M',
      '-Y',
      '1',
      '-y',
      '4',
      '-m',
      '120',
      '-o',
      file,
      `http://${VS}/file.bin`,
    ]);
    return { proc, file };
  };

  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };

  /** Waits until part of the file has arrived; the real server and LIP of the connection. */
  const midway = async (t: { proc: Proc; file: string }): Promise<{ rs: string; lip: string }> => {
    while (size(t.file) < 1024 * 1024) {
      assert.ok(t.proc.running, `curl ended early: ${t.proc.stderr.join('\n')}`);
      await sleep(50);
    }
    const conns = parseConns(await net.lvsadmOk('-L', '-n', '-c', '--show-laddr')).filter(
      (c) => c.state === 'ESTABLISHED',
    );
    assert.equal(conns.length, 1, `${size(t.file)} bytes so far; ${await net.lvsadmOk('-L', '-n', '-c')}`);
    return { rs: conns[0]!.destination.split(':')[0]!, lip: conns[0]!.local.split(':')[0]! };
  };

  const ended = async (t: { proc: Proc; file: string }) => {
    const r = await t.proc.exited;
    return { code: r.code, stderr: t.proc.stderr.join('\n') };
  };

  const intact = async (t: { proc: Proc; file: string }) => {
    const r = await ended(t);
    assert.equal(r.code, 0, `curl: ${r.stderr}\n${net.daemonLogText()}`);
    assert.equal(size(t.file), SIZE);
    assert.equal(createHash('sha256').update(readFileSync(t.file)).digest('hex'), sha);
  };

  const lipRouted = async () =>
    (await runOk('ip', ['-n', net.lb, 'route', 'show', 'dev', net.tun]))
      .split('\n')
      .some((l) => l.startsWith(`${LIP} `));

  test('-d of the real server mid-transfer: the transfer goes on and arrives intact', async () => {
    const t = startTransfer();
    const { rs } = await midway(t);
    await net.lvsadmOk('-d', '-t', VS, '-r', `${rs}:80`);
    assert.ok(!(await net.lvsadmOk('-L', '-n')).includes(`${rs}:80`));
    await intact(t);
    await net.lvsadmOk('-a', '-t', VS, '-r', `${rs}:80`, '-b');
  });

  test('-Q of its LIP mid-transfer: the LIP stays routed while it drains, the transfer arrives intact', async () => {
    const t = startTransfer();
    const { lip } = await midway(t);
    assert.equal(lip, LIP);
    await net.lvsadmOk('-Q', '-t', VS, '-z', LIP);
    assert.ok(!(await net.lvsadmOk('-G')).includes(LIP), 'no longer configured');
    await sleep(500); // let the sync that follows the change run
    assert.ok(await lipRouted(), 'the LIP still routed into the TUN while its connection drains');
    await intact(t);
    await net.lvsadmOk('-P', '-t', VS, '-z', LIP);
  });

  test('expire_nodest_conn=1: -d mid-transfer cuts it', async () => {
    await net.lvsadmOk('--sysctl', 'expire_nodest_conn=1');
    const t = startTransfer();
    const { rs } = await midway(t);
    await net.lvsadmOk('-d', '-t', VS, '-r', `${rs}:80`);
    const r = await ended(t);
    assert.notEqual(r.code, 0, 'curl fails');
    assert.ok(size(t.file) < SIZE);
    await net.lvsadmOk('-a', '-t', VS, '-r', `${rs}:80`, '-b');
  });

  test('expire_nodest_conn=1: -Q mid-transfer cuts it and the LIP route goes at once', async () => {
    const t = startTransfer();
    await midway(t);
    await net.lvsadmOk('-Q', '-t', VS, '-z', LIP);
    assert.ok(!(await lipRouted()), 'the LIP route is gone when -Q returns');
    const r = await ended(t);
    assert.notEqual(r.code, 0, 'curl fails');
    assert.ok(size(t.file) < SIZE);
    // carried by -S (and so by -R)
    const saved = await net.lvsadmOk('-S', '-n');
    assert.match(saved, /expire_nodest_conn=1/);
  });

  test('leaves nothing behind', async () => {
    await net.destroyAndCheck();
  });
});
