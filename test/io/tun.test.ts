// Real TUN devices, in a network namespace made for this run: each scenario of tun-child.ts runs
// as its own process inside it. Needs root (else skipped; failed under CI=true); as root every
// test runs, and a missing tool is a failure. The namespace is deleted in `after`, and
// namespaces left by earlier runs that died are deleted at the start.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { STAT_LAST_ERRNO, STAT_TX_AGAIN, STAT_TX_ERR } from '../../src/native/index.js';
import { fromHex } from '../support/hex.js';
import { decodePacket } from '../support/packet-decoder.js';
import { privileged, rootReason } from '../support/privileges.js';
import { AS_NOBODY, prepareUnprivileged, type UnprivilegedChild } from '../support/unprivileged.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'test', 'io', 'tun-child.ts');
const PREFIX = 'lvtio';
const NS = `${PREFIX}${process.pid}x${randomBytes(3).toString('hex')}`;
const EIO = 5;
const EINVAL = 22;

function tunName(): string {
  return `lvt${randomBytes(4).toString('hex')}`; // 11 bytes, under IFNAMSIZ
}

/** Deletes namespaces of this test whose creating process is gone. */
function removeLeftovers(): void {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of list.split('\n')) {
    const m = /^(lvtio(\d+)x[0-9a-f]+)\b/.exec(line);
    if (!m) continue;
    try {
      process.kill(Number(m[2]), 0);
      continue; // its run is still going
    } catch {}
    try {
      execFileSync('ip', ['netns', 'del', m[1]!], { stdio: 'ignore' });
    } catch {}
  }
}

interface RunOptions {
  /** Command words put between `ip netns exec NS` and node. */
  wrap?: string[];
  timeoutMs?: number;
  /** Run this bundle of the child (for another user) instead of the sources through tsx. */
  child?: UnprivilegedChild;
}

/** Runs a scenario in the namespace and returns the JSON it printed. */
function scenario<T = Record<string, unknown>>(
  name: string,
  args: object,
  opts: RunOptions = {},
): Promise<T> {
  const argv = [
    'netns',
    'exec',
    NS,
    ...(opts.wrap ?? []),
    ...(opts.child
      ? opts.child.argv(name, JSON.stringify(args))
      : [process.execPath, '--import', 'tsx', CHILD, name, JSON.stringify(args)]),
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      argv,
      {
        cwd: opts.child?.dir ?? ROOT,
        env: opts.child?.env() ?? process.env,
        timeout: opts.timeoutMs ?? 30_000,
        encoding: 'utf8',
      },
      (err, out, errOut) => {
        if (err) {
          reject(new Error(`scenario ${name} failed (${err.message.split('\n')[0]}):\n${errOut}\n${out}`));
          return;
        }
        const last = out.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`scenario ${name}: no JSON result:\n${out}\n${errOut}`));
        }
      },
    );
  });
}

const { describe } = privileged(rootReason('network namespaces, TUN devices'));

