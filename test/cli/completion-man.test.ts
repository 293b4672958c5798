// The bash completion script and the man page generated from the command table.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bashCompletion } from '../../src/cli/completion.js';
import { manPage, roffEscape } from '../../src/cli/man.js';
import { COMMANDS, OPTIONS } from '../../src/cli/spec.js';
import { defaultSysctls, SYSCTL_NAMES } from '../../src/common/sysctls.js';

let dir = '';
let script = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvsadm-cli-'));
  script = join(dir, 'lvsadm.bash');
  writeFileSync(script, bashCompletion());
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the completion function for the words typed so far (the last one being completed). */
function complete(...words: string[]): string[] {
  const arr = ['lvsadm', ...words].map((w) => `'${w}'`).join(' ');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source "$1"; COMP_WORDS=(${arr}); COMP_CWORD=${words.length}; _lvsadm; printf '%s\\n' "\${COMPREPLY[@]}"`,
      'x',
      script,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout
    .split('\n')
    .filter((w) => w !== '')
    .sort();
}

describe('bash completion', () => {
  test('passes bash -n', () => {
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  test('first word: commands and subcommands', () => {
    const all = complete('');
    for (const c of COMMANDS) {
      for (const s of c.short) assert.ok(all.includes(`-${s}`), `-${s}`);
      assert.ok(all.includes(`--${c.long}`), c.long);
    }
    for (const s of ['daemon', 'top', 'toa', 'completion', 'man']) assert.ok(all.includes(s), s);
    assert.deepEqual(complete('--add-s'), ['--add-server', '--add-service']);
    assert.deepEqual(complete('co'), ['completion']);
  });

  test('options follow the command table', () => {
    const a = complete('-a', '-t', '203.0.113.10:80', '-');
    for (const w of ['-t', '-u', '-r', '-b', '-w', '-x', '-y', '--fullnat', '--weight', '--socket']) {
      assert.ok(a.includes(w), w);
    }
    for (const w of ['-s', '-p', '-j', '--sched-flags', '-n', '-c']) assert.ok(!a.includes(w), w);
    const add = complete('-A', '-');
    for (const w of ['-s', '-p', '-M', '-b', '-j', '--toa', '--sched-flags']) assert.ok(add.includes(w), w);
    for (const w of ['-r', '-w', '--fullnat']) assert.ok(!add.includes(w), w);
    assert.deepEqual(complete('-L', '--st'), ['--stats']);
    assert.deepEqual(complete('-Ln', '--ti'), ['--timeout']);
    assert.deepEqual(complete('-C', '-'), ['--socket']);
  });

  test('argument values', () => {
    assert.deepEqual(complete('-A', '-t', 'x:80', '-s', 'w'), ['wlc', 'wrr']);
    assert.deepEqual(complete('-A', '--scheduler', 'l'), ['lblc', 'lblcr', 'lc']);
    assert.deepEqual(complete('-A', '-b', 'sh'), ['sh-fallback', 'sh-port']);
    assert.deepEqual(complete('-E', '--sched-flags', 'mh-p'), ['mh-port']);
    assert.deepEqual(complete('-A', '-j', ''), ['disable', 'enable']);
    assert.deepEqual(complete('-A', '--toa', ''), ['off', 'on']);
    assert.deepEqual(complete('-A', '-t', ''), []);
    // On -a, -b is --fullnat: the next word is an option again.
    assert.ok(complete('-a', '-b', '-').includes('-r'));
    assert.deepEqual(complete('completion', ''), ['bash']);
  });

  test('--sysctl completes sysctl names; -L offers --ext-stats', () => {
    assert.deepEqual(complete('--sysctl', ''), ['--socket', ...SYSCTL_NAMES].sort());
    assert.deepEqual(complete('--sysctl', 'synproxy_sa'), ['synproxy_sack']);
    assert.deepEqual(complete('--sysctl', 'synproxy_sack=0', 'synproxy_s'), [
      'synproxy_sack',
      'synproxy_skb_store_thresh',
      'synproxy_syn_retry',
      'synproxy_synack_ttl',
    ]);
    assert.deepEqual(complete('-L', '--ext'), ['--ext-stats']);
    assert.ok(!complete('-A', '-').includes('--ext-stats'));
  });
});

describe('man page', () => {
  const page = manPage('9.9.9', '2024-01-02');

  test('structure', () => {
    assert.match(page, /^\.TH LVSADM 8 "2024-01-02" "lvsadm 9\.9\.9" "System Administration"$/m);
    for (const sh of [
      'NAME',
      'SYNOPSIS',
      'DESCRIPTION',
      'COMMANDS',
      'OPTIONS',
      'SYSCTLS',
      '"EXTENDED STATISTICS"',
      'SUBCOMMANDS',
      'ENVIRONMENT',
      '"EXIT STATUS"',
      '"SEE ALSO"',
    ]) {
      assert.match(page, new RegExp(`^\\.SH ${sh}$`, 'm'), sh);
    }
    for (const o of OPTIONS) assert.ok(page.includes(`\\fB${roffEscape(`--${o.long}`)}\\fR`), o.long);
    for (const c of COMMANDS) assert.ok(page.includes(`\\fB${roffEscape(`--${c.long}`)}\\fR`), c.long);
    // Every sysctl with its range and default; the --sysctl synopsis.
    const defaults = defaultSysctls();
    for (const name of SYSCTL_NAMES) {
      const at = page.indexOf(`.TP\n\\fB${name}\\fR\n`);
      assert.ok(at > 0, name);
      const body = page.slice(at).split('\n')[2]!;
      assert.match(body, new RegExp(`Values [0-9]+ (to|or) [0-9]+; default ${defaults[name]}\\.$`), name);
    }
    assert.ok(page.includes('\\fB\\-\\-sysctl\\fR [\\fIname\\fR[=\\fIvalue\\fR] ...]'));
    assert.match(page, /^\\fB\\-L \\-\\-ext\\-stats\\fR prints the counters/m);
    // No line may start with a control character by accident.
    for (const line of page.split('\n')) assert.ok(!/^'/.test(line), line);
  });

  test('roff escaping', () => {
    assert.equal(roffEscape('-a --b'), '\\-a \\-\\-b');
    assert.equal(roffEscape('a\\b'), 'a\\eb');
    assert.equal(roffEscape('.x'), '\\&.x');
  });

  test('renders with man -l (and groff without warnings)', () => {
    const file = join(dir, 'lvsadm.8');
    writeFileSync(file, page);
    const g = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stderr, '');
    const r = spawnSync('man', ['-l', file], {
      encoding: 'utf8',
      env: { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' },
    });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /SYNOPSIS/);
    assert.match(out, /--add-service/);
    assert.match(out, /lvsadm -A virtual-service \[-s scheduler\]/);
    assert.match(out, /LVSADM_SOCKET/);
    assert.match(out, /synproxy_skb_store_thresh\n +client +segments +kept +per +connection/);
    assert.match(out, /lvsadm --sysctl synproxy_init_mss=1400 synproxy_sack=0/);
  });
});
