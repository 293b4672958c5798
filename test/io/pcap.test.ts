// pcap read/write: round trips, both byte orders, nanosecond files, link types, truncated files,
// and tcpdump reading what we write (installed as root when missing; else skipped, or failed under CI=true).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PacketBatch, VERDICT_TX } from '../../src/dataplane/batch.js';
import {
  encodePcap,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PcapFormatError,
  PcapWriter,
  parsePcap,
  readPcap,
  writePcap,
} from '../../src/io/pcap.js';
import { toHex } from '../support/hex.js';
import { tcp4, tcp6, udp4 } from '../support/packet-builder.js';
import { met } from '../support/privileges.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvsadm-pcap-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SYN = tcp4('198.51.100.2', 40000, '203.0.113.10', 80, 'S', { seq: 1000 });
const SYNACK6 = tcp6('2001:db8:203::10', 80, '2001:db8:100::2', 40000, 'SA', { seq: 7, ack: 1001 });
const DNS = udp4('198.51.100.2', 5353, '203.0.113.10', 53, 'query');

/** A pcap file built field by field, for the reader: any byte order, magic and link type. */
function handMade(opts: {
  le: boolean;
  magic: number;
  linktype: number;
  records: { sec: number; frac: number; data: Uint8Array; orig?: number }[];
}): Uint8Array {
  const size = 24 + opts.records.reduce((s, r) => s + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, opts.magic, opts.le);
  dv.setUint16(4, 2, opts.le);
  dv.setUint16(6, 4, opts.le);
  dv.setUint32(16, 65535, opts.le);
  dv.setUint32(20, opts.linktype, opts.le);
  let o = 24;
  for (const r of opts.records) {
    dv.setUint32(o, r.sec, opts.le);
    dv.setUint32(o + 4, r.frac, opts.le);
    dv.setUint32(o + 8, r.data.length, opts.le);
    dv.setUint32(o + 12, r.orig ?? r.data.length, opts.le);
    out.set(r.data, o + 16);
    o += 16 + r.data.length;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('write then read', () => {
  test('encodePcap round trip: packets, times, header fields', () => {
    const bytes = encodePcap([
      { data: SYN, timeMs: 1_700_000_000_123.456 },
      { data: SYNACK6, timeMs: 1_700_000_001_000 },
      DNS, // default time: its index in ms
    ]);
    const dv = new DataView(bytes.buffer);
    assert.equal(dv.getUint32(0, true), PCAP_MAGIC_US);
    assert.equal(dv.getUint32(20, true), LINKTYPE_RAW);
    const f = parsePcap(bytes);
    assert.equal(f.linktype, LINKTYPE_RAW);
    assert.equal(f.bigEndian, false);
    assert.equal(f.nanosecond, false);
    assert.equal(f.truncated, false);
    assert.deepEqual(
      f.records.map((r) => toHex(r.data)),
      [SYN, SYNACK6, DNS].map((p) => toHex(p)),
    );
    assert.deepEqual(
      f.records.map((r) => [r.sec, r.nsec, r.origLen]),
      [
        [1_700_000_000, 123_456_000, SYN.length],
        [1_700_000_001, 0, SYNACK6.length],
        [0, 2_000_000, DNS.length],
      ],
    );
  });

  test('PcapWriter: buffered appends, writeBatch takes TX verdicts (or all)', () => {
    const path = join(dir, 'writer.pcap');
    const w = new PcapWriter(path);
    w.write(SYN, 5000);
    const b = new PacketBatch(3);
    b.push(SYN);
    b.push(SYNACK6);
    b.push(DNS);
    b.verdict[1] = VERDICT_TX;
    w.writeBatch(b, false, 6000);
    w.writeBatch(b, true, 7000);
    assert.equal(readFileSync(path).length, 24, 'buffered until flush');
    w.flush();
    const mid = readPcap(path);
    assert.equal(mid.records.length, 5);
    w.close();
    w.close();
    assert.throws(() => w.write(SYN), /closed/);
    const f = readPcap(path);
    assert.deepEqual(
      f.records.map((r) => [r.sec, toHex(r.data)]),
      [
        [5, toHex(SYN)],
        [6, toHex(SYNACK6)],
        [7, toHex(SYN)],
        [7, toHex(SYNACK6)],
        [7, toHex(DNS)],
      ],
    );
  });

  test('a snaplen shorter than a packet keeps its start and its original length', () => {
    const f = parsePcap(encodePcap([SYN], 30));
    assert.equal(f.snaplen, 30);
    assert.equal(f.records[0]!.data.length, 30);
    assert.equal(f.records[0]!.origLen, SYN.length);
  });

  test('writePcap: many packets (buffer flushes on the way)', () => {
    const path = join(dir, 'many.pcap');
    const pkts = Array.from({ length: 3000 }, (_, i) =>
      udp4('198.51.100.2', 1024 + i, '203.0.113.10', 53, 'x'.repeat(i % 100)),
    );
    writePcap(path, pkts);
    const f = readPcap(path);
    assert.equal(f.records.length, 3000);
    assert.ok(f.records.every((r, i) => toHex(r.data) === toHex(pkts[i]!)));
  });
});

describe('reading other files', () => {
  const records = [
    { sec: 10, frac: 999_999, data: SYN },
    { sec: 11, frac: 1, data: DNS },
  ];

  for (const le of [true, false]) {
    for (const ns of [false, true]) {
      test(`${le ? 'little' : 'big'}-endian, ${ns ? 'nano' : 'micro'}second timestamps`, () => {
        const f = parsePcap(
          handMade({ le, magic: ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US, linktype: 101, records }),
        );
        assert.equal(f.bigEndian, !le);
        assert.equal(f.nanosecond, ns);
        assert.deepEqual(
          f.records.map((r) => [r.sec, r.nsec, toHex(r.data)]),
          [
            [10, ns ? 999_999 : 999_999_000, toHex(SYN)],
            [11, ns ? 1 : 1000, toHex(DNS)],
          ],
        );
      });
    }
  }

  test('Ethernet (with a VLAN tag), Linux SLL and SLL2 frames give the IP packet; ARP is skipped', () => {
    const mac = new Uint8Array(12).fill(0xaa);
    const eth = concat(mac, Uint8Array.of(0x08, 0x00), SYN);
    const vlan = concat(mac, Uint8Array.of(0x81, 0x00, 0x00, 0x0a, 0x86, 0xdd), SYNACK6);
    const arp = concat(mac, Uint8Array.of(0x08, 0x06), new Uint8Array(28));
    const f = parsePcap(
      handMade({
        le: true,
        magic: PCAP_MAGIC_US,
        linktype: LINKTYPE_ETHERNET,
        records: [eth, vlan, arp].map((data) => ({ sec: 0, frac: 0, data })),
      }),
    );
    assert.deepEqual(
      f.records.map((r) => toHex(r.data)),
      [toHex(SYN), toHex(SYNACK6)],
    );
    assert.equal(f.skipped, 1);
    assert.equal(f.records[0]!.origLen, SYN.length);

    const sll = concat(new Uint8Array(14), Uint8Array.of(0x08, 0x00), DNS);
    const f2 = parsePcap(
      handMade({
        le: true,
        magic: PCAP_MAGIC_US,
        linktype: LINKTYPE_LINUX_SLL,
        records: [{ sec: 0, frac: 0, data: sll }],
      }),
    );
    assert.equal(toHex(f2.records[0]!.data), toHex(DNS));

    const sll2 = concat(Uint8Array.of(0x86, 0xdd), new Uint8Array(18), SYNACK6);
    const f3 = parsePcap(
      handMade({
        le: false,
        magic: PCAP_MAGIC_US,
        linktype: LINKTYPE_LINUX_SLL2,
        records: [{ sec: 0, frac: 0, data: sll2 }],
      }),
    );
    assert.equal(toHex(f3.records[0]!.data), toHex(SYNACK6));
  });

  test('a file cut inside a record keeps the whole records before it', () => {
    const bytes = encodePcap([SYN, DNS]);
    for (const cut of [bytes.length - 1, 24 + 16 + SYN.length + 5]) {
      const f = parsePcap(bytes.subarray(0, cut));
      assert.equal(f.truncated, true);
      assert.equal(f.records.length, 1);
    }
  });

  test('not pcap: clear errors', () => {
    assert.throws(() => parsePcap(new Uint8Array(10)), PcapFormatError);
    const ng = new Uint8Array(32);
    new DataView(ng.buffer).setUint32(0, 0x0a0d0d0a);
    assert.throws(() => parsePcap(ng), /pcapng/);
    assert.throws(
      () => parsePcap(handMade({ le: true, magic: PCAP_MAGIC_US, linktype: 147, records: [] })),
      /unsupported link type 147/,
    );
  });
});

// --- tcpdump ---------------------------------------------------------------------------------

function haveTcpdump(): boolean {
  return spawnSync('sh', ['-c', 'command -v tcpdump'], { encoding: 'utf8' }).status === 0;
}

/** Installs tcpdump as root when it is missing; why it is still missing, or null. */
function ensureTcpdump(): string | null {
  if (haveTcpdump()) return null;
  if (process.getuid?.() !== 0) return 'tcpdump not installed (and installing it needs root)';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'tcpdump'], {
      env,
      stdio: 'ignore',
      timeout: 300_000,
    }).status === 0;
  if (!install()) {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 300_000 });
    if (!install()) throw new Error('apt-get install tcpdump failed');
  }
  return null;
}

