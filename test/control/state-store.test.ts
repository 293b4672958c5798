// The state file: atomic replacement (an interrupted save leaves the old file whole), mode 0600,
// missing = empty, corrupt = refuse to start and keep a copy, never drop the configuration.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultSysctls } from '../../src/common/sysctls.js';
import type { Config } from '../../src/control/config-model.js';
import { MemoryLog } from '../../src/control/log.js';
import { STATE_VERSION, StateError, StateStore } from '../../src/control/state-store.js';
import { LIP, RS1, SVC, tempDir } from './helpers.js';

const CONFIG: Config = {
  services: [
    {
      svc: { ...SVC },
      opts: { sched: 'rr', schedFlags: 0, persistTimeout: 0, persistPrefix: 32, synproxy: true, toa: true },
      dests: [{ addr: RS1, port: 80, weight: 2, uThreshold: 0, lThreshold: 0 }],
      laddrs: [LIP],
    },
  ],
  timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
  sysctl: { ...defaultSysctls(), synproxy_init_mss: 1400, synproxy_sack: 0 },
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir('lvsadm-state-');
  try {
    await fn(dir);
  } finally {
    cleanup();
  }
}

async function refusesToLoad(store: StateStore, re: RegExp): Promise<StateError> {
  let err: unknown;
  await store.load().then(
    () => assert.fail('expected the load to be refused'),
    (e: unknown) => {
      err = e;
    },
  );
  assert.ok(err instanceof StateError, String(err));
  assert.equal(err.code, 'ESTATE');
  assert.equal(err.file, store.file);
  assert.match(err.message, re);
  assert.ok(err.message.includes(store.file), 'names the file');
  return err;
}

