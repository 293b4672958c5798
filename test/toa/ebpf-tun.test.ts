// The eBPF TOA reader on this kernel, fed hand-made segments: a TUN device in a real-server
// namespace plays the LB's side of FULLNAT connections (fixtures/tun-peer.ts) to a server that
// reports getpeername() (fixtures/peer-server.mjs) and runs in a child cgroup with the reader
// attached. Each case chooses which segment carries which option; the server's report says what
// getpeername() returned. Then the reader's counters, and unload.
// Root only (else skipped; failed under CI=true); as root, missing tools are installed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ToaStatus } from '../../src/toa/cli.js';
import type { EbpfStatus } from '../../src/toa/ebpf.js';
import { privileged } from '../support/privileges.js';
import type { PeerCommand } from './fixtures/tun-peer.js';
import {
  bpftool,
  ensureToaDeps,
  NODE,
  type Proc,
  peerReport,
  REPO,
  RsNamespace,
  removeToaLeftovers,
  rootSkipReason,
  run,
  startPeerServer,
  TestBpffs,
  TestCgroup,
  toa,
  toaOk,
} from './support.js';

const { describe } = privileged(rootSkipReason());
const LIP4 = '192.0.2.200';
const LIP6 = '2001:db8:2::200';
const CLIENT4 = '198.51.100.7';
const CLIENT6 = '2001:db8:100::7';

