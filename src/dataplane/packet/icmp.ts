// ICMP (RFC 792) and ICMPv6 (RFC 4443) constants: type(1) code(1) checksum(2) rest(4) body.
export const ICMP_HDR_LEN = 8;
export const ICMP_TYPE = 0;
export const ICMP_CSUM = 2;

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_SOURCE_QUENCH = 4;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_PARAM_PROBLEM = 12;

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

export const PROTO_ICMP = 1;
export const PROTO_ICMPV6 = 58;

export function icmp4IsError(type: number): boolean {
  return (
    type === ICMP4_DEST_UNREACH ||
    type === ICMP4_TIME_EXCEEDED ||
    type === ICMP4_PARAM_PROBLEM ||
    type === ICMP4_SOURCE_QUENCH
  );
}

export function icmp6IsError(type: number): boolean {
  return (
    type === ICMP6_DEST_UNREACH ||
    type === ICMP6_PACKET_TOO_BIG ||
    type === ICMP6_TIME_EXCEEDED ||
    type === ICMP6_PARAM_PROBLEM
  );
}
