// Packet I/O on a TUN device through the native addon: one or more queues of one device,
// batched reads straight into a PacketBatch's slots and batched writes straight out of them.
//
// With several queues (IFF_MULTI_QUEUE), readInto drains them in rotating order into one
// batch and writeFrom writes the batch to one queue, rotating per batch. Any queue may carry
// any packet: the kernel steers a flow to the queue that last wrote it, but not for the
// first reply (DESIGN.md, LB host plumbing), so nothing here depends on which queue is which.
//
// With `offload`, the queues carry a virtio_net_hdr per packet (TUNSETOFFLOAD): the kernel
// hands over TCP GSO packets up to 64 KB with partial checksums instead of one MTU packet per
// read, which is what bulk TCP needs. batch.csum/batch.gso tell the engine; each packet's
// header is kept in a per-batch array (made on the first use of a batch, so nothing is
// allocated in steady state) and written back with the packet when it is still partial.

import type { PacketBatch } from '../dataplane/batch.js';
import { VERDICT_DROP } from '../dataplane/batch.js';
import {
  loadNative,
  type NativeAddon,
  type PollHandle,
  STAT_RX_ERR,
  STAT_RX_TRUNC,
  STAT_SLOTS,
  STAT_TX_AGAIN,
  STAT_TX_ERR,
  VNET_HDR_LEN,
} from '../native/index.js';
import { type IoCounters, newIoCounters, type PacketIo } from './pump.js';

export interface TunIoOptions {
  /** TUN device name (created if it does not exist; 1 to 15 bytes). */
  name: string;
  /** Queues to open (default 1). */
  queues?: number;
  /** Open with IFF_MULTI_QUEUE (default: when queues > 1). A device keeps the flag it was made with. */
  multiQueue?: boolean;
  /**
   * Checksum and segmentation offload (default false): batches read then hold GSO packets up to
   * 64 KB and partial checksums (batch.csum, batch.gso). Batches read need slots of at least
   * OFFLOAD_SLOT_SIZE; batches only written (the engine's own packets) may be of any size, and
   * their packets must be complete (csum 0): they go out with a zeroed header.
   */
  offload?: boolean;
  /** The addon to use (default: loadNative()). */
  native?: NativeAddon;
}

/** Headroom for offload batches: TOA may grow a header by up to 20 bytes into it. */
export const OFFLOAD_HEADROOM = 128;
/** Slot size for batches read with offload: a 64 KB GSO packet, the headroom, and spare. */
export const OFFLOAD_SLOT_SIZE = 65536 + 256;
/** Largest IP packet the kernel hands over with offload (the IPv4 total length field). */
const OFFLOAD_MAX_PACKET = 65535;

export class TunIo implements PacketIo {
  readonly name: string;
  readonly multiQueue: boolean;
  /** Opened with offload: packets carry a virtio_net_hdr (see TunIoOptions.offload). */
  readonly offload: boolean;
  /** One fd per queue; empty once closed. */
  readonly fds: number[];
  readonly counters: IoCounters = newIoCounters();
  /** The addon's failure counters (slots STAT_* of native/index.ts), summed over all queues. */
  readonly stats = new Float64Array(STAT_SLOTS);
  private readonly native: NativeAddon;
  private readonly polls: PollHandle[] = [];
  private rxNext = 0;
  private txNext = 0;
  /** Offload: each batch's virtio_net_hdr per slot, as read (zeroed for a batch never read). */
  private readonly vnets = new WeakMap<PacketBatch, Uint8Array>();

  private constructor(
    native: NativeAddon,
    name: string,
    multiQueue: boolean,
    offload: boolean,
    fds: number[],
  ) {
    this.native = native;
    this.name = name;
    this.multiQueue = multiQueue;
    this.offload = offload;
    this.fds = fds;
  }

