// Engine configuration: every field has a default and a line saying what it is for.
import { getRandomValues } from 'node:crypto';
import { DEFAULT_TIMEOUTS_S, defaultEngineKnobs, type EngineKnobs } from '../common/vocabulary.js';

export interface EngineConfig {
  /** Most live connections; new ones beyond it are refused and counted (drop_conn_limit). */
  connCapacity: number;
  /** Most services (virtual servers) at once. */
  maxServices: number;
  /** Most real servers over all services, including deleted ones still draining connections. */
  maxDests: number;
  /** Most distinct local addresses (LIPs); each costs 512 KiB of port tables. */
  maxLaddrs: number;
  /**
   * Most (LIP, real-server address and port) pairs whose port use is counted at once (-G's
   * PORTS, laddr_ports_low); about 33 bytes of table each. A pair beyond it still gets ports.
   */
  maxLaddrTuples: number;
  /** FULLNAT local port range, inclusive. */
  lportMin: number;
  lportMax: number;
  /**
   * Start each LIP's port cursor at a random port (from `seed`) instead of lportMin, so a restart
   * does not reuse the tuples the previous run just closed (the daemon turns this on).
   */
  lportRandomStart: boolean;
  /** Per-state timeouts in seconds, indexed by S_* (tcp-states.ts); S_UDP is the UDP timeout. */
  timeouts: number[];
  /** Expiry wheel: slots (power of two) and milliseconds per slot. */
  wheelSlots: number;
  wheelGranularityMs: number;
  /** Most connections expired by one tick(); the rest wait for the next tick. */
  expireBudget: number;
  /** Most persistence templates (client networks remembered by persistent services). */
  maxTemplates: number;
  /** Fragmented datagrams tracked at once (first fragment seen, later ones expected). */
  fragEntries: number;
  /** Largest IP packet the engine may emit (a TOA insertion beyond it is skipped and counted). */
  mtu: number;
  /** Use the hand-inlined IPv4 fast path (off only to compare it with the full path). */
  fastPath: boolean;
  /** Default Maglev table size (a prime). */
  mhTableSize: number;
  /** The knobs the sysctls set: SYNPROXY's (Alibaba LVS defaults), expire_*, closing timeouts. */
  knobs: EngineKnobs;
  /** SYN cookie secret (4 words); random unless a test fixes it. Rotate with rotateCookieSecret(). */
  cookieSecret: Uint32Array;
  /** Client segments SYNPROXY can hold in total while RS handshakes are pending (2 KiB each). */
  synproxyQueueSlots: number;
  /** Packets the engine can emit by itself between two drains of its output queue. */
  txqSize: number;
  /** Seed for the hash tables; random unless a test fixes it. */
  seed: number;
}

export function defaultConfig(): EngineConfig {
  return {
    connCapacity: 1 << 20,
    maxServices: 4096,
    maxDests: 65536,
    maxLaddrs: 256,
    maxLaddrTuples: 1 << 15,
    lportMin: 1025,
    lportMax: 65535,
    lportRandomStart: false,
    timeouts: DEFAULT_TIMEOUTS_S.slice(),
    wheelSlots: 4096,
    wheelGranularityMs: 100,
    expireBudget: 20000,
    maxTemplates: 1 << 16,
    fragEntries: 4096,
    fastPath: true,
    mtu: 1500,
    mhTableSize: 65537,
    knobs: defaultEngineKnobs(),
    cookieSecret: getRandomValues(new Uint32Array(4)),
    synproxyQueueSlots: 1024,
    txqSize: 256,
    seed: (Math.random() * 0x100000000) >>> 0,
  };
}
