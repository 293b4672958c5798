// The ipvsadm command line (src/cli/parse.ts driven by src/cli/spec.ts): requests, defaults and
// ipvsadm's error texts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CliError } from '../../src/cli/cli-error.js';
import {
  DEFAULT_FORMAT,
  type ParseResult,
  parseArgs,
  parseNetmask,
  parseSchedFlags,
  parseServiceAddress,
} from '../../src/cli/parse.js';
import type { Request } from '../../src/control/protocol.js';
import { TEST_NAMES } from './fixtures.js';

const VIP = '203.0.113.10:80';
const SVC = { proto: 'tcp', addr: '203.0.113.10', port: 80 } as const;

function words(cmd: string): string[] {
  return cmd.split(' ').filter((w) => w !== '');
}

function parse(cmd: string): ParseResult {
  return parseArgs(words(cmd), TEST_NAMES);
}

function request(cmd: string): Request {
  const r = parse(cmd);
  assert.equal(r.kind, 'request', `${cmd} -> ${JSON.stringify(r)}`);
  return (r as Extract<ParseResult, { kind: 'request' }>).request;
}

/**
 * ipvsadm's status for a command line it rejects: 255 (-1) for what popt cannot parse (unknown
 * option, missing argument, a value where none is taken) and for tryhelp_exit (no command first,
 * an unknown word); 2 for its own fail().
 */
