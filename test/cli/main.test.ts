// main() (src/cli/main.ts) with a fake control client: requests sent, output, stderr texts and exit
// codes (0 ok, 1 refused by the daemon, 2 usage error or no daemon).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CliIo, type ControlClientLike, main, unreachableText } from '../../src/cli/main.js';
import { defaultSysctls } from '../../src/common/sysctls.js';
import type { Request } from '../../src/control/protocol.js';
import {
  CONNS,
  DUMP_SERVICES,
  GOLDEN_CONNS,
  GOLDEN_LIST,
  GOLDEN_ONE,
  GOLDEN_SAVE,
  SERVICES,
  SVC_B,
  TEST_NAMES,
  text,
} from './fixtures.js';

class Capture {
  data = '';
  write(s: string): boolean {
    this.data += s;
    return true;
  }
}

/** An error as the control client throws them. */
function clientError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code }, extra);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  requests: Request[];
  sockets: string[];
  closed: number;
}

async function run(
  argv: string,
  reply: (req: Request) => unknown = () => null,
  io: Partial<CliIo> = {},
): Promise<Run> {
  const stdout = new Capture();
  const stderr = new Capture();
  const requests: Request[] = [];
  const sockets: string[] = [];
  let closed = 0;
  const connect = (path: string): ControlClientLike => {
    sockets.push(path);
    return {
      request: async (req) => {
        requests.push(req);
        return reply(req);
      },
      close: () => {
        closed++;
      },
    };
  };
  const code = await main(
    argv.split(' ').filter((w) => w !== ''),
    { stdout, stderr, env: {}, names: TEST_NAMES, connect, ...io },
  );
  return { code, stdout: stdout.data, stderr: stderr.data, requests, sockets, closed };
}

const SVC = { proto: 'tcp', addr: '203.0.113.10', port: 80 } as const;

describe('requests and output', () => {
  test('-A sends addService, prints nothing on stdout and warns that it has no LIP yet', async () => {
    const r = await run('-A -t 203.0.113.10:80 -s rr');
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [{ op: 'addService', svc: SVC, opts: { sched: 'rr' } }]);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'lvsadm: warning: -t 203.0.113.10:80 has no local address yet: add one with -P -t 203.0.113.10:80 -z LIP; until then its connections are dropped\n',
    );
    assert.equal(r.closed, 1);
  });

  test('-L -n prints the listing', async () => {
    const r = await run('-L -n', () => ({ services: SERVICES }));
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [{ op: 'list' }]);
    assert.equal(r.stdout, text(GOLDEN_LIST));
  });

  test('no arguments lists with names (ipvsadm without arguments)', async () => {
    const r = await run('', () => ({ services: [SERVICES[1]] }));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^TCP {2}vip\.example:http wlc synproxy$/m);
    assert.match(r.stdout, /^ {2}-> rs1\.example:http {13}FullNat/m);
  });

  test('-L -n -t prints one service without the version line', async () => {
    const r = await run('-Ln -t 203.0.113.11:https', () => ({ services: [SVC_B] }));
    assert.deepEqual(r.requests, [{ op: 'list', svc: { proto: 'tcp', addr: '203.0.113.11', port: 443 } }]);
    assert.equal(r.stdout, text(GOLDEN_ONE));
  });

  test('-L -c -n, --timeout, -S', async () => {
    assert.equal((await run('-Lnc', () => ({ conns: CONNS, total: 3 }))).stdout, text(GOLDEN_CONNS));
    assert.equal(
      (await run('-L --timeout', () => ({ tcp: 900, tcpfin: 120, udp: 300 }))).stdout,
      'Timeout (tcp tcpfin udp): 900 120 300\n',
    );
    const save = await run('-S -n', () => ({
      services: DUMP_SERVICES,
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    }));
    assert.deepEqual(save.requests, [{ op: 'dump' }]);
    assert.equal(save.stdout, text(GOLDEN_SAVE));
  });

  test('-L --daemon prints nothing and asks nobody', async () => {
    const r = await run('-L --daemon');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.sockets.length, 0);
  });

  test('-h and -v print to stdout without a daemon', async () => {
    const h = await run('-h');
    assert.equal(h.code, 0);
    assert.match(
      h.stdout,
      /^lvsadm v\d+\.\d+\.\d+ \(IP Virtual Server version 1\.2\.1 compatible\)\nUsage:\n/,
    );
    assert.match(h.stdout, /\n {2}--add-service {5}-A {8}add virtual service with options\n/);
    assert.match(h.stdout, /\n {2}--persistent {3}-p \[timeout\] {9}persistent service/);
    assert.equal(h.sockets.length, 0);
    const v = await run('--version');
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^lvsadm v\d+\.\d+\.\d+ \(IP Virtual Server version 1\.2\.1 compatible\)\n$/);
  });
});

