// ipvsadm output formats (src/cli/format.ts) against golden text from ipvsadm's printf formats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatConns,
  formatLaddrs,
  formatList,
  formatResult,
  formatSave,
  formatTimeouts,
  largenum,
  prefixToDotted,
  schedFlagNames,
} from '../../src/cli/format.js';
import { DEFAULT_FORMAT, type FormatOptions } from '../../src/cli/parse.js';
import {
  CONNS,
  DUMP_SERVICES,
  GOLDEN_CONNS,
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
  test('-L -c: ipvsadm columns plus local', () => {
    assert.equal(formatConns(CONNS, N), text(GOLDEN_CONNS));
  });

  test('-L -c without -n names addresses too', () => {
    const out = formatConns([CONNS[0]!], DEFAULT_FORMAT, TEST_NAMES).split('\n');
    assert.equal(
      out[2],
      'TCP 14:59  ESTABLISHED 198.51.100.2:40000 vip.example:http   rs1.example:http   192.0.2.200:1025',
    );
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
      formatSave({ services: DUMP_SERVICES, timeouts: { tcp: 900, tcpfin: 120, udp: 300 } }),
      text(GOLDEN_SAVE),
    );
  });

  test('formatResult dispatches on the view', () => {
    assert.equal(formatResult('list', { services: SERVICES }, N, TEST_NAMES), text(GOLDEN_LIST));
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