function statusOf(message: string): number {
  return /: (unknown option|missing argument|option does not take a value)$/.test(message) ||
    /\nTry `lvsadm -h'/.test(message)
    ? 255
    : 2;
}

/** Asserts `cmd` fails with exactly `message` and ipvsadm's exit status for it. */
function fails(cmd: string, message: string): void {
  assert.throws(
    () => parse(cmd),
    (e: unknown) => {
      assert.ok(e instanceof CliError, `${cmd}: ${String(e)}`);
      assert.equal(e.message, message, cmd);
      assert.equal(e.exitCode, statusOf(message), cmd);
      return true;
    },
  );
}

/** What -E sets for the options not given (ipvsadm: wlc, not persistent, full mask, no flags). */
const E_DEFAULTS = {
  sched: 'wlc',
  schedFlags: 0,
  persistTimeout: 0,
  persistPrefix: 32,
  synproxy: false,
  toa: true,
};

describe('each command builds its request', () => {
  const cases: [string, Request][] = [
    [`-A -t ${VIP}`, { op: 'addService', svc: SVC, opts: { sched: 'wlc' } }],
    [`-A -t ${VIP} -s rr`, { op: 'addService', svc: SVC, opts: { sched: 'rr' } }],
    [`-A -t ${VIP} -j enable`, { op: 'addService', svc: SVC, opts: { sched: 'wlc', synproxy: true } }],
    [
      `-A -t ${VIP} -j disable --toa off`,
      { op: 'addService', svc: SVC, opts: { sched: 'wlc', synproxy: false, toa: false } },
    ],
    [`-A -t ${VIP} --toa on`, { op: 'addService', svc: SVC, opts: { sched: 'wlc', toa: true } }],
    [
      `-A -t ${VIP} -s sh -b sh-fallback,sh-port -p 60 -M 255.255.255.0`,
      {
        op: 'addService',
        svc: SVC,
        opts: { sched: 'sh', schedFlags: 3, persistTimeout: 60, persistPrefix: 24 },
      },
    ],
    [
      '-A -u 203.0.113.10:53',
      { op: 'addService', svc: { proto: 'udp', addr: '203.0.113.10', port: 53 }, opts: { sched: 'wlc' } },
    ],
    // -E replaces as ipvsadm's does (omitted: -A's defaults, lvsadm's -j and --toa too) ...
    [`-E -t ${VIP} -s rr`, { op: 'editService', svc: SVC, opts: { ...E_DEFAULTS, sched: 'rr' } }],
    [`-E -t ${VIP} -p 0`, { op: 'editService', svc: SVC, opts: E_DEFAULTS }],
    [`-E -t ${VIP}`, { op: 'editService', svc: SVC, opts: E_DEFAULTS }],
    [
      `-E -t ${VIP} -p 60 -M 255.255.0.0 -j enable`,
      {
        op: 'editService',
        svc: SVC,
        opts: { ...E_DEFAULTS, persistTimeout: 60, persistPrefix: 16, synproxy: true },
      },
    ],
    // ... and --merge changes only what is given.
    [`-E -t ${VIP} -s rr --merge`, { op: 'editService', svc: SVC, opts: { sched: 'rr' } }],
    [`-E -t ${VIP} -p 0 --merge`, { op: 'editService', svc: SVC, opts: { persistTimeout: 0 } }],
    [`-E -t ${VIP} --merge`, { op: 'editService', svc: SVC, opts: {} }],
    [`-D -t ${VIP}`, { op: 'delService', svc: SVC }],
    ['-C', { op: 'flush' }],
    [
      `-a -t ${VIP} -r 192.0.2.21`,
      { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80, weight: 1 } },
    ],
    [
      `-a -t ${VIP} -r 192.0.2.21:8080 -b -w 3 -x 100 -y 50`,
      {
        op: 'addDest',
        svc: SVC,
        dest: { addr: '192.0.2.21', port: 8080, weight: 3, uThreshold: 100, lThreshold: 50 },
      },
    ],
    [
      `-e -t ${VIP} -r 192.0.2.21 -w 0`,
      {
        op: 'editDest',
        svc: SVC,
        addr: '192.0.2.21',
        port: 80,
        change: { weight: 0, uThreshold: 0, lThreshold: 0 },
      },
    ],
    [
      `-e -t ${VIP} -r 192.0.2.21 -x 9`,
      {
        op: 'editDest',
        svc: SVC,
        addr: '192.0.2.21',
        port: 80,
        change: { weight: 1, uThreshold: 9, lThreshold: 0 },
      },
    ],
    [
      `-e -t ${VIP} -r 192.0.2.21 -x 9 --merge`,
      { op: 'editDest', svc: SVC, addr: '192.0.2.21', port: 80, change: { uThreshold: 9 } },
    ],
    [`-d -t ${VIP} -r 192.0.2.21:81`, { op: 'delDest', svc: SVC, addr: '192.0.2.21', port: 81 }],
    [`-P -t ${VIP} -z 192.0.2.200`, { op: 'addLaddr', svc: SVC, addr: '192.0.2.200' }],
    [`-Q -t ${VIP} -z 192.0.2.200`, { op: 'delLaddr', svc: SVC, addr: '192.0.2.200' }],
    ['-G', { op: 'list' }],
    [`-G -t ${VIP}`, { op: 'list', svc: SVC }],
    ['-L', { op: 'list' }],
    ['-l -n', { op: 'list' }],
    [`-L -n -t ${VIP}`, { op: 'list', svc: SVC }],
    ['-L -c', { op: 'listConns' }],
    ['-L --timeout', { op: 'getTimeouts' }],
    ['-S', { op: 'dump' }],
    ['-S -n', { op: 'dump' }],
    ['-Z', { op: 'zero' }],
    [`-Z -t ${VIP}`, { op: 'zero', svc: SVC }],
    ['--set 900 120 300', { op: 'setTimeouts', timeouts: { tcp: 900, tcpfin: 120, udp: 300 } }],
    ['--set 0 0 5', { op: 'setTimeouts', timeouts: { tcp: 0, tcpfin: 0, udp: 5 } }],
  ];
  for (const [cmd, want] of cases) {
    test(cmd, () => assert.deepEqual(request(cmd), want));
  }

  test('long forms', () => {
    assert.deepEqual(request(`--add-service --tcp-service ${VIP} --scheduler rr --persistent`), {
      op: 'addService',
      svc: SVC,
      opts: { sched: 'rr', persistTimeout: 300 },
    });
    assert.deepEqual(
      request(`--add-server --tcp-service=${VIP} --real-server=192.0.2.21 --fullnat --weight=2`),
      {
        op: 'addDest',
        svc: SVC,
        dest: { addr: '192.0.2.21', port: 80, weight: 2 },
      },
    );
    assert.deepEqual(request(`--add-laddr -t ${VIP} --laddr 192.0.2.200`), {
      op: 'addLaddr',
      svc: SVC,
      addr: '192.0.2.200',
    });
    assert.deepEqual(request(`--edit-service -t ${VIP} --sched-flags flag-2 --synproxy enable`), {
      op: 'editService',
      svc: SVC,
      opts: { ...E_DEFAULTS, schedFlags: 2, synproxy: true },
    });
    assert.deepEqual(request('--list --numeric --connection'), { op: 'listConns' });
    assert.deepEqual(request('--clear'), { op: 'flush' });
    assert.deepEqual(request('--zero'), { op: 'zero' });
    assert.deepEqual(request('--save'), { op: 'dump' });
    assert.deepEqual(request(`--get-laddr -t ${VIP}`), { op: 'list', svc: SVC });
    assert.deepEqual(request(`--delete-server -t ${VIP} -r 192.0.2.21`), {
      op: 'delDest',
      svc: SVC,
      addr: '192.0.2.21',
      port: 80,
    });
  });

  test('no arguments lists the table (ipvsadm without arguments)', () => {
    assert.deepEqual(parseArgs([]), {
      kind: 'request',
      request: { op: 'list' },
      view: 'list',
      format: DEFAULT_FORMAT,
      socket: undefined,
    });
  });

  test('-R, -h, -v, --help, --version', () => {
    assert.deepEqual(parse('-R'), { kind: 'restore', lineByLine: false });
    assert.deepEqual(parse('-R --line-by-line'), { kind: 'restore', lineByLine: true });
    assert.deepEqual(parse('-h'), { kind: 'help' });
    assert.deepEqual(parse('--help'), { kind: 'help' });
    assert.deepEqual(parse('-v'), { kind: 'version' });
    assert.deepEqual(parse('--version'), { kind: 'version' });
    // ipvsadm stops at -h: whatever follows is not looked at.
    assert.deepEqual(parse('-h --bogus'), { kind: 'help' });
  });

  test('-L --daemon prints nothing (no sync daemon)', () => {
    assert.deepEqual(parse('-L --daemon'), { kind: 'print', text: '' });
  });

  test('subcommands keep their own arguments', () => {
    assert.deepEqual(parse('daemon --socket /tmp/s --tun lvs0'), {
      kind: 'subcommand',
      name: 'daemon',
      args: ['--socket', '/tmp/s', '--tun', 'lvs0'],
    });
    assert.deepEqual(parse('completion bash'), { kind: 'subcommand', name: 'completion', args: ['bash'] });
    assert.deepEqual(parse('top'), { kind: 'subcommand', name: 'top', args: [] });
  });

  test('--socket before or after the command', () => {
    const a = parse('--socket /tmp/a.sock -L -n');
    const b = parse('-L -n --socket=/tmp/b.sock');
    assert.equal(a.kind === 'request' && a.socket, '/tmp/a.sock');
    assert.equal(b.kind === 'request' && b.socket, '/tmp/b.sock');
    assert.deepEqual(parse('-R --socket /tmp/c.sock'), {
      kind: 'restore',
      lineByLine: false,
      socket: '/tmp/c.sock',
    });
  });
});

describe('list views and format options', () => {
  const cases: [string, string, Partial<typeof DEFAULT_FORMAT>][] = [
    ['-L', 'list', {}],
    ['-Ln', 'list', { numeric: true }],
    ['-L -n --stats', 'list', { numeric: true, stats: true }],
    ['-L --rate --exact', 'list', { rate: true, exact: true }],
    ['-L -X --stats', 'list', { exact: true, stats: true }],
    ['-L --thresholds', 'list', { thresholds: true }],
    ['-L --persistent-conn', 'list', { persistentConn: true }],
    ['-L --nosort', 'list', { nosort: true }],
    ['-L --sort', 'list', {}],
    ['-lnc', 'conns', { numeric: true }],
    ['-Lnc', 'conns', { numeric: true }],
    [`-Ln -t ${VIP}`, 'service', { numeric: true }],
    ['-L --timeout', 'timeout', {}],
    ['-S -n', 'save', { numeric: true }],
    ['-G', 'laddrs', {}],
    ['-A -t 203.0.113.10:80', 'none', {}],
    ['-L --ext-stats', 'ext-stats', {}],
    ['-l -n --ext-stats --exact', 'ext-stats', { numeric: true, exact: true }],
    ['--sysctl', 'sysctl', {}],
    ['--sysctl synproxy_sack', 'sysctl', {}],
    ['--sysctl synproxy_sack=1', 'none', {}],
  ];
  for (const [cmd, view, fmt] of cases) {
    test(cmd, () => {
      const r = parse(cmd);
      assert.equal(r.kind, 'request');
      if (r.kind !== 'request') return;
      assert.equal(r.view, view);
      assert.deepEqual(r.format, { ...DEFAULT_FORMAT, ...fmt });
    });
  }
});

describe('-p takes an optional value', () => {
  const cases: [string, number][] = [
    [`-A -t ${VIP} -p`, 300],
    [`-A -t ${VIP} -p 60`, 60],
    [`-A -t ${VIP} -p60`, 60],
    [`-A -t ${VIP} --persistent`, 300],
    [`-A -t ${VIP} --persistent 60`, 60],
    [`-A -t ${VIP} --persistent=60`, 60],
    [`-A -t ${VIP} -p -s rr`, 300],
    [`-A -p -t ${VIP}`, 300],
    [`-A -t ${VIP} -p 2678400`, 2678400],
  ];
  for (const [cmd, want] of cases) {
    test(cmd, () => {
      const r = request(cmd);
      assert.equal(r.op === 'addService' && r.opts.persistTimeout, want);
    });
  }

  test('a word after -p that starts with - is the next option', () => {
    const r = request(`-A -t ${VIP} -p -s rr`);
    assert.deepEqual(r, { op: 'addService', svc: SVC, opts: { sched: 'rr', persistTimeout: 300 } });
  });

  test('bad values', () => {
    fails(`-A -t ${VIP} -p abc`, "invalid timeout value `abc' specified");
    fails(`-A -t ${VIP} -p 2678401`, "invalid timeout value `2678401' specified");
    fails(`-A -t ${VIP} -p 0`, "invalid timeout value `0' specified");
    fails(`-A -t ${VIP} -p-1`, "invalid timeout value `-1' specified");
  });
});

