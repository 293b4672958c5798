// -R (src/cli/restore.ts): -S output reads back into one all-or-nothing batch with the same table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CliError } from '../../src/cli/cli-error.js';
import { formatSave } from '../../src/cli/format.js';
import { lineWords, parseRestore } from '../../src/cli/restore.js';
import { defaultSysctls } from '../../src/common/sysctls.js';
import type { Request, ServiceConfig } from '../../src/control/protocol.js';
import { DUMP_SERVICES, GOLDEN_SAVE, TEST_NAMES, text } from './fixtures.js';

/** A minimal model of the daemon's table: applies restore requests with the daemon's defaults. */
function apply(requests: readonly Request[]): ServiceConfig[] {
  const table: ServiceConfig[] = [];
  const find = (svc: ServiceConfig['svc']) => {
    const s = table.find(
      (t) => t.svc.proto === svc.proto && t.svc.addr === svc.addr && t.svc.port === svc.port,
    );
    assert.ok(s, `service ${JSON.stringify(svc)} exists`);
    return s;
  };
  for (const r of requests) {
    switch (r.op) {
      case 'addService':
        table.push({
          svc: r.svc,
          opts: {
            sched: r.opts.sched ?? 'wlc',
            schedFlags: r.opts.schedFlags ?? 0,
            persistTimeout: r.opts.persistTimeout ?? 0,
            persistPrefix: r.opts.persistPrefix ?? (r.svc.addr.includes(':') ? 128 : 32),
            synproxy: r.opts.synproxy ?? false,
            toa: r.opts.toa ?? true,
          },
          dests: [],
          laddrs: [],
        });
        break;
      case 'addDest':
        find(r.svc).dests.push({
          addr: r.dest.addr,
          port: r.dest.port,
          weight: r.dest.weight ?? 1,
          uThreshold: r.dest.uThreshold ?? 0,
          lThreshold: r.dest.lThreshold ?? 0,
        });
        break;
      case 'addLaddr':
        find(r.svc).laddrs.push(r.addr);
        break;
      default:
        assert.fail(`unexpected ${r.op} in a -S restore`);
    }
  }
  return table;
}

function canonical(services: readonly ServiceConfig[]): string[] {
  return services
    .map((s) =>
      JSON.stringify({
        ...s,
        dests: [...s.dests].sort((a, b) => (`${a.addr}:${a.port}` < `${b.addr}:${b.port}` ? -1 : 1)),
      }),
    )
    .sort();
}

describe('-S then -R', () => {
  test('round trip: the restored table equals the saved one', () => {
    const saved = formatSave({
      services: DUMP_SERVICES,
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
      sysctl: defaultSysctls(),
    });
    const { request, lines } = parseRestore(saved);
    assert.equal(request.op, 'batch');
    assert.equal(request.requests.length, GOLDEN_SAVE.length);
    assert.deepEqual(
      lines,
      GOLDEN_SAVE.map((_, i) => i + 1),
    );
    assert.deepEqual(canonical(apply(request.requests)), canonical(DUMP_SERVICES));
  });

  test('the batch holds the requests in file order', () => {
    const { request } = parseRestore(
      text([
        '-A -t 203.0.113.10:80 -s wlc -j enable',
        '-a -t 203.0.113.10:80 -r 192.0.2.22:8080 -b -w 0 -x 100 -y 50',
        '-P -t 203.0.113.10:80 -z 192.0.2.200',
      ]),
    );
    const svc = { proto: 'tcp', addr: '203.0.113.10', port: 80 } as const;
    assert.deepEqual(request, {
      op: 'batch',
      requests: [
        { op: 'addService', svc, opts: { sched: 'wlc', synproxy: true } },
        {
          op: 'addDest',
          svc,
          dest: { addr: '192.0.2.22', port: 8080, weight: 0, uThreshold: 100, lThreshold: 50 },
        },
        { op: 'addLaddr', svc, addr: '192.0.2.200' },
      ],
    });
  });

  test('comments, blank lines, CRLF and a leading program name are skipped', () => {
    const { request, lines } = parseRestore(
      [
        '# saved by ipvsadm-save',
        '',
        'ipvsadm -A -t 203.0.113.10:80 -s rr   # web',
        '\t lvsadm -C\r',
        '   ',
        '--set 900 120 300',
      ].join('\n'),
    );
    assert.deepEqual(
      request.requests.map((r) => r.op),
      ['addService', 'flush', 'setTimeouts'],
    );
    assert.deepEqual(lines, [3, 4, 6]);
  });

  test('names are resolved as on the command line', () => {
    const { request } = parseRestore('-A -t vip.example:http -s rr\n', TEST_NAMES);
    assert.deepEqual(request.requests[0], {
      op: 'addService',
      svc: { proto: 'tcp', addr: '203.0.113.10', port: 80 },
      opts: { sched: 'rr' },
    });
  });

  test('an empty file is an empty batch', () => {
    assert.deepEqual(parseRestore('').request, { op: 'batch', requests: [] });
    assert.deepEqual(parseRestore('# nothing\n\n').request, { op: 'batch', requests: [] });
  });

  test('lineWords', () => {
    assert.deepEqual(lineWords('  -A\t-t  1.2.3.4:80#x'), ['-A', '-t', '1.2.3.4:80#x']);
    assert.deepEqual(lineWords('-A -t 1.2.3.4:80 #comment -s rr'), ['-A', '-t', '1.2.3.4:80']);
    assert.deepEqual(lineWords('ipvsadm'), []);
  });
});

