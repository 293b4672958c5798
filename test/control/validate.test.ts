// Validation of untrusted envelopes: a table of bad ones (each names the bad field) and good ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/control/protocol.js';
import {
  checkConfigShape,
  MAX_BATCH_REQUESTS,
  validateEnvelope,
  validateRequest,
} from '../../src/control/validate.js';

const V = PROTOCOL_VERSION;
const SVC = { proto: 'tcp', addr: '203.0.113.10', port: 80 };
const env = (req: unknown, extra: Record<string, unknown> = {}) => ({ v: V, id: 7, req, ...extra });

interface Bad {
  desc: string;
  input: unknown;
  /** Substring of the message: names the field. */
  field: string;
  code?: string;
  id?: number;
}

const BAD: Bad[] = [
  { desc: 'not an object', input: 42, field: 'envelope must be an object', id: 0 },
  { desc: 'null', input: null, field: 'envelope must be an object', id: 0 },
  { desc: 'array', input: [1], field: 'envelope must be an object', id: 0 },
  { desc: 'missing v', input: { id: 1, req: { op: 'status' } }, field: 'v must be an integer', id: 1 },
  { desc: 'string v', input: { v: '1', id: 1, req: { op: 'status' } }, field: 'v must be an integer', id: 1 },
  { desc: 'missing id', input: { v: V, req: { op: 'status' } }, field: 'id must be an integer', id: 0 },
  { desc: 'negative id', input: { v: V, id: -1, req: { op: 'status' } }, field: 'id must be', id: 0 },
  { desc: 'fractional id', input: { v: V, id: 1.5, req: { op: 'status' } }, field: 'id must be', id: 0 },
  {
    desc: 'extra envelope field',
    input: { v: V, id: 3, req: { op: 'status' }, x: 1 },
    field: 'envelope.x',
    id: 3,
  },
  {
    desc: 'newer version',
    input: { v: V + 1, id: 5, req: { op: 'whatever' } },
    field: `protocol version ${V + 1}`,
    code: 'EVERSION',
    id: 5,
  },
  { desc: 'missing req', input: { v: V, id: 1 }, field: 'req must be an object', id: 1 },
  { desc: 'missing op', input: env({}), field: 'req.op' },
  { desc: 'unknown op', input: env({ op: 'explode' }), field: 'req.op is not a known operation' },
  { desc: 'op not string', input: env({ op: 3 }), field: 'req.op must be' },
  { desc: 'extra field on read op', input: env({ op: 'status', verbose: true }), field: 'req.verbose' },
  {
    desc: 'addService without svc',
    input: env({ op: 'addService', opts: {} }),
    field: 'req.svc must be an object',
  },
  {
    desc: 'addService without opts',
    input: env({ op: 'addService', svc: SVC }),
    field: 'req.opts must be an object',
  },
  {
    desc: 'bad proto',
    input: env({ op: 'delService', svc: { ...SVC, proto: 'sctp' } }),
    field: 'req.svc.proto must be "tcp" or "udp"',
  },
  {
    desc: 'port too big',
    input: env({ op: 'delService', svc: { ...SVC, port: 65536 } }),
    field: 'req.svc.port',
  },
  {
    desc: 'negative port',
    input: env({ op: 'delService', svc: { ...SVC, port: -1 } }),
    field: 'req.svc.port',
  },
  {
    desc: 'port as string',
    input: env({ op: 'delService', svc: { ...SVC, port: '80' } }),
    field: 'req.svc.port',
  },
  {
    desc: 'fractional port',
    input: env({ op: 'delService', svc: { ...SVC, port: 80.5 } }),
    field: 'req.svc.port',
  },
  {
    desc: 'bad address',
    input: env({ op: 'delService', svc: { ...SVC, addr: '203.0.113.300' } }),
    field: 'req.svc.addr',
  },
  {
    desc: 'address as number',
    input: env({ op: 'delService', svc: { ...SVC, addr: 3405803786 } }),
    field: 'req.svc.addr',
  },
  {
    desc: 'bracketed v6',
    input: env({ op: 'delService', svc: { ...SVC, addr: '[2001:db8::1]' } }),
    field: 'req.svc.addr',
  },
  {
    desc: 'extra svc field',
    input: env({ op: 'delService', svc: { ...SVC, fwmark: 1 } }),
    field: 'req.svc.fwmark',
  },
  {
    desc: 'sched flags 8',
    input: env({ op: 'addService', svc: SVC, opts: { schedFlags: 8 } }),
    field: 'req.opts.schedFlags',
  },
  {
    desc: 'sched not string',
    input: env({ op: 'addService', svc: SVC, opts: { sched: 1 } }),
    field: 'req.opts.sched',
  },
  {
    desc: 'sched empty',
    input: env({ op: 'addService', svc: SVC, opts: { sched: '' } }),
    field: 'req.opts.sched',
  },
  {
    desc: 'persist timeout too long',
    input: env({ op: 'editService', svc: SVC, opts: { persistTimeout: 3e6 } }),
    field: 'req.opts.persistTimeout',
  },
  {
    desc: 'persist prefix 129',
    input: env({ op: 'editService', svc: SVC, opts: { persistPrefix: 129 } }),
    field: 'req.opts.persistPrefix',
  },
  {
    desc: 'synproxy not boolean',
    input: env({ op: 'addService', svc: SVC, opts: { synproxy: 'yes' } }),
    field: 'req.opts.synproxy',
  },
  {
    desc: 'toa not boolean',
    input: env({ op: 'addService', svc: SVC, opts: { toa: 1 } }),
    field: 'req.opts.toa',
  },
  {
    desc: 'misspelt option',
    input: env({ op: 'addService', svc: SVC, opts: { schedular: 'rr' } }),
    field: 'req.opts.schedular',
  },
  {
    desc: 'addDest without dest',
    input: env({ op: 'addDest', svc: SVC }),
    field: 'req.dest must be an object',
  },
  {
    desc: 'dest weight too big',
    input: env({ op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80, weight: 65536 } }),
    field: 'req.dest.weight',
  },
  {
    desc: 'dest weight negative',
    input: env({ op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80, weight: -1 } }),
    field: 'req.dest.weight',
  },
  {
    desc: 'dest misspelt field',
    input: env({ op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 80, weigth: 2 } }),
    field: 'req.dest.weigth',
  },
  {
    desc: 'dest bad address',
    input: env({ op: 'addDest', svc: SVC, dest: { addr: 'rs1', port: 80 } }),
    field: 'req.dest.addr',
  },
  {
    desc: 'threshold too big',
    input: env({ op: 'editDest', svc: SVC, addr: '192.0.2.21', port: 80, change: { uThreshold: 2 ** 31 } }),
    field: 'req.change.uThreshold',
  },
  {
    desc: 'editDest without change',
    input: env({ op: 'editDest', svc: SVC, addr: '192.0.2.21', port: 80 }),
    field: 'req.change',
  },
  {
    desc: 'delDest without port',
    input: env({ op: 'delDest', svc: SVC, addr: '192.0.2.21' }),
    field: 'req.port',
  },
  { desc: 'laddr bad address', input: env({ op: 'addLaddr', svc: SVC, addr: '192.0.2' }), field: 'req.addr' },
  {
    desc: 'timeouts negative',
    input: env({ op: 'setTimeouts', timeouts: { tcp: -5 } }),
    field: 'req.timeouts.tcp',
  },
  {
    desc: 'timeouts unknown key',
    input: env({ op: 'setTimeouts', timeouts: { sctp: 5 } }),
    field: 'req.timeouts.sctp',
  },
  { desc: 'listConns limit', input: env({ op: 'listConns', limit: -1 }), field: 'req.limit' },
  { desc: 'list svc bad', input: env({ op: 'list', svc: { proto: 'tcp' } }), field: 'req.svc.addr' },
  {
    desc: 'batch not array',
    input: env({ op: 'batch', requests: {} }),
    field: 'req.requests must be an array',
  },
  {
    desc: 'batch in batch',
    input: env({ op: 'batch', requests: [{ op: 'batch', requests: [] }] }),
    field: 'req.requests[0].op batch cannot be nested',
  },
  {
    desc: 'read op in batch',
    input: env({ op: 'batch', requests: [{ op: 'flush' }, { op: 'list' }] }),
    field: 'req.requests[1].op list is not a change',
  },
  {
    desc: 'bad field deep in batch',
    input: env({
      op: 'batch',
      requests: [
        { op: 'flush' },
        { op: 'flush' },
        { op: 'flush' },
        { op: 'addDest', svc: SVC, dest: { addr: '192.0.2.21', port: 1e6 } },
      ],
    }),
    field: 'req.requests[3].dest.port',
  },
  {
    desc: 'setSysctl without values',
    input: env({ op: 'setSysctl' }),
    field: 'req.values must be an object',
  },
  { desc: 'setSysctl empty', input: env({ op: 'setSysctl', values: {} }), field: 'req.values must set' },
  {
    desc: 'setSysctl unknown name',
    input: env({ op: 'setSysctl', values: { synproxy_sack: 1, synproxy_foo: 1 } }),
    field: 'req.values.synproxy_foo is not a known sysctl',
  },
  {
    desc: 'setSysctl full sysctl path (the CLI drops the prefix, the wire does not)',
    input: env({ op: 'setSysctl', values: { 'net.ipv4.vs.synproxy_sack': 1 } }),
    field: 'req.values.net.ipv4.vs.synproxy_sack is not a known sysctl',
  },
  {
    desc: 'setSysctl boolean as true',
    input: env({ op: 'setSysctl', values: { synproxy_sack: true } }),
    field: 'req.values.synproxy_sack must be an integer',
  },
  {
    desc: 'setSysctl fraction',
    input: env({ op: 'setSysctl', values: { synproxy_init_mss: 1400.5 } }),
    field: 'req.values.synproxy_init_mss must be an integer',
  },
  {
    desc: 'setSysctl negative',
    input: env({ op: 'setSysctl', values: { synproxy_wscale: -1 } }),
    field: 'req.values.synproxy_wscale must be an integer',
  },
  {
    desc: 'setSysctl string value',
    input: env({ op: 'setSysctl', values: { synproxy_init_mss: '1400' } }),
    field: 'req.values.synproxy_init_mss must be an integer',
  },
  {
    desc: 'setSysctl extra field',
    input: env({ op: 'setSysctl', values: { synproxy_sack: 1 }, apply: true }),
    field: 'req.apply is not a known field',
  },
  {
    desc: 'getSysctl names not an array',
    input: env({ op: 'getSysctl', names: 'synproxy_sack' }),
    field: 'req.names must be an array',
  },
  {
    desc: 'getSysctl unknown name',
    input: env({ op: 'getSysctl', names: ['synproxy_sack', 'nope'] }),
    field: 'req.names[1] is not a known sysctl',
  },
  {
    desc: 'bad sysctl in a batch',
    input: env({ op: 'batch', requests: [{ op: 'flush' }, { op: 'setSysctl', values: { x: 1 } }] }),
    field: 'req.requests[1].values.x',
  },
  {
    desc: 'getSysctl in a batch',
    input: env({ op: 'batch', requests: [{ op: 'getSysctl' }] }),
    field: 'req.requests[0].op getSysctl is not a change',
  },
  {
    desc: 'batch too long',
    input: env({ op: 'batch', requests: new Array(MAX_BATCH_REQUESTS + 1).fill({ op: 'flush' }) }),
    field: `at most ${MAX_BATCH_REQUESTS}`,
  },
];