describe('addresses', () => {
  test('IPv6 in brackets, bare IPv6 without a port', () => {
    assert.deepEqual(request('-A -t [2001:db8:203::10]:80'), {
      op: 'addService',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 80 },
      opts: { sched: 'wlc' },
    });
    assert.deepEqual(request('-A -t 2001:db8:203:0:0:0:0:10 -p'), {
      op: 'addService',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 0 },
      opts: { sched: 'wlc', persistTimeout: 300 },
    });
    assert.deepEqual(request('-a -t [2001:db8:203::10]:80 -r 2001:db8:2::21'), {
      op: 'addDest',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 80 },
      dest: { addr: '2001:db8:2::21', port: 80, weight: 1 },
    });
    assert.deepEqual(request('-a -t [2001:db8:203::10]:80 -r [2001:db8:2::21]:8080'), {
      op: 'addDest',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 80 },
      dest: { addr: '2001:db8:2::21', port: 8080, weight: 1 },
    });
    assert.deepEqual(request('-P -t [2001:db8:203::10]:80 -z 2001:db8:2::200'), {
      op: 'addLaddr',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 80 },
      addr: '2001:db8:2::200',
    });
    assert.deepEqual(request('-P -t [2001:db8:203::10]:80 -z [2001:db8:2::200]'), {
      op: 'addLaddr',
      svc: { proto: 'tcp', addr: '2001:db8:203::10', port: 80 },
      addr: '2001:db8:2::200',
    });
  });

  test('service names from the services file, per protocol', () => {
    assert.deepEqual(request('-A -t 203.0.113.10:http'), {
      op: 'addService',
      svc: SVC,
      opts: { sched: 'wlc' },
    });
    assert.deepEqual(request('-A -t 203.0.113.10:www'), {
      op: 'addService',
      svc: SVC,
      opts: { sched: 'wlc' },
    });
    assert.deepEqual(request('-A -u [2001:db8::1]:domain'), {
      op: 'addService',
      svc: { proto: 'udp', addr: '2001:db8::1', port: 53 },
      opts: { sched: 'wlc' },
    });
    assert.deepEqual(request('-a -t 203.0.113.10:https -r 192.0.2.21:http'), {
      op: 'addDest',
      svc: { ...SVC, port: 443 },
      dest: { addr: '192.0.2.21', port: 80, weight: 1 },
    });
    fails('-A -t 203.0.113.10:tftp', 'illegal virtual server address[:port] specified'); // tftp is udp only
    fails('-A -u 203.0.113.10:nosuch', 'illegal virtual server address[:port] specified');
  });

  test('host names from the hosts file only (IPv4 first)', () => {
    assert.deepEqual(request('-A -t vip.example:80'), { op: 'addService', svc: SVC, opts: { sched: 'wlc' } });
    assert.deepEqual(request('-a -t vip:http -r rs1'), {
      op: 'addDest',
      svc: SVC,
      dest: { addr: '192.0.2.21', port: 80, weight: 1 },
    });
    assert.deepEqual(request(`-P -t ${VIP} -z both.example`), {
      op: 'addLaddr',
      svc: SVC,
      addr: '192.0.2.99',
    });
    fails('-A -t unknown.example:80', 'illegal virtual server address[:port] specified');
    // Without names nothing is resolved.
    assert.throws(() => parseArgs(words('-A -t vip.example:80')), /illegal virtual server/);
  });

  test('parseServiceAddress corner cases (as ipvsadm parse_service)', () => {
    const p = (s: string) => parseServiceAddress(s, 'tcp', TEST_NAMES);
    assert.equal(p('80'), undefined); // all digits: not a host
    assert.equal(p('[2001:db8::1]'), undefined); // brackets need a port
    assert.equal(p('[2001:db8::1]80'), undefined);
    assert.equal(p('[192.0.2.1]:80'), undefined);
    assert.equal(p('203.0.113.10:65536'), undefined);
    assert.equal(p('203.0.113.10:'), undefined);
    assert.equal(p('256.1.1.1:80'), undefined);
    assert.deepEqual(p('203.0.113.10'), { family: 4, addr: '203.0.113.10' });
    assert.deepEqual(p('203.0.113.10:0'), { family: 4, addr: '203.0.113.10', port: 0 });
    assert.deepEqual(p('[2001:DB8::1]:65535'), { family: 6, addr: '2001:db8::1', port: 65535 });
    assert.deepEqual(p('::1'), { family: 6, addr: '::1' });
  });

  test('bad addresses', () => {
    fails('-A -t 80', 'illegal virtual server address[:port] specified');
    fails('-A -t 203.0.113.10:99999', 'illegal virtual server address[:port] specified');
    fails('-A -t [2001:db8::1]', 'illegal virtual server address[:port] specified');
    fails(`-a -t ${VIP} -r 192.0.2.300`, 'illegal real server address[:port] specified');
    fails(`-a -t ${VIP} -r 192.0.2.21:x`, 'illegal real server address[:port] specified');
    fails(`-P -t ${VIP} -z nosuchhost`, 'illegal local address');
  });

  test('zero port needs persistence', () => {
    fails('-A -t 203.0.113.10', 'Zero port specified for non-persistent service');
    fails('-A -t 203.0.113.10:0', 'Zero port specified for non-persistent service');
    assert.equal(request('-A -t 203.0.113.10 -p 10').op, 'addService');
  });

  test('real server and service of different families: says which is which, not tunnelling', () => {
    fails(
      `-a -t ${VIP} -r [2001:db8::1]:80`,
      'real server 2001:db8::1 is IPv6 and the virtual service IPv4: both must be of the same family',
    );
    fails(
      `-d -t ${VIP} -r 2001:db8::1`,
      'real server 2001:db8::1 is IPv6 and the virtual service IPv4: both must be of the same family',
    );
    fails(
      '-a -t [2001:db8::10]:80 -r 192.0.2.21',
      'real server 192.0.2.21 is IPv4 and the virtual service IPv6: both must be of the same family',
    );
  });

  test('an unbracketed IPv6 address with a port: the brackets are named', () => {
    fails(
      '-A -t 2001:db8::10:80',
      'IPv6 addresses with a port go in brackets: -t [2001:db8::10]:80 (2001:db8::10:80 is one address, without a port)',
    );
    fails(
      '-A -u 2001:db8::10:53 -s rr',
      'IPv6 addresses with a port go in brackets: -u [2001:db8::10]:53 (2001:db8::10:53 is one address, without a port)',
    );
    // a bare v6 service of port 0 with persistence stays valid
    assert.equal(request('-A -t 2001:db8::10 -p 10').op, 'addService');
  });
});

