// src/dataplane/counters.ts: each exported counter index and COUNTER_NAMES agree (the name at an
// index is what the constant's name says), indices are 0..C_COUNT-1 without gaps or doubles, and
// `lvsadm -L --ext-stats` lists every name with its value. Generic over the module's exports, so
// a counter appended later is checked the same way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatExtStats } from '../../src/cli/format.js';
import * as counters from '../../src/dataplane/counters.js';
import { engine } from './helpers.js';

const { COUNTER_NAMES, C_COUNT } = counters;

/** Names kept from Alibaba LVS's ip_vs_ext_stats (or older listings) that no prefix rule gives. */
const HISTORICAL: Readonly<Record<string, string>> = {
  D_NO_TEMPLATE: 'drop_persist_table_full',
  E_SP_SYN: 'synproxy_syn_cookie',
  E_SP_SYN_RETRANS: 'synproxy_syn_retransmit',
  E_SP_QUEUED: 'synproxy_data_queued',
  E_SP_REUSED: 'synproxy_conn_reused',
  D_SP_DEFER: 'synproxy_defer_drop',
  D_SP_WAIT: 'synproxy_drop_while_waiting',
};

/**
 * The listing name a constant's name gives: C_X (totals) x_pkts, D_X (drops) drop_x, E_X
 * (events) x; SYNPROXY's D_SP_/E_SP_ are synproxy_x, TOA's E_TOA_ fullnat_add_toa_x (as LVS).
 */
function expectedName(constant: string): string {
  if (HISTORICAL[constant]) return HISTORICAL[constant];
  const m = /^([CDE])_(SP_|TOA_)?(.+)$/.exec(constant);
  if (!m) throw new Error(`${constant} is not a counter constant`);
  const rest = m[3]!.toLowerCase();
  if (m[2] === 'SP_') return `synproxy_${rest}`;
  if (m[2] === 'TOA_') return `fullnat_add_toa_${rest}`;
  return m[1] === 'C' ? `${rest}_pkts` : m[1] === 'D' ? `drop_${rest}` : rest;
}

/** Every exported counter index: C_/D_/E_ numbers except the count itself. */
const INDICES: [string, number][] = Object.entries(counters)
  .filter(([k, v]) => /^[CDE]_/.test(k) && k !== 'C_COUNT' && typeof v === 'number')
  .map(([k, v]) => [k, v as number]);

describe('engine counters: constants, names, listing', () => {
  test('the module exports counter indices, C_COUNT and COUNTER_NAMES, nothing unexpected', () => {
    assert.ok(INDICES.length >= 49, `found ${INDICES.length}`);
    for (const [k, v] of Object.entries(counters)) {
      if (k === 'COUNTER_NAMES') continue;
      assert.equal(typeof v, 'number', `${k} is a number`);
      assert.match(k, /^[CDE]_[A-Z0-9_]+$/, `${k}: an index constant is named C_, D_ or E_`);
    }
  });

  test('each constant indexes the name its own name gives', () => {
    const wrong = INDICES.filter(([k, i]) => COUNTER_NAMES[i] !== expectedName(k)).map(
      ([k, i]) => `${k} = ${i}: COUNTER_NAMES[${i}] is ${COUNTER_NAMES[i]}, expected ${expectedName(k)}`,
    );
    assert.deepEqual(wrong, []);
  });

  test('indices 0..C_COUNT-1, each once; COUNTER_NAMES as long, names unique and well formed', () => {
    assert.equal(COUNTER_NAMES.length, C_COUNT);
    const byIndex = new Map<number, string[]>();
    for (const [k, i] of INDICES) {
      assert.ok(Number.isInteger(i) && i >= 0 && i < C_COUNT, `${k} = ${i} is outside 0..${C_COUNT - 1}`);
      byIndex.set(i, [...(byIndex.get(i) ?? []), k]);
    }
    const doubles = [...byIndex.values()].filter((ks) => ks.length > 1);
    assert.deepEqual(doubles, [], 'one constant per index');
    const gaps = Array.from({ length: C_COUNT }, (_, i) => i).filter((i) => !byIndex.has(i));
    assert.deepEqual(gaps, [], 'every index has a constant');
    assert.equal(new Set(COUNTER_NAMES).size, COUNTER_NAMES.length, 'no name twice');
    for (const n of COUNTER_NAMES) assert.match(n, /^[a-z][a-z0-9_]*$/);
  });

  test('-L --ext-stats lists every counter of the engine, once, with its value', () => {
    const e = engine();
    // Distinct values, so a line showing another counter's value is caught.
    for (let i = 0; i < C_COUNT; i++) e.counters[i] = 1000 + i;
    const values = e.counterValues();
    assert.deepEqual(Object.keys(values), [...COUNTER_NAMES], 'the engine reports them all, in order');
    const distinct = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, 1000 + i]));
    assert.deepEqual(values, distinct);
    const text = formatExtStats(values);
    const listed = text
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      listed.map(([n]) => n).sort(),
      [...COUNTER_NAMES].sort(),
      'each name on exactly one line',
    );
    for (const [n, v] of listed) assert.equal(Number(v), distinct[n!], n);
  });
});