describe('eBPF TOA reader: hand-made segments through a TUN', {
  timeout: 180_000,
}, () => {
  let bpffs: TestBpffs | undefined;
  let cg: TestCgroup | undefined;
  let rs: RsNamespace | undefined;
  let server: Proc;
  let outside: Proc;
  let peer: Proc;
  let pinDir: string;
  let sport = 40000;

  before(async () => {
    await ensureToaDeps();
    await removeToaLeftovers();
    if (!existsSync(join(REPO, 'build/Release/lvsadm_native.node')))
      throw new Error('the native addon is not built: run ./scripts/setup.sh (npm ci builds it)');
    bpffs = await TestBpffs.create();
    cg = TestCgroup.create();
    rs = await RsNamespace.create();
    pinDir = bpffs.pinDir();
    await toaOk(['load', '--ebpf', '--cgroup', cg.path, '--pin-dir', pinDir]);
    server = await startPeerServer((w, c, a) => rs!.spawn(w, c, a), cg, 8080, 8081);
    outside = await startPeerServer((w, c, a) => rs!.spawn(w, c, a), null, 9080, 9081);
    peer = rs.spawn('tun-peer', NODE, [
      '--import',
      'tsx',
      join(REPO, 'test/toa/fixtures/tun-peer.ts'),
      'toatun0',
    ]);
    await peer.waitForLine((l) => l === '{"ready":true}', 20_000);
  });

  after(async () => {
    peer?.child.stdin?.end();
    await rs?.destroy();
    if (pinDir) await toa(['unload', '--ebpf', '--pin-dir', pinDir]);
    await cg?.destroy();
    await bpffs?.destroy();
  });

  /** Sends one connection through the TUN peer; the server's report for it. */
  async function connection(
    c: Omit<PeerCommand, 'id' | 'sport' | 'segments'> & { segments?: PeerCommand['segments'] },
    name: string,
    srv = server,
  ) {
    const cmd: PeerCommand = { id: name, sport: ++sport, segments: [{ data: `${name}\n` }], ...c };
    peer.send(JSON.stringify(cmd));
    const answer = JSON.parse(await peer.waitForLine((l) => l.includes(`"id":"${name}"`), 15_000)) as {
      ok?: boolean;
      error?: string;
    };
    assert.equal(answer.error, undefined, `tun-peer: ${answer.error}`);
    const line = cmd.segments
      .map((s) => s.data)
      .join('')
      .split('\n')[0]!;
    return { report: await peerReport(srv, line), sport: cmd.sport };
  }

  const toa4 = (port: number) => ({ kind: 'toa' as const, port, addr: CLIENT4 });
  const toa6 = (port: number) => ({ kind: 'toa' as const, port, addr: CLIENT6 });

  test('TOA on the handshake ACK, IPv4 socket: the client address and port', async () => {
    const { report } = await connection({ v6: false, dport: 8080, ackOptions: [toa4(50001)] }, 'ack-v4');
    assert.deepEqual([report.address, report.port, report.sock], [CLIENT4, 50001, 4]);
  });

  test('TOA on the handshake ACK, IPv4 client on an IPv6 socket: ::ffff:a.b.c.d', async () => {
    const { report } = await connection({ v6: false, dport: 8081, ackOptions: [toa4(50002)] }, 'ack-mapped');
    assert.deepEqual([report.address, report.port, report.sock], [`::ffff:${CLIENT4}`, 50002, 6]);
  });

  test('IPv6 TOA on an IPv6 connection: the IPv6 client', async () => {
    const { report } = await connection({ v6: true, dport: 8081, ackOptions: [toa6(50003)] }, 'ack-v6');
    assert.deepEqual([report.address, report.port, report.sock], [CLIENT6, 50003, 6]);
  });

  test('no TOA: the peer stays the LIP (IPv4 and IPv6)', async () => {
    const a = await connection({ v6: false, dport: 8080 }, 'none-v4');
    assert.deepEqual([a.report.address, a.report.port], [LIP4, a.sport]);
    const b = await connection({ v6: true, dport: 8081 }, 'none-v6');
    assert.deepEqual([b.report.address, b.report.port], [LIP6, b.sport]);
  });

  test('ACK without TOA, TOA on the first data segment (the ACK that had it was lost)', async () => {
    const { report } = await connection(
      { v6: false, dport: 8080, segments: [{ data: 'data-only\n', options: [toa4(50005)] }] },
      'data-only',
    );
    assert.deepEqual([report.address, report.port], [CLIENT4, 50005]);
  });

  test('TOA after other options (NOPs, an experimental option) is found', async () => {
    const { report } = await connection(
      {
        v6: false,
        dport: 8080,
        ackOptions: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'raw', hex: 'fd04abcd' }, toa4(50006)],
      },
      'after-options',
    );
    assert.deepEqual([report.address, report.port], [CLIENT4, 50006]);
  });

  test('TOA on a later data segment only is not believed (not the LB: the first data segment had none)', async () => {
    const { report, sport: sp } = await connection(
      {
        v6: false,
        dport: 8080,
        segments: [{ data: 'later-segment ' }, { data: 'x\n', options: [toa4(50007)] }],
      },
      'later',
    );
    assert.equal(report.line, 'later-segment x');
    assert.deepEqual([report.address, report.port], [LIP4, sp]);
  });

  test('a truncated TOA (length past the header end) is ignored', async () => {
    // option area of 4 bytes: NOP NOP then kind 254 claiming 8 bytes
    const { report, sport: sp } = await connection(
      { v6: false, dport: 8080, ackOptions: [{ kind: 'raw', hex: '0101fe08' }] },
      'truncated',
    );
    assert.deepEqual([report.address, report.port], [LIP4, sp]);
  });

  test('an IPv6 client cannot be shown on an IPv4 socket: left as the LIP', async () => {
    const { report, sport: sp } = await connection(
      { v6: false, dport: 8080, ackOptions: [toa6(50009)] },
      'v6-on-v4',
    );
    assert.deepEqual([report.address, report.port], [LIP4, sp]);
  });

  test('a server outside the cgroup is not served', async () => {
    const { report, sport: sp } = await connection(
      { v6: false, dport: 9080, ackOptions: [toa4(50010)] },
      'outside',
      outside,
    );
    assert.deepEqual([report.address, report.port], [LIP4, sp]);
  });

  test('status: attached to the test cgroup only, counters match the connections above', async () => {
    const s = JSON.parse(await toaOk(['status', '--json', '--pin-dir', pinDir])) as ToaStatus;
    const e = s.ebpf as EbpfStatus;
    assert.equal(e.loaded, true);
    assert.equal(e.current, true);
    assert.deepEqual(e.attached.map((a) => [a.cgroup, a.attach]).sort(), [
      [cg!.path, 'getpeername4'],
      [cg!.path, 'getpeername6'],
      [cg!.path, 'sock_ops'],
    ]);
    // in the cgroup: ack-v4 ack-mapped ack-v6 none-v4 none-v6 data-only after-options later
    // truncated v6-on-v4 (10); stored: ack-v4 ack-mapped ack-v6 data-only after-options v6-on-v4
    assert.deepEqual(e.counters, {
      seen: 10,
      stored: 6,
      no_option: 5,
      rewritten4: 3,
      rewritten6: 2,
      stored_late: 1,
    });
    const text = await toaOk(['status', '--pin-dir', pinDir]);
    assert.match(text, /eBPF reader: loaded/);
    assert.match(text, new RegExp(`attached to ${cg!.path}: sock_ops getpeername4 getpeername6`));
    assert.match(text, /TOA stored 6 \(from the first data segment 1\)/);
    assert.match(text, /active reader: eBPF/);
  });

  test('unload: detached, unpinned; a new connection with TOA shows the LIP', async () => {
    const out = await toaOk(['unload', '--ebpf', '--pin-dir', pinDir]);
    assert.match(out, /detached the eBPF TOA reader from/);
    assert.equal(existsSync(pinDir), false);
    const shown = await run(bpftool(), ['-j', 'cgroup', 'show', cg!.path]);
    assert.deepEqual(JSON.parse(shown.stdout.trim() || '[]'), []);
    const { report, sport: sp } = await connection(
      { v6: false, dport: 8080, ackOptions: [toa4(50011)] },
      'unloaded',
    );
    assert.deepEqual([report.address, report.port], [LIP4, sp]);
    const again = await toaOk(['unload', '--ebpf', '--pin-dir', pinDir]);
    assert.match(again, /not loaded .*nothing to do/);
  });
});
