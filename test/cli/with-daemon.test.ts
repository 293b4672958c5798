// lvsadm's command line against the real control server and client over a unix socket (an engine
// without packet I/O behind it): what the daemon accepts, what it answers, and how main() prints it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ControlClientLike, main } from '../../src/cli/main.js';
import { NO_NAMES } from '../../src/cli/names.js';
import { defaultSysctls } from '../../src/common/sysctls.js';
import { defaultEngineKnobs } from '../../src/common/vocabulary.js';
import { ControlClient } from '../../src/control/client.js';
import { ControlService } from '../../src/control/control-service.js';
import { KeyedEngine as Engine } from '../../src/control/keyed-engine.js';
import { MemoryLog } from '../../src/control/log.js';
import { ControlServer } from '../../src/control/server.js';
import { COUNTER_NAMES } from '../../src/dataplane/counters.js';
import { text } from './fixtures.js';

let dir = '';
let socket = '';
let server: ControlServer;
let engine: Engine;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lvsadm-cli-'));
  socket = join(dir, 'lvsadm.sock');
  engine = new Engine(
    { connCapacity: 256, maxServices: 16, maxDests: 64, maxLaddrs: 8, mhTableSize: 251 },
    0,
  );
  server = await ControlServer.start({
    socketPath: socket,
    handler: new ControlService({ engine }),
    log: new MemoryLog(),
  });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

class Capture {
  data = '';
  write(s: string): boolean {
    this.data += s;
    return true;
  }
}

async function lvsadm(cmd: string, stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(
    cmd.split(' ').filter((w) => w !== ''),
    {
      stdout: out,
      stderr: err,
      env: { LVSADM_SOCKET: socket },
      names: NO_NAMES,
      readStdin: async () => stdin,
    },
  );
  return { code, out: out.data, err: err.data };
}

/** Succeeds without a word on stderr but the no-LIP warnings of services set up in steps. */
async function ok(cmd: string, stdin = ''): Promise<string> {
  const r = await lvsadm(cmd, stdin);
  assert.equal(r.err.replace(/^lvsadm: warning: .* has no local address yet: .*\n/gm, ''), '', cmd);
  assert.equal(r.code, 0, cmd);
  return r.out;
}

const SETUP = [
  '-A -t 203.0.113.10:80 -s wlc -j enable',
  '-a -t 203.0.113.10:80 -r 192.0.2.22:8080 -b -w 0 -x 100 -y 50',
  '-a -t 203.0.113.10:80 -r 192.0.2.21 -w 1',
  '-P -t 203.0.113.10:80 -z 192.0.2.200',
  '-A -t 203.0.113.11:443 -s rr -p -M 255.255.255.0 --toa off',
  '-a -t 203.0.113.11:443 -r 192.0.2.23 -w 100',
  '-A -u [2001:db8:203::10]:53 -s sh -b sh-fallback,sh-port -p 600 -M 64',
  '-a -u [2001:db8:203::10]:53 -r [2001:db8:2::22]:53 -w 2',
  '-a -u [2001:db8:203::10]:53 -r 2001:db8:2::21',
  '-P -u [2001:db8:203::10]:53 -z 2001:db8:2::200',
];

const LISTING = [
  'IP Virtual Server version 1.2.1 (size=256)', // the daemon's connection hash table (connCapacity 256)
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  'TCP  203.0.113.10:80 wlc synproxy',
  '  -> 192.0.2.21:80                FullNat 1      0          0         ',
  '  -> 192.0.2.22:8080              FullNat 0      0          0         ',
  'TCP  203.0.113.11:443 rr persistent 300 mask 255.255.255.0',
  '  -> 192.0.2.23:443               FullNat 100    0          0         ',
  'UDP  [2001:db8:203::10]:53 sh (sh-fallback,sh-port) persistent 600 mask 64',
  '  -> [2001:db8:2::21]:53          FullNat 1      0          0         ',
  '  -> [2001:db8:2::22]:53          FullNat 2      0          0         ',
];

const SAVED = [
  '-A -t 203.0.113.10:80 -s wlc -j enable',
  '-a -t 203.0.113.10:80 -r 192.0.2.21:80 -b -w 1',
  '-a -t 203.0.113.10:80 -r 192.0.2.22:8080 -b -w 0 -x 100 -y 50',
  '-A -t 203.0.113.11:443 -s rr -p 300 -M 255.255.255.0 --toa off',
  '-a -t 203.0.113.11:443 -r 192.0.2.23:443 -b -w 100',
  '-A -u [2001:db8:203::10]:53 -s sh -p 600 -M 64 -b sh-fallback,sh-port',
  '-a -u [2001:db8:203::10]:53 -r [2001:db8:2::21]:53 -b -w 1',
  '-a -u [2001:db8:203::10]:53 -r [2001:db8:2::22]:53 -b -w 2',
  '-P -t 203.0.113.10:80 -z 192.0.2.200',
  '-P -u [2001:db8:203::10]:53 -z 2001:db8:2::200',
];