describe('values', () => {
  test('weight 0..65535', () => {
    assert.deepEqual(request(`-a -t ${VIP} -r 192.0.2.21 -w 65535`), {
      op: 'addDest',
      svc: SVC,
      dest: { addr: '192.0.2.21', port: 80, weight: 65535 },
    });
    fails(`-a -t ${VIP} -r 192.0.2.21 -w 65536`, 'illegal weight specified');
    fails(`-a -t ${VIP} -r 192.0.2.21 -w -1`, 'illegal weight specified');
    fails(`-a -t ${VIP} -r 192.0.2.21 -w x`, 'illegal weight specified');
  });

  test('thresholds', () => {
    fails(`-a -t ${VIP} -r 192.0.2.21 -x 2147483648`, 'illegal u_threshold specified');
    fails(`-a -t ${VIP} -r 192.0.2.21 -y abc`, 'illegal l_threshold specified');
    assert.deepEqual(request(`-a -t ${VIP} -r 192.0.2.21 -x2147483647 -y0`), {
      op: 'addDest',
      svc: SVC,
      dest: { addr: '192.0.2.21', port: 80, weight: 1, uThreshold: 2147483647, lThreshold: 0 },
    });
  });

  test('-M: dotted contiguous mask for IPv4, prefix length for IPv6', () => {
    assert.equal(parseNetmask('255.255.255.255', 4), 32);
    assert.equal(parseNetmask('255.255.240.0', 4), 20);
    assert.equal(parseNetmask('0.0.0.0', 4), 0);
    assert.equal(parseNetmask('64', 6), 64);
    assert.equal(parseNetmask('128', 6), 128);
    fails(`-A -t ${VIP} -p -M 255.0.255.0`, 'illegal virtual server persistent mask specified');
    fails(`-A -t ${VIP} -p -M 24`, 'illegal virtual server persistent mask specified');
    fails('-A -t [2001:db8::1]:80 -p -M 0', 'illegal ipv6 netmask specified');
    fails('-A -t [2001:db8::1]:80 -p -M 129', 'illegal ipv6 netmask specified');
    fails('-A -t [2001:db8::1]:80 -p -M ffff::', 'illegal ipv6 netmask specified');
    // The family comes from -t wherever -M is.
    const r = request('-A -M 48 -t [2001:db8::1]:80 -p');
    assert.equal(r.op === 'addService' && r.opts.persistPrefix, 48);
  });

  test('-s must be a known scheduler', () => {
    for (const s of ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf']) {
      const r = request(`-A -t ${VIP} -s ${s}`);
      assert.equal(r.op === 'addService' && r.opts.sched, s);
    }
    fails(
      `-A -t ${VIP} -s fast`,
      'Scheduler not found: fast (one of rr|wrr|lc|wlc|sed|nq|dh|sh|mh|lblc|lblcr|fo|ovf)',
    );
  });

  test('-b scheduler flags on -A/-E', () => {
    assert.equal(parseSchedFlags('flag-1,flag-3', 'wlc'), 5);
    assert.equal(parseSchedFlags('flag-2', 'sh'), 2);
    assert.equal(parseSchedFlags('sh-port', 'sh'), 2);
    assert.equal(parseSchedFlags('mh-fallback,mh-port', 'mh'), 3);
    fails(`-A -t ${VIP} -b sh-port`, "incompatible scheduler flag `sh-port'"); // default scheduler is wlc
    fails(`-A -t ${VIP} -s sh -b mh-port`, "incompatible scheduler flag `mh-port'");
    fails(`-A -t ${VIP} -b bogus`, "invalid scheduler flag `bogus'");
    fails(`-A -t ${VIP} -b ,`, "invalid scheduler flag `,'");
    fails(`-A -t ${VIP} -b`, '-b: missing argument');
    const r = request(`-A -b mh-port -t ${VIP} -s mh`);
    assert.equal(r.op === 'addService' && r.opts.schedFlags, 2);
  });

  test('-b on -a/-e is FULLNAT and takes no argument', () => {
    assert.deepEqual(request(`-a -t ${VIP} -b -r 192.0.2.21 -w 2`), {
      op: 'addDest',
      svc: SVC,
      dest: { addr: '192.0.2.21', port: 80, weight: 2 },
    });
    assert.deepEqual(request(`-e -t ${VIP} -r 192.0.2.21 -bw 5 --merge`), {
      op: 'editDest',
      svc: SVC,
      addr: '192.0.2.21',
      port: 80,
      change: { weight: 5 },
    });
  });

  test('other forwarding methods are refused by name', () => {
    fails(`-a -t ${VIP} -r 192.0.2.21 -g`, 'direct routing needs L2 I/O; not supported by lvsadm yet');
    fails(
      `-a -t ${VIP} -r 192.0.2.21 --gatewaying`,
      'direct routing needs L2 I/O; not supported by lvsadm yet',
    );
    fails(
      `-a -t ${VIP} -r 192.0.2.21 -m`,
      'masquerading (NAT, -m) is not supported by lvsadm yet: use -b (FULLNAT)',
    );
    fails(
      `-e -t ${VIP} -r 192.0.2.21 -i`,
      'ipip tunneling (-i) is not supported by lvsadm yet: use -b (FULLNAT)',
    );
    fails(`-a -t ${VIP} -r 192.0.2.21 -b -g`, "multiple 'forwarding-method' options specified");
  });

  test('-j and --toa switches', () => {
    fails(`-A -t ${VIP} -j on`, 'synproxy switch must be enable or disable');
    fails(`-A -t ${VIP} --toa enable`, 'toa switch must be on or off');
  });

  test('--set needs three timeouts', () => {
    fails('--set 1 2', '--set option requires 3 timeout values');
    fails('--set', '--set option requires 3 timeout values');
    fails('--set 1 2 3 4', 'unexpected argument 4');
    fails('--set 1 x 3', "invalid timeout value `x' specified");
    fails('--set 1 2 2678401', "invalid timeout value `2678401' specified");
  });

  test('fwmark services are recognised but refused', () => {
    fails('-A -f 1', 'fwmark services are not supported by lvsadm: use -t or -u');
  });
});

