// IPv6 header view (RFC 8200) and extension-header constants.
//
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Source Address (128)                      |
// |                  Destination Address (128)                    |

export const IPV6_HDR_LEN = 40;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HDR = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export const NH_HOPOPTS = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_AH = 51;
export const NH_DSTOPTS = 60;

/** Fragment header: next(1) reserved(1) offset<<3|M(2) identification(4). */
export const FRAG6_HDR_LEN = 8;
