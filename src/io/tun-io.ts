// Packet I/O on a TUN device through the native addon: one or more queues of one device,
// batched reads straight into a PacketBatch's slots and batched writes straight out of them.
//
// With several queues (IFF_MULTI_QUEUE), readInto drains them in rotating order into one
// batch and writeFrom writes the batch to one queue, rotating per batch. Any queue may carry
// any packet: the kernel steers a flow to the queue that last wrote it, but not for the
// first reply (DESIGN.md, LB host plumbing), so nothing here depends on which queue is which.

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
} from '../native/index.js';
import { type IoCounters, newIoCounters, type PacketIo } from './pump.js';

export interface TunIoOptions {
  /** TUN device name (created if it does not exist; 1 to 15 bytes). */
  name: string;
  /** Queues to open (default 1). */
  queues?: number;
  /** Open with IFF_MULTI_QUEUE (default: when queues > 1). A device keeps the flag it was made with. */
  multiQueue?: boolean;
  /** The addon to use (default: loadNative()). */
  native?: NativeAddon;
}

export class TunIo implements PacketIo {
  readonly name: string;
  readonly multiQueue: boolean;
  /** One fd per queue; empty once closed. */
  readonly fds: number[];
  readonly counters: IoCounters = newIoCounters();
  /** The addon's failure counters (slots STAT_* of native/index.ts), summed over all queues. */
  readonly stats = new Float64Array(STAT_SLOTS);
  private readonly native: NativeAddon;
  private readonly polls: PollHandle[] = [];
  private rxNext = 0;
  private txNext = 0;

  private constructor(native: NativeAddon, name: string, multiQueue: boolean, fds: number[]) {
    this.native = native;
    this.name = name;
    this.multiQueue = multiQueue;
    this.fds = fds;
  }

  /** Opens the queues; if one fails, the ones already open are closed and the error thrown. */
  static open(options: TunIoOptions): TunIo {
    const native = options.native ?? loadNative();
    const queues = options.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1) throw new RangeError('queues must be a positive integer');
    const multiQueue = options.multiQueue ?? queues > 1;
    if (queues > 1 && !multiQueue) throw new RangeError('more than one queue needs multiQueue');
    const fds: number[] = [];
    try {
      for (let q = 0; q < queues; q++) fds.push(native.open(options.name, multiQueue));
    } catch (e) {
      for (const fd of fds) native.close(fd);
      throw e;
    }
    return new TunIo(native, options.name, multiQueue, fds);
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
    const w = this.native.writeBatch(fd, batch.buf, batch.off, batch.len, batch.verdict, batch.count, s);
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

  private stopPolling(): void {
    for (const p of this.polls.splice(0)) p.stop();
  }
}