test('tcpdump reads what we write', (t) => {
  if (!met(t, ensureTcpdump())) return;
  const path = join(dir, 'tcpdump.pcap');
  writePcap(path, [
    { data: SYN, timeMs: 1_700_000_000_000 },
    { data: SYNACK6, timeMs: 1_700_000_000_001 },
    { data: DNS, timeMs: 1_700_000_000_002 },
  ]);
  // As root, tcpdump would switch to its own user, which cannot write into our 0700 directory.
  const asIs = process.getuid?.() === 0 ? ['-Z', 'root'] : [];
  const out = execFileSync('tcpdump', [...asIs, '-r', path, '-n', '-tt'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 3, out);
  assert.match(
    lines[0]!,
    /^1700000000\.000000 IP 198\.51\.100\.2\.40000 > 203\.0\.113\.10\.80: Flags \[S\], seq 1000,/,
  );
  assert.match(
    lines[1]!,
    /^1700000000\.001000 IP6 2001:db8:203::10\.80 > 2001:db8:100::2\.40000: Flags \[S\.\], seq 7, ack 1001,/,
  );
  assert.match(lines[2]!, /^1700000000\.002000 IP 198\.51\.100\.2\.5353 > 203\.0\.113\.10\.53: /);

  // And we read what tcpdump writes (it re-writes our file with -w).
  const copy = join(dir, 'tcpdump-copy.pcap');
  execFileSync('tcpdump', [...asIs, '-r', path, '-w', copy], { stdio: 'ignore' });
  const f = readPcap(copy);
  assert.equal(f.linktype, LINKTYPE_RAW);
  assert.deepEqual(
    f.records.map((r) => toHex(r.data)),
    [SYN, SYNACK6, DNS].map((p) => toHex(p)),
  );
});
