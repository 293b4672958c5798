// A batch of packets in one preallocated buffer: slot i holds a packet at off[i] with length len[i].
// Packets are read into a slot after `headroom` bytes, so a header can grow towards the front
// (TOA inserts 8 or 20 bytes) without moving the payload. The engine writes verdict[i].

export const VERDICT_DROP = 0;
export const VERDICT_TX = 1;
/** Kept by the engine (a SYNPROXY segment waiting for its RS): not written now, not a drop. */
export const VERDICT_STOLEN = 2;

export class PacketBatch {
  readonly capacity: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buf: Uint8Array;
  /** A DataView over `buf`, made once: the engine reads headers through it. */
  readonly dv: DataView;
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  readonly verdict: Uint8Array;
  /**
   * Per slot, set by I/O with checksum offload (TUN with virtio_net_hdr): 1 when the packet's
   * TCP/UDP checksum is partial (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the folded
   * pseudo-header sum and the receiver completes it over the L4 bytes), 0 when it is complete.
   * The engine keeps the flag true to the bytes it leaves in the slot.
   */
  readonly csum: Uint8Array;
  /** Per slot: the GSO segment size (payload bytes per segment) of a GSO packet, 0 otherwise. */
  readonly gso: Uint16Array;
  count = 0;

  constructor(capacity: number, slotSize = 2048 + 128, headroom = 128) {
    if (headroom >= slotSize) throw new RangeError('headroom must be smaller than the slot');
    this.capacity = capacity;
    this.slotSize = slotSize;
    this.headroom = headroom;
    this.buf = new Uint8Array(capacity * slotSize);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.verdict = new Uint8Array(capacity);
    this.csum = new Uint8Array(capacity);
    this.gso = new Uint16Array(capacity);
  }

  /** Largest packet a slot takes. */
  get mtu(): number {
    return this.slotSize - this.headroom;
  }

  /** Start offset of slot i's packet area (where I/O reads into). */
  slotStart(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Copies a packet into the next slot (tests and pcap replay); returns its index or -1 when full. */
  push(pkt: Uint8Array): number {
    if (this.count === this.capacity || pkt.length > this.mtu) return -1;
    const i = this.count++;
    const o = this.slotStart(i);
    this.buf.set(pkt, o);
    this.place(i, o, pkt.length, VERDICT_DROP);
    return i;
  }

  /**
   * Describes slot i as holding a whole packet (complete checksums, no GSO) at [off, off+len):
   * for packets written into a slot by other means than I/O (tests, the engine's own packets).
   */
  place(i: number, off: number, len: number, verdict: number): void {
    this.off[i] = off;
    this.len[i] = len;
    this.verdict[i] = verdict;
    this.csum[i] = 0;
    this.gso[i] = 0;
  }

  /** A view of packet i as it is now (no copy). */
  packet(i: number): Uint8Array {
    return this.buf.subarray(this.off[i]!, this.off[i]! + this.len[i]!);
  }

  clear(): void {
    this.count = 0;
  }
}