describe('lvsadm against a live control socket', () => {
  test('set up with single commands, list, save', async () => {
    for (const cmd of SETUP) await ok(cmd);
    assert.equal(await ok('-L -n'), text(LISTING));
    assert.equal(await ok('-S -n'), text(SAVED));
    assert.equal(
      await ok('-G'),
      text([
        'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS      PORTS',
        '203.0.113.10:80      1        ',
        '                              192.0.2.200          0          0          0/64511',
        '203.0.113.11:443     0        ',
        '[2001:db8:203::10]:53 1        ',
        '                              2001:db8:2::200      0          0          0/64511',
      ]),
    );
    assert.equal(
      await ok('-L -n -c'),
      text([
        'IPVS connection entries',
        'pro expire state       source             virtual            destination',
      ]),
    );
    assert.equal(
      await ok('-L -n -c --show-laddr'),
      text([
        'IPVS connection entries',
        'pro expire state       source             virtual            destination        local',
      ]),
    );
    assert.equal(
      await ok('-L -n -t 203.0.113.11:443'),
      text([LISTING[1]!, LISTING[2]!, LISTING[6]!, LISTING[7]!]),
    );
  });

  test('the daemon refuses with ipvsadm words, exit 255 (1 for a listing)', async () => {
    const cases: [string, string][] = [
      ['-A -t 203.0.113.10:80', 'Service already exists'],
      ['-E -t 203.0.113.99:80 -s rr', 'No such service'],
      ['-D -t 203.0.113.99:80', 'No such service'],
      ['-Z -t 203.0.113.99:80', 'No such service'],
      ['-L -t 203.0.113.99:80', 'No such service'],
      ['-a -t 203.0.113.99:80 -r 192.0.2.21', 'Service not defined'],
      ['-a -t 203.0.113.10:80 -r 192.0.2.21', 'Destination already exists'],
      ['-e -t 203.0.113.10:80 -r 192.0.2.29 -w 3', 'No such destination'],
      ['-d -t 203.0.113.10:80 -r 192.0.2.29', 'No such destination'],
      ['-P -t 203.0.113.10:80 -z 192.0.2.200', 'Local address already exists'],
      ['-Q -t 203.0.113.10:80 -z 192.0.2.209', 'No such Local address'],
      ['-P -t 203.0.113.99:80 -z 192.0.2.200', 'Service not defined'],
    ];
    for (const [cmd, want] of cases) {
      const r = await lvsadm(cmd);
      assert.equal(r.err, `${want}\n`, cmd);
      // ipvsadm: a refused change returns -1 (255); a listing that fails exits 1.
      assert.equal(r.code, cmd.startsWith('-L') ? 1 : 255, cmd);
      assert.equal(r.out, '', cmd);
    }
  });

  test('-e and -E reset what is not given, as ipvsadm; --merge keeps it', async () => {
    await ok('-e -t 203.0.113.10:80 -r 192.0.2.22:8080 -w 5 --merge');
    await ok('-E -t 203.0.113.11:443 -s wrr --merge');
    let saved = await ok('-S -n');
    assert.match(saved, /^-a -t 203\.0\.113\.10:80 -r 192\.0\.2\.22:8080 -b -w 5 -x 100 -y 50$/m);
    assert.match(saved, /^-A -t 203\.0\.113\.11:443 -s wrr -p 300 -M 255\.255\.255\.0 --toa off$/m);
    await ok('-e -t 203.0.113.10:80 -r 192.0.2.22:8080 -w 5');
    await ok('-E -t 203.0.113.11:443 -s wrr');
    saved = await ok('-S -n');
    assert.match(saved, /^-a -t 203\.0\.113\.10:80 -r 192\.0\.2\.22:8080 -b -w 5$/m, 'no thresholds');
    assert.match(saved, /^-A -t 203\.0\.113\.11:443 -s wrr$/m, 'not persistent, TOA back on');
    await ok('-e -t 203.0.113.10:80 -r 192.0.2.22:8080 -w 0 -x 100 -y 50');
    await ok('-E -t 203.0.113.11:443 -s rr -p 300 -M 255.255.255.0 --toa off');
    assert.equal(await ok('-S -n'), text(SAVED));
  });

  test('-S | -C | -R gives the same table; a bad batch changes nothing', async () => {
    const saved = await ok('-S -n');
    await ok('-C');
    assert.equal(await ok('-S -n'), '');
    await ok('-R', saved);
    assert.equal(await ok('-S -n'), saved);
    assert.equal(await ok('-L -n'), text(LISTING));

    const bad = text(['-A -t 203.0.113.12:80', '-a -t 203.0.113.13:80 -r 192.0.2.21']);
    const r = await lvsadm('-R', bad);
    assert.equal(r.code, 255);
    assert.equal(r.err, 'line 2: Service not defined\n');
    assert.equal(await ok('-S -n'), saved, 'all or nothing');
  });

  test('timeouts', async () => {
    assert.equal(await ok('-L --timeout'), 'Timeout (tcp tcpfin udp): 900 120 300\n');
    await ok('--set 1000 0 60');
    assert.equal(await ok('-L --timeout'), 'Timeout (tcp tcpfin udp): 1000 120 60\n');
    await ok('--set 900 120 300');
  });

  test('zero and stats', async () => {
    await ok('-Z');
    const stats = await ok('-L -n --stats');
    assert.ok(
      stats.includes('\nTCP  203.0.113.10:80                     0        0        0        0        0\n'),
      stats,
    );
  });

  test('ControlClient is what main() connects with (also checked by the compiler here)', async () => {
    const out = new Capture();
    const connect = (path: string): ControlClientLike => new ControlClient(path);
    const code = await main(['-L', '--timeout'], {
      stdout: out,
      stderr: out,
      env: { LVSADM_SOCKET: socket },
      connect,
    });
    assert.equal(code, 0);
    assert.equal(out.data, 'Timeout (tcp tcpfin udp): 900 120 300\n');
  });

  test('no daemon at the socket: exit 2 with the hint', async () => {
    const err = new Capture();
    const missing = join(dir, 'nothing-here.sock');
    const code = await main(['-L', '-n'], {
      stdout: new Capture(),
      stderr: err,
      env: { LVSADM_SOCKET: missing },
    });
    assert.equal(code, 2);
    assert.equal(err.data, `lvsadm: cannot reach the daemon at ${missing} (is "lvsadm daemon" running?)\n`);
  });
});

