// PersistTable (src/dataplane/persistence.ts): persistence templates keyed by the masked client
// address and the service, kept while connections they placed are alive, released exactly once.
// The table's wheel has 1 s slots, so times here are whole seconds (ms values on boundaries).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseIp, prefixMask } from '../../src/common/addr.js';
import { PersistTable } from '../../src/dataplane/persistence.js';
import { fcParams } from './unit-helpers.js';

const S = 1000;
const ALL4 = prefixMask(4, 32);

/** A table whose onRelease calls are recorded (dest indexes, in order). */
function table(max = 16, now = 0): { pt: PersistTable; released: number[] } {
  const pt = new PersistTable(max, now, 0x1234);
  const released: number[] = [];
  pt.onRelease = (d) => released.push(d);
  return { pt, released };
}

function key(pt: PersistTable, addr: string, svc: number, mask?: Uint32Array): void {
  const a = parseIp(addr)!;
  pt.setKey(a.family, a.words, 0, mask ?? prefixMask(a.family, a.family === 4 ? 32 : 128), svc);
}

function lookup(pt: PersistTable, addr: string, svc: number, mask?: Uint32Array): number {
  key(pt, addr, svc, mask);
  return pt.lookup();
}

function create(
  pt: PersistTable,
  addr: string,
  svc: number,
  dest: number,
  timeoutS: number,
  now: number,
  mask?: Uint32Array,
): number {
  key(pt, addr, svc, mask);
  const id = pt.create(svc, dest, timeoutS * S, now);
  assert.ok(id > 0, 'template created');
  return id;
}

describe('PersistTable keys', () => {
  test('a masked key groups a client network (-M 255.255.255.0)', () => {
    const { pt } = table();
    const m24 = prefixMask(4, 24);
    const id = create(pt, '198.51.100.2', 1, 7, 300, 0, m24);
    assert.equal(lookup(pt, '198.51.100.77', 1, m24), id, 'same /24');
    assert.equal(lookup(pt, '198.51.100.255', 1, m24), id);
    assert.equal(lookup(pt, '198.51.101.2', 1, m24), 0, 'next /24');
    assert.equal(lookup(pt, '198.51.100.2', 2, m24), 0, 'another service');
    assert.equal(pt.dest[id], 7);
    assert.equal(pt.svc[id], 1);
  });

  test('IPv6 networks (/64) and family separation', () => {
    const { pt } = table();
    const m64 = prefixMask(6, 64);
    const id6 = create(pt, '2001:db8:100::2', 1, 3, 300, 0, m64);
    assert.equal(lookup(pt, '2001:db8:100::ffff:1', 1, m64), id6);
    assert.equal(lookup(pt, '2001:db8:100:1::2', 1, m64), 0);
    // An IPv4 client whose word 0 equals the IPv6 network's word 0 is another key.
    const v6 = parseIp('c000:201::')!;
    pt.setKey(6, v6.words, 0, prefixMask(6, 128), 1);
    const idv6 = pt.create(1, 4, 300 * S, 0);
    assert.ok(idv6 > 0);
    assert.equal(lookup(pt, '192.0.2.1', 1, ALL4), 0, 'IPv4 192.0.2.1 is not c000:201::');
  });

  test('setKey reads the address at the given offset', () => {
    const { pt } = table();
    const id = create(pt, '203.0.113.9', 5, 1, 300, 0);
    const words = Uint32Array.of(1, 2, 0xcb007109, 0, 0, 0);
    pt.setKey(4, words, 2, ALL4, 5);
    assert.equal(pt.lookup(), id);
  });

  test('a full table refuses new templates', () => {
    const { pt } = table(2);
    create(pt, '10.0.0.1', 1, 1, 300, 0);
    create(pt, '10.0.0.2', 1, 1, 300, 0);
    key(pt, '10.0.0.3', 1);
    assert.equal(pt.create(1, 1, 300 * S, 0), 0);
    assert.equal(pt.count, 2);
  });
});

