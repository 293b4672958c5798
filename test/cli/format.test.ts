// ipvsadm output formats (src/cli/format.ts) against golden text from ipvsadm's printf formats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatConns,
  formatExtStats,
  formatLaddrs,
  formatList,
  formatResult,
  formatSave,
  formatSysctl,
  formatTimeouts,
  largenum,
  prefixToDotted,
  schedFlagNames,
} from '../../src/cli/format.js';
import { DEFAULT_FORMAT, type FormatOptions } from '../../src/cli/parse.js';
import { defaultSysctls } from '../../src/common/sysctls.js';
import { COUNTER_NAMES } from '../../src/dataplane/counters.js';
import {
  CONNS,
  DUMP_SERVICES,
  GOLDEN_CONNS,
  GOLDEN_CONNS_LADDR,
  GOLDEN_EXACT,
  GOLDEN_LADDRS,
  GOLDEN_LIST,
  GOLDEN_ONE,
  GOLDEN_PCONN,
  GOLDEN_RATE,
  GOLDEN_SAVE,
  GOLDEN_STATS,
  GOLDEN_THRESHOLDS,
  SERVICES,
  SVC_A,
  SVC_B,
  SVC_C,
  TEST_NAMES,
  text,
} from './fixtures.js';

const N: FormatOptions = { ...DEFAULT_FORMAT, numeric: true };

describe('largenum (print_largenum)', () => {
  const cases: [number, string][] = [
    [0, '        0'],
    [99999999, ' 99999999'],
    [100000000, '  100000K'],
    [999999999, '  999999K'],
    [1000000000, '    1000M'],
    [99999999999, '   99999M'],
    [100000000000, '     100G'],
    [99999999999999, '   99999G'],
    [100000000000000, '     100T'],
    [123456789012345, '     123T'],
  ];
  for (const [n, want] of cases) {
    test(`${n} -> ${JSON.stringify(want)}`, () => assert.equal(largenum(n), want));
  }

  test('--exact: at least 9 columns, one blank before a longer number', () => {
    assert.equal(largenum(5, true), '        5');
    assert.equal(largenum(12345678, true), ' 12345678');
    assert.equal(largenum(123456789, true), ' 123456789');
    assert.equal(largenum(100000000000000, true), ' 100000000000000');
  });
});

describe('-L -n', () => {
  test('prints the DESIGN.md example exactly (trailing padding aside)', () => {
    const design = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  203.0.113.10:80 wlc synproxy',
      '  -> 192.0.2.21:80                FullNat 1      0          0',
    ];
    const svc = { ...SVC_A, dests: [SVC_A.dests[1]!] };
    const out = formatList([svc], N);
    assert.equal(
      out
        .split('\n')
        .map((l) => l.trimEnd())
        .join('\n'),
      text(design),
    );
  });

  test('all services, sorted by family, protocol, address, port; real servers by address, port', () => {
    assert.equal(formatList(SERVICES, N), text(GOLDEN_LIST));
  });

  test('--nosort keeps the daemon order', () => {
    const out = formatList(SERVICES, { ...N, nosort: true }).split('\n');
    assert.equal(out[3], 'UDP  [2001:db8:203::10]:53 sh (sh-fallback,sh-port) persistent 600 mask 64');
    assert.equal(out[4], '  -> [2001:db8:2::22]:53          FullNat 2      0          7         ');
    assert.equal(out[6], 'TCP  203.0.113.10:80 wlc synproxy');
    assert.equal(out[7], '  -> 192.0.2.22:8080              FullNat 0      5          6         ');
  });

  test('addresses compare as numbers, not text', () => {
    const s = (addr: string) => ({ ...SVC_B, addr, dests: [] });
    const out = formatList([s('203.0.113.100'), s('10.0.0.1'), s('203.0.113.9')], N);
    const vips = out.split('\n').filter((l) => l.startsWith('TCP'));
    assert.deepEqual(
      vips.map((l) => l.split(/\s+/)[1]),
      ['10.0.0.1:443', '203.0.113.9:443', '203.0.113.100:443'],
    );
  });

  test('one service (-t given): no version line', () => {
    assert.equal(formatList([SVC_B], N, undefined, true), text(GOLDEN_ONE));
  });

  test('--stats: K/M/G/T scaling at 1e8, 1e9, 1e11, 1e14', () => {
    assert.equal(formatList(SERVICES, { ...N, stats: true }), text(GOLDEN_STATS));
  });

  test('--stats --exact', () => {
    assert.equal(formatList(SERVICES, { ...N, stats: true, exact: true }), text(GOLDEN_EXACT));
  });

  test('--rate (real-server CPS/PPS columns are plain %8llu, BPS scaled)', () => {
    assert.equal(formatList(SERVICES, { ...N, rate: true }), text(GOLDEN_RATE));
  });

  test('--thresholds', () => {
    assert.equal(formatList(SERVICES, { ...N, thresholds: true }), text(GOLDEN_THRESHOLDS));
  });

  test('--persistent-conn', () => {
    assert.equal(formatList(SERVICES, { ...N, persistentConn: true }), text(GOLDEN_PCONN));
  });

  test('forward names of every method', () => {
    const out = formatList(
      [{ ...SVC_B, dests: [0, 1, 2, 3, 4].map((fwd, i) => ({ ...SVC_B.dests[0]!, port: i + 1, fwd })) }],
      N,
    );
    const fwd = out
      .split('\n')
      .filter((l) => l.startsWith('  -> 1'))
      .map((l) => l.slice(34, 41).trim());
    assert.deepEqual(fwd, ['FullNat', 'Masq', 'Tunnel', 'Route', 'Local']);
  });
});

