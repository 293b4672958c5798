// Classic pcap files (not pcapng), so engine traffic can be replayed from captures and looked
// at with tcpdump or tshark.
//
// Writing: little-endian, microsecond timestamps, LINKTYPE_RAW (101): each record is a bare
// IPv4 or IPv6 packet, as a TUN carries them.
// Reading: either byte order, microsecond or nanosecond timestamps; records of LINKTYPE_RAW,
// LINKTYPE_IPV4/IPV6, Ethernet (with up to two VLAN tags) and Linux cooked captures (SLL, SLL2,
// as `tcpdump -i any` writes) come back as bare IP packets; records that carry no IP are
// skipped and counted.
//
//   global header (24 bytes)              record header (16 bytes), then incl_len bytes
//   +-------------------------------+     +-------------------------------+
//   | magic            0xa1b2c3d4   |     | ts_sec                        |
//   | major 2 | minor 4             |     | ts_usec (ts_nsec: 0xa1b23c4d) |
//   | thiszone (0)                  |     | incl_len                      |
//   | sigfigs (0)                   |     | orig_len                      |
//   | snaplen                       |     +-------------------------------+
//   | linktype                      |
//   +-------------------------------+

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { PacketBatch } from '../dataplane/batch.js';
import { VERDICT_TX } from '../dataplane/batch.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const PCAP_SNAPLEN = 65535;

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

export interface PcapRecord {
  /** Capture time: seconds and nanoseconds (microsecond files give multiples of 1000). */
  sec: number;
  nsec: number;
  /** Length of the packet on the wire (without the link header), >= data.length when cut by snaplen. */
  origLen: number;
  /** The IP packet: a view into the file's bytes (no copy). */
  data: Uint8Array;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  nanosecond: boolean;
  bigEndian: boolean;
  records: PcapRecord[];
  /** Records skipped because they carry no IPv4/IPv6 packet. */
  skipped: number;
  /** The file ends inside a record (a capture cut off): the records before it are returned. */
  truncated: boolean;
}

export class PcapFormatError extends Error {
  readonly code = 'PCAP_FORMAT';
  constructor(message: string) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

/** Parses a classic pcap file held in memory. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < PCAP_HEADER_LEN) throw new PcapFormatError('not a pcap file: shorter than its header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = dv.getUint32(0, true);
  let le: boolean;
  let nanosecond: boolean;
  if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
    le = true;
    nanosecond = magicLe === PCAP_MAGIC_NS;
  } else {
    const magicBe = dv.getUint32(0, false);
    if (magicBe !== PCAP_MAGIC_US && magicBe !== PCAP_MAGIC_NS) {
      const hint = magicBe === 0x0a0d0d0a ? ' (pcapng: convert with editcap -F pcap)' : '';
      throw new PcapFormatError(`not a pcap file: magic 0x${magicBe.toString(16).padStart(8, '0')}${hint}`);
    }
    le = false;
    nanosecond = magicBe === PCAP_MAGIC_NS;
  }
  const major = dv.getUint16(4, le);
  if (major !== 2) throw new PcapFormatError(`unsupported pcap version ${major}`);
  const snaplen = dv.getUint32(16, le);
  const linktype = dv.getUint32(20, le) & 0xffff; // upper bits: FCS length flags
  const strip = linkStripper(linktype);
  if (!strip) throw new PcapFormatError(`unsupported link type ${linktype}`);

  const records: PcapRecord[] = [];
  let skipped = 0;
  let truncated = false;
  let o = PCAP_HEADER_LEN;
  while (o < bytes.length) {
    if (o + PCAP_RECORD_HEADER_LEN > bytes.length) {
      truncated = true;
      break;
    }
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const incl = dv.getUint32(o + 8, le);
    const orig = dv.getUint32(o + 12, le);
    o += PCAP_RECORD_HEADER_LEN;
    if (o + incl > bytes.length) {
      truncated = true;
      break;
    }
    const frame = bytes.subarray(o, o + incl);
    o += incl;
    const hdr = strip(frame);
    if (hdr < 0) {
      skipped++;
      continue;
    }
    records.push({
      sec,
      nsec: nanosecond ? frac : frac * 1000,
      origLen: Math.max(orig - hdr, incl - hdr),
      data: frame.subarray(hdr),
    });
  }
  return { linktype, snaplen, nanosecond, bigEndian: !le, records, skipped, truncated };
}

/** Reads and parses a pcap file. */
export function readPcap(path: string): PcapFile {
  return parsePcap(readFileSync(path));
}

/** Link header length of a frame carrying IPv4/IPv6, or -1; undefined for unknown link types. */
function linkStripper(linktype: number): ((frame: Uint8Array) => number) | undefined {
  switch (linktype) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return (f) => (f.length > 0 && (f[0]! >> 4 === 4 || f[0]! >> 4 === 6) ? 0 : -1);
    case LINKTYPE_ETHERNET:
      return (f) => {
        let o = 12;
        let type = be16(f, o);
        for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ); tags++) {
          o += 4;
          type = be16(f, o);
        }
        return isIpType(type) ? o + 2 : -1;
      };
    case LINKTYPE_LINUX_SLL:
      return (f) => (isIpType(be16(f, 14)) ? 16 : -1);
    case LINKTYPE_LINUX_SLL2:
      return (f) => (f.length >= 20 && isIpType(be16(f, 0)) ? 20 : -1);
    default:
      return undefined;
  }
}

