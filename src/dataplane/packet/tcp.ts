// TCP header view (RFC 9293 3.1).
//
//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// |                        Sequence Number                        |
// |                    Acknowledgment Number                      |
// |  Data |       |C|E|U|A|P|R|S|F|                               |
// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
// |           Checksum            |         Urgent Pointer        |
// |                    Options                    |    Padding    |
import { rd16, rd32, wr16, wr32 } from './ipv4.js';

export const TCP_MIN_LEN = 20;
export const TCP_SPORT = 0;
export const TCP_DPORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DOFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_CSUM = 16;
export const TCP_URG = 18;

export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;

export function tcpHeaderLen(b: Uint8Array, o: number): number {
  return (b[o + TCP_DOFF]! >>> 4) << 2;
}
export function tcpFlags(b: Uint8Array, o: number): number {
  return b[o + TCP_FLAGS]!;
}
export function tcpSeq(b: Uint8Array, o: number): number {
  return rd32(b, o + TCP_SEQ);
}
export function tcpAck(b: Uint8Array, o: number): number {
  return rd32(b, o + TCP_ACK);
}
export function tcpSetSeq(b: Uint8Array, o: number, v: number): void {
  wr32(b, o + TCP_SEQ, v);
}
export function tcpSetAck(b: Uint8Array, o: number, v: number): void {
  wr32(b, o + TCP_ACK, v);
}
export function tcpCsum(b: Uint8Array, o: number): number {
  return rd16(b, o + TCP_CSUM);
}
export function tcpSetCsum(b: Uint8Array, o: number, v: number): void {
  wr16(b, o + TCP_CSUM, v);
}