describe('TUN devices in a network namespace', () => {
  before(() => {
    removeLeftovers();
    execFileSync('ip', ['netns', 'add', NS]);
  });
  after(() => {
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {}
  });

  test('reads what the namespace routes into the TUN, woken by poll; writes a reply back', async () => {
    const r = await scenario<{
      readWhileDown: number;
      readWhileIdle: number;
      polls: number;
      pollsAfterStop: number;
      packets: string[];
      offs: number[];
      lens: number[];
      afterStop: number;
      afterStopPackets: string[];
      sport: number;
      written: number;
      received: { address: string; port: number; data: string }[];
      stats: number[];
    }>('io', { tun: tunName() });
    assert.equal(r.readWhileDown, 0, 'EAGAIN while down reads as 0');
    assert.equal(r.readWhileIdle, 0, 'EAGAIN while up and idle reads as 0');
    assert.ok(r.polls >= 1);
    assert.equal(r.packets.length, 1, 'only our datagram: no MLD or other noise with addrgenmode none');
    assert.equal(r.offs[0], 128, 'slot 0 starts after the headroom');
    const pkt = fromHex(r.packets[0]!);
    assert.equal(r.lens[0], pkt.length);
    const d = decodePacket(pkt);
    assert.equal(d.family, 4);
    assert.equal(d.src, '198.51.100.2');
    assert.equal(d.dst, '203.0.113.5');
    assert.equal(d.ipCsumOk, true);
    assert.equal(d.l4CsumOk, true, 'checksums arrive complete (no offloads)');
    assert.equal(d.udp?.sport, r.sport);
    assert.equal(d.udp?.dport, 9999);
    assert.equal(Buffer.from(d.udp!.payload!).toString(), 'hello lvsadm');

    assert.equal(r.pollsAfterStop, 0, 'no callback after stop()');
    assert.equal(r.afterStop, 1);
    assert.equal(
      Buffer.from(decodePacket(fromHex(r.afterStopPackets[0]!)).udp!.payload!).toString(),
      'after stop',
    );

    assert.equal(r.written, 1, 'only the TX verdict is written');
    assert.deepEqual(r.received, [{ address: '203.0.113.5', port: 9999, data: 'reply from the tun' }]);
    assert.deepEqual(r.stats, [0, 0, 0, 0, 0]);
  });

  test('packets longer than the slot are dropped and counted; an exact fit is kept', async () => {
    const r = await scenario<{ room: number; read: number; lens: number[]; truncated: number }>('truncate', {
      tun: tunName(),
    });
    assert.equal(r.read, 2);
    assert.deepEqual(r.lens, [r.room, 100]);
    assert.equal(r.truncated, 2);
  });

  test('write failures count per packet and the batch goes on', async () => {
    const r = await scenario<{
      written: number;
      received: string[];
      afterBatch: number[];
      writtenAll: number;
      receivedAll: string[];
      afterAll: number[];
      writtenDown: number;
      afterDown: number[];
    }>('write-errors', { tun: tunName() });
    assert.equal(r.written, 2);
    assert.deepEqual(r.received, ['one', 'two']);
    assert.equal(r.afterBatch[STAT_TX_ERR], 2, 'bad IP version (EINVAL) and out-of-bounds slot');
    assert.equal(r.afterBatch[STAT_TX_AGAIN], 0);
    assert.equal(r.afterBatch[STAT_LAST_ERRNO], EINVAL);
    assert.equal(r.writtenAll, 1, 'verdicts null: all packets tried');
    assert.deepEqual(r.receivedAll, ['one']);
    assert.equal(r.afterAll[STAT_TX_ERR], 1);
    assert.equal(r.writtenDown, 0);
    assert.equal(r.afterDown[STAT_TX_ERR], 1);
    assert.equal(r.afterDown[STAT_LAST_ERRNO], EIO, 'writing into a TUN that is down is EIO');
  });

  test('multi-queue: a second open is another queue; flag mismatch and busy errors have hints', async () => {
    const r = await scenario<{
      distinct: boolean;
      mismatch: { code: string; message: string; syscall: string };
      perQueue: number[];
      busy: { code: string; message: string };
    }>('multi-queue', { tun: tunName(), tun2: tunName() });
    assert.equal(r.distinct, true);
    assert.equal(r.mismatch.code, 'EINVAL');
    assert.equal(r.mismatch.syscall, 'ioctl');
    assert.match(
      r.mismatch.message,
      /TUNSETIFF lvt[0-9a-f]+: Invalid argument; device exists with other flags\?/,
    );
    assert.equal(r.busy.code, 'EBUSY');
    assert.match(r.busy.message, /device exists with other flags\?/);
    assert.equal(r.perQueue[0]! + r.perQueue[1]!, 64, `all flows arrive: ${r.perQueue}`);
    assert.ok(r.perQueue[0]! > 0 && r.perQueue[1]! > 0, `flows are spread over both queues: ${r.perQueue}`);
  });

  test('TunIo + Pump over two queues echo UDP through the TUN', async () => {
    const r = await scenario<{
      openQueues: number;
      received: string[];
      late: number;
      counters: { rx: number; tx: number; txDrop: number; errors: number };
      pump: { wakeups: number; batches: number; packets: number; yields: number };
      engineBatches: number;
      txErrors: number;
    }>('pump', { tun: tunName() });
    assert.equal(r.openQueues, 2);
    const want = Array.from({ length: 40 }, (_, i) => `203.0.113.5:9999 echo ${i}`);
    assert.deepEqual([...r.received].sort(), [...want].sort());
    assert.equal(r.late, 0, "datagrams saying 'drop' are not written");
    assert.equal(r.counters.rx, 45);
    assert.equal(r.counters.tx, 40);
    assert.equal(r.counters.txDrop, 0);
    assert.equal(r.counters.errors, 0);
    assert.equal(r.pump.packets, 45);
    assert.equal(r.engineBatches, r.pump.batches);
    assert.equal(r.txErrors, 0);
  });

  test('offload: TCP bulk arrives as GSO packets with partial checksums; written back as read, the kernel segments them with correct checksums', async () => {
    const r = await scenario<{
      smallBatch: string;
      offload: boolean;
      synAckWritten: number;
      connected: boolean;
      gsoPackets: { len: number; csum: number; gso: number; seq: number; payloadLength: number }[];
      writtenBack: number;
      segs: { len: number; ipOk: boolean; l4Ok: boolean; seq: number; payloadLength: number }[];
      samePayload: boolean;
      stats: number[];
    }>('offload', { tun: tunName(), tun2: tunName() });
    assert.match(r.smallBatch, /offload reads need slots of 65535 bytes/);
    assert.equal(r.offload, true);
    assert.equal(r.synAckWritten, 1);
    assert.equal(r.connected, true, 'the SYN-ACK from a batch never read (zeroed header) was taken');
    assert.ok(r.gsoPackets.length >= 1);
    for (const p of r.gsoPackets) {
      assert.ok(p.len > 1500, `a GSO packet is longer than the MTU: ${JSON.stringify(p)}`);
      assert.equal(p.gso, 1460, 'gso_size is the MSS of our SYN-ACK');
      assert.equal(p.csum, 1, 'partial checksum (NEEDS_CSUM)');
    }
    assert.equal(r.writtenBack, r.gsoPackets.length);
    const segments = r.gsoPackets.reduce((a, p) => a + Math.ceil(p.payloadLength / p.gso), 0);
    assert.equal(r.segs.length, segments, 'one MTU segment per gso_size of payload');
    for (const g of r.segs) {
      assert.ok(g.len <= 1500 && g.payloadLength <= 1460, JSON.stringify(g));
      assert.equal(g.ipOk, true);
      assert.equal(g.l4Ok, true, `the kernel completed the partial checksum: ${JSON.stringify(g)}`);
    }
    assert.equal(r.samePayload, true, 'the segments carry exactly the GSO payload');
    assert.deepEqual(r.stats, [0, 0, 0, 0, 0]);
  });

  /** Runs the rest of the command in a private mount namespace after the shell `setup`. */
  const privateMounts = (setup: string) => [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `${setup} && exec "$@"`,
    'sh',
  ];

  test('opening without privileges fails with a hint', async (t) => {
    // nobody may not be able to enter the checkout: it runs a bundle of the child instead.
    const child = await prepareUnprivileged(CHILD);
    t.after(() => child.remove());
    // As the machine is: EACCES from open(2) where /dev/net/tun is 0600, else EPERM from TUNSETIFF.
    const r = await scenario<{ opened: boolean; error: { code: string; message: string } }>(
      'open-error',
      { tun: tunName() },
      { wrap: AS_NOBODY, child },
    );
    assert.equal(r.opened, false);
    assert.ok(['EPERM', 'EACCES'].includes(r.error.code), r.error.code);
    assert.match(r.error.message, /needs root or CAP_NET_ADMIN/);

    // With a world-writable /dev/net/tun (Debian's default mode): open works, TUNSETIFF is EPERM.
    const setup = 'mount -t tmpfs tmpfs /dev/net && mknod -m 0666 /dev/net/tun c 10 200';
    const r2 = await scenario<{ opened: boolean; error: { code: string; message: string; syscall: string } }>(
      'open-error',
      { tun: tunName() },
      { wrap: [...privateMounts(setup), ...AS_NOBODY], child },
    );
    assert.equal(r2.opened, false);
    assert.equal(r2.error.code, 'EPERM');
    assert.equal(r2.error.syscall, 'ioctl');
    assert.match(
      r2.error.message,
      /^TUNSETIFF lvt[0-9a-f]+: Operation not permitted; needs root or CAP_NET_ADMIN$/,
    );
  });

  test('opening without /dev/net/tun fails with a hint', async () => {
    // A private mount namespace where /dev/net is an empty tmpfs.
    const r = await scenario<{ opened: boolean; error: { code: string; message: string } }>(
      'open-error',
      { tun: tunName() },
      { wrap: privateMounts('mount -t tmpfs tmpfs /dev/net') },
    );
    assert.equal(r.opened, false);
    assert.equal(r.error.code, 'ENOENT');
    assert.match(
      r.error.message,
      /open \/dev\/net\/tun: No such file or directory; no \/dev\/net\/tun \(modprobe tun\?\)/,
    );
  });
});