describe('validateEnvelope', () => {
  for (const b of BAD) {
    test(`refuses: ${b.desc}`, () => {
      const r = validateEnvelope(b.input);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.code, b.code ?? 'EINVAL');
      assert.ok(r.error.message.includes(b.field), `${JSON.stringify(r.error.message)} names ${b.field}`);
      assert.equal(r.id, b.id ?? 7);
    });
  }

  const GOOD: unknown[] = [
    { op: 'status' },
    { op: 'flush' },
    { op: 'addService', svc: SVC, opts: {} },
    {
      op: 'addService',
      svc: { proto: 'udp', addr: '2001:db8:203::10', port: 0 },
      opts: {
        sched: 'mh',
        schedFlags: 3,
        persistTimeout: 300,
        persistPrefix: 64,
        synproxy: true,
        toa: false,
      },
    },
    { op: 'editService', svc: SVC, opts: { sched: 'rr' } },
    { op: 'delService', svc: SVC },
    {
      op: 'addDest',
      svc: SVC,
      dest: { addr: '192.0.2.21', port: 8080, weight: 0, uThreshold: 10, lThreshold: 5 },
    },
    { op: 'editDest', svc: SVC, addr: '192.0.2.21', port: 8080, change: {} },
    { op: 'delDest', svc: SVC, addr: '192.0.2.21', port: 8080 },
    { op: 'addLaddr', svc: SVC, addr: '192.0.2.200' },
    { op: 'delLaddr', svc: SVC, addr: '192.0.2.200' },
    { op: 'zero' },
    { op: 'zero', svc: SVC },
    { op: 'setTimeouts', timeouts: { tcp: 0, udp: 60 } },
    { op: 'batch', requests: [] },
    { op: 'batch', requests: [{ op: 'flush' }, { op: 'addService', svc: SVC, opts: {} }, { op: 'zero' }] },
    { op: 'list' },
    { op: 'list', svc: SVC },
    { op: 'listConns' },
    { op: 'listConns', limit: 10 },
    { op: 'getTimeouts' },
    { op: 'dump' },
    { op: 'counters' },
    { op: 'getSysctl' },
    { op: 'getSysctl', names: [] },
    { op: 'getSysctl', names: ['synproxy_skb_store_thresh', 'synproxy_init_mss'] },
    { op: 'setSysctl', values: { synproxy_init_mss: 1400, synproxy_sack: 0 } },
    // Ranges are the model's: the wire only wants known names and integers.
    { op: 'setSysctl', values: { synproxy_timestamp: 1, synproxy_syn_retry: 99 } },
    {
      op: 'batch',
      requests: [
        { op: 'setTimeouts', timeouts: { tcp: 1 } },
        { op: 'setSysctl', values: { synproxy_defer: 1 } },
      ],
    },
  ];
  for (const req of GOOD) {
    test(`accepts ${JSON.stringify(req).slice(0, 80)}`, () => {
      const r = validateEnvelope({ v: V, id: 99, req });
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.equal(r.env.id, 99);
      assert.deepEqual(r.env.req, req);
    });
  }

  test('survives hostile JSON (deep nesting, __proto__ keys) without throwing', () => {
    let deep: unknown = { op: 'flush' };
    for (let i = 0; i < 1000; i++) deep = { op: 'batch', requests: [deep] };
    const r1 = validateEnvelope(env(deep));
    assert.equal(r1.ok, false);
    const r2 = validateEnvelope(JSON.parse(`{"v":${V},"id":1,"req":{"op":"status","__proto__":{"x":1}}}`));
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.error.message, /__proto__/);
  });
});