describe('the command table (commands_v_options)', () => {
  test('compulsory options', () => {
    fails('-A', "You need to supply the 'service-address' option for the 'add-service' command");
    fails('-E -s rr', "You need to supply the 'service-address' option for the 'edit-service' command");
    fails('-D', "You need to supply the 'service-address' option for the 'delete-service' command");
    fails(`-a -t ${VIP}`, "You need to supply the 'real-server' option for the 'add-server' command");
    fails(`-e -t ${VIP} -w 1`, "You need to supply the 'real-server' option for the 'edit-server' command");
    fails(`-d -t ${VIP}`, "You need to supply the 'real-server' option for the 'delete-server' command");
    fails(`-P -t ${VIP}`, "You need to supply the 'local-address' option for the 'add-laddr' command");
    fails('-Q -z 192.0.2.200', "You need to supply the 'service-address' option for the 'del-laddr' command");
  });

  test('illegal options', () => {
    fails(`-A -t ${VIP} -m`, "Illegal 'forwarding-method' option with the 'add-service' command");
    fails(`-A -t ${VIP} -w 2`, "Illegal 'weight' option with the 'add-service' command");
    fails(`-A -t ${VIP} -r 192.0.2.21`, "Illegal 'real-server' option with the 'add-service' command");
    fails(`-D -t ${VIP} -s rr`, "Illegal 'scheduler' option with the 'delete-service' command");
    fails(`-D -t ${VIP} -b flag-1`, "Illegal 'sched-flags' option with the 'delete-service' command");
    fails(`-a -t ${VIP} -r 192.0.2.21 -s rr`, "Illegal 'scheduler' option with the 'add-server' command");
    fails(`-a -t ${VIP} -r 192.0.2.21 -j enable`, "Illegal 'synproxy' option with the 'add-server' command");
    fails(
      `-a -t ${VIP} -r 192.0.2.21 --sched-flags flag-1`,
      "Illegal 'sched-flags' option with the 'add-server' command",
    );
    fails(`-A -t ${VIP} --fullnat`, "Illegal 'forwarding-method' option with the 'add-service' command");
    fails(`-d -t ${VIP} -r 192.0.2.21 -w 1`, "Illegal 'weight' option with the 'delete-server' command");
    fails('-C -n', "Illegal 'numeric' option with the 'flush' command");
    fails('-S --stats', "Illegal 'stats' option with the 'save' command");
    fails(`-S -t ${VIP}`, "Illegal 'service-address' option with the 'save' command");
    fails('-R -n', "Illegal 'numeric' option with the 'restore' command");
    fails('-Z -n', "Illegal 'numeric' option with the 'zero' command");
    fails('-G -n', "Illegal 'numeric' option with the 'get-laddr' command");
    fails('-L -s rr', "Illegal 'scheduler' option with the 'list' command");
    fails('--set 1 2 3 -n', "Illegal 'numeric' option with the 'set' command");
    fails(`-P -t ${VIP} -z 192.0.2.200 -w 1`, "Illegal 'weight' option with the 'add-laddr' command");
    fails(`-L -z 192.0.2.200`, "Illegal 'local-address' option with the 'list' command");
  });

  test('the first failing column decides (ipvsadm column order)', () => {
    // numeric comes before service-address and weight.
    fails('-D -w 1 -n', "Illegal 'numeric' option with the 'delete-service' command");
    fails('-a -w 1', "You need to supply the 'service-address' option for the 'add-server' command");
  });

  test('exclusive list options', () => {
    fails(
      `-L -c -t ${VIP}`,
      "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
    );
    fails(
      '-L --timeout -c',
      "The option 'timeout' conflicts with the 'connection' option in the 'list' command",
    );
    fails(
      '-L --daemon --timeout',
      "The option 'daemon' conflicts with the 'timeout' option in the 'list' command",
    );
  });

  test('options conflicts in the list command', () => {
    fails('-L -c --stats', 'options conflicts in the list command');
    fails('-L --timeout --rate', 'options conflicts in the list command');
    fails('-L --daemon --thresholds', 'options conflicts in the list command');
    fails('-L --timeout --persistent-conn', 'options conflicts in the list command');
    // --persistent-conn with -c is fine (ipvsadm shows persistence columns).
    assert.equal(request('-L -c --persistent-conn').op, 'listConns');
  });

  test('multiple commands and repeated options', () => {
    fails('-A -E', 'multiple commands specified');
    fails('-Ln -L', 'multiple commands specified');
    fails('-L --list', 'multiple commands specified');
    fails(`-A -t ${VIP} -u ${VIP}`, "multiple 'service-address' options specified");
    fails(`-A -t ${VIP} -s rr -s wlc`, "multiple 'scheduler' options specified");
    fails('-L -n -n', "multiple 'numeric' options specified");
    assert.equal(request('-L --sort --sort').op, 'list');
  });

  test('unknown options, missing arguments, stray words', () => {
    fails('-L --bogus', '--bogus: unknown option');
    fails('-L -k', '-k: unknown option');
    fails('-L --frobnicate', '--frobnicate: unknown option');
    fails('-A -t', '-t: missing argument');
    fails('-A --tcp-service', '--tcp-service: missing argument');
    fails('-L --numeric=yes', '--numeric: option does not take a value');
    fails('-C extra', 'unexpected argument extra');
    fails('-L -n extra', 'unexpected argument extra');
  });

  test("ipvsadm's options lvsadm lacks: refused with the reason (exit 2), not as unknown", () => {
    fails(`-A -q ${VIP}`, 'SCTP services are not supported by lvsadm: use -t (TCP) or -u (UDP)');
    fails(
      `-A -u ${VIP} -o`,
      'one-packet scheduling (-o/--ops) is not supported by lvsadm yet: each UDP flow is scheduled once',
    );
    fails(
      `-A -t ${VIP} -p 60 --pe sip`,
      'persistence engines (--pe sip) are not supported by lvsadm: use -p with -M for client-address persistence',
    );
    for (const t of ['--tun-type', '--tun-port', '--tun-nocsum', '--tun-csum', '--tun-remcsum'])
      fails(
        `-a -t ${VIP} -r 192.0.2.21 ${t}`,
        'tunnel options belong to ipip forwarding (-i), which lvsadm does not have yet: use -b (FULLNAT)',
      );
    fails(
      '--start-daemon master',
      'the IPVS connection-sync daemon is not part of lvsadm (its cluster mode will sync connections)',
    );
  });

  test('the command must come first', () => {
    const tryHelp = "Try `lvsadm -h' or 'lvsadm --help' for more information.";
    const msg = `lvsadm: the command (-A, -E, -D, -C, -R, -S, -a, -e, -d, -L, -Z, --set, --sysctl, -P, -Q, -G) must be the first option\n${tryHelp}`;
    fails(`-t ${VIP} -A`, msg);
    fails('-n -L', msg);
    fails('-x 1', msg);
    fails('--weight 1', msg);
    fails('-- -L', msg);
  });

  test('unknown subcommand', () => {
    fails(
      'frobnicate',
      "lvsadm: unknown command 'frobnicate'\nTry `lvsadm -h' or 'lvsadm --help' for more information.",
    );
  });
});