describe('-R errors name the line', () => {
  const cases: [string[], string][] = [
    [
      ['-A -t 203.0.113.10:80', '-a -t 203.0.113.10:80 -r 192.0.2.21 -g'],
      'line 2: direct routing needs L2 I/O; not supported by lvsadm yet',
    ],
    [
      ['', '# c', '-A -t 203.0.113.10:80 -w 1'],
      "line 3: Illegal 'weight' option with the 'add-service' command",
    ],
    [['-A -t 203.0.113.10:99999'], 'line 1: illegal virtual server address[:port] specified'],
    [['-L -n'], "line 1: the 'list' command cannot be restored"],
    [['-S'], "line 1: the 'save' command cannot be restored"],
    [['-G'], "line 1: the 'get-laddr' command cannot be restored"],
    [['-R'], "line 1: the 'restore' command cannot be restored"],
    [['-h'], "line 1: the 'help' command cannot be restored"],
    [['-L --ext-stats'], "line 1: the 'list' command cannot be restored"],
    [['--sysctl'], "line 1: the 'sysctl' command cannot be restored"],
    [['-C', '--sysctl synproxy_sack'], "line 2: the 'sysctl' command cannot be restored"],
    [['--sysctl synproxy_sack=3'], "line 1: invalid value `3' for synproxy_sack: must be 0 or 1"],
    [
      ['-A -t 203.0.113.10:80', 'daemon --tun x'],
      "line 2: lvsadm: the command (-A, -E, -D, -C, -R, -S, -a, -e, -d, -L, -Z, --set, --sysctl, -P, -Q, -G) must be the first option\nTry `lvsadm -h' or 'lvsadm --help' for more information.",
    ],
  ];
  for (const [input, message] of cases) {
    test(message.split('\n')[0]!, () => {
      assert.throws(
        () => parseRestore(text(input)),
        // ipvsadm: 255 where it calls tryhelp_exit(-1), 2 for its fail().
        (e: unknown) =>
          e instanceof CliError &&
          e.exitCode === (message.includes('\nTry `lvsadm') ? 255 : 2) &&
          e.message === message,
      );
    });
  }
});

describe('-S then -R: sysctls', () => {
  test('the non-default sysctls come back as setSysctl requests, after the rules', () => {
    const sysctl = { ...defaultSysctls(), synproxy_init_mss: 1400, synproxy_defer: 1 };
    const saved = formatSave({
      services: DUMP_SERVICES,
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
      sysctl,
    });
    const { request, lines } = parseRestore(saved);
    const n = GOLDEN_SAVE.length;
    assert.equal(request.requests.length, n + 2);
    assert.deepEqual(request.requests.slice(n), [
      { op: 'setSysctl', values: { synproxy_init_mss: 1400 } },
      { op: 'setSysctl', values: { synproxy_defer: 1 } },
    ]);
    assert.deepEqual(lines.slice(n), [n + 1, n + 2]);
    assert.deepEqual(canonical(apply(request.requests.slice(0, n))), canonical(DUMP_SERVICES));
    // Applied over the defaults, they give the saved values back.
    let back = defaultSysctls();
    for (const r of request.requests) if (r.op === 'setSysctl') back = { ...back, ...r.values };
    assert.deepEqual(back, sysctl);
  });

  test('a hand-written line may set several at once, with the net.ipv4.vs. prefix', () => {
    const { request } = parseRestore(
      'lvsadm --sysctl net.ipv4.vs.synproxy_sack=0 synproxy_wscale=7 # tuned\n',
    );
    assert.deepEqual(request.requests, [
      { op: 'setSysctl', values: { synproxy_sack: 0, synproxy_wscale: 7 } },
    ]);
  });
});