describe('socket path', () => {
  test('default, LVSADM_SOCKET, --socket', async () => {
    assert.deepEqual((await run('-C')).sockets, ['/run/lvsadm/lvsadm.sock']);
    assert.deepEqual((await run('-C', undefined, { env: { LVSADM_SOCKET: '/tmp/env.sock' } })).sockets, [
      '/tmp/env.sock',
    ]);
    assert.deepEqual(
      (await run('--socket /tmp/opt.sock -C', undefined, { env: { LVSADM_SOCKET: '/tmp/env.sock' } }))
        .sockets,
      ['/tmp/opt.sock'],
    );
    assert.deepEqual((await run('-C --socket=/tmp/opt2.sock')).sockets, ['/tmp/opt2.sock']);
  });
});

describe('errors', () => {
  test('usage errors: exit 2, ipvsadm words, no daemon contacted', async () => {
    const r = await run('-A -t 203.0.113.10:80 -w 1');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "Illegal 'weight' option with the 'add-service' command\n");
    assert.equal(r.stdout, '');
    assert.equal(r.sockets.length, 0);
    const g = await run('-a -t 203.0.113.10:80 -r 192.0.2.21 -g');
    assert.equal(g.code, 2);
    assert.equal(g.stderr, 'direct routing needs L2 I/O; not supported by lvsadm yet\n');
  });

  test('daemon unreachable: exit 2 and a hint naming the socket', async () => {
    const down = () => {
      throw clientError('UNREACHABLE', 'connect ENOENT /run/lvsadm/lvsadm.sock');
    };
    const r = await run('-L -n', down);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'lvsadm: cannot reach the daemon at /run/lvsadm/lvsadm.sock (is "lvsadm daemon" running?)\n',
    );
    assert.equal(r.stdout, '');
    const e = await run('-C', down, { env: { LVSADM_SOCKET: '/tmp/x.sock' } });
    assert.equal(e.stderr, unreachableText('/tmp/x.sock'));
    // A client that fails while connecting is treated the same.
    const c = await run('-C', undefined, {
      connect: () => {
        throw clientError('ECONNREFUSED', 'connect ECONNREFUSED');
      },
    });
    assert.equal(c.code, 2);
    assert.equal(c.stderr, unreachableText('/run/lvsadm/lvsadm.sock'));
  });

  const refusals: [string, string, string][] = [
    ['-A -t 203.0.113.10:80', 'SVC_EXISTS', 'Service already exists'],
    ['-E -t 203.0.113.10:80 -s rr', 'SVC_NOT_FOUND', 'No such service'],
    ['-D -t 203.0.113.10:80', 'SVC_NOT_FOUND', 'No such service'],
    ['-Z -t 203.0.113.10:80', 'SVC_NOT_FOUND', 'No such service'],
    ['-L -t 203.0.113.10:80', 'SVC_NOT_FOUND', 'No such service'],
    ['-a -t 203.0.113.10:80 -r 192.0.2.21', 'SVC_NOT_FOUND', 'Service not defined'],
    ['-e -t 203.0.113.10:80 -r 192.0.2.21 -w 2', 'SVC_NOT_FOUND', 'Service not defined'],
    ['-d -t 203.0.113.10:80 -r 192.0.2.21', 'SVC_NOT_FOUND', 'Service not defined'],
    ['-P -t 203.0.113.10:80 -z 192.0.2.200', 'SVC_NOT_FOUND', 'Service not defined'],
    ['-Q -t 203.0.113.10:80 -z 192.0.2.200', 'SVC_NOT_FOUND', 'Service not defined'],
    ['-a -t 203.0.113.10:80 -r 192.0.2.21', 'DEST_EXISTS', 'Destination already exists'],
    ['-e -t 203.0.113.10:80 -r 192.0.2.21 -w 2', 'DEST_NOT_FOUND', 'No such destination'],
    ['-d -t 203.0.113.10:80 -r 192.0.2.21', 'DEST_NOT_FOUND', 'No such destination'],
    ['-P -t 203.0.113.10:80 -z 192.0.2.200', 'LADDR_EXISTS', 'Local address already exists'],
    ['-Q -t 203.0.113.10:80 -z 192.0.2.200', 'LADDR_NOT_FOUND', 'No such Local address'],
    ['-E -t 203.0.113.10:80 -s rr', 'SCHED_NOT_FOUND', 'Scheduler or persistence engine not found'],
    // Codes without a situation-specific ipvsadm text print the daemon's message.
    [
      '-a -t 203.0.113.10:80 -r 192.0.2.21 -x 1 -y 5',
      'EINVAL',
      'lower threshold is above the upper threshold',
    ],
    ['-A -t 203.0.113.10:80', 'NO_MEMORY', 'too many services'],
  ];
  for (const [argv, code, want] of refusals) {
    // ipvsadm returns -1 for a change the kernel refuses (exit 255); a listing that fails exits 1.
    const status = argv.startsWith('-L') ? 1 : 255;
    test(`${code} on ${argv.split(' ')[0]} -> "${want}", exit ${status}`, async () => {
      const daemonText = code === 'EINVAL' || code === 'NO_MEMORY' ? want : 'daemon words';
      const r = await run(argv, () => {
        throw clientError(code, daemonText);
      });
      assert.equal(r.code, status);
      assert.equal(r.stderr, `${want}\n`);
      assert.equal(r.stdout, '');
    });
  }

  test('an error without a code: exit 1 with its message', async () => {
    const r = await run('-C', () => {
      throw new Error('protocol version 2 not supported');
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'lvsadm: protocol version 2 not supported\n');
  });

  test('permission denied on the socket: exit 2, ipvsadm words', async () => {
    const want = 'lvsadm: /run/lvsadm/lvsadm.sock: Permission denied (you must be root)\n';
    for (const e of [
      clientError(
        'UNREACHABLE',
        'cannot reach the lvsadm daemon: permission denied on /run/lvsadm/lvsadm.sock (run as root)',
      ),
      clientError('EPERM', 'permission denied: uid 1000 may not use the lvsadm control socket'),
      clientError('EACCES', 'connect EACCES'),
    ]) {
      const r = await run('-C', () => {
        throw e;
      });
      assert.equal(r.code, 2);
      assert.equal(r.stderr, want);
    }
  });

  test('no answer in time or an answer that cannot be read: exit 2', async () => {
    for (const code of ['TIMEOUT', 'EPROTO']) {
      const r = await run('-L -n', () => {
        throw clientError(code, `${code} from the client`);
      });
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `lvsadm: ${code} from the client\n`);
    }
  });
});