describe('-L without -n: names from the hosts and services files', () => {
  test('service and real-server names, IPv6 in brackets', () => {
    const out = formatList([SVC_A, SVC_C], DEFAULT_FORMAT, TEST_NAMES).split('\n');
    assert.equal(out[3], 'TCP  vip.example:http wlc synproxy');
    assert.equal(out[4], '  -> rs1.example:http             FullNat 1      0          0         ');
    assert.equal(out[5], '  -> 192.0.2.22:8080              FullNat 0      5          6         ');
    assert.equal(out[6], 'UDP  [2001:db8:203::10]:domain sh (sh-fallback,sh-port) persistent 600 mask 64');
    assert.equal(out[7], '  -> [rs1v6.example]:domain       FullNat 1      3          4         ');
  });

  test('IPv4 names are cut at 33 (service) and 28 (real server) columns as ipvsadm does', () => {
    const svc = {
      ...SVC_B,
      addr: '203.0.113.12',
      dests: [{ ...SVC_B.dests[0]!, addr: '192.0.2.24' }],
    };
    const out = formatList([svc], DEFAULT_FORMAT, TEST_NAMES).split('\n');
    assert.equal(out[3], 'TCP  a-very-long-virtual-host-nam rr persistent 300 mask 255.255.255.0');
    assert.equal(out[4], '  -> a-very-long-real-server-host FullNat 100    12345      67890     ');
  });

  test('-n wins over the names', () => {
    assert.equal(formatList(SERVICES, N, TEST_NAMES), text(GOLDEN_LIST));
  });
});

describe('other listings', () => {
  test('-L -c: ipvsadm columns; --show-laddr adds local; a template has no local', () => {
    assert.equal(formatConns(CONNS, N), text(GOLDEN_CONNS));
    assert.equal(formatConns(CONNS, { ...N, showLaddr: true }), text(GOLDEN_CONNS_LADDR));
    const tmpl = {
      ...CONNS[0]!,
      cport: 0,
      caddr: '198.51.100.0',
      laddr: '',
      lport: 0,
      state: 'NONE',
      template: true as const,
    };
    assert.deepEqual(
      formatConns([tmpl], { ...N, showLaddr: true }).split('\n')[2],
      'TCP 14:59  NONE        198.51.100.0:0     203.0.113.10:80    192.0.2.21:80      -',
    );
    assert.deepEqual(
      formatConns([tmpl], N).split('\n')[2],
      'TCP 14:59  NONE        198.51.100.0:0     203.0.113.10:80    192.0.2.21:80',
    );
  });

  test('-L -c without -n names addresses too', () => {
    const out = formatConns([CONNS[0]!], DEFAULT_FORMAT, TEST_NAMES).split('\n');
    assert.equal(out[2], 'TCP 14:59  ESTABLISHED 198.51.100.2:40000 vip.example:http   rs1.example:http');
  });

  test('--timeout', () => {
    assert.equal(
      formatTimeouts({ tcp: 900, tcpfin: 120, udp: 300 }),
      'Timeout (tcp tcpfin udp): 900 120 300\n',
    );
  });

  test('-G as Alibaba: title once, then each service and its local addresses', () => {
    assert.equal(formatLaddrs([SVC_A, SVC_B]), text(GOLDEN_LADDRS));
    assert.equal(formatLaddrs([]), '');
  });

  test('-S: -A/-a per service (sorted), then -P lines', () => {
    assert.equal(
      formatSave({
        services: DUMP_SERVICES,
        timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
        sysctl: defaultSysctls(),
      }),
      text(GOLDEN_SAVE),
    );
  });

  test('-S without -n names hosts and ports, as ipvsadm-save does', () => {
    const dump = {
      services: DUMP_SERVICES,
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
      sysctl: defaultSysctls(),
    };
    const named = formatResult('save', dump, { ...N, numeric: false }, TEST_NAMES).split('\n');
    assert.ok(named.includes('-a -t vip.example:http -r rs1.example:http -b -w 1'), named.join('\n'));
    assert.equal(formatResult('save', dump, N, TEST_NAMES), text(GOLDEN_SAVE), '-n: numeric');
  });

  test('formatResult dispatches on the view', () => {
    assert.equal(formatResult('list', { services: SERVICES }, N, TEST_NAMES), text(GOLDEN_LIST));
    // The daemon's connection hash table size goes in the header (4096 from a daemon that sends none).
    assert.equal(
      formatResult('list', { services: [], size: 1 << 20 }, N, TEST_NAMES).split('\n')[0],
      'IP Virtual Server version 1.2.1 (size=1048576)',
    );
    assert.equal(formatResult('service', { services: [SVC_B] }, N, TEST_NAMES), text(GOLDEN_ONE));
    assert.equal(formatResult('conns', { conns: CONNS, total: 3 }, N, TEST_NAMES), text(GOLDEN_CONNS));
    assert.equal(formatResult('laddrs', { services: [SVC_A, SVC_B] }, N, TEST_NAMES), text(GOLDEN_LADDRS));
    assert.equal(formatResult('none', null, N, TEST_NAMES), '');
  });
});

