// Scenarios for tun.test.ts, each run in its own process inside the test's network namespace
// (`ip netns exec NS node --import tsx test/io/tun-child.ts SCENARIO '{"tun":"lvt..."}'`).
// A scenario sets up what it needs (TUN devices vanish when this process closes them), does
// the I/O and prints one JSON line with what it saw; the test asserts on that.
//
// Addresses: 198.51.100.2/32 on lo is the namespace's own, 203.0.113.0/24 is routed into the
// TUN. Nothing leaves the namespace.

import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { PacketBatch, VERDICT_DROP, VERDICT_TX } from '../../src/dataplane/batch.js';
import { Pump } from '../../src/io/pump.js';
import { OFFLOAD_HEADROOM, OFFLOAD_SLOT_SIZE, TunIo } from '../../src/io/tun-io.js';
import {
  loadNative,
  type NativeAddon,
  STAT_RX_TRUNC,
  STAT_SLOTS,
  STAT_TX_ERR,
} from '../../src/native/index.js';
import { toHex } from '../support/hex.js';
import { tcp4, udp4 } from '../support/packet-builder.js';
import { decodePacket } from '../support/packet-decoder.js';

export const LOCAL = '198.51.100.2';
export const REMOTE = '203.0.113.5';
const ROUTE = '203.0.113.0/24';

interface Args {
  tun: string;
  tun2?: string;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function setupNs(): void {
  ip('link', 'set', 'lo', 'up');
  ip('addr', 'replace', `${LOCAL}/32`, 'dev', 'lo');
}

/** Brings a TUN up with no address (and no IPv6 link-local, so no MLD noise) and routes into it. */
function bringUp(tun: string, mtu = 1500): void {
  ip('link', 'set', 'dev', tun, 'addrgenmode', 'none');
  ip('link', 'set', 'dev', tun, 'mtu', String(mtu), 'up');
  ip('route', 'replace', ROUTE, 'dev', tun, 'src', LOCAL);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, LOCAL, () => resolve());
  });
  return s;
}

function send(s: dgram.Socket, data: string | Uint8Array, port: number, addr = REMOTE): Promise<void> {
  return new Promise((resolve, reject) => s.send(data, port, addr, (e) => (e ? reject(e) : resolve())));
}

interface Received {
  address: string;
  port: number;
  data: string;
}

/** Collects datagrams arriving on `s` until `count` or `ms` elapse. */
function collect(s: dgram.Socket, count: number, ms: number): Promise<Received[]> {
  return new Promise((resolve) => {
    const got: Received[] = [];
    const done = () => {
      clearTimeout(timer);
      s.off('message', onMsg);
      resolve(got);
    };
    const onMsg = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      got.push({ address: rinfo.address, port: rinfo.port, data: msg.toString() });
      if (got.length >= count) done();
    };
    const timer = setTimeout(done, ms);
    s.on('message', onMsg);
  });
}

function readAll(n: NativeAddon, fd: number, b: PacketBatch, stats?: Float64Array): number {
  b.count = n.readBatch(fd, b.buf, b.off, b.len, b.slotSize, b.headroom, b.capacity, 0, stats);
  return b.count;
}

function packetsHex(b: PacketBatch): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.count; i++) out.push(toHex(b.packet(i)));
  return out;
}

function errInfo(e: unknown): Record<string, unknown> {
  const err = e as Error & { code?: string; errno?: number; syscall?: string };
  return { name: err.name, message: err.message, code: err.code, errno: err.errno, syscall: err.syscall };
}

// --- scenarios -------------------------------------------------------------------------------