describe('PersistTable lifetime', () => {
  test('an unused template expires `timeout` after creation, releasing its dest once', () => {
    const { pt, released } = table();
    const id = create(pt, '198.51.100.2', 1, 9, 10, 0);
    for (let t = 1; t < 10; t++) {
      pt.sweep(t * S, Infinity);
      assert.equal(lookup(pt, '198.51.100.2', 1), id, `alive at ${t} s`);
    }
    pt.sweep(10 * S, Infinity);
    assert.equal(lookup(pt, '198.51.100.2', 1), 0, 'gone at 10 s');
    assert.deepEqual(released, [9]);
    assert.equal(pt.count, 0);
    for (let t = 11; t < 40; t++) pt.sweep(t * S, Infinity);
    assert.deepEqual(released, [9], 'released once');
  });

  test('a new connection (use) restarts the timeout', () => {
    const { pt } = table();
    const id = create(pt, '198.51.100.2', 1, 1, 10, 0);
    // A connection placed at 8 s that ends at once (a refused or reset connection).
    pt.use(id, 8 * S);
    pt.unref(id, 8 * S);
    for (let t = 1; t < 18; t++) {
      pt.sweep(t * S, Infinity);
      assert.equal(lookup(pt, '198.51.100.2', 1), id, `alive at ${t} s`);
    }
    pt.sweep(18 * S, Infinity);
    assert.equal(lookup(pt, '198.51.100.2', 1), 0);
  });

  test('a template with refs > 0 is kept past its timeout', () => {
    const { pt, released } = table();
    const id = create(pt, '198.51.100.2', 1, 1, 10, 0);
    pt.use(id, 0);
    for (let t = 1; t <= 100; t++) {
      pt.sweep(t * S, Infinity);
      assert.equal(lookup(pt, '198.51.100.2', 1), id, `alive at ${t} s`);
    }
    assert.deepEqual(released, []);
    assert.equal(pt.refs[id], 1);
  });

  test('a template expires `timeout` after its last reference ends', () => {
    // timeout 10 s; the one connection it placed lives from 0 to 25 s (past the timeout).
    const { pt, released } = table();
    const id = create(pt, '198.51.100.2', 1, 1, 10, 0);
    pt.use(id, 0);
    for (let t = 1; t <= 25; t++) pt.sweep(t * S, Infinity);
    pt.unref(id, 25 * S);
    for (let t = 26; t < 35; t++) {
      pt.sweep(t * S, Infinity);
      assert.equal(lookup(pt, '198.51.100.2', 1), id, `alive at ${t} s (last reference ended at 25 s)`);
    }
    pt.sweep(35 * S, Infinity);
    assert.equal(lookup(pt, '198.51.100.2', 1), 0, 'gone at 35 s');
    assert.deepEqual(released, [1]);
  });

  test('refs count connections: the template stays until the last one ends', () => {
    const { pt, released } = table();
    const id = create(pt, '198.51.100.2', 1, 1, 10, 0);
    pt.use(id, 0);
    pt.use(id, 1 * S);
    pt.use(id, 2 * S);
    assert.equal(pt.refs[id], 3);
    for (let t = 1; t <= 30; t++) pt.sweep(t * S, Infinity);
    pt.unref(id, 30 * S);
    pt.unref(id, 30 * S);
    for (let t = 31; t <= 60; t++) pt.sweep(t * S, Infinity);
    assert.equal(lookup(pt, '198.51.100.2', 1), id, 'one reference left');
    pt.unref(id, 60 * S);
    for (let t = 61; t <= 80; t++) pt.sweep(t * S, Infinity);
    assert.equal(lookup(pt, '198.51.100.2', 1), 0);
    assert.deepEqual(released, [1]);
  });
});

describe('PersistTable orphanService', () => {
  test('removes the service templates from lookups at once; frees each when its refs drop', () => {
    const { pt, released } = table();
    create(pt, '10.0.0.1', 1, 11, 300, 0);
    const busy = create(pt, '10.0.0.2', 1, 12, 300, 0);
    const other = create(pt, '10.0.0.1', 2, 13, 600, 0);
    pt.use(busy, 0);
    pt.use(busy, 0);
    pt.orphanService(1);
    assert.equal(lookup(pt, '10.0.0.1', 1), 0);
    assert.equal(lookup(pt, '10.0.0.2', 1), 0);
    assert.equal(lookup(pt, '10.0.0.1', 2), other, 'other services keep theirs');
    assert.deepEqual(released, [11], 'the idle template is freed at once');
    assert.equal(pt.count, 2);

    // The same client gets a new template for service 1 while the orphan drains.
    const fresh = create(pt, '10.0.0.2', 1, 14, 300, 1 * S);
    assert.notEqual(fresh, busy);
    // Past the orphan's timeout it is still held by its connections.
    for (let t = 1; t <= 400; t += 10) pt.sweep(t * S, Infinity);
    assert.deepEqual(released, [11, 14], 'only the unused fresh template timed out');
    pt.unref(busy, 400 * S);
    assert.deepEqual(released, [11, 14]);
    pt.unref(busy, 401 * S);
    assert.deepEqual(released, [11, 14, 12], 'freed with its last reference');
    assert.equal(pt.count, 1);
    for (let t = 402; t <= 1000; t += 10) pt.sweep(t * S, Infinity);
    assert.deepEqual(released, [11, 14, 12, 13]);
    assert.equal(pt.count, 0);
  });

  test('releasing an orphan leaves a newer template of the same key in place', () => {
    const { pt } = table();
    const old = create(pt, '10.0.0.5', 1, 1, 300, 0);
    pt.use(old, 0);
    pt.orphanService(1);
    const fresh = create(pt, '10.0.0.5', 1, 2, 300, 0);
    pt.use(fresh, 0);
    pt.unref(old, 5 * S);
    assert.equal(lookup(pt, '10.0.0.5', 1), fresh);
  });
});