describe('StateStore', () => {
  test('missing file: empty configuration; the directory is created 0700', async () => {
    await withDir(async (dir) => {
      const sub = join(dir, 'a', 'state');
      const store = new StateStore(sub);
      assert.equal(await store.load(), null);
      assert.equal(statSync(sub).mode & 0o777, 0o700);
    });
  });

  test('save then load round-trips; the file is 0600, versioned, and no .tmp is left', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir, { now: () => new Date('2024-05-01T10:00:00Z') });
      await store.save(CONFIG);
      assert.deepEqual(await new StateStore(dir).load(), CONFIG);
      assert.equal(statSync(store.file).mode & 0o777, 0o600);
      const content = JSON.parse(readFileSync(store.file, 'utf8'));
      assert.equal(content.version, STATE_VERSION);
      assert.equal(content.format, 'lvsadm-state');
      assert.equal(content.savedAt, '2024-05-01T10:00:00.000Z');
      assert.deepEqual(readdirSync(dir), ['state.json']);
    });
  });

  test('a save interrupted before the rename leaves the previous file whole; the .tmp is ignored', async () => {
    await withDir(async (dir) => {
      await new StateStore(dir).save(CONFIG);
      const crashing = new StateStore(dir, {
        beforeRename: () => {
          throw new Error('power cut');
        },
      });
      const changed = { ...CONFIG, services: [] };
      await assert.rejects(crashing.save(changed), /power cut/);
      assert.ok(existsSync(crashing.tmpFile), 'the interrupted save left its .tmp');
      // A .tmp of the new content (complete or not) must not be taken for the state.
      writeFileSync(crashing.tmpFile, '{"format":"lvsadm-state","version":1,"config":{"servi');
      const log = new MemoryLog();
      assert.deepEqual(await new StateStore(dir, { log }).load(), CONFIG);
      assert.equal(existsSync(crashing.tmpFile), false, 'removed');
      assert.ok(log.lines.some((l) => l.includes('interrupted save')));
    });
  });

  test('a stale .tmp with another mode does not leak its mode into state.json', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir);
      writeFileSync(store.tmpFile, 'old', { mode: 0o644 });
      await store.save(CONFIG);
      assert.equal(statSync(store.file).mode & 0o777, 0o600);
    });
  });

  test('saves run in call order; the last one wins', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir);
      const saves = [];
      for (let i = 1; i <= 10; i++)
        saves.push(store.save({ ...CONFIG, timeouts: { tcp: i, tcpfin: 1, udp: 1 } }));
      await Promise.all(saves);
      assert.equal((await store.load())!.timeouts.tcp, 10);
    });
  });

  test('a version 1 file (before the sysctls) loads with the default sysctls; a partial set is filled in', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir);
      const { sysctl: _, ...v1 } = CONFIG;
      writeFileSync(store.file, JSON.stringify({ format: 'lvsadm-state', version: 1, config: v1 }));
      assert.deepEqual(await store.load(), { ...v1, sysctl: defaultSysctls() });
      writeFileSync(
        store.file,
        JSON.stringify({
          format: 'lvsadm-state',
          version: 2,
          config: { ...v1, sysctl: { synproxy_defer: 1 } },
        }),
      );
      assert.deepEqual(await store.load(), { ...v1, sysctl: { ...defaultSysctls(), synproxy_defer: 1 } });
      // Saving writes the current version with every sysctl.
      await store.save((await store.load())!);
      const content = JSON.parse(readFileSync(store.file, 'utf8'));
      assert.equal(content.version, STATE_VERSION);
      assert.equal(STATE_VERSION, 2);
      assert.deepEqual(content.config.sysctl, { ...defaultSysctls(), synproxy_defer: 1 });
    });
  });

  const CORRUPT: { desc: string; text: string; re: RegExp }[] = [
    {
      desc: 'unknown sysctl',
      text: JSON.stringify({
        format: 'lvsadm-state',
        version: 2,
        config: { ...CONFIG, sysctl: { synproxy_bogus: 1 } },
      }),
      re: /config\.sysctl\.synproxy_bogus is not a known sysctl/,
    },
    {
      desc: 'sysctl out of range',
      text: JSON.stringify({
        format: 'lvsadm-state',
        version: 2,
        config: { ...CONFIG, sysctl: { ...CONFIG.sysctl, synproxy_sack: 5 } },
      }),
      re: /inconsistent configuration: synproxy_sack must be 0 or 1/,
    },
    { desc: 'truncated JSON', text: '{"format":"lvsadm-state","version":1,"con', re: /not valid JSON/ },
    { desc: 'empty file', text: '', re: /not valid JSON/ },
    { desc: 'not an object', text: '[1,2]', re: /not a JSON object/ },
    { desc: 'no format', text: '{"version":1,"config":{}}', re: /"format"/ },
    { desc: 'bad version', text: '{"format":"lvsadm-state","version":"1","config":{}}', re: /"version"/ },
    {
      desc: 'bad shape',
      text: JSON.stringify({
        format: 'lvsadm-state',
        version: 1,
        config: { ...CONFIG, timeouts: { tcp: 'x' } },
      }),
      re: /config\.timeouts/,
    },
    {
      desc: 'inconsistent content (a service twice)',
      text: JSON.stringify({
        format: 'lvsadm-state',
        version: 1,
        config: { ...CONFIG, services: [CONFIG.services[0], CONFIG.services[0]] },
      }),
      re: /inconsistent configuration: Service already exists/,
    },
  ];
  for (const c of CORRUPT) {
    test(`corrupt file (${c.desc}): refuses to start, keeps the file and one copy`, async () => {
      await withDir(async (dir) => {
        const file = join(dir, 'state.json');
        writeFileSync(file, c.text, { mode: 0o600 });
        let t = Date.parse('2024-05-01T10:00:00Z');
        const now = () => {
          t += 1000;
          return new Date(t);
        };
        const err = await refusesToLoad(new StateStore(dir, { now }), c.re);
        assert.match(err.message, /Refusing to start so its configuration is not lost/);
        const copies = readdirSync(dir).filter((n) => n.startsWith('state.json.corrupt-'));
        assert.deepEqual(copies, ['state.json.corrupt-2024-05-01T10-00-01-000Z']);
        assert.ok(err.message.includes(join(dir, copies[0]!)));
        assert.equal(readFileSync(join(dir, copies[0]!), 'utf8'), c.text);
        assert.equal(readFileSync(file, 'utf8'), c.text, 'the bad file stays in place');
        // Restarting again (a restart loop) refuses again without piling up copies.
        await refusesToLoad(new StateStore(dir, { now }), c.re);
        assert.equal(readdirSync(dir).filter((n) => n.startsWith('state.json.corrupt-')).length, 1);
      });
    });
  }

  test('a file from a newer lvsadm is refused, not treated as corrupt', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir);
      writeFileSync(
        store.file,
        JSON.stringify({ format: 'lvsadm-state', version: STATE_VERSION + 1, config: {} }),
      );
      await refusesToLoad(
        store,
        new RegExp(`format version ${STATE_VERSION + 1}, written by a newer lvsadm`),
      );
      assert.deepEqual(readdirSync(dir), ['state.json']);
    });
  });

  test('an unreadable state file is an error naming it, not an empty configuration', async () => {
    await withDir(async (dir) => {
      const store = new StateStore(dir);
      mkdirSync(store.file);
      await refusesToLoad(store, /cannot read state file/);
    });
  });
});