describe('-R', () => {
  const input = text([
    '# rules',
    '-A -t 203.0.113.10:80 -s wlc',
    '-a -t 203.0.113.10:80 -r 192.0.2.21:80 -b -w 1',
    '',
    '-P -t 203.0.113.10:80 -z 192.0.2.200',
  ]);

  test('--line-by-line: each line on its own, as ipvsadm; a refused one is reported, the rest go on', async () => {
    const refuseDest = (req: Request) => {
      if (req.op === 'addDest') throw clientError('SVC_NOT_FOUND', 'daemon words');
      return null;
    };
    const r = await run('-R --line-by-line', refuseDest, { readStdin: async () => input });
    assert.deepEqual(
      r.requests.map((q) => q.op),
      ['addService', 'addDest', 'addLaddr'],
    );
    assert.equal(r.stderr, 'Service not defined\n');
    assert.equal(r.code, 0, "the status is the last line's (ipvsadm's restore_table)");
    const last = await run(
      '-R --line-by-line',
      (q) => {
        if (q.op === 'addLaddr') throw clientError('LADDR_EXISTS', 'x');
        return null;
      },
      { readStdin: async () => input },
    );
    assert.equal(last.code, 255);
    // A line that does not parse ends the restore there: the lines before it stay applied.
    const bad = await run('-R --line-by-line', undefined, {
      readStdin: async () =>
        text(['-A -t 203.0.113.10:80', '-a -t 203.0.113.10:80 -r 192.0.2.21 -w x', '-C']),
    });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'line 2: illegal weight specified\n');
    assert.deepEqual(
      bad.requests.map((q) => q.op),
      ['addService'],
    );
  });

  test('sends one batch', async () => {
    const r = await run('-R', undefined, { readStdin: async () => input });
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [
      {
        op: 'batch',
        requests: [
          { op: 'addService', svc: SVC, opts: { sched: 'wlc' } },
          { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80, weight: 1 } },
          { op: 'addLaddr', svc: SVC, addr: '192.0.2.200' },
        ],
      },
    ]);
  });

  test('a bad line: exit 2 with its number, nothing sent', async () => {
    const r = await run('-R', undefined, {
      readStdin: async () => `${input}-a -t 203.0.113.10:80 -r 192.0.2.22 -m\n`,
    });
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'line 6: masquerading (NAT, -m) is not supported by lvsadm yet: use -b (FULLNAT)\n',
    );
    assert.equal(r.sockets.length, 0);
  });

  test('a refused request inside the batch names its line and is worded for its operation', async () => {
    const fail = (e: Error) => run('-R', () => Promise.reject(e), { readStdin: async () => input });
    // As the daemon sends it: the refusal, then "(batch request N: op)".
    const wire = await fail(clientError('SVC_NOT_FOUND', 'Service not defined (batch request 2: addDest)'));
    assert.equal(wire.code, 255);
    assert.equal(wire.stderr, 'line 3: Service not defined\n');
    const generic = await fail(
      clientError('EINVAL', 'weight must be an integer (batch request 1: addService)'),
    );
    assert.equal(generic.stderr, 'line 2: weight must be an integer\n');
    // An index property works too.
    const indexed = await fail(clientError('LADDR_EXISTS', 'whatever', { index: 2 }));
    assert.equal(indexed.stderr, 'line 5: Local address already exists\n');
    const svc = await fail(clientError('SVC_EXISTS', 'Service already exists (batch request 1: addService)'));
    assert.equal(svc.stderr, 'line 2: Service already exists\n');
    // Without a position, the daemon's words.
    const d = await fail(clientError('DEST_EXISTS', 'Destination already exists'));
    assert.equal(d.code, 255);
    assert.equal(d.stderr, 'Destination already exists\n');
  });
});