/** Read a datagram the namespace sends into the TUN (woken by poll), write a reply back. */
async function io({ tun }: Args) {
  const n = loadNative();
  setupNs();
  const fd = n.open(tun, false);
  const stats = new Float64Array(STAT_SLOTS);
  const b = new PacketBatch(8);
  try {
    const readWhileDown = readAll(n, fd, b, stats);
    bringUp(tun);
    const readWhileIdle = readAll(n, fd, b, stats);
    const s = await udpSocket();
    let polls = 0;
    const read = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('poll never fired')), 5000);
      const h = n.poll(fd, (err) => {
        polls++;
        if (err) return reject(err);
        const k = readAll(n, fd, b, stats);
        if (k > 0) {
          h.stop();
          h.stop(); // twice: harmless
          clearTimeout(timer);
          resolve(k);
        }
      });
      void send(s, 'hello lvsadm', 9999);
    });
    const first = {
      packets: packetsHex(b),
      offs: [...b.off.subarray(0, read)],
      lens: [...b.len.subarray(0, read)],
    };

    // Stopped: another datagram queues up without a callback, and is still there to read.
    const pollsAtStop = polls;
    await send(s, 'after stop', 9999);
    await sleep(100);
    const pollsAfterStop = polls - pollsAtStop;
    const afterStop = readAll(n, fd, b, stats);
    const afterStopPackets = packetsHex(b);

    // Reply through the TUN: slot 0 TX, slot 1 DROP.
    const sport = s.address().port;
    b.clear();
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'reply from the tun'));
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'dropped by verdict'));
    b.verdict[0] = VERDICT_TX;
    b.verdict[1] = VERDICT_DROP;
    const receiving = collect(s, 2, 500);
    const written = n.writeBatch(fd, b.buf, b.off, b.len, b.verdict, b.count, stats);
    const received = await receiving;
    s.close();
    return {
      readWhileDown,
      readWhileIdle,
      polls: pollsAtStop,
      pollsAfterStop,
      ...first,
      afterStop,
      afterStopPackets,
      sport,
      written,
      received,
      stats: [...stats],
    };
  } finally {
    n.close(fd);
  }
}

/** Packets longer than a slot are dropped and counted; one that fills the slot exactly is kept. */
async function truncate({ tun }: Args) {
  const n = loadNative();
  setupNs();
  const fd = n.open(tun, false);
  try {
    bringUp(tun, 9000);
    const b = new PacketBatch(8, 2048, 128); // room for 1920 bytes
    const room = b.slotSize - b.headroom;
    const s = await udpSocket();
    const sizes = [3000, room + 1, room, 100]; // IP packet sizes: 28 bytes of headers each
    for (const size of sizes) await send(s, new Uint8Array(size - 28).fill(size & 0xff), 9999);
    await sleep(100);
    const stats = new Float64Array(STAT_SLOTS);
    const read = readAll(n, fd, b, stats);
    s.close();
    return { room, sizes, read, lens: [...b.len.subarray(0, read)], truncated: stats[STAT_RX_TRUNC] };
  } finally {
    n.close(fd);
  }
}

/** Write-side failures are counted per packet and the batch goes on. */
async function writeErrors({ tun }: Args) {
  const n = loadNative();
  setupNs();
  const fd = n.open(tun, false);
  try {
    bringUp(tun);
    const s = await udpSocket();
    const sport = s.address().port;
    const b = new PacketBatch(8);
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'one'));
    const bad = udp4(REMOTE, 9999, LOCAL, sport, 'bad version');
    bad[0] = 0x55; // version 5: the TUN refuses it (EINVAL)
    b.push(bad);
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'not for tx'));
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'two'));
    b.push(udp4(REMOTE, 9999, LOCAL, sport, 'out of bounds'));
    b.off[4] = b.buf.length - 10; // would read past the buffer: refused before write(2)
    b.verdict.set([VERDICT_TX, VERDICT_TX, VERDICT_DROP, VERDICT_TX, VERDICT_TX]);
    const stats = new Float64Array(STAT_SLOTS);
    let receiving = collect(s, 2, 500);
    const written = n.writeBatch(fd, b.buf, b.off, b.len, b.verdict, b.count, stats);
    const received = (await receiving).map((r) => r.data).sort();
    const afterBatch = [...stats];

    // verdicts null: every packet of the count (here the first and the bad one).
    stats.fill(0);
    receiving = collect(s, 2, 300);
    const writtenAll = n.writeBatch(fd, b.buf, b.off, b.len, null, 2, stats);
    const receivedAll = (await receiving).map((r) => r.data);
    const afterAll = [...stats];

    // Link down: writes fail with EIO.
    ip('link', 'set', 'dev', tun, 'down');
    stats.fill(0);
    const writtenDown = n.writeBatch(fd, b.buf, b.off, b.len, null, 1, stats);
    const afterDown = [...stats];
    s.close();
    return { written, received, afterBatch, writtenAll, receivedAll, afterAll, writtenDown, afterDown };
  } finally {
    n.close(fd);
  }
}

