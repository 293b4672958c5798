// UDP header view (RFC 768): sport(2) dport(2) length(2) checksum(2).
export const UDP_HDR_LEN = 8;
export const UDP_SPORT = 0;
export const UDP_DPORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;
