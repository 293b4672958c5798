// Daemon results used by the CLI tests, and the ipvsadm text they must print. The golden lines were
// produced by a C program calling printf with ipvsadm's own format strings (print_title,
// print_service_entry, print_largenum; Alibaba's -G formats) on the same values; trailing blanks are
// part of ipvsadm's output ("%-10u" pads the last column).

import { namesFromText } from '../../src/cli/names.js';
import type { ConnInfo, ServiceConfig, ServiceInfo } from '../../src/control/protocol.js';

type Stats = ServiceInfo['stats'];
type Rates = ServiceInfo['rates'];
type DestInfo = ServiceInfo['dests'][number];

const ZERO_STATS: Stats = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
const ZERO_RATES: Rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

function stats(conns: number, inPkts: number, outPkts: number, inBytes: number, outBytes: number): Stats {
  return { conns, inPkts, outPkts, inBytes, outBytes };
}

function rates(cps: number, inpps: number, outpps: number, inbps: number, outbps: number): Rates {
  return { cps, inpps, outpps, inbps, outbps };
}

function dest(addr: string, port: number, o: Partial<DestInfo> = {}): DestInfo {
  return {
    addr,
    port,
    family: addr.includes(':') ? 6 : 4,
    fwd: 0,
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    activeConns: 0,
    inactConns: 0,
    persistConns: 0,
    overloaded: false,
    stats: ZERO_STATS,
    rates: ZERO_RATES,
    ...o,
  };
}

function service(proto: 'tcp' | 'udp', addr: string, port: number, o: Partial<ServiceInfo>): ServiceInfo {
  const family = addr.includes(':') ? 6 : 4;
  return {
    proto,
    family,
    addr,
    port,
    sched: 'wlc',
    schedFlags: 0,
    persistTimeout: 0,
    persistPrefix: family === 4 ? 32 : 128,
    synproxy: false,
    toa: true,
    conns: 0,
    stats: ZERO_STATS,
    rates: ZERO_RATES,
    dests: [],
    laddrs: [],
    ...o,
  };
}

export const SVC_A = service('tcp', '203.0.113.10', 80, {
  synproxy: true,
  stats: stats(99999999, 100000000, 999999999, 1000000000, 99999999999),
  rates: rates(100000000, 1, 2, 3, 4),
  // Daemon order is not sorted order.
  dests: [
    dest('192.0.2.22', 8080, {
      weight: 0,
      activeConns: 5,
      inactConns: 6,
      uThreshold: 100,
      lThreshold: 50,
      persistConns: 2,
      stats: stats(123456789, 5, 6, 7, 8),
    }),
    dest('192.0.2.21', 80, {
      stats: stats(100000000000, 99999999999999, 100000000000000, 0, 1),
      rates: rates(1, 2, 3, 150000000, 99999999),
    }),
  ],
  laddrs: [
    {
      addr: '192.0.2.200',
      family: 4,
      conns: 17,
      conflicts: 0,
      portCount: 64511,
      tcpPortsUsed: 9,
      udpPortsUsed: 0,
    },
    {
      addr: '192.0.2.201',
      family: 4,
      conns: 0,
      conflicts: 3,
      portCount: 64511,
      tcpPortsUsed: 0,
      udpPortsUsed: 0,
    },
  ],
});

export const SVC_B = service('tcp', '203.0.113.11', 443, {
  sched: 'rr',
  persistTimeout: 300,
  persistPrefix: 24,
  stats: stats(1, 2, 3, 4, 5),
  dests: [
    dest('192.0.2.23', 443, {
      weight: 100,
      activeConns: 12345,
      inactConns: 67890,
      persistConns: 7,
      stats: stats(1, 2, 3, 4, 5),
      rates: rates(6, 7, 8, 9, 10),
    }),
  ],
});