/** Multi-queue opens, flag mismatch and busy errors, and TunIo over several queues. */
async function multiQueue({ tun, tun2 }: Args) {
  const n = loadNative();
  setupNs();
  const fdA = n.open(tun, true);
  const fdB = n.open(tun, true);
  const extra: number[] = [];
  try {
    let mismatch: unknown;
    try {
      extra.push(n.open(tun, false));
    } catch (e) {
      mismatch = errInfo(e);
    }
    bringUp(tun);
    const s = await udpSocket();
    const flows = 64;
    for (let i = 0; i < flows; i++) await send(s, `flow ${i}`, 10000 + i);
    await sleep(100);
    const b = new PacketBatch(flows);
    const perQueue = [readAll(n, fdA, b), readAll(n, fdB, b)];
    s.close();

    // A second single-queue device: opening it twice is EBUSY.
    const single = n.open(tun2!, false);
    extra.push(single);
    let busy: unknown;
    try {
      extra.push(n.open(tun2!, false));
    } catch (e) {
      busy = errInfo(e);
    }
    return { distinct: fdA !== fdB, mismatch, perQueue, busy };
  } finally {
    for (const fd of [fdA, fdB, ...extra]) n.close(fd);
  }
}

/**
 * TunIo with two queues and the Pump, driven by a fake engine that echoes UDP (swaps addresses
 * and ports, which keeps both checksums valid) and drops datagrams that say 'drop'.
 */
async function pump({ tun }: Args) {
  setupNs();
  const tio = TunIo.open({ name: tun, queues: 2 });
  const openQueues = tio.fds.length;
  const engine = {
    batches: 0,
    now: () => 0,
    process(batch: PacketBatch) {
      engine.batches++;
      for (let i = 0; i < batch.count; i++) {
        const o = batch.off[i]!;
        const p = batch.buf;
        const ihl = (p[o]! & 0x0f) * 4;
        const isUdp = p[o]! >> 4 === 4 && p[o + 9] === 17;
        const drop = String.fromCharCode(...p.subarray(o + ihl + 8, o + ihl + 12)) === 'drop';
        if (!isUdp || drop) {
          batch.verdict[i] = VERDICT_DROP;
          continue;
        }
        for (const [a, w] of [
          [12, 4],
          [ihl, 2],
        ] as const) {
          const tmp = p.slice(o + a, o + a + w);
          p.copyWithin(o + a, o + a + w, o + a + 2 * w);
          p.set(tmp, o + a + w);
        }
        batch.verdict[i] = VERDICT_TX;
      }
    },
  };
  const batch = new PacketBatch(4);
  const p = new Pump(tio, engine, batch, { maxBatches: 2 });
  try {
    p.start();
    bringUp(tun);
    const s = await udpSocket();
    const echoes = 40;
    const receiving = collect(s, echoes, 5000);
    for (let i = 0; i < echoes; i++) {
      await send(s, `echo ${i}`, 9999);
      if (i % 8 === 0) await send(s, 'drop this', 9999);
    }
    const received = await receiving;
    const late = await collect(s, 1, 200); // nothing more comes
    s.close();
    return {
      openQueues,
      received: received.map((r) => `${r.address}:${r.port} ${r.data}`),
      late: late.length,
      counters: { ...tio.counters },
      pump: { ...p.counters },
      engineBatches: engine.batches,
      txErrors: tio.stats[STAT_TX_ERR],
    };
  } finally {
    p.stop();
    tio.close();
  }
}

