// Engine-wide counters: one Float64Array slot each. Drop reasons are counted here instead of thrown.
// Names are what listings print; keep COUNTER_NAMES in the same order as the constants.
import {
  PARSE_BAD_EXT_HDR,
  PARSE_BAD_HDR_LEN,
  PARSE_BAD_IP_CSUM,
  PARSE_BAD_L4_HDR,
  PARSE_BAD_TOTAL_LEN,
  PARSE_BAD_VERSION,
  PARSE_TRUNCATED,
} from './packet/parse-errors.js';

export const C_RX = 0;
export const C_TX = 1;
export const C_DROP = 2;
// Malformed input (rejected at parse): the parser's own reason codes are these slots.
export const D_TRUNCATED = PARSE_TRUNCATED;
export const D_BAD_VERSION = PARSE_BAD_VERSION;
export const D_BAD_HDR_LEN = PARSE_BAD_HDR_LEN;
export const D_BAD_TOTAL_LEN = PARSE_BAD_TOTAL_LEN;
export const D_BAD_IP_CSUM = PARSE_BAD_IP_CSUM;
export const D_BAD_L4_HDR = PARSE_BAD_L4_HDR;
export const D_BAD_EXT_HDR = PARSE_BAD_EXT_HDR;
// Not for us / no state
export const D_PROTO_UNSUPPORTED = 10;
export const D_NOT_LOCAL = 11;
export const D_NO_SERVICE = 12;
export const D_NO_CONN = 13;
export const D_OUT_NO_CONN = 14;
export const D_FRAG_UNKNOWN = 15;
// Resources
export const D_NO_DEST = 16;
export const D_NO_LADDR = 17;
export const D_NO_LPORT = 18;
export const D_CONN_LIMIT = 19;
// Forwarding
export const D_TTL_EXPIRED = 20;
export const D_ICMP_NO_CONN = 21;
export const D_ICMP_UNSUPPORTED = 22;
// Events
export const E_CONN_NEW = 23;
export const E_CONN_EXPIRED = 24;
export const E_CONN_REUSED = 25;
export const E_ICMP_XLATE_IN = 26;
export const E_ICMP_XLATE_OUT = 27;
export const E_ICMP_ECHO_REPLY = 28;
export const E_FRAG_FWD = 29;
export const E_PERSIST_HIT = 30;
export const D_NO_TEMPLATE = 31;
// TOA (names as Alibaba LVS)
export const E_TOA_OK = 32;
export const E_TOA_FAIL_LEN = 33;
export const E_TOA_HEAD_FULL = 34;
// SYNPROXY
export const E_SP_SYN = 35;
export const E_SP_ACK_OK = 36;
export const D_SP_BAD_ACK = 37;
export const D_SP_ACK_STORM = 38;
export const E_SP_RS_RST = 39;
export const E_SP_SYN_RETRANS = 40;
export const E_SP_RS_TIMEOUT = 41;
export const E_SP_QUEUED = 42;
export const D_SP_QUEUE_FULL = 43;
export const D_SP_DEFER = 44;
export const E_SP_REUSED = 45;
export const D_TXQ_FULL = 46;
export const D_SP_WAIT = 47;
/** The RS answered a SYN with timestamps without them: that connection's TSvals stay as they are. */
export const E_SP_RS_NO_TS = 48;
/** A client RST while SYNPROXY waited for the RS: passed on to the RS as a RST, the entry closed. */
export const E_SP_CLIENT_RST = 49;
/** A (LIP, real-server tuple) pair reached 7/8 of its ports (Core.portsLow* say which). */
export const E_LADDR_PORTS_LOW = 50;
export const C_COUNT = 51;

export const COUNTER_NAMES: readonly string[] = [
  'rx_pkts',
  'tx_pkts',
  'drop_pkts',
  'drop_truncated',
  'drop_bad_version',
  'drop_bad_hdr_len',
  'drop_bad_total_len',
  'drop_bad_ip_csum',
  'drop_bad_l4_hdr',
  'drop_bad_ext_hdr',
  'drop_proto_unsupported',
  'drop_not_local',
  'drop_no_service',
  'drop_no_conn',
  'drop_out_no_conn',
  'drop_frag_unknown',
  'drop_no_dest',
  'drop_no_laddr',
  'drop_no_lport',
  'drop_conn_limit',
  'drop_ttl_expired',
  'drop_icmp_no_conn',
  'drop_icmp_unsupported',
  'conn_new',
  'conn_expired',
  'conn_reused',
  'icmp_xlate_in',
  'icmp_xlate_out',
  'icmp_echo_reply',
  'frag_fwd',
  'persist_hit',
  'drop_persist_table_full',
  'fullnat_add_toa_ok',
  'fullnat_add_toa_fail_len',
  'fullnat_add_toa_head_full',
  'synproxy_syn_cookie',
  'synproxy_ack_ok',
  'synproxy_bad_ack',
  'synproxy_ack_storm',
  'synproxy_rs_rst',
  'synproxy_syn_retransmit',
  'synproxy_rs_timeout',
  'synproxy_data_queued',
  'synproxy_queue_full',
  'synproxy_defer_drop',
  'synproxy_conn_reused',
  'drop_txq_full',
  'synproxy_drop_while_waiting',
  'synproxy_rs_no_ts',
  'synproxy_client_rst',
  'laddr_ports_low',
];