export const SVC_C = service('udp', '2001:db8:203::10', 53, {
  sched: 'sh',
  schedFlags: 3,
  persistTimeout: 600,
  persistPrefix: 64,
  stats: stats(12, 0, 0, 0, 0),
  dests: [
    dest('2001:db8:2::22', 53, { weight: 2, inactConns: 7 }),
    dest('2001:db8:2::21', 53, { activeConns: 3, inactConns: 4 }),
  ],
});

/** The daemon's order (sorted: A, B, C). */
export const SERVICES: ServiceInfo[] = [SVC_C, SVC_A, SVC_B];

export const GOLDEN_LIST = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  'TCP  203.0.113.10:80 wlc synproxy',
  '  -> 192.0.2.21:80                FullNat 1      0          0         ',
  '  -> 192.0.2.22:8080              FullNat 0      5          6         ',
  'TCP  203.0.113.11:443 rr persistent 300 mask 255.255.255.0',
  '  -> 192.0.2.23:443               FullNat 100    12345      67890     ',
  'UDP  [2001:db8:203::10]:53 sh (sh-fallback,sh-port) persistent 600 mask 64',
  '  -> [2001:db8:2::21]:53          FullNat 1      3          4         ',
  '  -> [2001:db8:2::22]:53          FullNat 2      0          7         ',
];

export const GOLDEN_STATS = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
  '  -> RemoteAddress:Port',
  'TCP  203.0.113.10:80              99999999  100000K  999999K    1000M   99999M',
  '  -> 192.0.2.21:80                    100G   99999G     100T        0        1',
  '  -> 192.0.2.22:8080               123456K        5        6        7        8',
  'TCP  203.0.113.11:443                    1        2        3        4        5',
  '  -> 192.0.2.23:443                      1        2        3        4        5',
  'UDP  [2001:db8:203::10]:53              12        0        0        0        0',
  '  -> [2001:db8:2::21]:53                 0        0        0        0        0',
  '  -> [2001:db8:2::22]:53                 0        0        0        0        0',
];

export const GOLDEN_EXACT = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
  '  -> RemoteAddress:Port',
  'TCP  203.0.113.10:80              99999999 100000000 999999999 1000000000 99999999999',
  '  -> 192.0.2.21:80                100000000000 99999999999999 100000000000000        0        1',
  '  -> 192.0.2.22:8080              123456789        5        6        7        8',
  'TCP  203.0.113.11:443                    1        2        3        4        5',
  '  -> 192.0.2.23:443                      1        2        3        4        5',
  'UDP  [2001:db8:203::10]:53              12        0        0        0        0',
  '  -> [2001:db8:2::21]:53                 0        0        0        0        0',
  '  -> [2001:db8:2::22]:53                 0        0        0        0        0',
];

export const GOLDEN_RATE = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS',
  '  -> RemoteAddress:Port',
  'TCP  203.0.113.10:80               100000K        1        2        3        4',
  '  -> 192.0.2.21:80                       1        2        3  150000K 99999999',
  '  -> 192.0.2.22:8080                     0        0        0        0        0',
  'TCP  203.0.113.11:443                    0        0        0        0        0',
  '  -> 192.0.2.23:443                      6        7        8        9       10',
  'UDP  [2001:db8:203::10]:53               0        0        0        0        0',
  '  -> [2001:db8:2::21]:53                 0        0        0        0        0',
  '  -> [2001:db8:2::22]:53                 0        0        0        0        0',
];

export const GOLDEN_THRESHOLDS = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ',
  '  -> RemoteAddress:Port',
  'TCP  203.0.113.10:80 wlc synproxy',
  '  -> 192.0.2.21:80                0          0          0          0         ',
  '  -> 192.0.2.22:8080              100        50         5          6         ',
  'TCP  203.0.113.11:443 rr persistent 300 mask 255.255.255.0',
  '  -> 192.0.2.23:443               0          0          12345      67890     ',
  'UDP  [2001:db8:203::10]:53 sh (sh-fallback,sh-port) persistent 600 mask 64',
  '  -> [2001:db8:2::21]:53          0          0          3          4         ',
  '  -> [2001:db8:2::22]:53          0          0          0          7         ',
];

