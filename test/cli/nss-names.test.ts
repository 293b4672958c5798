// Names through the system resolver (src/cli/nss-names.ts): getent(1) lookups, batched for a
// listing, bounded by a budget for reverse lookups, and the files when getent is missing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Getent, nssNames, runGetent } from '../../src/cli/nss-names.js';

/** A fake getent answering from `db`, recording its calls; each call "takes" `costMs` on `clock`. */
function fake(db: Record<string, string>, costMs = 1) {
  const calls: string[][] = [];
  let t = 0;
  const getent: Getent = (args) => {
    calls.push([...args]);
    t += costMs;
    if (args[0] === 'hosts')
      return args
        .slice(1)
        .map((k) => db[`hosts ${k}`])
        .filter((l) => l !== undefined)
        .join('\n');
    return db[args.join(' ')] ?? '';
  };
  return { getent, calls, clock: () => t };
}

describe('nssNames', () => {
  test('a name with both families gives its IPv4 address, as gethostbyname; asked once', () => {
    const f = fake({
      'ahosts www.example':
        '2001:db8::80    STREAM www.example\n192.0.2.80      STREAM\n192.0.2.80      DGRAM',
    });
    const n = nssNames(f.getent, f.clock);
    assert.equal(n.hostAddr('www.example'), '192.0.2.80');
    assert.equal(n.hostAddr('www.example'), '192.0.2.80');
    assert.equal(n.hostAddr('nowhere.example'), undefined);
    assert.equal(f.calls.length, 2);
  });

  test('a listing looks its addresses up in one call, then answers from what it learnt', () => {
    const f = fake({
      'hosts 192.0.2.21': '192.0.2.21      rs1.example rs1',
      'hosts 2001:db8:2::21': '2001:db8:2::21  rs6.example',
    });
    const n = nssNames(f.getent, f.clock);
    n.prefetch!(['192.0.2.21', '192.0.2.22', '2001:DB8:2::21', '192.0.2.21']);
    assert.deepEqual(f.calls, [['hosts', '192.0.2.21', '192.0.2.22', '2001:db8:2::21']]);
    assert.equal(n.addrHost('192.0.2.21'), 'rs1.example');
    assert.equal(n.addrHost('2001:db8:2::21'), 'rs6.example');
    assert.equal(n.addrHost('192.0.2.22'), undefined, 'no name: numeric');
    assert.equal(f.calls.length, 1, 'nothing asked again');
  });

  test('reverse lookups share a budget: past it, addresses stay numeric and nothing is asked', () => {
    const f = fake(
      { 'hosts 192.0.2.1': '192.0.2.1 a.example', 'hosts 192.0.2.2': '192.0.2.2 b.example' },
      600,
    );
    const n = nssNames(f.getent, f.clock);
    assert.equal(n.addrHost('192.0.2.1'), 'a.example');
    assert.equal(n.addrHost('192.0.2.2'), 'b.example', 'the second lookup still starts inside the budget');
    assert.equal(n.addrHost('192.0.2.3'), undefined);
    n.prefetch!(['192.0.2.4', '192.0.2.5']);
    assert.equal(f.calls.length, 2, 'the budget (1 s) was spent by two 600 ms lookups');
  });

  test('services: the database is read once for any number of ports and names', () => {
    const f = fake({ services: 'http  80/tcp  www\ndomain 53/udp\nhttps 443/tcp' });
    const n = nssNames(f.getent, f.clock);
    assert.equal(n.portService(80, 'tcp'), 'http');
    assert.equal(n.portService(53, 'udp'), 'domain');
    assert.equal(n.portService(53, 'tcp'), undefined);
    assert.equal(n.servicePort('www', 'tcp'), 80);
    assert.equal(n.servicePort('https', 'tcp'), 443);
    assert.equal(f.calls.length, 1);
  });

  test('without getent: /etc/hosts and /etc/services', () => {
    const n = nssNames(() => null);
    assert.equal(n.hostAddr('localhost'), '127.0.0.1');
  });

  test('the real getent resolves through NSS (localhost from the hosts database)', () => {
    const out = runGetent(['ahosts', 'localhost'], 2000);
    assert.notEqual(out, null, 'getent is part of libc-bin on Debian');
    assert.equal(nssNames().hostAddr('localhost'), '127.0.0.1');
  });
});