  /** Opens the queues; if one fails, the ones already open are closed and the error thrown. */
  static open(options: TunIoOptions): TunIo {
    const native = options.native ?? loadNative();
    const queues = options.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1) throw new RangeError('queues must be a positive integer');
    const multiQueue = options.multiQueue ?? queues > 1;
    if (queues > 1 && !multiQueue) throw new RangeError('more than one queue needs multiQueue');
    const offload = options.offload ?? false;
    const fds: number[] = [];
    try {
      for (let q = 0; q < queues; q++) fds.push(native.open(options.name, multiQueue, offload));
    } catch (e) {
      for (const fd of fds) native.close(fd);
      throw e;
    }
    return new TunIo(native, options.name, multiQueue, offload, fds);
  }

  get closed(): boolean {
    return this.fds.length === 0;
  }

  /** Polls every queue; `cb` runs whenever one is readable. One subscription per TunIo. */
  onReadable(cb: (err?: Error) => void): void {
    if (this.closed) throw new Error(`${this.name}: closed`);
    if (this.polls.length > 0) throw new Error(`${this.name}: already polled`);
    try {
      for (const fd of this.fds) this.polls.push(this.native.poll(fd, cb));
    } catch (e) {
      this.stopPolling();
      throw e;
    }
  }

  readInto(batch: PacketBatch): number {
    const fds = this.fds;
    const q = fds.length;
    let n = 0;
    if (q > 0) {
      const s = this.stats;
      const cap = batch.capacity;
      const vnet = this.offload ? this.vnetFor(batch, true) : null;
      for (let k = 0; k < q && n < cap; k++) {
        const fd = fds[(this.rxNext + k) % q]!;
        n += this.native.readBatch(
          fd,
          batch.buf,
          batch.off,
          batch.len,
          batch.slotSize,
          batch.headroom,
          cap - n,
          n,
          s,
          vnet,
          batch.csum, // set to 0 without offload, so the flags never go stale
          batch.gso,
        );
      }
      if (q > 1) this.rxNext = (this.rxNext + 1) % q;
      batch.verdict.fill(VERDICT_DROP, 0, n);
      this.counters.rx += n;
      this.counters.errors = s[STAT_RX_TRUNC]! + s[STAT_RX_ERR]! + s[STAT_TX_ERR]!;
    }
    batch.count = n;
    return n;
  }

  writeFrom(batch: PacketBatch): number {
    const fds = this.fds;
    const q = fds.length;
    if (q === 0 || batch.count === 0) return 0;
    const s = this.stats;
    const fd = fds[this.txNext]!;
    if (q > 1) this.txNext = (this.txNext + 1) % q;
    const vnet = this.offload ? this.vnetFor(batch, false) : null;
    const w = this.native.writeBatch(
      fd,
      batch.buf,
      batch.off,
      batch.len,
      batch.verdict,
      batch.count,
      s,
      vnet,
      vnet === null ? null : batch.csum,
    );
    const c = this.counters;
    c.tx += w;
    c.txDrop = s[STAT_TX_AGAIN]! + s[STAT_TX_ERR]!;
    c.errors = s[STAT_RX_TRUNC]! + s[STAT_RX_ERR]! + s[STAT_TX_ERR]!;
    return w;
  }

  /** Stops polling and closes every queue; the device goes away with its last queue. */
  close(): void {
    this.stopPolling();
    const fds = this.fds.splice(0);
    let first: unknown;
    for (const fd of fds) {
      try {
        this.native.close(fd);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  /** The batch's header array, made on its first use. A batch read must take a 64 KB packet. */
  private vnetFor(batch: PacketBatch, reading: boolean): Uint8Array {
    if (reading && batch.mtu < OFFLOAD_MAX_PACKET) {
      // Every GSO packet would be dropped as truncated: say so at once instead.
      throw new RangeError(
        `${this.name}: offload reads need slots of ${OFFLOAD_MAX_PACKET} bytes after the headroom (OFFLOAD_SLOT_SIZE), got ${batch.mtu}`,
      );
    }
    let vnet = this.vnets.get(batch);
    if (vnet === undefined) {
      vnet = new Uint8Array(batch.capacity * VNET_HDR_LEN);
      this.vnets.set(batch, vnet);
    }
    return vnet;
  }

  private stopPolling(): void {
    for (const p of this.polls.splice(0)) p.stop();
  }
}