export const GOLDEN_PCONN = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ',
  '  -> RemoteAddress:Port',
  'TCP  203.0.113.10:80 wlc synproxy',
  '  -> 192.0.2.21:80                1         0           0          0         ',
  '  -> 192.0.2.22:8080              0         2           5          6         ',
  'TCP  203.0.113.11:443 rr persistent 300 mask 255.255.255.0',
  '  -> 192.0.2.23:443               100       7           12345      67890     ',
  'UDP  [2001:db8:203::10]:53 sh (sh-fallback,sh-port) persistent 600 mask 64',
  '  -> [2001:db8:2::21]:53          1         0           3          4         ',
  '  -> [2001:db8:2::22]:53          2         0           0          7         ',
];

/** -L -n -t 203.0.113.11:443 (list_service: no version line). */
export const GOLDEN_ONE = [
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  'TCP  203.0.113.11:443 rr persistent 300 mask 255.255.255.0',
  '  -> 192.0.2.23:443               FullNat 100    12345      67890     ',
];

export const CONNS: ConnInfo[] = [
  {
    proto: 'tcp',
    family: 4,
    caddr: '198.51.100.2',
    cport: 40000,
    vaddr: '203.0.113.10',
    vport: 80,
    laddr: '192.0.2.200',
    lport: 1025,
    daddr: '192.0.2.21',
    dport: 80,
    state: 'ESTABLISHED',
    expiresIn: 899_999,
  },
  {
    proto: 'udp',
    family: 6,
    caddr: '2001:db8:100::2',
    cport: 5353,
    vaddr: '2001:db8:203::10',
    vport: 53,
    laddr: '2001:db8:2::200',
    lport: 1026,
    daddr: '2001:db8:2::21',
    dport: 53,
    state: 'UDP',
    expiresIn: 5_400,
  },
  {
    proto: 'tcp',
    family: 4,
    caddr: '198.51.100.2',
    cport: 1,
    vaddr: '203.0.113.10',
    vport: 80,
    laddr: '192.0.2.201',
    lport: 65535,
    daddr: '192.0.2.22',
    dport: 8080,
    state: 'SYN_RECV',
    expiresIn: 6_000_000,
  },
];

/** ipvsadm's `-L -c` columns (pro expire state source virtual destination) + lvsadm's `local`. */
/** -L -c -n of CONNS: ipvsadm's print_conn columns, the destination last and unpadded. */
export const GOLDEN_CONNS = [
  'IPVS connection entries',
  'pro expire state       source             virtual            destination',
  'TCP 14:59  ESTABLISHED 198.51.100.2:40000 203.0.113.10:80    192.0.2.21:80',
  'UDP 00:05  UDP         [2001:db8:100::2]:5353 [2001:db8:203::10]:53 [2001:db8:2::21]:53',
  'TCP 100:00 SYN_RECV    198.51.100.2:1     203.0.113.10:80    192.0.2.22:8080',
];

/** The same with lvsadm's --show-laddr: the local address as a last column. */
export const GOLDEN_CONNS_LADDR = [
  'IPVS connection entries',
  'pro expire state       source             virtual            destination        local',
  'TCP 14:59  ESTABLISHED 198.51.100.2:40000 203.0.113.10:80    192.0.2.21:80      192.0.2.200:1025',
  'UDP 00:05  UDP         [2001:db8:100::2]:5353 [2001:db8:203::10]:53 [2001:db8:2::21]:53 [2001:db8:2::200]:1026',
  'TCP 100:00 SYN_RECV    198.51.100.2:1     203.0.113.10:80    192.0.2.22:8080    192.0.2.201:65535',
];

