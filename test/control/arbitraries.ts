// fast-check generators of change requests over small pools of addresses, so that random
// sequences hit every refusal (exists, not found, family mismatch, VIP/LIP clashes, bad values).
import fc from 'fast-check';
import type { Request, ServiceKey } from '../../src/control/protocol.js';

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

/** Drops keys whose value is undefined (a request as JSON would carry it). */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Mostly one service, so that later requests find it; a few others to clash with. */
export const svcKeyArb: fc.Arbitrary<ServiceKey> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '203.0.113.10', port: 80 }) },
  { weight: 2, arbitrary: fc.constant({ proto: 'udp' as const, addr: '203.0.113.10', port: 80 }) },
  { weight: 2, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '203.0.113.11', port: 443 }) },
  { weight: 1, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '203.0.113.10', port: 0 }) },
  // Also a LIP candidate: clashes with addLaddr.
  { weight: 1, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '192.0.2.200', port: 80 }) },
  // The same IPv6 service spelt two ways.
  { weight: 2, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '2001:db8:203::10', port: 80 }) },
  { weight: 1, arbitrary: fc.constant({ proto: 'tcp' as const, addr: '2001:DB8:203::10', port: 80 }) },
);

/** A value that is mostly valid, now and then not. */
const mostly = <T>(good: T[], bad: T[]) =>
  opt(
    fc.oneof(
      { weight: 9, arbitrary: fc.constantFrom(...good) },
      { weight: 1, arbitrary: fc.constantFrom(...bad) },
    ),
  );

/** Sometimes out of range or unknown: the model must refuse as the engine does. */
const svcOptsArb = fc
  .record({
    sched: mostly(['wlc', 'rr', 'wrr', 'mh', 'sh'], ['nope', '']),
    schedFlags: mostly([0, 1, 3, 7], [8, -1]),
    persistTimeout: mostly([0, 60, 300], [3_000_000, -1]),
    persistPrefix: mostly([0, 24, 32], [64, 128, 129]),
    synproxy: opt(fc.boolean()),
    toa: opt(fc.boolean()),
  })
  .map(clean);

const destAddrArb = fc.constantFrom(
  '192.0.2.21',
  '192.0.2.22',
  '192.0.2.23',
  '2001:db8:2::21',
  '2001:db8:2::0021',
);
const destPortArb = fc.constantFrom(80, 80, 80, 8080, 70000);
const weightArb = mostly([0, 1, 5, 65535], [65536, -1]);
const threshArb = opt(fc.integer({ min: 0, max: 12 }));
const laddrArb = fc.constantFrom(
  '192.0.2.200',
  '192.0.2.201',
  '203.0.113.10',
  '2001:db8:2::200',
  '2001:db8:2::0200',
);

export const changeArb: fc.Arbitrary<Request> = fc.oneof(
  {
    weight: 50,
    arbitrary: fc.record({ op: fc.constant('addService' as const), svc: svcKeyArb, opts: svcOptsArb }),
  },
  {
    weight: 20,
    arbitrary: fc.record({ op: fc.constant('editService' as const), svc: svcKeyArb, opts: svcOptsArb }),
  },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('delService' as const), svc: svcKeyArb }) },
  { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
  {
    weight: 60,
    arbitrary: fc.record({
      op: fc.constant('addDest' as const),
      svc: svcKeyArb,
      dest: fc
        .record({
          addr: destAddrArb,
          port: destPortArb,
          weight: weightArb,
          uThreshold: threshArb,
          lThreshold: threshArb,
        })
        .map(clean),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      op: fc.constant('editDest' as const),
      svc: svcKeyArb,
      addr: destAddrArb,
      port: destPortArb,
      change: fc.record({ weight: weightArb, uThreshold: threshArb, lThreshold: threshArb }).map(clean),
    }),
  },
  {
    weight: 20,
    arbitrary: fc.record({
      op: fc.constant('delDest' as const),
      svc: svcKeyArb,
      addr: destAddrArb,
      port: destPortArb,
    }),
  },
  {
    weight: 30,
    arbitrary: fc.record({ op: fc.constant('addLaddr' as const), svc: svcKeyArb, addr: laddrArb }),
  },
  {
    weight: 10,
    arbitrary: fc.record({ op: fc.constant('delLaddr' as const), svc: svcKeyArb, addr: laddrArb }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('zero' as const), svc: opt(svcKeyArb) }).map(clean) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('setTimeouts' as const),
      timeouts: fc
        .record({
          tcp: opt(fc.constantFrom(0, 30, 900)),
          tcpfin: opt(fc.constantFrom(0, 10)),
          udp: opt(fc.constantFrom(0, 5, -1)),
        })
        .map(clean),
    }),
  },
);

/** Sequences that start by adding the service most requests name, so that they get past "not found". */
export function changesArb(minLength: number, maxLength: number): fc.Arbitrary<Request[]> {
  return fc
    .array(changeArb, { minLength, maxLength })
    .map((rs): Request[] => [
      { op: 'addService', svc: { proto: 'tcp', addr: '203.0.113.10', port: 80 }, opts: {} },
      ...rs,
    ]);
}
