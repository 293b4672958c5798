// Why parsePacket refused a packet (0 = valid). The engine's counter table keeps these values as
// the indices of its drop_* slots (counters.ts), so a refusal is counted without a lookup; the
// packet layer itself knows nothing of the engine's counters.
export const PARSE_OK = 0;
export const PARSE_TRUNCATED = 3;
export const PARSE_BAD_VERSION = 4;
export const PARSE_BAD_HDR_LEN = 5;
export const PARSE_BAD_TOTAL_LEN = 6;
export const PARSE_BAD_IP_CSUM = 7;
export const PARSE_BAD_L4_HDR = 8;
export const PARSE_BAD_EXT_HDR = 9;
