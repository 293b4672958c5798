// The IPVS TCP state machine as data (src/dataplane/conn/tcp-states.ts). The expected rows are
// mainline IPVS's tcp_states[] (net/netfilter/ipvs/ip_vs_proto_tcp.c), INPUT and OUTPUT parts,
// written out here independently of the module's own string table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_TIMEOUTS_S,
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
  STATE_NAMES,
} from '../../src/common/vocabulary.js';
import { defaultConfig } from '../../src/dataplane/config.js';
import {
  DIR_IN,
  DIR_OUT,
  EV_ACK,
  EV_FIN,
  EV_NONE,
  EV_RST,
  EV_SYN,
  TCP_FLAGS_NEXT,
  TCP_NEXT_STATE,
  tcpEvent,
  tcpNextState,
} from '../../src/dataplane/conn/tcp-states.js';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
const ECE = 0x40;
const CWR = 0x80;

const NO = S_NONE;
const ES = S_ESTABLISHED;
const SS = S_SYN_SENT;
const SR = S_SYN_RECV;
const FW = S_FIN_WAIT;
const TW = S_TIME_WAIT;
const CL = S_CLOSE;
const CW = S_CLOSE_WAIT;
const LA = S_LAST_ACK;
const LI = S_LISTEN;
const SA = S_SYNACK;
const TCP_STATES = [NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA];