describe('subcommands', () => {
  test('dispatch to the hook with the remaining arguments', async () => {
    const seen: string[][] = [];
    const r = await run('daemon --socket /tmp/d.sock --tun lvs0', undefined, {
      subcommands: {
        daemon: async (args, io) => {
          seen.push(args);
          io.stdout.write('started\n');
          return 0;
        },
      },
    });
    assert.equal(r.code, 0);
    assert.deepEqual(seen, [['--socket', '/tmp/d.sock', '--tun', 'lvs0']]);
    assert.equal(r.stdout, 'started\n');
    assert.equal(r.sockets.length, 0);
  });

  test('top says it is not built yet until wired', async () => {
    for (const name of ['top']) {
      const r = await run(name);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `lvsadm ${name}: not available in this build yet\n`);
    }
  });

  // Only flags that never start a daemon: a test must not touch the host it runs on.
  test('daemon --help prints its usage; a bad flag is a usage error', async () => {
    const h = await run('daemon --help');
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: lvsadm daemon \[options\]/);
    assert.match(h.stdout, /--state-dir DIR/);
    const bad = await run('daemon --bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option --bogus/);
    const q = await run('daemon --queues 0');
    assert.equal(q.code, 2);
  });

  test('completion bash and man', async () => {
    const c = await run('completion bash');
    assert.equal(c.code, 0);
    assert.match(c.stdout, /^complete -F _lvsadm lvsadm$/m);
    assert.equal((await run('completion zsh')).code, 2);
    const m = await run('man');
    assert.equal(m.code, 0);
    assert.match(m.stdout, /^\.TH LVSADM 8 /m);
  });

  test("an unknown word: exit 255 (ipvsadm's tryhelp_exit(-1))", async () => {
    const r = await run('start');
    assert.equal(r.code, 255);
    assert.equal(
      r.stderr,
      "lvsadm: unknown command 'start'\nTry `lvsadm -h' or 'lvsadm --help' for more information.\n",
    );
  });
});