function be16(f: Uint8Array, o: number): number {
  return o + 2 <= f.length ? (f[o]! << 8) | f[o + 1]! : -1;
}

function isIpType(t: number): boolean {
  return t === ETHERTYPE_IPV4 || t === ETHERTYPE_IPV6;
}

function fileHeader(snaplen: number, linktype: number): Uint8Array {
  const h = new Uint8Array(PCAP_HEADER_LEN);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, PCAP_MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, snaplen, true);
  dv.setUint32(20, linktype, true);
  return h;
}

/** Writes one record header at `o`: time in ms (fractions kept to the microsecond). */
function recordHeader(dv: DataView, o: number, timeMs: number, incl: number, orig: number): void {
  let sec = Math.floor(timeMs / 1000);
  let usec = Math.round((timeMs - sec * 1000) * 1000);
  if (usec >= 1_000_000) {
    sec++;
    usec -= 1_000_000;
  }
  dv.setUint32(o, sec >>> 0, true);
  dv.setUint32(o + 4, usec, true);
  dv.setUint32(o + 8, incl, true);
  dv.setUint32(o + 12, orig, true);
}

export interface PcapPacket {
  data: Uint8Array;
  /** Capture time in ms since the epoch (default: the packet's index, in ms from 0). */
  timeMs?: number;
}

/** A whole LINKTYPE_RAW pcap file in memory. */
export function encodePcap(packets: Iterable<Uint8Array | PcapPacket>, snaplen = PCAP_SNAPLEN): Uint8Array {
  const list = [...packets].map((p, i) =>
    p instanceof Uint8Array ? { data: p, timeMs: i } : { data: p.data, timeMs: p.timeMs ?? i },
  );
  let size = PCAP_HEADER_LEN;
  for (const p of list) size += PCAP_RECORD_HEADER_LEN + Math.min(p.data.length, snaplen);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(fileHeader(snaplen, LINKTYPE_RAW), 0);
  let o = PCAP_HEADER_LEN;
  for (const p of list) {
    const incl = Math.min(p.data.length, snaplen);
    recordHeader(dv, o, p.timeMs, incl, p.data.length);
    o += PCAP_RECORD_HEADER_LEN;
    out.set(p.data.subarray(0, incl), o);
    o += incl;
  }
  return out;
}

/**
 * Appends LINKTYPE_RAW records to a file, through a 64 KiB buffer: call flush() to see them in
 * the file before close().
 */
export class PcapWriter {
  readonly path: string;
  readonly snaplen: number;
  /** Records written. */
  count = 0;
  private fd: number;
  private readonly buf: Uint8Array;
  private readonly dv: DataView;
  private used = 0;

  constructor(path: string, snaplen = PCAP_SNAPLEN) {
    this.path = path;
    this.snaplen = snaplen;
    this.buf = new Uint8Array(Math.max(64 * 1024, snaplen + PCAP_RECORD_HEADER_LEN));
    this.dv = new DataView(this.buf.buffer);
    this.fd = openSync(path, 'w');
    writeSync(this.fd, fileHeader(snaplen, LINKTYPE_RAW));
  }

  /** Appends one packet; `timeMs` defaults to now. */
  write(data: Uint8Array, timeMs: number = Date.now()): void {
    if (this.fd < 0) throw new Error(`${this.path}: pcap writer closed`);
    const incl = Math.min(data.length, this.snaplen);
    if (this.used + PCAP_RECORD_HEADER_LEN + incl > this.buf.length) this.flush();
    recordHeader(this.dv, this.used, timeMs, incl, data.length);
    this.used += PCAP_RECORD_HEADER_LEN;
    this.buf.set(incl === data.length ? data : data.subarray(0, incl), this.used);
    this.used += incl;
    this.count++;
  }

  /** Appends the batch's packets: only those with verdict TX unless `all`. */
  writeBatch(batch: PacketBatch, all = false, timeMs: number = Date.now()): void {
    for (let i = 0; i < batch.count; i++) {
      if (!all && batch.verdict[i] !== VERDICT_TX) continue;
      this.write(batch.packet(i), timeMs);
    }
  }

  flush(): void {
    if (this.used > 0 && this.fd >= 0) {
      let done = 0;
      while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
      this.used = 0;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}

/** Writes a whole LINKTYPE_RAW pcap file. */
export function writePcap(path: string, packets: Iterable<Uint8Array | PcapPacket>): void {
  const w = new PcapWriter(path);
  try {
    for (const p of packets) {
      if (p instanceof Uint8Array) w.write(p, w.count);
      else w.write(p.data, p.timeMs ?? w.count);
    }
  } finally {
    w.close();
  }
}
