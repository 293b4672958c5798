// The command table (src/cli/spec.ts) is consistent, and the parser enforces every cell of it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CliError } from '../../src/cli/cli-error.js';
import { parseArgs } from '../../src/cli/parse.js';
import {
  COMMANDS,
  type CommandSpec,
  GLOBAL_GROUPS,
  OPTION_GROUPS,
  OPTIONS,
  type OptionGroup,
  optionByShort,
  SUBCOMMANDS,
  usageOf,
} from '../../src/cli/spec.js';
import { SCHEDULER_NAMES } from '../../src/dataplane/sched/registry.js';

/** A valid use of each option group (values that pass their own checks). */
const SAMPLE: Record<OptionGroup, string[]> = {
  numeric: ['-n'],
  connection: ['-c'],
  'service-address': ['-t', '203.0.113.10:80'],
  scheduler: ['-s', 'rr'],
  persistent: ['-p', '10'],
  netmask: ['-M', '255.255.255.0'],
  'real-server': ['-r', '192.0.2.21'],
  'forwarding-method': ['--fullnat'],
  weight: ['-w', '1'],
  'u-threshold': ['-x', '1'],
  'l-threshold': ['-y', '1'],
  timeout: ['--timeout'],
  daemon: ['--daemon'],
  stats: ['--stats'],
  rate: ['--rate'],
  thresholds: ['--thresholds'],
  'persistent-conn': ['--persistent-conn'],
  nosort: ['--nosort'],
  exact: ['--exact'],
  'sched-flags': ['--sched-flags', 'flag-1'],
  'local-address': ['-z', '192.0.2.200'],
  synproxy: ['-j', 'enable'],
  toa: ['--toa', 'on'],
  merge: ['--merge'],
  'show-laddr': ['--show-laddr'],
  'line-by-line': ['--line-by-line'],
  'ext-stats': ['--ext-stats'],
  sort: ['--sort'],
  socket: ['--socket', '/tmp/x.sock'],
};

function base(c: CommandSpec): string[] {
  const argv = [c.short.length > 0 ? `-${c.short[0]}` : `--${c.long}`];
  for (const g of OPTION_GROUPS) if (usageOf(c, g) === '+') argv.push(...SAMPLE[g]);
  const n = typeof c.positional === 'number' ? c.positional : 0;
  for (let i = 0; i < n; i++) argv.push('1');
  return argv;
}

function errorOf(argv: string[]): string | undefined {
  try {
    parseArgs(argv);
    return undefined;
  } catch (e) {
    assert.ok(e instanceof CliError, String(e));
    assert.equal(e.exitCode, 2);
    return e.message;
  }
}

const TABLE_COMMANDS = COMMANDS.filter((c) => c.id !== 'help' && c.id !== 'version');

describe('spec tables', () => {
  test('every group a command names exists and has an option', () => {
    for (const c of COMMANDS) {
      for (const g of Object.keys(c.options)) assert.ok((OPTION_GROUPS as readonly string[]).includes(g), g);
    }
    for (const g of OPTION_GROUPS)
      assert.ok(
        OPTIONS.some((o) => o.group === g),
        g,
      );
  });

  test('long names are unique across options and commands; subcommands are unique bare words', () => {
    const names = [...OPTIONS.map((o) => o.long), ...COMMANDS.map((c) => c.long)];
    assert.equal(new Set(names).size, names.length);
    const subs = SUBCOMMANDS.map((s) => s.name);
    assert.equal(new Set(subs).size, subs.length);
    for (const s of subs) assert.match(s, /^[a-z]+$/);
  });

  test('short letters are unique, except -b whose meaning depends on the command', () => {
    const letters = [
      ...OPTIONS.flatMap((o) => (o.short ? [o.short] : [])),
      ...COMMANDS.flatMap((c) => c.short),
    ];
    const dups = letters.filter((l, i) => letters.indexOf(l) !== i);
    assert.deepEqual(dups, ['b']);
    assert.equal(optionByShort('b', 'add-service')?.id, 'sched-flags');
    assert.equal(optionByShort('b', 'edit-service')?.id, 'sched-flags');
    assert.equal(optionByShort('b', 'add-server')?.id, 'fullnat');
    assert.equal(optionByShort('b', 'edit-server')?.id, 'fullnat');
    assert.equal(optionByShort('b', 'list')?.id, 'sched-flags');
  });

  test('the scheduler option lists the registry', () => {
    assert.match(OPTIONS.find((o) => o.id === 'scheduler')!.help, new RegExp(SCHEDULER_NAMES.join('\\|')));
  });

  test('ipvsadm rows: -A/-E/-D/-a/-e/-d/-L/-S/-Z as in ipvsadm 1.31, -P/-Q/-G as Alibaba', () => {
    const row = (id: string) =>
      Object.entries(COMMANDS.find((c) => c.id === id)!.options)
        .map(([g, u]) => `${g}${u}`)
        .sort()
        .join(' ');
    assert.equal(row('delete-service'), 'service-address+');
    assert.equal(row('delete-server'), 'real-server+ service-address+');
    assert.equal(
      row('add-server'),
      'forwarding-method  l-threshold  real-server+ service-address+ u-threshold  weight ',
    );
    assert.equal(row('save'), 'numeric ');
    assert.equal(row('zero'), 'service-address ');
    assert.equal(row('flush'), '');
    assert.equal(row('restore'), 'line-by-line ', "ipvsadm's -R takes none; lvsadm's --line-by-line");
    assert.equal(row('add-laddr'), 'local-address+ service-address+');
    assert.equal(row('get-laddr'), 'service-address ');
    assert.match(row('list'), /connection1 daemon1 .*service-address1 .*timeout1/);
  });
});

describe('the parser enforces every cell', () => {
  for (const c of TABLE_COMMANDS) {
    test(`${c.id}: the compulsory options alone parse`, () => {
      assert.equal(errorOf(base(c)), undefined);
    });

    test(`${c.id}: each legal option parses, each illegal one is refused`, () => {
      for (const g of OPTION_GROUPS) {
        if (usageOf(c, g) === '+' || g === 'sort') continue;
        const argv = [...base(c), ...SAMPLE[g]];
        const err = errorOf(argv);
        if (usageOf(c, g) === 'x') {
          assert.equal(err, `Illegal '${g}' option with the '${c.id}' command`, argv.join(' '));
        } else {
          assert.equal(err, undefined, argv.join(' '));
        }
      }
    });

    test(`${c.id}: each compulsory option is required`, () => {
      for (const g of OPTION_GROUPS) {
        if (usageOf(c, g) !== '+') continue;
        const argv = base(c);
        const at = argv.indexOf(SAMPLE[g][0]!);
        argv.splice(at, SAMPLE[g].length);
        assert.equal(errorOf(argv), `You need to supply the '${g}' option for the '${c.id}' command`);
      }
    });
  }

  test('global options are legal everywhere', () => {
    for (const c of TABLE_COMMANDS) {
      for (const g of GLOBAL_GROUPS) assert.equal(errorOf([...base(c), ...SAMPLE[g]]), undefined, c.id);
    }
  });
});