describe('helpers', () => {
  test('scheduler flag names', () => {
    assert.equal(schedFlagNames('sh', 3), 'sh-fallback,sh-port');
    assert.equal(schedFlagNames('mh', 2), 'mh-port');
    assert.equal(schedFlagNames('wlc', 5), 'flag-1,flag-3');
    assert.equal(schedFlagNames('sh', 4), 'flag-3');
    assert.equal(schedFlagNames('rr', 0), '');
  });

  test('prefix to dotted mask', () => {
    assert.equal(prefixToDotted(32), '255.255.255.255');
    assert.equal(prefixToDotted(24), '255.255.255.0');
    assert.equal(prefixToDotted(17), '255.255.128.0');
    assert.equal(prefixToDotted(0), '0.0.0.0');
  });
});

/** Every engine counter, counter i holding i * 1000 (rx_pkts the largest exact double). */
function allCounters(): Record<string, number> {
  const c: Record<string, number> = {};
  COUNTER_NAMES.forEach((n, i) => {
    c[n] = i * 1000;
  });
  c.rx_pkts = 2 ** 53 - 1;
  return c;
}

// Group titles, then "  %-32s %20llu" per counter, a blank line between groups.
const GOLDEN_EXT_STATS = [
  'Packets',
  '  rx_pkts                              9007199254740991',
  '  tx_pkts                                          1000',
  '  drop_pkts                                        2000',
  '  frag_fwd                                        29000',
  '',
  'Drops',
  '  drop_truncated                                   3000',
  '  drop_bad_version                                 4000',
  '  drop_bad_hdr_len                                 5000',
  '  drop_bad_total_len                               6000',
  '  drop_bad_ip_csum                                 7000',
  '  drop_bad_l4_hdr                                  8000',
  '  drop_bad_ext_hdr                                 9000',
  '  drop_proto_unsupported                          10000',
  '  drop_not_local                                  11000',
  '  drop_no_service                                 12000',
  '  drop_no_conn                                    13000',
  '  drop_out_no_conn                                14000',
  '  drop_frag_unknown                               15000',
  '  drop_no_dest                                    16000',
  '  drop_no_laddr                                   17000',
  '  drop_no_lport                                   18000',
  '  drop_conn_limit                                 19000',
  '  drop_ttl_expired                                20000',
  '  drop_persist_table_full                         31000',
  '  drop_txq_full                                   46000',
  '',
  'Connections',
  '  conn_new                                        23000',
  '  conn_expired                                    24000',
  '  conn_reused                                     25000',
  '  persist_hit                                     30000',
  '  laddr_ports_low                                 50000',
  '',
  'ICMP',
  '  drop_icmp_no_conn                               21000',
  '  drop_icmp_unsupported                           22000',
  '  icmp_xlate_in                                   26000',
  '  icmp_xlate_out                                  27000',
  '  icmp_echo_reply                                 28000',
  '',
  'TOA',
  '  fullnat_add_toa_ok                              32000',
  '  fullnat_add_toa_fail_len                        33000',
  '  fullnat_add_toa_head_full                       34000',
  '',
  'SYNPROXY',
  '  synproxy_syn_cookie                             35000',
  '  synproxy_ack_ok                                 36000',
  '  synproxy_bad_ack                                37000',
  '  synproxy_ack_storm                              38000',
  '  synproxy_rs_rst                                 39000',
  '  synproxy_syn_retransmit                         40000',
  '  synproxy_rs_timeout                             41000',
  '  synproxy_data_queued                            42000',
  '  synproxy_queue_full                             43000',
  '  synproxy_defer_drop                             44000',
  '  synproxy_conn_reused                            45000',
  '  synproxy_drop_while_waiting                     47000',
  '  synproxy_rs_no_ts                               48000',
  '  synproxy_client_rst                             49000',
];