describe('PersistTable model', () => {
  type Op =
    | { t: 'conn'; client: number; svc: number }
    | { t: 'end'; pick: number }
    | { t: 'orphan'; svc: number }
    | { t: 'tick'; secs: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('conn' as const), client: fc.nat(5), svc: fc.integer({ min: 1, max: 2 }) }),
    fc.record({ t: fc.constant('end' as const), pick: fc.nat() }),
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('orphan' as const), svc: fc.integer({ min: 1, max: 2 }) }),
    },
    fc.record({
      t: fc.constant('tick' as const),
      secs: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 10, max: 2000 })),
    }),
  );

  test('onRelease exactly once per template, never while referenced; lookups see only live mapped templates', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), fc.constantFrom(Infinity, 1, 3), (ops, budget) => {
        const { pt, released } = table(64);
        // Each template gets a unique dest index, so onRelease names the template.
        let nextDest = 1;
        const tmpls = new Map<
          number,
          { id: number; svc: number; client: number; refs: number; mapped: boolean; gone: boolean }
        >();
        const conns: number[] = []; // dest index of the template each live connection holds
        let now = 0;
        let seenReleases = 0;
        const syncReleases = () => {
          for (; seenReleases < released.length; seenReleases++) {
            const d = released[seenReleases]!;
            const t = tmpls.get(d);
            assert.ok(t, `onRelease(${d}): unknown`);
            assert.ok(!t.gone, `onRelease(${d}) twice`);
            assert.equal(t.refs, 0, `onRelease(${d}) with ${t.refs} refs`);
            t.gone = true;
          }
        };
        const addr = (c: number) => `198.51.100.${c + 1}`;
        for (const o of ops) {
          if (o.t === 'conn') {
            let id = lookup(pt, addr(o.client), o.svc);
            const live = [...tmpls.entries()].find(
              ([, t]) => t.mapped && !t.gone && t.client === o.client && t.svc === o.svc,
            );
            assert.equal(id, live ? live[1].id : 0, 'lookup finds the live mapped template');
            let d = live?.[0];
            if (id === 0) {
              d = nextDest++;
              id = create(pt, addr(o.client), o.svc, d, 30, now);
              tmpls.set(d, { id, svc: o.svc, client: o.client, refs: 0, mapped: true, gone: false });
            }
            pt.use(id, now);
            tmpls.get(d!)!.refs++;
            conns.push(d!);
          } else if (o.t === 'end') {
            if (conns.length === 0) continue;
            const [d] = conns.splice(o.pick % conns.length, 1);
            const t = tmpls.get(d!)!;
            t.refs--;
            pt.unref(t.id, now);
          } else if (o.t === 'orphan') {
            pt.orphanService(o.svc);
            for (const t of tmpls.values()) if (t.svc === o.svc) t.mapped = false;
          } else {
            now += o.secs * S;
            for (let i = 0; i < (budget === Infinity ? 1 : 200); i++) pt.sweep(now, budget);
          }
          syncReleases();
        }
        // End every connection and wait long enough: every template is released, once.
        for (const d of conns) {
          const t = tmpls.get(d)!;
          t.refs--;
          pt.unref(t.id, now);
        }
        for (let i = 0; i < 3000; i++) pt.sweep(now + (i + 1) * 2 * S, Infinity);
        syncReleases();
        for (const [d, t] of tmpls) assert.ok(t.gone, `template for dest ${d} never released`);
        assert.equal(released.length, tmpls.size);
        assert.equal(pt.count, 0);
      }),
      fcParams(200),
    );
  });
});
