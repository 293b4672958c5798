// The packet pump: on each readable wakeup, read a batch, let the engine decide, write back;
// repeat up to a budget of batches so one busy queue cannot starve the control socket, and
// continue with setImmediate when the budget ran out while packets were still waiting.
//
// PacketIo is the shape every packet source has (TunIo, MemoryIo); PumpEngine is the part of
// the engine the pump needs, so the pump is testable with a fake engine.

import type { PacketBatch } from '../dataplane/batch.js';

/** Counters kept by every PacketIo. Plain numbers, updated in place. */
export interface IoCounters {
  /** Packets read into batches. */
  rx: number;
  /** Packets written. */
  tx: number;
  /** Packets with verdict TX that were not written (queue full, or a failed write). */
  txDrop: number;
  /** Failed reads and writes, and packets dropped for not fitting a slot. */
  errors: number;
}

export function newIoCounters(): IoCounters {
  return { rx: 0, tx: 0, txDrop: 0, errors: 0 };
}

export interface PacketIo {
  /**
   * Fills `batch` from slot 0 with the packets waiting (at most its capacity), sets
   * `batch.count` and resets their verdicts to DROP. Returns the count; 0 when nothing waits.
   * Fewer than `batch.capacity` means the source was drained at that moment.
   */
  readInto(batch: PacketBatch): number;
  /** Writes every packet of the batch whose verdict is TX; returns the number written. */
  writeFrom(batch: PacketBatch): number;
  /** Calls `cb` from the event loop whenever packets are waiting (level-triggered). */
  onReadable(cb: (err?: Error) => void): void;
  /** Stops notifications and releases the source; safe to call more than once. */
  close(): void;
  readonly counters: IoCounters;
}

export interface PumpEngine {
  process(batch: PacketBatch, now: number): void;
  /** Engine time in ms, read once per batch. */
  now(): number;
}

export interface PumpOptions {
  /** Batches per wakeup before yielding to the event loop (default 16). */
  maxBatches?: number;
  /** Called with a polling error (e.g. EBADF); default: throw it (uncaught). */
  onError?: (err: Error) => void;
}

export interface PumpCounters {
  /** Calls of run(): readable wakeups plus continuations. */
  wakeups: number;
  /** Batches that held at least one packet. */
  batches: number;
  packets: number;
  /** Wakeups that spent their budget with packets still waiting (continued by setImmediate). */
  yields: number;
}

export class Pump {
  readonly io: PacketIo;
  readonly engine: PumpEngine;
  readonly batch: PacketBatch;
  readonly maxBatches: number;
  readonly counters: PumpCounters = { wakeups: 0, batches: 0, packets: 0, yields: 0 };
  private readonly onError: ((err: Error) => void) | undefined;
  private started = false;
  private stopped = false;
  private immediate: NodeJS.Immediate | undefined;
  // Made once, so a wakeup allocates nothing but what setImmediate itself does.
  private readonly continueRun = (): void => {
    this.immediate = undefined;
    this.run();
  };
  private readonly readable = (err?: Error): void => {
    if (err) {
      if (this.onError) this.onError(err);
      else throw err;
      return;
    }
    this.run();
  };

  constructor(io: PacketIo, engine: PumpEngine, batch: PacketBatch, options: PumpOptions = {}) {
    const maxBatches = options.maxBatches ?? 16;
    if (!Number.isInteger(maxBatches) || maxBatches < 1) {
      throw new RangeError('maxBatches must be a positive integer');
    }
    this.io = io;
    this.engine = engine;
    this.batch = batch;
    this.maxBatches = maxBatches;
    this.onError = options.onError;
  }

  /** Subscribes to the source's readable notifications. */
  start(): void {
    if (this.started) throw new Error('pump already started');
    this.started = true;
    this.io.onReadable(this.readable);
  }

  /**
   * One wakeup: up to maxBatches read/process/write rounds. Returns the packets handled.
   * If the budget ran out with the last batch full, the rest follows in a setImmediate.
   */
  run(): number {
    if (this.stopped) return 0;
    this.counters.wakeups++;
    const { io, engine, batch } = this;
    let total = 0;
    for (let b = 0; b < this.maxBatches; b++) {
      const n = io.readInto(batch);
      if (n === 0) return total;
      engine.process(batch, engine.now());
      io.writeFrom(batch);
      total += n;
      this.counters.batches++;
      this.counters.packets += n;
      if (n < batch.capacity) return total; // drained
    }
    this.counters.yields++;
    if (this.immediate === undefined) this.immediate = setImmediate(this.continueRun);
    return total;
  }

  /** Stops processing (a pending continuation is cancelled). Does not close the source. */
  stop(): void {
    this.stopped = true;
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
  }
}
