// The native addon without TUN (no root needed): argument checks, readBatch/writeBatch/poll on
// a FIFO, EBADF accounting, SO_PEERCRED on a unix socket, the missing-addon message.
// TUN behaviour itself is in tun.test.ts.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PacketBatch } from '../../src/dataplane/batch.js';
import {
  loadNative,
  type NativeAddon,
  STAT_LAST_ERRNO,
  STAT_RX_ERR,
  STAT_RX_TRUNC,
  STAT_SLOTS,
  STAT_TX_AGAIN,
  STAT_TX_ERR,
  VNET_HDR_LEN,
} from '../../src/native/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EBADF = 9;
const BAD_FD = 1_000_000; // far above any open fd

let n: NativeAddon;
let dir: string;

before(() => {
  n = loadNative();
  dir = mkdtempSync(join(tmpdir(), 'lvsadm-native-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A FIFO opened read-write and non-blocking: bytes written come back as one "packet". */
function fifo(name: string): number {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

function read(fd: number, b: PacketBatch, stats?: Float64Array): number {
  b.count = n.readBatch(fd, b.buf, b.off, b.len, b.slotSize, b.headroom, b.capacity, 0, stats);
  return b.count;
}

describe('argument checks', () => {
  test('open: name must be a 1 to 15 byte string', () => {
    assert.throws(() => n.open('x'.repeat(16), false), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => n.open('', false), RangeError);
    assert.throws(() => n.open(42 as unknown as string, false), { name: 'TypeError' });
  });

  test('readBatch: typed array types and sizes are checked, never overrun', () => {
    const b = new PacketBatch(4, 256, 32);
    const args = (o: Partial<Record<string, unknown>>) =>
      [
        o.fd ?? BAD_FD,
        o.buf ?? b.buf,
        o.offs ?? b.off,
        o.lens ?? b.len,
        o.slot ?? 256,
        o.head ?? 32,
        o.max ?? 4,
        o.start ?? 0,
        o.stats,
      ] as unknown as Parameters<NativeAddon['readBatch']>;
    assert.throws(() => n.readBatch(...args({ buf: new Uint16Array(512) })), /buf must be a Uint8Array/);
    assert.throws(() => n.readBatch(...args({ offs: new Int32Array(4) })), /offs must be a Uint32Array/);
    assert.throws(() => n.readBatch(...args({ max: 5 })), RangeError);
    assert.throws(() => n.readBatch(...args({ start: 1 })), RangeError, 'start + max past the arrays');
    assert.throws(() => n.readBatch(...args({ slot: 257 })), RangeError, 'slots past the buffer');
    assert.throws(() => n.readBatch(...args({ head: 256 })), RangeError, 'headroom >= slot');
    assert.throws(() => n.readBatch(...args({ max: -1 })), RangeError);
    assert.throws(() => n.readBatch(...args({ stats: new Float64Array(2) })), /stats needs at least 5 slots/);
    assert.equal(n.readBatch(...args({ max: 0 })), 0);
  });

  test('writeBatch: count must fit the arrays', () => {
    const b = new PacketBatch(2);
    assert.throws(() => n.writeBatch(BAD_FD, b.buf, b.off, b.len, b.verdict, 3), RangeError);
    assert.throws(() => n.writeBatch(BAD_FD, b.buf, b.off, b.len, new Uint8Array(1), 2), RangeError);
    assert.throws(() => n.writeBatch(BAD_FD, b.buf, b.off, b.len, new Uint32Array(2) as never, 2), TypeError);
  });

  test('poll: needs a function; stop() needs its handle', () => {
    assert.throws(() => n.poll(0, 'x' as never), { name: 'TypeError' });
    const fd = fifo('poll-this');
    try {
      const h = n.poll(fd, () => {});
      const { stop } = h;
      assert.throws(() => stop(), { name: 'TypeError' });
      h.stop();
    } finally {
      closeSync(fd);
    }
  });
});

describe('I/O on a FIFO', () => {
  test('EAGAIN reads as 0; a write is read into slot 0 after the headroom', () => {
    const fd = fifo('io');
    try {
      const b = new PacketBatch(4, 256, 32);
      const stats = new Float64Array(STAT_SLOTS);
      assert.equal(read(fd, b, stats), 0);
      b.clear();
      b.push(Uint8Array.from([1, 2, 3, 4, 5]));
      b.verdict[0] = 1;
      assert.equal(n.writeBatch(fd, b.buf, b.off, b.len, b.verdict, 1, stats), 1);
      b.buf.fill(0);
      assert.equal(read(fd, b, stats), 1);
      assert.equal(b.off[0], 32);
      assert.equal(b.len[0], 5);
      assert.deepEqual([...b.packet(0)], [1, 2, 3, 4, 5]);
      assert.deepEqual([...stats], [0, 0, 0, 0, 0]);
    } finally {
      closeSync(fd);
    }
  });

  test('start puts packets after the given slot', () => {
    const fd = fifo('start');
    try {
      const b = new PacketBatch(4, 256, 32);
      writeFileSync(join(dir, 'start'), 'abc'); // through a second open of the FIFO
      assert.equal(n.readBatch(fd, b.buf, b.off, b.len, 256, 32, 2, 2), 1);
      assert.equal(b.off[2], 2 * 256 + 32);
      assert.equal(b.len[2], 3);
    } finally {
      closeSync(fd);
    }
  });

  test('poll calls back while readable, not after stop(); the callback may read', async () => {
    const fd = fifo('poll');
    try {
      const b = new PacketBatch(4, 256, 32);
      let calls = 0;
      const got = await new Promise<number>((resolve) => {
        const h = n.poll(fd, () => {
          calls++;
          const k = read(fd, b);
          h.stop();
          h.stop();
          resolve(k);
        });
        writeFileSync(join(dir, 'poll'), 'x');
      });
      assert.equal(got, 1);
      writeFileSync(join(dir, 'poll'), 'y');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(calls, 1);
    } finally {
      closeSync(fd);
    }
  });

  test('a promise resolved in the callback settles at once (microtasks run after it)', async () => {
    const fd = fifo('micro');
    try {
      const order: string[] = [];
      await new Promise<void>((resolve) => {
        const h = n.poll(fd, () => {
          h.stop();
          read(fd, new PacketBatch(1));
          Promise.resolve().then(() => order.push('microtask'));
          setImmediate(() => {
            order.push('immediate');
            resolve();
          });
        });
        writeFileSync(join(dir, 'micro'), 'z');
      });
      assert.deepEqual(order, ['microtask', 'immediate']);
    } finally {
      closeSync(fd);
    }
  });
});

describe('virtio_net_hdr mode (vnet) on a FIFO', () => {
  // A partial TCPv4 GSO header with the ECN bit: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
  const NEEDS_CSUM = 1;
  const GSO_TCPV4_ECN = 0x81;
  function header(out: Uint8Array, at: number): void {
    const dv = new DataView(out.buffer, out.byteOffset + at, VNET_HDR_LEN);
    dv.setUint8(0, NEEDS_CSUM);
    dv.setUint8(1, GSO_TCPV4_ECN);
    dv.setUint16(2, 40, true);
    dv.setUint16(4, 1400, true);
    dv.setUint16(6, 20, true);
    dv.setUint16(8, 16, true);
  }
  const readV = (fd: number, b: PacketBatch, vnet: Uint8Array, stats?: Float64Array) =>
    n.readBatch(fd, b.buf, b.off, b.len, b.slotSize, b.headroom, b.capacity, 0, stats, vnet, b.csum, b.gso);

  test('a partial packet is written with its saved header, read back with csum and gso set', () => {
    const fd = fifo('vnet-partial');
    try {
      const tx = new PacketBatch(2, 256, 32);
      const txv = new Uint8Array(2 * VNET_HDR_LEN);
      tx.push(Uint8Array.from([0x45, 1, 2, 3]));
      header(txv, 0);
      tx.csum[0] = 1;
      tx.verdict[0] = 1;
      assert.equal(n.writeBatch(fd, tx.buf, tx.off, tx.len, tx.verdict, 1, null, txv, tx.csum), 1);

      const rx = new PacketBatch(2, 256, 32);
      const rxv = new Uint8Array(2 * VNET_HDR_LEN).fill(0xee);
      const stats = new Float64Array(STAT_SLOTS);
      assert.equal(readV(fd, rx, rxv, stats), 1);
      assert.deepEqual(
        [...rxv.subarray(0, VNET_HDR_LEN)],
        [...txv.subarray(0, VNET_HDR_LEN)],
        'header bit for bit',
      );
      assert.equal(rx.off[0], 32, 'the packet still lands after the headroom');
      assert.deepEqual([...rx.packet(0)], [0x45, 1, 2, 3]);
      assert.equal(rx.csum[0], 1);
      assert.equal(rx.gso[0], 1400, 'gso_size of a GSO type, ECN bit set');
      assert.deepEqual([...stats], [0, 0, 0, 0, 0]);
    } finally {
      closeSync(fd);
    }
  });

  test('a complete packet (csum 0, or no csum array) goes out with a zeroed header', () => {
    const fd = fifo('vnet-complete');
    try {
      const tx = new PacketBatch(2, 256, 32);
      const txv = new Uint8Array(2 * VNET_HDR_LEN);
      tx.push(Uint8Array.from([0x45, 9]));
      header(txv, 0); // a stale header from an earlier read must not be reused
      tx.verdict[0] = 1;
      const rx = new PacketBatch(2, 256, 32);
      const rxv = new Uint8Array(2 * VNET_HDR_LEN);
      for (const csum of [tx.csum, null]) {
        rxv.fill(0xee);
        rx.csum.fill(7);
        rx.gso.fill(7);
        assert.equal(n.writeBatch(fd, tx.buf, tx.off, tx.len, tx.verdict, 1, null, txv, csum), 1);
        assert.equal(readV(fd, rx, rxv), 1);
        assert.deepEqual([...rxv.subarray(0, VNET_HDR_LEN)], new Array(VNET_HDR_LEN).fill(0));
        assert.deepEqual([...rx.packet(0)], [0x45, 9]);
        assert.equal(rx.csum[0], 0);
        assert.equal(rx.gso[0], 0);
      }
    } finally {
      closeSync(fd);
    }
  });

  test('truncation still counts with the header in front; an exact fit is kept', () => {
    const fd = fifo('vnet-trunc');
    try {
      const rx = new PacketBatch(2, 256, 32);
      const room = rx.mtu;
      const rxv = new Uint8Array(2 * VNET_HDR_LEN);
      const stats = new Float64Array(STAT_SLOTS);
      const tx = new PacketBatch(1, 512, 32);
      const txv = new Uint8Array(VNET_HDR_LEN);
      for (const size of [room + 1, room]) {
        tx.clear();
        tx.push(new Uint8Array(size).fill(size & 0xff));
        tx.verdict[0] = 1;
        assert.equal(n.writeBatch(fd, tx.buf, tx.off, tx.len, tx.verdict, 1, null, txv, tx.csum), 1);
      }
      // Each readv takes exactly one write here: header + room + 1 (dropped), then header + room.
      assert.equal(readV(fd, rx, rxv, stats), 1);
      assert.equal(rx.len[0], room);
      assert.equal(stats[STAT_RX_TRUNC], 1);
    } finally {
      closeSync(fd);
    }
  });

  test('without vnet, csum and gso entries are cleared', () => {
    const fd = fifo('vnet-none');
    try {
      const b = new PacketBatch(2, 256, 32);
      b.csum.fill(1);
      b.gso.fill(1400);
      writeFileSync(join(dir, 'vnet-none'), 'abc');
      assert.equal(n.readBatch(fd, b.buf, b.off, b.len, 256, 32, 2, 0, null, null, b.csum, b.gso), 1);
      assert.equal(b.len[0], 3);
      assert.deepEqual([b.csum[0], b.gso[0]], [0, 0]);
      assert.deepEqual([b.csum[1], b.gso[1]], [1, 1400], 'slots not read are left alone');
    } finally {
      closeSync(fd);
    }
  });

  test('argument checks: sizes and types of vnet, csum, gso', () => {
    const b = new PacketBatch(4, 256, 32);
    const vnet = new Uint8Array(4 * VNET_HDR_LEN);
    const read = (v: unknown, c: unknown, g: unknown) =>
      n.readBatch(BAD_FD, b.buf, b.off, b.len, 256, 32, 4, 0, null, v as never, c as never, g as never);
    assert.throws(() => read(new Uint8Array(39), b.csum, b.gso), /vnet is too short/);
    assert.throws(() => read(vnet, new Uint8Array(3), b.gso), /csum is too short/);
    assert.throws(() => read(vnet, b.csum, new Uint8Array(4)), /gso must be a Uint16Array/);
    assert.equal(read(vnet, b.csum, b.gso), 0, 'EBADF is counted, not thrown');
    const write = (v: unknown, c: unknown) =>
      n.writeBatch(BAD_FD, b.buf, b.off, b.len, null, 4, null, v as never, c as never);
    assert.throws(() => write(new Uint8Array(39), null), /vnet is too short/);
    assert.throws(() => write(null, b.csum), /csum needs vnet/);
  });
});

describe('errors are counted, not thrown', () => {
  test('readBatch on a bad fd: 0, one RX error, errno EBADF', () => {
    const b = new PacketBatch(2);
    const stats = new Float64Array(STAT_SLOTS);
    assert.equal(read(BAD_FD, b, stats), 0);
    assert.equal(stats[STAT_RX_ERR], 1);
    assert.equal(stats[STAT_LAST_ERRNO], EBADF);
  });

  test('writeBatch on a bad fd: each TX packet is one error, the batch goes on', () => {
    const b = new PacketBatch(4);
    for (let i = 0; i < 4; i++) b.push(Uint8Array.of(0x45, i));
    b.verdict.set([1, 0, 1, 1]);
    const stats = new Float64Array(STAT_SLOTS);
    assert.equal(n.writeBatch(BAD_FD, b.buf, b.off, b.len, b.verdict, b.count, stats), 0);
    assert.equal(stats[STAT_TX_ERR], 3);
    assert.equal(stats[STAT_TX_AGAIN], 0);
    assert.equal(stats[STAT_LAST_ERRNO], EBADF);
  });

  test('writeBatch stops at EAGAIN and counts the rest (a full pipe)', () => {
    const fd = fifo('full');
    try {
      const b = new PacketBatch(16, 65536 + 64, 64);
      const big = new Uint8Array(65536).fill(7); // one pipe buffer (64 KiB by default)
      for (let i = 0; i < 16; i++) b.push(big);
      b.verdict.fill(1);
      b.verdict[15] = 0;
      const stats = new Float64Array(STAT_SLOTS);
      const w = n.writeBatch(fd, b.buf, b.off, b.len, b.verdict, b.count, stats);
      assert.ok(w >= 1 && w < 15, `written ${w}`);
      assert.equal(stats[STAT_TX_AGAIN], 15 - w, 'TX packets not written');
      assert.equal(stats[STAT_TX_ERR], 0);
    } finally {
      closeSync(fd);
    }
  });

  test('an exception in a poll callback is an uncaught exception of the process', () => {
    const script = `
      const n = require(${JSON.stringify(join(ROOT, 'build/Release/lvsadm_native.node'))});
      const fs = require('fs');
      const fd = fs.openSync(process.argv[1], fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      const h = n.poll(fd, () => { h.stop(); throw new Error('boom from poll'); });
      process.on('uncaughtException', (e) => { console.log('caught:' + e.message); });
      fs.writeFileSync(process.argv[1], 'x');`;
    execFileSync('mkfifo', [join(dir, 'throw')]);
    const r = spawnSync(process.execPath, ['-e', script, join(dir, 'throw')], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'caught:boom from poll');
  });
});

test('getPeerCred of a unix socket gives the peer pid, uid, gid', async () => {
  const path = join(dir, 'ctl.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const cred = await new Promise<{ pid: number; uid: number; gid: number }>((resolve, reject) => {
      server.once('connection', (sock) => {
        try {
          const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
          resolve(n.getPeerCred(fd));
        } catch (e) {
          reject(e);
        } finally {
          sock.destroy();
        }
      });
      const c = net.connect(path);
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
    assert.deepEqual(cred, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  } finally {
    await new Promise((r) => server.close(r));
  }
  assert.throws(() => n.getPeerCred(BAD_FD), { code: 'EBADF', syscall: 'getsockopt' });
});

test('without the built addon: a clear error naming the fix', () => {
  // A copy of the loader in a tree that has binding.gyp but no build/.
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'src', 'native'), { recursive: true });
  copyFileSync(join(ROOT, 'src', 'native', 'index.ts'), join(tree, 'src', 'native', 'index.ts'));
  writeFileSync(join(tree, 'binding.gyp'), '{}');
  writeFileSync(join(tree, 'package.json'), '{"type":"module"}');
  const script = `import('${join(tree, 'src', 'native', 'index.ts')}').then((m) => {
    console.log(m.nativeAvailable());
    try { m.loadNative(); } catch (e) { console.log(e.name + ': ' + e.message); }
  })`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const [avail, msg] = r.stdout.trim().split('\n');
  assert.equal(avail, 'false');
  assert.match(
    msg!,
    /^NativeMissingError: .*build\/Release\/lvsadm_native\.node not found; run npm run build:native$/,
  );
});
