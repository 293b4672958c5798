import assert from 'node:assert/strict';
import { it } from 'node:test';
import { getScheduler, SCHEDULER_NAMES } from '../../src/dataplane/sched/registry.js';
import { wlc } from '../../src/dataplane/sched/wlc.js';

it('lists ipvsadm scheduler names in order', () => {
  assert.deepEqual(SCHEDULER_NAMES, [
    'rr',
    'wrr',
    'lc',
    'wlc',
    'sed',
    'nq',
    'dh',
    'sh',
    'mh',
    'lblc',
    'lblcr',
    'fo',
    'ovf',
  ]);
});

it('finds each scheduler by its name', () => {
  for (const name of SCHEDULER_NAMES) assert.equal(getScheduler(name)?.name, name);
  assert.equal(getScheduler('wlc'), wlc);
});

it('rejects unknown names, including Object prototype keys', () => {
  for (const name of ['', 'WLC', 'bogus', 'constructor', 'toString', '__proto__']) {
    assert.equal(getScheduler(name), undefined, name);
  }
});