/** Alibaba's -G over [SVC_A, SVC_B]. */
export const GOLDEN_LADDRS = [
  'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS      PORTS',
  '203.0.113.10:80      2        ',
  '                              192.0.2.200          0          17         9/64511',
  '                              192.0.2.201          3          0          0/64511',
  '203.0.113.11:443     0        ',
];

/** The -S form of SERVICES (what `dump` returns), in the daemon's order. */
export const DUMP_SERVICES: ServiceConfig[] = [
  {
    svc: { proto: 'udp', addr: '2001:db8:203::10', port: 53 },
    opts: { sched: 'sh', schedFlags: 3, persistTimeout: 600, persistPrefix: 64, synproxy: false, toa: true },
    dests: [
      { addr: '2001:db8:2::22', port: 53, weight: 2, uThreshold: 0, lThreshold: 0 },
      { addr: '2001:db8:2::21', port: 53, weight: 1, uThreshold: 0, lThreshold: 0 },
    ],
    laddrs: ['2001:db8:2::200'],
  },
  {
    svc: { proto: 'tcp', addr: '203.0.113.10', port: 80 },
    opts: { sched: 'wlc', schedFlags: 0, persistTimeout: 0, persistPrefix: 32, synproxy: true, toa: true },
    dests: [
      { addr: '192.0.2.22', port: 8080, weight: 0, uThreshold: 100, lThreshold: 50 },
      { addr: '192.0.2.21', port: 80, weight: 1, uThreshold: 0, lThreshold: 0 },
    ],
    laddrs: ['192.0.2.200', '192.0.2.201'],
  },
  {
    svc: { proto: 'tcp', addr: '203.0.113.11', port: 443 },
    opts: { sched: 'rr', schedFlags: 0, persistTimeout: 300, persistPrefix: 24, synproxy: false, toa: false },
    dests: [{ addr: '192.0.2.23', port: 443, weight: 100, uThreshold: 0, lThreshold: 0 }],
    laddrs: [],
  },
];

export const GOLDEN_SAVE = [
  '-A -t 203.0.113.10:80 -s wlc -j enable',
  '-a -t 203.0.113.10:80 -r 192.0.2.21:80 -b -w 1',
  '-a -t 203.0.113.10:80 -r 192.0.2.22:8080 -b -w 0 -x 100 -y 50',
  '-A -t 203.0.113.11:443 -s rr -p 300 -M 255.255.255.0 --toa off',
  '-a -t 203.0.113.11:443 -r 192.0.2.23:443 -b -w 100',
  '-A -u [2001:db8:203::10]:53 -s sh -p 600 -M 64 -b sh-fallback,sh-port',
  '-a -u [2001:db8:203::10]:53 -r [2001:db8:2::21]:53 -b -w 1',
  '-a -u [2001:db8:203::10]:53 -r [2001:db8:2::22]:53 -b -w 2',
  '-P -t 203.0.113.10:80 -z 192.0.2.200',
  '-P -t 203.0.113.10:80 -z 192.0.2.201',
  '-P -u [2001:db8:203::10]:53 -z 2001:db8:2::200',
];

/** A hosts file and a services file for name tests (no dependence on the machine's /etc). */
export const TEST_NAMES = namesFromText(
  [
    '# test hosts',
    '127.0.0.1 localhost',
    '203.0.113.10 vip.example vip',
    '192.0.2.21 rs1.example rs1 # comment',
    '2001:db8:2::21 rs1v6.example',
    '2001:db8:2::22 both.example',
    '192.0.2.99 both.example',
    '203.0.113.12 a-very-long-virtual-host-name.example',
    '192.0.2.24 a-very-long-real-server-host-name.example',
  ].join('\n'),
  [
    '# test services',
    'http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP',
    'https\t\t443/tcp',
    'domain\t\t53/tcp',
    'domain\t\t53/udp',
    'tftp\t\t69/udp',
  ].join('\n'),
);

export function text(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}