describe('-L --ext-stats', () => {
  test('asks for the counters', () => {
    assert.deepEqual(request('-L --ext-stats'), { op: 'counters' });
    assert.deepEqual(request('-L --ext-stats --nosort -X'), { op: 'counters' });
    assert.deepEqual(request('--socket /tmp/s.sock -L --ext-stats'), { op: 'counters' });
  });

  test('exclusive with the other list views, conflicts with the statistics columns', () => {
    fails(
      `-L --ext-stats -t ${VIP}`,
      "The option 'ext-stats' conflicts with the 'service-address' option in the 'list' command",
    );
    fails(
      '-L -c --ext-stats',
      "The option 'ext-stats' conflicts with the 'connection' option in the 'list' command",
    );
    fails(
      '-L --ext-stats --timeout',
      "The option 'ext-stats' conflicts with the 'timeout' option in the 'list' command",
    );
    fails('-L --ext-stats --stats', 'options conflicts in the list command');
    fails('-L --rate --ext-stats', 'options conflicts in the list command');
    fails('-L --ext-stats --persistent-conn', 'options conflicts in the list command');
    fails('-S --ext-stats', "Illegal 'ext-stats' option with the 'save' command");
    fails('-L --ext-stats=1', '--ext-stats: option does not take a value');
  });
});