/** Sets a sysctl of this namespace and returns its old value. */
function sysctl(key: string, value: string): string {
  const path = `/proc/sys/${key}`;
  const old = readFileSync(path, 'utf8').trim();
  writeFileSync(path, value);
  return old;
}

/** Reads `tio` into `batch` until a packet satisfies `pred`; returns its index. */
async function readUntil(tio: TunIo, batch: PacketBatch, pred: (i: number) => boolean, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    tio.readInto(batch);
    for (let i = 0; i < batch.count; i++) if (pred(i)) return i;
    await sleep(5);
  }
  throw new Error(`nothing matching within ${ms} ms`);
}

const SERVICE_PORT = 8080;
const POLICY_TABLE = '100';

/**
 * Offload with real TCP: a kernel socket connects into an offload TUN (the handshake is
 * answered from a batch never read, so its header is the zeroed one); its bulk data arrives
 * as GSO packets with partial checksums. Those are written back unchanged (with the headers
 * they came with) and forwarded, by a policy route on the incoming TUN, into a second, plain
 * TUN, where the kernel has cut them into MTU segments and completed the checksums.
 */
async function offload({ tun, tun2 }: Args) {
  const n = loadNative();
  setupNs();
  const tio = TunIo.open({ name: tun, offload: true });
  const fd2 = n.open(tun2!, false);
  const restore: [string, string][] = [];
  let sock: net.Socket | undefined;
  try {
    let smallBatch: string | undefined;
    try {
      tio.readInto(new PacketBatch(2));
    } catch (e) {
      smallBatch = (e as Error).message;
    }
    bringUp(tun);
    ip('link', 'set', 'dev', tun2!, 'addrgenmode', 'none');
    ip('link', 'set', 'dev', tun2!, 'mtu', '1500', 'up');
    // What comes back out of the TUN goes to the plain TUN (the route goes with tun2).
    ip('rule', 'add', 'iif', tun, 'lookup', POLICY_TABLE);
    ip('route', 'add', ROUTE, 'dev', tun2!, 'table', POLICY_TABLE);
    restore.push(['net/ipv4/ip_forward', sysctl('net/ipv4/ip_forward', '1')]);
    restore.push(['net/ipv4/conf/all/rp_filter', sysctl('net/ipv4/conf/all/rp_filter', '0')]);
    sysctl(`net/ipv4/conf/${tun}/rp_filter`, '0');
    sysctl(`net/ipv4/conf/${tun}/accept_local`, '1'); // the packets come from LOCAL, ours

    const batch = new PacketBatch(16, OFFLOAD_SLOT_SIZE, OFFLOAD_HEADROOM);
    const s = net.connect({ host: REMOTE, port: SERVICE_PORT, localAddress: LOCAL });
    sock = s;
    s.on('error', () => {});
    const connected = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    const tcpOf = (i: number) => decodePacket(batch.packet(i)).tcp;
    const k = await readUntil(tio, batch, (i) => tcpOf(i)?.flags === 'S', 3000);
    const syn = tcpOf(k)!;
    const own = new PacketBatch(2); // never read: its header array is made zeroed on write
    own.push(
      tcp4(REMOTE, SERVICE_PORT, LOCAL, syn.sport, 'SA', {
        seq: 1_000_000,
        ack: (syn.seq + 1) >>> 0,
        options: [{ kind: 'mss', value: 1460 }],
      }),
    );
    own.verdict[0] = VERDICT_TX;
    const synAckWritten = tio.writeFrom(own);
    const isConnected = await connected;
    s.write(Buffer.alloc(256 * 1024, 'lvsadm offload '));

    // The first flight (no ACKs from us, so it is at most the initial window).
    await readUntil(tio, batch, (i) => batch.gso[i]! > 0, 3000);
    const gsoPackets: { len: number; csum: number; gso: number; seq: number; payload: string }[] = [];
    for (let i = 0; i < batch.count; i++) {
      const t = tcpOf(i);
      const keep = batch.gso[i]! > 0 && t?.dport === SERVICE_PORT;
      batch.verdict[i] = keep ? VERDICT_TX : VERDICT_DROP;
      if (!keep) continue;
      gsoPackets.push({
        len: batch.len[i]!,
        csum: batch.csum[i]!,
        gso: batch.gso[i]!,
        seq: t!.seq,
        payload: Buffer.from(t!.payload!).toString('latin1'),
      });
    }
    const writtenBack = tio.writeFrom(batch);

    // Collect the segments from the plain TUN until the payload is all there.
    const want = gsoPackets.reduce((a, p) => a + p.payload.length, 0);
    const b2 = new PacketBatch(64);
    const segs: { len: number; ipOk: boolean; l4Ok: boolean; seq: number; payload: string }[] = [];
    let got = 0;
    const end = Date.now() + 3000;
    while (got < want && Date.now() < end) {
      readAll(n, fd2, b2);
      for (let i = 0; i < b2.count; i++) {
        const d = decodePacket(b2.packet(i));
        if (d.tcp?.dport !== SERVICE_PORT) continue;
        const payload = Buffer.from(d.tcp.payload ?? []).toString('latin1');
        got += payload.length;
        segs.push({
          len: b2.len[i]!,
          ipOk: d.ipCsumOk === true,
          l4Ok: d.l4CsumOk === true,
          seq: d.tcp.seq,
          payload,
        });
      }
      if (got < want) await sleep(5);
    }
    const joined = (xs: { seq: number; payload: string }[]) =>
      [...xs]
        .sort((a, b) => a.seq - b.seq)
        .map((x) => x.payload)
        .join('');
    return {
      smallBatch,
      offload: tio.offload,
      synAckWritten,
      connected: isConnected,
      gsoPackets: gsoPackets.map(({ payload, ...p }) => ({ ...p, payloadLength: payload.length })),
      writtenBack,
      segs: segs.map(({ payload, ...x }) => ({ ...x, payloadLength: payload.length })),
      samePayload: joined(segs) === joined(gsoPackets),
      stats: [...tio.stats],
    };
  } finally {
    sock?.destroy();
    try {
      ip('rule', 'del', 'iif', tun, 'lookup', POLICY_TABLE);
    } catch {}
    for (const [key, value] of restore) sysctl(key, value);
    tio.close();
    n.close(fd2);
  }
}

/** Just try to open, for the error paths (run as nobody, or without /dev/net/tun). */
async function openError({ tun }: Args) {
  const n = loadNative();
  try {
    n.close(n.open(tun, false));
    return { opened: true };
  } catch (e) {
    return { opened: false, error: errInfo(e) };
  }
}

const scenarios: Record<string, (a: Args) => Promise<unknown>> = {
  io,
  truncate,
  'write-errors': writeErrors,
  'multi-queue': multiQueue,
  pump,
  offload,
  'open-error': openError,
};

const [name, json] = process.argv.slice(2);
const run = scenarios[name ?? ''];
if (!run) {
  process.stderr.write(`unknown scenario ${name}\n`);
  process.exit(2);
}
const result = await run(JSON.parse(json ?? '{}') as Args);
process.stdout.write(`${JSON.stringify(result)}\n`);
// No process.exit: a poll handle or socket left open keeps this process alive, and the test's
// timeout reports it.