describe('lvsadm --sysctl and -L --ext-stats against a live control socket', () => {
  const listing = (values: Record<string, number>) =>
    Object.entries(values)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('');

  test('--sysctl lists, sets (the engine follows), shows one', async () => {
    assert.equal(await ok('--sysctl'), listing(defaultSysctls()));
    assert.equal(
      await ok('--sysctl synproxy_init_mss=1400 synproxy_sack=0 net.ipv4.vs.synproxy_defer=1'),
      '',
    );
    assert.deepEqual(engine.getKnobs(), {
      ...defaultEngineKnobs(),
      initMss: 1400,
      sack: false,
      defer: true,
    });
    assert.equal(
      await ok('--sysctl'),
      listing({ ...defaultSysctls(), synproxy_init_mss: 1400, synproxy_sack: 0, synproxy_defer: 1 }),
    );
    assert.equal(
      await ok('--sysctl synproxy_sack synproxy_init_mss'),
      'synproxy_sack = 0\nsynproxy_init_mss = 1400\n',
    );
  });

  test('synproxy_timestamp=1 is taken: the engine, the listing and -S follow; usage errors: exit 2', async () => {
    const before = engine.getKnobs();
    assert.equal(await ok('--sysctl synproxy_timestamp=1'), '');
    assert.deepEqual(engine.getKnobs(), { ...before, timestamp: true });
    assert.equal(await ok('--sysctl synproxy_timestamp'), 'synproxy_timestamp = 1\n');
    assert.match(await ok('-S -n'), /\n--sysctl synproxy_timestamp=1\n/);
    assert.equal(await ok('--sysctl synproxy_timestamp=0'), '');
    assert.deepEqual(engine.getKnobs(), before);
    const u = await lvsadm('--sysctl synproxy_wscale=15');
    assert.equal(u.code, 2);
    assert.equal(u.err, "invalid value `15' for synproxy_wscale: must be an integer from 0 to 14\n");
    assert.deepEqual(engine.getKnobs(), before);
  });

  test('-S prints the non-default sysctls last; -R brings them back', async () => {
    const saved = await ok('-S -n');
    assert.ok(
      saved.endsWith(
        '--sysctl synproxy_init_mss=1400\n--sysctl synproxy_sack=0\n--sysctl synproxy_defer=1\n',
      ),
      saved,
    );
    assert.equal(
      saved.slice(
        0,
        -'--sysctl synproxy_init_mss=1400\n--sysctl synproxy_sack=0\n--sysctl synproxy_defer=1\n'.length,
      ),
      text(SAVED),
    );
    await ok('-C');
    await ok('--sysctl synproxy_init_mss=1452 synproxy_sack=1 synproxy_defer=0');
    assert.equal(await ok('-S -n'), '');
    await ok('-R', saved);
    assert.equal(await ok('-S -n'), saved);
    assert.equal(engine.getKnobs().initMss, 1400);
    // Back to the defaults for whatever runs next.
    await ok('--sysctl synproxy_init_mss=1452 synproxy_sack=1 synproxy_defer=0');
    assert.equal(await ok('-S -n'), text(SAVED));
  });

  test('-L --ext-stats shows every engine counter', async () => {
    const out = await ok('-L --ext-stats');
    const names = out
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim().split(/ +/)[0]);
    assert.deepEqual(names.sort(), [...COUNTER_NAMES].sort());
    assert.match(out, /^Packets\n {2}rx_pkts {25} +\d+\n/);
    assert.match(
      out,
      /\nTOA\n {2}fullnat_add_toa_ok +\d+\n {2}fullnat_add_toa_fail_len +\d+\n {2}fullnat_add_toa_head_full +\d+\n/,
    );
    assert.equal(await ok('-L -n --ext-stats --exact'), out, '-n and --exact change nothing');
  });
});