describe('-L --ext-stats', () => {
  test('golden: every counter in its group, names left, exact values right', () => {
    assert.equal(formatExtStats(allCounters()), text(GOLDEN_EXT_STATS));
  });

  test('every COUNTER_NAMES entry appears exactly once, as "name value" fields', () => {
    const out = formatExtStats(allCounters());
    const fields = out
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim().split(/ +/));
    assert.deepEqual(fields.map((f) => f[0]).sort(), [...COUNTER_NAMES].sort());
    for (const f of fields) {
      assert.equal(f.length, 2);
      assert.match(f[1]!, /^\d+$/);
    }
    for (const l of out.split('\n')) {
      if (l.startsWith('  ')) assert.equal(l.length, 2 + 32 + 1 + 20, l);
    }
  });

  test('unknown counters go to Other; empty groups are left out; no counters, no output', () => {
    assert.equal(
      formatExtStats({ conn_new: 5, tunnel_magic: 7, fullnat_add_toa_ok: 1e15, drop_x: 0.5 }),
      text([
        'Drops',
        `  ${'drop_x'.padEnd(32)} ${'0'.padStart(20)}`,
        '',
        'Connections',
        `  ${'conn_new'.padEnd(32)} ${'5'.padStart(20)}`,
        '',
        'TOA',
        `  ${'fullnat_add_toa_ok'.padEnd(32)} ${'1000000000000000'.padStart(20)}`,
        '',
        'Other',
        `  ${'tunnel_magic'.padEnd(32)} ${'7'.padStart(20)}`,
      ]),
    );
    assert.equal(formatExtStats({}), '');
    // A name longer than its column still leaves a blank before the value.
    const long = 'synproxy_a_very_long_counter_name_indeed';
    assert.equal(formatExtStats({ [long]: 3 }), `SYNPROXY\n  ${long} ${'3'.padStart(20)}\n`);
  });
});

describe('--sysctl', () => {
  test('"name = value" lines in the order given (sysctl -a)', () => {
    assert.equal(
      formatSysctl(defaultSysctls()),
      text([
        'synproxy_init_mss = 1452',
        'synproxy_sack = 1',
        'synproxy_wscale = 0',
        'synproxy_timestamp = 0',
        'synproxy_synack_ttl = 63',
        'synproxy_defer = 0',
        'synproxy_syn_retry = 3',
        'synproxy_dup_ack_thresh = 10',
        'synproxy_skb_store_thresh = 3',
        'expire_nodest_conn = 0',
        'expire_quiescent_template = 0',
        'timeout_timewait = 120',
        'timeout_close = 10',
      ]),
    );
    assert.equal(
      formatSysctl({ synproxy_defer: 1, synproxy_sack: 0 }),
      'synproxy_defer = 1\nsynproxy_sack = 0\n',
    );
    assert.equal(formatSysctl({}), '');
  });

  test('-S: the non-default ones last, one --sysctl line each, in the table order', () => {
    const dump = {
      services: DUMP_SERVICES,
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
      sysctl: {
        ...defaultSysctls(),
        synproxy_skb_store_thresh: 5,
        synproxy_init_mss: 1400,
        synproxy_sack: 0,
      },
    };
    assert.equal(
      formatSave(dump),
      text([
        ...GOLDEN_SAVE,
        '--sysctl synproxy_init_mss=1400',
        '--sysctl synproxy_sack=0',
        '--sysctl synproxy_skb_store_thresh=5',
      ]),
    );
    // Only sysctls: nothing else printed.
    assert.equal(
      formatSave({ ...dump, services: [], sysctl: { ...defaultSysctls(), synproxy_defer: 1 } }),
      '--sysctl synproxy_defer=1\n',
    );
  });

  test('formatResult dispatches the new views', () => {
    assert.equal(formatResult('sysctl', { synproxy_wscale: 7 }, N, TEST_NAMES), 'synproxy_wscale = 7\n');
    assert.equal(formatResult('ext-stats', allCounters(), N, TEST_NAMES), text(GOLDEN_EXT_STATS));
  });
});