describe('validateRequest and checkConfigShape', () => {
  test('validateRequest checks a bare request', () => {
    assert.deepEqual(validateRequest({ op: 'flush' }), { ok: true, req: { op: 'flush' } });
    const r = validateRequest({ op: 'delLaddr', svc: SVC });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /req\.addr/);
  });

  test('checkConfigShape wants every option of a stored service', () => {
    const good = {
      services: [
        {
          svc: SVC,
          opts: {
            sched: 'wlc',
            schedFlags: 0,
            persistTimeout: 0,
            persistPrefix: 32,
            synproxy: false,
            toa: true,
          },
          dests: [{ addr: '192.0.2.21', port: 80, weight: 1, uThreshold: 0, lThreshold: 0 }],
          laddrs: ['192.0.2.200'],
        },
      ],
      timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    };
    checkConfigShape(good);
    const noToa = structuredClone(good) as { services: { opts: Record<string, unknown> }[] };
    delete noToa.services[0]!.opts.toa;
    assert.throws(() => checkConfigShape(noToa), /config\.services\[0\]\.opts\.toa is missing/);
    const badDest = structuredClone(good) as { services: { dests: Record<string, unknown>[] }[] };
    delete badDest.services[0]!.dests[0]!.weight;
    assert.throws(() => checkConfigShape(badDest), /config\.services\[0\]\.dests\[0\]\.weight/);
    assert.throws(
      () => checkConfigShape({ ...good, timeouts: { tcp: 0, tcpfin: 1, udp: 1 } }),
      /timeouts\.tcp/,
    );
    assert.throws(() => checkConfigShape({ ...good, services: {} }), /config\.services must be an array/);
  });

  test('checkConfigShape: sysctl may be absent (older state files) or partial; names known, integers', () => {
    const good = { services: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 } };
    checkConfigShape(good);
    checkConfigShape({ ...good, sysctl: {} });
    checkConfigShape({ ...good, sysctl: { synproxy_init_mss: 1400, synproxy_defer: 1 } });
    assert.throws(
      () => checkConfigShape({ ...good, sysctl: { synproxy_nope: 1 } }),
      /config\.sysctl\.synproxy_nope is not a known sysctl/,
    );
    assert.throws(
      () => checkConfigShape({ ...good, sysctl: { synproxy_sack: 'on' } }),
      /config\.sysctl\.synproxy_sack must be an integer/,
    );
    assert.throws(() => checkConfigShape({ ...good, sysctl: [] }), /config\.sysctl must be an object/);
  });
});
