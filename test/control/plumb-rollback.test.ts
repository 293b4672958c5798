// A change the host cannot carry out after the engine took it (issue 9 defect 8): the control
// service plumbs every change inside its turn, and when that fails the change is undone in the
// engine and the model, the previous configuration is plumbed back, nothing is saved, and the
// caller gets EHOST with the host's words.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LvsError } from '../../src/common/errors.js';
import type { ConfigModel } from '../../src/control/config-model.js';
import { ControlService } from '../../src/control/control-service.js';
import type { Request } from '../../src/control/protocol.js';
import { StateStore } from '../../src/control/state-store.js';
import { LIP, RS1, RS2, SVC, smallEngine, VIP2 } from './helpers.js';

const SVC2 = { proto: 'tcp', addr: VIP2, port: 80 } as const;

/** A host whose plumbing refuses VIP2; it records the VIPs of every configuration it was given. */
function fakeHost() {
  const seen: string[][] = [];
  return {
    seen,
    plumb: async (m: ConfigModel): Promise<void> => {
      const vips = m.vips();
      seen.push(vips);
      if (vips.includes(VIP2)) throw new Error(`RTM_NEWROUTE ${VIP2}/32: Operation not permitted`);
    },
  };
}

const base: Request[] = [
  { op: 'addService', svc: SVC, opts: { sched: 'rr' } },
  { op: 'addDest', svc: SVC, dest: { addr: RS1, port: 80 } },
  { op: 'addLaddr', svc: SVC, addr: LIP },
];

describe('plumbing failures undo the change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-plumb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a change the host refuses is undone everywhere; the old state is plumbed back', async () => {
    const engine = smallEngine();
    const host = fakeHost();
    const store = new StateStore(dir);
    const cs = new ControlService({ engine, store, plumb: host.plumb });
    await cs.execute({ op: 'batch', requests: base });
    assert.deepEqual(host.seen, [[SVC.addr]], 'a change is plumbed once, in its turn');
    const saved = existsSync(store.file);
    assert.ok(saved);
    const before = { engine: engine.listServices(), model: cs.model.toConfig() };

    await assert.rejects(
      cs.execute({
        op: 'batch',
        requests: [
          { op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80 } },
          { op: 'addService', svc: SVC2, opts: {} },
          { op: 'addDest', svc: SVC2, dest: { addr: RS1, port: 80 } },
        ],
      }),
      (e: unknown) =>
        LvsError.is(e) &&
        e.code === 'EHOST' &&
        /Operation not permitted/.test(e.message) &&
        /nothing was changed/.test(e.message),
    );
    assert.deepEqual(engine.listServices(), before.engine, 'engine as before (RS2 and SVC2 gone)');
    assert.deepEqual(cs.model.toConfig(), before.model, 'model as before');
    assert.deepEqual(
      host.seen.slice(1),
      [[SVC.addr, VIP2].sort(), [SVC.addr]].map((v) => v.sort()),
    );
    assert.deepEqual(
      (await new StateStore(dir).load())?.services.length,
      1,
      'the refused change was not saved',
    );

    // Unrelated changes go on.
    await cs.execute({ op: 'addDest', svc: SVC, dest: { addr: RS2, port: 80 } });
    assert.equal(engine.listServices()[0]!.dests.length, 2);
  });

  test('counters-only changes and reads do not plumb', async () => {
    const engine = smallEngine();
    const host = fakeHost();
    const cs = new ControlService({ engine, plumb: host.plumb });
    await cs.execute({ op: 'batch', requests: base });
    await cs.execute({ op: 'zero' });
    await cs.execute({ op: 'list' });
    assert.equal(host.seen.length, 1);
  });
});
