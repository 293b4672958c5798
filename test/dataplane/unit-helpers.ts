// Shared helpers for the engine building-block unit tests (timers, laddr-pool, addr4-map,
// checksum, fullnat-rewrite, parse, tcp-states, persistence).
import fc from 'fast-check';
import { formatIp } from '../support/packet-builder.js';

/** Seed for every property test of these files, so a failure reproduces run after run. */
export const SEED = 0x1f2e3d4c;

/** fast-check parameters: the fixed seed and a number of runs. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns };
}

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Random IPv4 address as dotted-quad text. */
export const addr4Text: fc.Arbitrary<string> = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);

/** Random IPv6 address as canonical text (zero groups are common, so `::` runs happen). */
export const addr6Text: fc.Arbitrary<string> = fc
  .array(fc.oneof(fc.constant(0), u16), { minLength: 8, maxLength: 8 })
  .map((g) => {
    const b = new Uint8Array(16);
    g.forEach((x, i) => {
      b[2 * i] = x >>> 8;
      b[2 * i + 1] = x & 0xff;
    });
    return formatIp(b);
  });

/**
 * Copies `bytes` into a larger buffer at offset `pad` (with junk around it) and returns a
 * DataView over the whole buffer, so code under test must honour its offsets.
 */
export function viewAt(bytes: Uint8Array, pad: number, tail = 7): { dv: DataView; buf: Uint8Array } {
  const buf = new Uint8Array(pad + bytes.length + tail).fill(0xa5);
  buf.set(bytes, pad);
  return { dv: new DataView(buf.buffer, buf.byteOffset, buf.byteLength), buf };
}

/** Four uint32 words (network order) of 4- or 16-byte address bytes; IPv4 in word 0. */
export function wordsOf(addr: Uint8Array): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < addr.length / 4; i++) {
    w[i] =
      ((addr[4 * i]! << 24) | (addr[4 * i + 1]! << 16) | (addr[4 * i + 2]! << 8) | addr[4 * i + 3]!) >>> 0;
  }
  return w;
}
