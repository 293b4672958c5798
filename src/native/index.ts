// Loads the native addon (src/native/tun.c, built to build/Release/lvsadm_native.node) and gives
// it a typed face. Loading is lazy: importing this module never fails, so code paths that run
// without TUN (the in-memory adapter, unit tests) work without the addon.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Slots of the `stats` Float64Array that readBatch/writeBatch add to (see tun.c). */
export const STAT_RX_TRUNC = 0; // packet longer than the slot: dropped
export const STAT_RX_ERR = 1; // read failed (not EAGAIN): the batch stops there
export const STAT_TX_ERR = 2; // write failed (not EAGAIN): that packet is lost, the batch goes on
export const STAT_TX_AGAIN = 3; // TX packets left unwritten because a write answered EAGAIN
export const STAT_LAST_ERRNO = 4; // errno of the last failure counted above
export const STAT_SLOTS = 5;

/** Bytes of one struct virtio_net_hdr: the per-slot header in readBatch/writeBatch's `vnet`. */
export const VNET_HDR_LEN = 10;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface PollHandle {
  /** Stops polling and closes the uv handle; safe to call more than once. */
  stop(): void;
}

/** An Error thrown by the addon for a failed system call. */
export interface NativeErrnoError extends Error {
  /** errno name, e.g. 'EPERM'. */
  code: string;
  /** Negative errno, as Node's own system errors. */
  errno: number;
  syscall: string;
}

export interface NativeAddon {
  /**
   * Opens /dev/net/tun (non-blocking, close-on-exec) and attaches it to TUN device `name`
   * (IFF_TUN | IFF_NO_PI, plus IFF_MULTI_QUEUE when `multiQueue`): creates the device if needed.
   * Opening a multi-queue device again gives another queue. Returns the fd.
   *
   * With `vnetHdr`: also IFF_VNET_HDR, TUNSETVNETHDRSZ 10 and TUNSETOFFLOAD TUN_F_CSUM |
   * TUN_F_TSO4 | TUN_F_TSO6, so every packet on the fd carries a virtio_net_hdr and the kernel
   * hands over TCP GSO packets up to 64 KB with partial checksums. Read and write such an fd
   * only with `vnet` given. The flag is the device's: open every queue the same way.
   */
  open(name: string, multiQueue: boolean, vnetHdr?: boolean): number;
  close(fd: number): void;
  setNonBlocking(fd: number, on?: boolean): void;
  /**
   * Reads packets until EAGAIN or `max` packets: packet k goes to slot `start + k`, at
   * `(start+k)*slotSize + headroom`, setting offs/lens there. Packets that do not fit the slot
   * (longer than slotSize - headroom) are dropped and counted in stats[STAT_RX_TRUNC].
   * Returns the number of packets read; 0 when nothing was waiting.
   *
   * On an fd opened with vnetHdr, `vnet` is required: VNET_HDR_LEN bytes per slot (slot i at
   * i*VNET_HDR_LEN) where each packet's virtio_net_hdr is kept as read, for writeBatch. Then
   * `csum[i]` is set to 1 when the header says VIRTIO_NET_HDR_F_NEEDS_CSUM (the L4 checksum
   * field holds only the folded pseudo-header sum), else 0, and `gso[i]` to its gso_size for
   * a GSO packet, else 0. Without `vnet`, given csum/gso entries are set to 0.
   */
  readBatch(
    fd: number,
    buf: Uint8Array,
    offs: Uint32Array,
    lens: Uint32Array,
    slotSize: number,
    headroom: number,
    max: number,
    start?: number,
    stats?: Float64Array | null,
    vnet?: Uint8Array | null,
    csum?: Uint8Array | null,
    gso?: Uint16Array | null,
  ): number;
  /**
   * Writes packets 0..count-1 whose verdict is 1 (all when `verdicts` is null), one write(2)
   * each. Stops at the first EAGAIN (the rest are added to stats[STAT_TX_AGAIN]); other errors
   * are counted in stats[STAT_TX_ERR] and the batch goes on. Returns the number written.
   *
   * On an fd opened with vnetHdr, `vnet` is required (as for readBatch) and each packet is
   * written with writev(header, packet): the slot's saved header when `csum[i]` is 1 (a packet
   * left partial keeps its checksum and GSO instructions, ECN bit included), a zeroed one
   * (no flags, GSO_NONE) when it is 0 or `csum` is absent. So a batch never read needs no
   * saved headers as long as its packets are complete.
   */
  writeBatch(
    fd: number,
    buf: Uint8Array,
    offs: Uint32Array,
    lens: Uint32Array,
    verdicts: Uint8Array | null,
    count: number,
    stats?: Float64Array | null,
    vnet?: Uint8Array | null,
    csum?: Uint8Array | null,
  ): number;
  /**
   * Calls `callback` from the event loop whenever `fd` is readable (level-triggered), with an
   * Error argument if polling failed. The handle keeps the loop alive until stopped.
   * Stop it before closing the fd.
   */
  poll(fd: number, callback: (err?: Error) => void): PollHandle;
  /** SO_PEERCRED of a connected unix socket. */
  getPeerCred(fd: number): PeerCred;
  /**
   * Takes an exclusive flock(2) on `fd` without waiting: true when taken (or already held through
   * this open file), false when another open file holds it. Released when the fd closes or the
   * process dies.
   */
  tryLock(fd: number): boolean;
}

export const ADDON_FILE = 'build/Release/lvsadm_native.node';

export class NativeMissingError extends Error {
  readonly code = 'NATIVE_MISSING';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`lvsadm native addon not loaded: ${detail}; run npm run build:native`, options);
    this.name = 'NativeMissingError';
  }
}

/**
 * The package root: the nearest directory above this file with binding.gyp, so the same code
 * works from src/native/ (tsx) and dist/src/native/ (compiled).
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new NativeMissingError(`no binding.gyp above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let cached: NativeAddon | undefined;

/** The addon, loaded on first use. Throws NativeMissingError when it is not built. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const file = join(packageRoot(), ADDON_FILE);
  if (!existsSync(file)) throw new NativeMissingError(`${file} not found`);
  try {
    cached = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    throw new NativeMissingError(`${file}: ${(e as Error).message}`, { cause: e });
  }
  return cached;
}

/** True when the addon is built and loads. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