// Kernel rows: next state for current state in column order sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA.
const KERNEL: Record<'in' | 'out', Record<'syn' | 'fin' | 'ack' | 'rst', number[]>> = {
  in: {
    syn: [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    fin: [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    ack: [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    rst: [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
  },
  out: {
    syn: [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    fin: [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    ack: [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    rst: [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  },
};
const EVENTS = { syn: EV_SYN, fin: EV_FIN, ack: EV_ACK, rst: EV_RST } as const;
const DIRS = { in: DIR_IN, out: DIR_OUT } as const;

const name = (s: number) => STATE_NAMES[s] ?? `#${s}`;

describe('tcpEvent: RST > SYN > FIN > ACK', () => {
  const table: [string, number, number][] = [
    ['no flags', 0, EV_NONE],
    ['PSH only', PSH, EV_NONE],
    ['URG, ECE, CWR', URG | ECE | CWR, EV_NONE],
    ['ACK', ACK, EV_ACK],
    ['PSH ACK', PSH | ACK, EV_ACK],
    ['FIN', FIN, EV_FIN],
    ['FIN ACK', FIN | ACK, EV_FIN],
    ['SYN', SYN, EV_SYN],
    ['SYN ACK', SYN | ACK, EV_SYN],
    ['SYN FIN', SYN | FIN, EV_SYN],
    ['RST', RST, EV_RST],
    ['RST ACK', RST | ACK, EV_RST],
    ['RST SYN', RST | SYN, EV_RST],
    ['all flags', 0xff, EV_RST],
  ];
  for (const [desc, flags, ev] of table) {
    test(desc, () => assert.equal(tcpEvent(flags), ev));
  }

  test('every flag byte, against the rule', () => {
    for (let f = 0; f < 256; f++) {
      const want = f & RST ? EV_RST : f & SYN ? EV_SYN : f & FIN ? EV_FIN : f & ACK ? EV_ACK : EV_NONE;
      assert.equal(tcpEvent(f), want, `flags 0x${f.toString(16)}`);
    }
  });

  test('EV_NONE (no SYN/FIN/ACK/RST) moves a TCP connection to CLOSE, as set_tcp_state does', () => {
    for (const dir of [DIR_IN, DIR_OUT]) {
      for (const s of TCP_STATES) assert.equal(tcpNextState(dir, EV_NONE, s), S_CLOSE);
      assert.equal(tcpNextState(dir, EV_NONE, S_UDP), S_UDP);
    }
  });
});

describe('tcpNextState: the IPVS table', () => {
  for (const [d, rows] of Object.entries(KERNEL) as ['in' | 'out', (typeof KERNEL)['in']][]) {
    for (const [e, row] of Object.entries(rows) as ['syn' | 'fin' | 'ack' | 'rst', number[]][]) {
      test(`${d} ${e} matches tcp_states[] of ip_vs_proto_tcp.c`, () => {
        const got = TCP_STATES.map((s) => name(tcpNextState(DIRS[d], EVENTS[e], s)));
        assert.deepEqual(got, row.map(name));
      });
    }
  }

  test('every (dir, event, state) gives a valid state; UDP stays UDP', () => {
    assert.equal(TCP_NEXT_STATE.length, 2 * 4 * S_LAST);
    for (const dir of [DIR_IN, DIR_OUT]) {
      for (const ev of [EV_SYN, EV_FIN, EV_ACK, EV_RST]) {
        for (const s of TCP_STATES) {
          const n = tcpNextState(dir, ev, s);
          assert.ok(TCP_STATES.includes(n), `${dir}/${ev}/${name(s)} -> ${n}`);
        }
        assert.equal(tcpNextState(dir, ev, S_UDP), S_UDP);
      }
    }
  });

  test('TCP_FLAGS_NEXT (indexed by the flags byte) agrees with tcpNextState(tcpEvent(flags)) everywhere', () => {
    assert.equal(TCP_FLAGS_NEXT.length, 2 * 32 * S_LAST);
    for (const dir of [DIR_IN, DIR_OUT]) {
      for (let f = 0; f < 256; f++) {
        for (const s of [...TCP_STATES, S_UDP]) {
          assert.equal(
            name(TCP_FLAGS_NEXT[(dir * 32 + (f & 0x17)) * S_LAST + s]!),
            name(tcpNextState(dir, tcpEvent(f), s)),
            `dir ${dir} flags 0x${f.toString(16)} state ${name(s)}`,
          );
        }
      }
    }
  });

  /** Walks a sequence of (dir, flags) from `start`, returning the state names after each step. */
  function walk(start: number, steps: [number, number][]): string[] {
    let s = start;
    return steps.map(([dir, flags]) => {
      s = tcpNextState(dir, tcpEvent(flags), s);
      return name(s);
    });
  }
  const IN = DIR_IN;
  const OUT = DIR_OUT;

  const sequences: { desc: string; start: number; steps: [number, number][]; want: string[] }[] = [
    {
      desc: 'three-way handshake',
      start: NO,
      steps: [
        [IN, SYN],
        [OUT, SYN | ACK],
        [IN, ACK],
        [IN, PSH | ACK],
        [OUT, PSH | ACK],
      ],
      want: ['SYN_RECV', 'SYN_RECV', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED'],
    },
    {
      desc: 'client closes first',
      start: ES,
      steps: [
        [IN, FIN | ACK],
        [OUT, ACK],
        [OUT, FIN | ACK],
        [IN, ACK],
      ],
      want: ['CLOSE_WAIT', 'CLOSE_WAIT', 'TIME_WAIT', 'TIME_WAIT'],
    },
    {
      desc: 'server closes first',
      start: ES,
      steps: [
        [OUT, FIN | ACK],
        [IN, ACK],
        [IN, FIN | ACK],
        [OUT, ACK],
      ],
      want: ['FIN_WAIT', 'FIN_WAIT', 'TIME_WAIT', 'TIME_WAIT'],
    },
    {
      desc: 'simultaneous close, client FIN seen first',
      start: ES,
      steps: [
        [IN, FIN | ACK],
        [OUT, FIN | ACK],
        [IN, ACK],
        [OUT, ACK],
      ],
      want: ['CLOSE_WAIT', 'TIME_WAIT', 'TIME_WAIT', 'TIME_WAIT'],
    },
    {
      desc: 'simultaneous close, server FIN seen first',
      start: ES,
      steps: [
        [OUT, FIN | ACK],
        [IN, FIN | ACK],
        [OUT, ACK],
        [IN, ACK],
      ],
      want: ['FIN_WAIT', 'TIME_WAIT', 'TIME_WAIT', 'TIME_WAIT'],
    },
    {
      desc: 'a new SYN on a TIME_WAIT connection starts over',
      start: TW,
      steps: [
        [IN, SYN],
        [OUT, SYN | ACK],
        [IN, ACK],
      ],
      want: ['SYN_RECV', 'SYN_RECV', 'ESTABLISHED'],
    },
    {
      desc: 'the server answers a SYN with RST',
      start: NO,
      steps: [
        [IN, SYN],
        [OUT, RST | ACK],
      ],
      want: ['SYN_RECV', 'CLOSE'],
    },
  ];
  for (const c of sequences) {
    test(`sequence: ${c.desc}`, () => assert.deepEqual(walk(c.start, c.steps), c.want));
  }

  // RST from either side, in each state (IPVS keeps SYN_RECV on a client RST and TIME_WAIT on a
  // server RST; LAST_ACK and LISTEN ignore a client RST).
  const rstIn = [
    'CLOSE',
    'CLOSE',
    'CLOSE',
    'SYN_RECV',
    'CLOSE',
    'CLOSE',
    'CLOSE',
    'CLOSE',
    'LAST_ACK',
    'LISTEN',
    'SYN_RECV',
  ];
  const rstOut = [
    'CLOSE',
    'CLOSE',
    'SYN_SENT',
    'CLOSE',
    'CLOSE',
    'TIME_WAIT',
    'CLOSE',
    'CLOSE',
    'CLOSE',
    'CLOSE',
    'CLOSE',
  ];
  TCP_STATES.forEach((s, i) => {
    test(`RST in ${name(s)}: client -> ${rstIn[i]}, server -> ${rstOut[i]}`, () => {
      assert.equal(name(tcpNextState(DIR_IN, tcpEvent(RST | ACK), s)), rstIn[i]);
      assert.equal(name(tcpNextState(DIR_OUT, tcpEvent(RST), s)), rstOut[i]);
    });
  });
});

describe('state names and default timeouts', () => {
  test('names line up with the S_* constants', () => {
    const table: [number, string][] = [
      [S_NONE, 'NONE'],
      [S_ESTABLISHED, 'ESTABLISHED'],
      [S_SYN_SENT, 'SYN_SENT'],
      [S_SYN_RECV, 'SYN_RECV'],
      [S_FIN_WAIT, 'FIN_WAIT'],
      [S_TIME_WAIT, 'TIME_WAIT'],
      [S_CLOSE, 'CLOSE'],
      [S_CLOSE_WAIT, 'CLOSE_WAIT'],
      [S_LAST_ACK, 'LAST_ACK'],
      [S_LISTEN, 'LISTEN'],
      [S_SYNACK, 'SYNACK'],
      [S_UDP, 'UDP'],
    ];
    assert.equal(STATE_NAMES.length, S_LAST);
    assert.equal(table.length, S_LAST);
    for (const [s, n] of table) assert.equal(STATE_NAMES[s], n);
  });

  test('timeouts are mainline IPVS defaults (seconds)', () => {
    const want: Record<string, number> = {
      NONE: 2,
      ESTABLISHED: 900,
      SYN_SENT: 120,
      SYN_RECV: 60,
      FIN_WAIT: 120,
      TIME_WAIT: 120,
      CLOSE: 10,
      CLOSE_WAIT: 60,
      LAST_ACK: 30,
      LISTEN: 120,
      SYNACK: 120,
      UDP: 300,
    };
    assert.equal(DEFAULT_TIMEOUTS_S.length, S_LAST);
    assert.deepEqual(Object.fromEntries(STATE_NAMES.map((n, s) => [n, DEFAULT_TIMEOUTS_S[s]])), want);
  });

  test('`--set tcp tcpfin udp` defaults read 900 120 300', () => {
    assert.deepEqual(
      [DEFAULT_TIMEOUTS_S[S_ESTABLISHED], DEFAULT_TIMEOUTS_S[S_FIN_WAIT], DEFAULT_TIMEOUTS_S[S_UDP]],
      [900, 120, 300],
    );
  });

  test('the engine default config starts from these timeouts, as a copy', () => {
    const cfg = defaultConfig();
    assert.deepEqual(cfg.timeouts, [...DEFAULT_TIMEOUTS_S]);
    cfg.timeouts[S_ESTABLISHED] = 1;
    assert.equal(DEFAULT_TIMEOUTS_S[S_ESTABLISHED], 900);
  });
});
