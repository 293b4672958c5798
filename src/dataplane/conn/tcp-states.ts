// The IPVS TCP state machine as data: next state = table[(dir*4 + event) * S_LAST + state].
// Rows follow Linux IPVS (ip_vs_proto_tcp.c) for the two directions a FULLNAT balancer sees.

// The state numbers, names and default timeouts are shared vocabulary (common/vocabulary.ts).
import {
  S_CLOSE,
  S_CLOSE_WAIT,
  S_ESTABLISHED,
  S_FIN_WAIT,
  S_LAST,
  S_LAST_ACK,
  S_LISTEN,
  S_NONE,
  S_SYN_RECV,
  S_SYN_SENT,
  S_SYNACK,
  S_TIME_WAIT,
  S_UDP,
} from '../../common/vocabulary.js';

export const DIR_IN = 0; // client -> real server
export const DIR_OUT = 1; // real server -> client

export const EV_SYN = 0;
export const EV_FIN = 1;
export const EV_ACK = 2;
export const EV_RST = 3;
/** None of SYN/FIN/ACK/RST: IPVS's set_tcp_state moves the connection to CLOSE. */
export const EV_NONE = -1;

// Columns are the current state in S_* order (NO ES SS SR FW TW CL CW LA LI SA).
const ROWS: Record<string, string> = {
  'in syn': 'SR ES ES SR SR SR SR SR SR SR SR',
  'in fin': 'CL CW SS TW TW TW CL CW LA LI TW',
  'in ack': 'CL ES SS ES FW TW CL CW CL LI ES',
  'in rst': 'CL CL CL SR CL CL CL CL LA LI SR',
  'out syn': 'SS ES SS SR SS SS SS SS SS LI SR',
  'out fin': 'TW FW SS TW FW TW CL TW LA LI TW',
  'out ack': 'ES ES SS ES FW TW CL CW LA ES ES',
  'out rst': 'CL CL SS CL CL TW CL CL CL CL CL',
};

const ABBR: Record<string, number> = {
  NO: S_NONE,
  ES: S_ESTABLISHED,
  SS: S_SYN_SENT,
  SR: S_SYN_RECV,
  FW: S_FIN_WAIT,
  TW: S_TIME_WAIT,
  CL: S_CLOSE,
  CW: S_CLOSE_WAIT,
  LA: S_LAST_ACK,
  LI: S_LISTEN,
  SA: S_SYNACK,
};

function buildTable(): Uint8Array {
  const t = new Uint8Array(2 * 4 * S_LAST);
  const events = ['syn', 'fin', 'ack', 'rst'];
  for (let dir = 0; dir < 2; dir++) {
    for (let ev = 0; ev < 4; ev++) {
      const row = ROWS[`${dir === 0 ? 'in' : 'out'} ${events[ev]}`]!.split(' ');
      for (let s = 0; s <= S_SYNACK; s++) t[(dir * 4 + ev) * S_LAST + s] = ABBR[row[s]!]!;
      t[(dir * 4 + ev) * S_LAST + S_UDP] = S_UDP;
    }
  }
  return t;
}

export const TCP_NEXT_STATE: Uint8Array = buildTable();

/** IPVS's tcp_state_idx: RST wins, then SYN, FIN, ACK. */
export function tcpEvent(flags: number): number {
  if (flags & 0x04) return EV_RST;
  if (flags & 0x02) return EV_SYN;
  if (flags & 0x01) return EV_FIN;
  if (flags & 0x10) return EV_ACK;
  return EV_NONE;
}

export function tcpNextState(dir: number, ev: number, state: number): number {
  if (ev < 0) return state === S_UDP ? S_UDP : S_CLOSE;
  return TCP_NEXT_STATE[(dir * 4 + ev) * S_LAST + state]!;
}

/**
 * The same table indexed directly by the TCP flags byte: next = TCP_FLAGS_NEXT[(dir * 32 +
 * (flags & 0x17)) * S_LAST + state], which saves the fast path the event classification.
 */
export const TCP_FLAGS_NEXT: Uint8Array = (() => {
  const t = new Uint8Array(2 * 32 * S_LAST);
  for (let dir = 0; dir < 2; dir++) {
    for (let f = 0; f < 32; f++) {
      for (let s = 0; s < S_LAST; s++) t[(dir * 32 + f) * S_LAST + s] = tcpNextState(dir, tcpEvent(f), s);
    }
  }
  return t;
})();