describe('--sysctl and -L --ext-stats', () => {
  // A whole table as the daemon sends it (test/common/sysctls.test.ts pins the values).
  const ALL = defaultSysctls();

  test('--sysctl lists every sysctl as "name = value"', async () => {
    const r = await run('--sysctl', () => ALL);
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [{ op: 'getSysctl' }]);
    assert.equal(
      r.stdout,
      Object.entries(ALL)
        .map(([k, v]) => `${k} = ${v}\n`)
        .join(''),
    );
    assert.equal(r.stderr, '');
  });

  test('--sysctl NAME shows that one', async () => {
    const r = await run('--sysctl synproxy_wscale', () => ({ synproxy_wscale: 0 }));
    assert.deepEqual(r.requests, [{ op: 'getSysctl', names: ['synproxy_wscale'] }]);
    assert.equal(r.stdout, 'synproxy_wscale = 0\n');
  });

  test('--sysctl NAME=VALUE ... sends one change and prints nothing', async () => {
    const r = await run('--sysctl synproxy_init_mss=1400 synproxy_sack=0');
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [
      { op: 'setSysctl', values: { synproxy_init_mss: 1400, synproxy_sack: 0 } },
    ]);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
  });

  test('refused by the daemon: its words on stderr, exit 255 for a change, 1 for a read', async () => {
    // (the words of a daemon from before timestamps were translated)
    const msg =
      'synproxy_timestamp=1 is not supported: it needs TSval translation, which lvsadm does not do yet';
    const r = await run('--sysctl synproxy_timestamp=1', () => {
      throw clientError('UNSUPPORTED', msg);
    });
    assert.equal(r.code, 255);
    assert.equal(r.stderr, `${msg}\n`);
    assert.equal(r.stdout, '');
    // A daemon older than the sysctls does not know the operation.
    const old = await run('--sysctl', () => {
      throw clientError('EINVAL', 'invalid request: req.op is not a known operation (got "getSysctl")');
    });
    assert.equal(old.code, 1);
    assert.equal(old.stderr, 'invalid request: req.op is not a known operation (got "getSysctl")\n');
  });

  test('usage errors: exit 2, no daemon contacted', async () => {
    const cases: [string, string][] = [
      ['--sysctl synproxy_foo=1', "unknown sysctl `synproxy_foo' (lvsadm --sysctl lists them)"],
      ['--sysctl synproxy_sack=yes', "invalid value `yes' for synproxy_sack: must be 0 or 1"],
      [
        '--sysctl synproxy_sack synproxy_defer=1',
        '--sysctl either shows (name ...) or sets (name=value ...), not both at once',
      ],
      ['-L --ext-stats --stats', 'options conflicts in the list command'],
    ];
    for (const [argv, want] of cases) {
      const r = await run(argv);
      assert.equal(r.code, 2, argv);
      assert.equal(r.stderr, `${want}\n`, argv);
      assert.equal(r.sockets.length, 0, argv);
    }
  });

  test('-L --ext-stats asks for the counters and prints them grouped', async () => {
    const r = await run('-L --ext-stats', () => ({
      rx_pkts: 10,
      drop_no_service: 2,
      conn_new: 3,
      fullnat_add_toa_ok: 3,
      synproxy_syn_cookie: 4,
    }));
    assert.equal(r.code, 0);
    assert.deepEqual(r.requests, [{ op: 'counters' }]);
    const row = (n: string, v: number) => `  ${n.padEnd(32)} ${String(v).padStart(20)}`;
    assert.equal(
      r.stdout,
      text([
        'Packets',
        row('rx_pkts', 10),
        '',
        'Drops',
        row('drop_no_service', 2),
        '',
        'Connections',
        row('conn_new', 3),
        '',
        'TOA',
        row('fullnat_add_toa_ok', 3),
        '',
        'SYNPROXY',
        row('synproxy_syn_cookie', 4),
      ]),
    );
  });

  test('-R: a sysctl line refused by the daemon names its line', async () => {
    // (an older daemon, as above)
    const input = text(['-A -t 203.0.113.10:80 -s wlc', '--sysctl synproxy_timestamp=1']);
    const r = await run(
      '-R',
      () => {
        throw clientError(
          'UNSUPPORTED',
          'synproxy_timestamp=1 is not supported: it needs TSval translation, which lvsadm does not do yet (batch request 2: setSysctl)',
        );
      },
      { readStdin: async () => input },
    );
    assert.equal(r.code, 255);
    assert.deepEqual(r.requests, [
      {
        op: 'batch',
        requests: [
          { op: 'addService', svc: SVC, opts: { sched: 'wlc' } },
          { op: 'setSysctl', values: { synproxy_timestamp: 1 } },
        ],
      },
    ]);
    assert.equal(
      r.stderr,
      'line 2: synproxy_timestamp=1 is not supported: it needs TSval translation, which lvsadm does not do yet\n',
    );
  });

  test('-h lists --sysctl and --ext-stats', async () => {
    const h = await run('-h');
    assert.match(h.stdout, /\n {2}lvsadm --sysctl \[name\[=value\] \.\.\.\]\n/);
    assert.match(h.stdout, /\n {2}--sysctl {20}show the sysctls \(synproxy_\*/);
    assert.match(h.stdout, /\n {2}--ext-stats {25}output of the engine counters/);
  });
});
