// The sysctl table (src/common/sysctls.ts): Alibaba's names, the engine's defaults, a one-to-one
// mapping onto EngineKnobs, and the same verdicts (accept, or refuse with the same code) as
// Engine.setKnobs for every value around every bound.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkSysctls,
  defaultSysctls,
  isSysctlName,
  knobsToSysctls,
  SYSCTL_NAMES,
  SYSCTLS,
  sysctlRefusal,
  sysctlsToKnobs,
} from '../../src/common/sysctls.js';
import { defaultEngineKnobs } from '../../src/common/vocabulary.js';
import { outcome, smallEngine } from '../control/helpers.js';

const codeOf = (verdict: string) => (verdict === 'ok' ? 'ok' : verdict.slice(0, verdict.indexOf(':')));

describe('sysctl table', () => {
  test("Alibaba's names, in its order", () => {
    assert.deepEqual(SYSCTL_NAMES, [
      'synproxy_init_mss',
      'synproxy_sack',
      'synproxy_wscale',
      'synproxy_timestamp',
      'synproxy_synack_ttl',
      'synproxy_defer',
      'synproxy_syn_retry',
      'synproxy_dup_ack_thresh',
      'synproxy_skb_store_thresh',
      'expire_nodest_conn',
      'expire_quiescent_template',
      'timeout_timewait',
      'timeout_close',
    ]);
    assert.ok(isSysctlName('synproxy_sack'));
    assert.ok(!isSysctlName('net.ipv4.vs.synproxy_sack'));
    assert.ok(!isSysctlName('toString'));
  });

  test('defaults are the DESIGN.md / Alibaba ones, booleans as 0/1', () => {
    assert.deepEqual(defaultSysctls(), {
      synproxy_init_mss: 1452,
      synproxy_sack: 1,
      synproxy_wscale: 0,
      synproxy_timestamp: 0,
      synproxy_synack_ttl: 63,
      synproxy_defer: 0,
      synproxy_syn_retry: 3,
      synproxy_dup_ack_thresh: 10,
      synproxy_skb_store_thresh: 3,
      expire_nodest_conn: 0,
      expire_quiescent_template: 0,
      timeout_timewait: 120,
      timeout_close: 10,
    });
  });

  test('every engine knob has exactly one sysctl; conversions are inverse', () => {
    const knobs = SYSCTLS.map((s) => s.knob).sort();
    assert.deepEqual(knobs, Object.keys(defaultEngineKnobs()).sort());
    for (const s of SYSCTLS) {
      const def = defaultEngineKnobs()[s.knob];
      assert.equal(s.kind === 'bool', typeof def === 'boolean', s.name);
    }
    assert.deepEqual(sysctlsToKnobs(defaultSysctls()), defaultEngineKnobs());
    assert.deepEqual(sysctlsToKnobs({ synproxy_sack: 0, synproxy_dup_ack_thresh: 4 }), {
      sack: false,
      ackStormThresh: 4,
    });
    assert.deepEqual(sysctlsToKnobs({ nope: 1 }), {});
    const k = { ...defaultEngineKnobs(), defer: true, maxSavedAcks: 7 };
    assert.deepEqual(sysctlsToKnobs(knobsToSysctls(k)), k);
  });

  test('refusals name the sysctl', () => {
    assert.equal(sysctlRefusal('synproxy_init_mss', 1400), undefined);
    assert.equal(
      sysctlRefusal('synproxy_init_mss', 63)?.message,
      'synproxy_init_mss must be an integer from 64 to 65535',
    );
    assert.equal(sysctlRefusal('synproxy_sack', 2)?.message, 'synproxy_sack must be 0 or 1');
    assert.equal(sysctlRefusal('synproxy_nope', 1)?.message, "unknown sysctl 'synproxy_nope'");
    // Timestamps are translated now: both values are taken.
    assert.equal(sysctlRefusal('synproxy_timestamp', 1), undefined);
    assert.equal(sysctlRefusal('synproxy_timestamp', 0), undefined);
    assert.equal(sysctlRefusal('synproxy_timestamp', 2)?.message, 'synproxy_timestamp must be 0 or 1');
    // All checked before anything is used: the first refusal in the order given.
    assert.throws(() => checkSysctls({ synproxy_sack: 1, synproxy_wscale: 15, synproxy_defer: 2 }), {
      code: 'EINVAL',
      message: 'synproxy_wscale must be an integer from 0 to 14',
    });
  });

  test('around every bound: what the model accepts reaches the engine, a refusal changes nothing', () => {
    let checked = 0;
    for (const s of SYSCTLS) {
      const values = [s.min - 1, s.min, s.min + 1, s.max - 1, s.max, s.max + 1, 0, 1, 1.5, 1e9];
      for (const v of values) {
        const model = outcome(() => checkSysctls({ [s.name]: v }));
        // A boolean knob only ever gets 0 or 1 from the model: the engine sees true/false.
        if (s.kind === 'bool' && v !== 0 && v !== 1) {
          assert.match(model, /^EINVAL: .* must be 0 or 1$/, `${s.name}=${v}`);
          continue;
        }
        const engine = smallEngine();
        const e = outcome(() => engine.setSysctl({ [s.name]: v }));
        assert.equal(codeOf(model), codeOf(e), `${s.name}=${v}: model ${model}, engine ${e}`);
        if (model === 'ok') {
          assert.equal(knobsToSysctls(engine.getKnobs())[s.name as 'synproxy_sack'], v);
        } else {
          assert.deepEqual(engine.getKnobs(), defaultEngineKnobs(), 'refused: nothing changed');
        }
        checked++;
      }
    }
    assert.ok(checked > 60, `${checked}`);
  });
});