describe('--sysctl', () => {
  const cases: [string, Request][] = [
    ['--sysctl', { op: 'getSysctl' }],
    ['--sysctl synproxy_init_mss', { op: 'getSysctl', names: ['synproxy_init_mss'] }],
    [
      '--sysctl synproxy_skb_store_thresh net.ipv4.vs.synproxy_sack',
      { op: 'getSysctl', names: ['synproxy_skb_store_thresh', 'synproxy_sack'] },
    ],
    [
      '--sysctl synproxy_init_mss=1400 synproxy_sack=0',
      { op: 'setSysctl', values: { synproxy_init_mss: 1400, synproxy_sack: 0 } },
    ],
    ['--sysctl net.ipv4.vs.synproxy_defer=1', { op: 'setSysctl', values: { synproxy_defer: 1 } }],
    ['--sysctl synproxy_syn_retry=0', { op: 'setSysctl', values: { synproxy_syn_retry: 0 } }],
    ['--sysctl synproxy_init_mss=65535', { op: 'setSysctl', values: { synproxy_init_mss: 65535 } }],
    ['--sysctl synproxy_dup_ack_thresh=010', { op: 'setSysctl', values: { synproxy_dup_ack_thresh: 10 } }],
    // Booleans take 0 and 1 (whether a daemon can honour a value is its own say).
    ['--sysctl synproxy_timestamp=1', { op: 'setSysctl', values: { synproxy_timestamp: 1 } }],
    ['--socket /tmp/x.sock --sysctl synproxy_wscale=7', { op: 'setSysctl', values: { synproxy_wscale: 7 } }],
    ['--sysctl -- synproxy_wscale=7', { op: 'setSysctl', values: { synproxy_wscale: 7 } }],
  ];
  for (const [cmd, want] of cases) test(cmd, () => assert.deepEqual(request(cmd), want));

  test('--socket may follow the operands', () => {
    const r = parse('--sysctl synproxy_sack=0 --socket /tmp/y.sock');
    assert.equal(r.kind === 'request' && r.socket, '/tmp/y.sock');
  });

  test('usage errors: unknown names, bad values, mixing, repeats, other options', () => {
    fails('--sysctl synproxy_nope', "unknown sysctl `synproxy_nope' (lvsadm --sysctl lists them)");
    fails('--sysctl synproxy_nope=1', "unknown sysctl `synproxy_nope' (lvsadm --sysctl lists them)");
    fails('--sysctl =1', "unknown sysctl `' (lvsadm --sysctl lists them)");
    fails('--sysctl synproxy_sack=2', "invalid value `2' for synproxy_sack: must be 0 or 1");
    fails('--sysctl synproxy_sack=', "invalid value `' for synproxy_sack: must be 0 or 1");
    fails('--sysctl synproxy_sack=on', "invalid value `on' for synproxy_sack: must be 0 or 1");
    fails(
      '--sysctl synproxy_init_mss=63',
      "invalid value `63' for synproxy_init_mss: must be an integer from 64 to 65535",
    );
    fails(
      '--sysctl synproxy_synack_ttl=0x10',
      "invalid value `0x10' for synproxy_synack_ttl: must be an integer from 1 to 255",
    );
    fails(
      '--sysctl synproxy_wscale=1.5',
      "invalid value `1.5' for synproxy_wscale: must be an integer from 0 to 14",
    );
    fails(
      '--sysctl synproxy_sack=1 synproxy_init_mss',
      '--sysctl either shows (name ...) or sets (name=value ...), not both at once',
    );
    fails(
      '--sysctl synproxy_sack=1 net.ipv4.vs.synproxy_sack=0',
      "multiple 'synproxy_sack' values specified",
    );
    fails('--sysctl -n', "Illegal 'numeric' option with the 'sysctl' command");
    fails(
      '--sysctl synproxy_sack=1 -t 203.0.113.10:80',
      "Illegal 'service-address' option with the 'sysctl' command",
    );
    fails('--sysctl=synproxy_sack=1', '--sysctl: option does not take a value');
    fails('-L --sysctl', 'multiple commands specified');
    // A negative number reads as an option, as anywhere on this command line.
    fails('--sysctl synproxy_wscale -1', '-1: unknown option');
  });
});
