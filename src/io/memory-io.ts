// An in-memory PacketIo for daemon and pump tests: packets pushed in are read like a TUN
// queue's, TX packets are collected as copies. It behaves as TunIo does at the edges: packets
// longer than a slot are dropped and counted, a full "queue" (txRoom) stops a write batch and
// the rest counts as tx drops, and readable notifications are level-triggered.

import type { PacketBatch } from '../dataplane/batch.js';
import { VERDICT_DROP, VERDICT_TX } from '../dataplane/batch.js';
import { type IoCounters, newIoCounters, type PacketIo } from './pump.js';

export class MemoryIo implements PacketIo {
  readonly counters: IoCounters = newIoCounters();
  /** Packets written, in order (copies). take() empties it. */
  readonly output: Uint8Array[] = [];
  /** Packets accepted by writes before they answer "queue full" (EAGAIN); Infinity by default. */
  txRoom = Number.POSITIVE_INFINITY;
  private input: Uint8Array[] = [];
  private head = 0;
  private readable: ((err?: Error) => void) | undefined;
  private notifyPending: NodeJS.Immediate | undefined;
  private idleWaiters: (() => void)[] = [];
  private isClosed = false;
  private readonly notify = (): void => {
    this.notifyPending = undefined;
    if (this.isClosed) return;
    if (this.pending > 0 && this.readable) this.readable();
    if (this.pending > 0) this.schedule();
    else this.wakeIdle();
  };

  /** Packets waiting to be read. */
  get pending(): number {
    return this.input.length - this.head;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Queues packets to be read (kept by reference until read). */
  push(...packets: Uint8Array[]): void {
    if (this.isClosed) throw new Error('MemoryIo: closed');
    for (const p of packets) this.input.push(p);
    this.schedule();
  }

  /** Returns the packets written so far and forgets them. */
  take(): Uint8Array[] {
    return this.output.splice(0);
  }

  /**
   * Resolves once every pushed packet has been read and notifications have settled (never,
   * while nothing reads: subscribe with onReadable first).
   */
  idle(): Promise<void> {
    if (this.pending === 0 && this.notifyPending === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  onReadable(cb: (err?: Error) => void): void {
    if (this.isClosed) throw new Error('MemoryIo: closed');
    if (this.readable) throw new Error('MemoryIo: already polled');
    this.readable = cb;
    this.schedule();
  }

  readInto(batch: PacketBatch): number {
    batch.count = 0;
    const input = this.input;
    const mtu = batch.mtu;
    let n = 0;
    while (n < batch.capacity && this.head < input.length) {
      const pkt = input[this.head]!;
      input[this.head++] = EMPTY; // let the packet go
      if (pkt.length > mtu || pkt.length === 0) {
        this.counters.errors++; // as a TUN read: too long for the slot, dropped
        continue;
      }
      const o = batch.slotStart(n);
      batch.buf.set(pkt, o);
      batch.off[n] = o;
      batch.len[n] = pkt.length;
      batch.verdict[n] = VERDICT_DROP;
      n++;
    }
    if (this.head === input.length) {
      this.input = [];
      this.head = 0;
    }
    batch.count = n;
    this.counters.rx += n;
    return n;
  }

  writeFrom(batch: PacketBatch): number {
    const c = this.counters;
    let w = 0;
    for (let i = 0; i < batch.count; i++) {
      if (batch.verdict[i] !== VERDICT_TX) continue;
      if (this.txRoom <= 0) {
        c.txDrop++; // the rest of the batch after "EAGAIN"
        continue;
      }
      this.txRoom--;
      this.output.push(batch.packet(i).slice());
      w++;
    }
    c.tx += w;
    return w;
  }

  close(): void {
    this.isClosed = true;
    this.readable = undefined;
    if (this.notifyPending !== undefined) {
      clearImmediate(this.notifyPending);
      this.notifyPending = undefined;
    }
    this.input = [];
    this.head = 0;
    this.wakeIdle();
  }

  private schedule(): void {
    if (this.notifyPending === undefined && this.readable && this.pending > 0) {
      this.notifyPending = setImmediate(this.notify);
    }
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

const EMPTY = new Uint8Array(0);
