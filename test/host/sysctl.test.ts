// Save-and-restore of sysctls and the host state file, on a fake /proc/sys tree in a temp
// directory (no root needed). KernelLike imitates the kernel's side effects of the global
// forwarding keys, so restore order is checked against what the kernel would do.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { HostError } from '../../src/host/errors.js';
import { type HostState, readHostState, removeHostState, writeHostState } from '../../src/host/host-state.js';
import {
  collateralKeys,
  confKey,
  IP_FORWARD,
  IPV6_ALL_FORWARDING,
  neighKey,
  restoreSysctls,
  type SavedSysctl,
  Sysctl,
  SysctlSaver,
  sysctlName,
} from '../../src/host/sysctl.js';

/** Writes to the global forwarding keys rewrite the per-device ones, as Linux does. */
class KernelLike extends Sysctl {
  override write(key: string, value: string): void {
    super.write(key, value);
    if (key === IP_FORWARD) {
      for (const k of this.confKeys(4, 'forwarding')) super.write(k, value);
    } else if (key === IPV6_ALL_FORWARDING) {
      for (const k of this.confKeys(6, 'forwarding')) super.write(k, value);
    }
  }
}

let root: string;

function put(key: string, value: string): void {
  mkdirSync(join(root, key, '..'), { recursive: true });
  writeFileSync(join(root, key), `${value}\n`);
}

function values(sys: Sysctl, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, sys.read(k)]));
}

describe('sysctl keys', () => {
  test('sysctl(8) names swap dots and slashes inside segments', () => {
    assert.equal(sysctlName('net/ipv4/ip_forward'), 'net.ipv4.ip_forward');
    assert.equal(sysctlName(confKey(6, 'eth0.100', 'proxy_ndp')), 'net.ipv6.conf.eth0/100.proxy_ndp');
    assert.equal(neighKey(4, 'in0', 'proxy_delay'), 'net/ipv4/neigh/in0/proxy_delay');
  });

  test('device names that would leave the tree are refused', () => {
    for (const bad of ['', '..', 'a/b', '.'])
      assert.throws(
        () => confKey(4, bad, 'forwarding'),
        (e) => HostError.is(e) && e.code === 'HOST_CONFIG',
      );
  });
});

describe('SysctlSaver', () => {
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'lvh-sysctl-'));
    put(IP_FORWARD, '0');
    for (const dev of ['all', 'default', 'eth0', 'in0']) {
      put(confKey(4, dev, 'forwarding'), dev === 'eth0' ? '1' : '0');
      put(confKey(6, dev, 'forwarding'), dev === 'in0' ? '1' : '0');
    }
    put(neighKey(4, 'in0', 'proxy_delay'), '80');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('writing ip_forward records every device forwarding value first, in restore order', () => {
    const sys = new KernelLike(root);
    assert.deepEqual(collateralKeys(sys, IP_FORWARD), [
      'net/ipv4/conf/all/forwarding',
      'net/ipv4/conf/default/forwarding',
      'net/ipv4/conf/eth0/forwarding',
      'net/ipv4/conf/in0/forwarding',
    ]);
    const seen: SavedSysctl[][] = [];
    const saver = new SysctlSaver(sys, (s) => {
      // called before the write: the file still has the old value
      assert.equal(sys.read(IP_FORWARD), '0');
      seen.push(s.map((x) => ({ ...x })));
    });
    assert.equal(saver.set(IP_FORWARD, '1'), true);
    assert.equal(seen.length, 1);
    assert.deepEqual(
      seen[0]!.map((s) => `${s.key}=${s.value}`),
      [
        'net/ipv4/ip_forward=0',
        'net/ipv4/conf/all/forwarding=0',
        'net/ipv4/conf/default/forwarding=0',
        'net/ipv4/conf/eth0/forwarding=1',
        'net/ipv4/conf/in0/forwarding=0',
      ],
    );
    assert.equal(sys.read(confKey(4, 'in0', 'forwarding')), '1', 'the kernel-like side effect happened');
  });

  test('a key already at the value is neither recorded nor written', () => {
    const sys = new Sysctl(root);
    let calls = 0;
    const saver = new SysctlSaver(sys, () => calls++);
    assert.equal(saver.set(confKey(6, 'in0', 'forwarding'), '1'), false);
    assert.equal(calls, 0);
    assert.deepEqual(saver.saved, []);
  });

  test('restore brings back mixed per-device values after the global writes', () => {
    const sys = new KernelLike(root);
    const keys = [
      IP_FORWARD,
      IPV6_ALL_FORWARDING,
      ...sys.confKeys(4, 'forwarding'),
      ...sys.confKeys(6, 'forwarding'),
    ];
    const orig = values(sys, keys);
    const saver = new SysctlSaver(sys, () => undefined);
    saver.set(IP_FORWARD, '1');
    saver.set(IPV6_ALL_FORWARDING, '1');
    saver.set(confKey(6, 'default', 'forwarding'), '0'); // already recorded: keeps the first value
    saver.set(confKey(6, 'default', 'forwarding'), '1');
    saver.set(neighKey(4, 'in0', 'proxy_delay'), '0');
    assert.notDeepEqual(values(sys, keys), orig);
    const rep = saver.restore();
    assert.deepEqual(rep.errors, []);
    assert.deepEqual(values(sys, keys), orig);
    assert.equal(sys.read(neighKey(4, 'in0', 'proxy_delay')), '80');
    assert.deepEqual(saver.saved, []);
  });

  test('keys of vanished devices are reported gone; failures are kept for a retry', () => {
    const sys = new Sysctl(root);
    const saved: SavedSysctl[] = [
      { key: confKey(4, 'lvs0', 'forwarding'), value: '0' },
      { key: neighKey(4, 'in0', 'proxy_delay'), value: '5' },
      { key: 'net/ipv4/conf/in0', value: '1' }, // a directory: the write fails
    ];
    const rep = restoreSysctls(sys, saved);
    assert.deepEqual(rep.gone, [confKey(4, 'lvs0', 'forwarding')]);
    assert.deepEqual(rep.restored, [neighKey(4, 'in0', 'proxy_delay')]);
    assert.equal(rep.errors.length, 1);
    assert.match(rep.errors[0]!.message, /net\.ipv4\.conf\.in0/);
    assert.deepEqual(rep.failed, [saved[2]]);
  });

  test('errors name the key', () => {
    const sys = new Sysctl(root);
    assert.throws(
      () => sys.read('net/ipv4/conf/nope/forwarding'),
      (e) =>
        HostError.is(e) && e.errno === 'ENOENT' && /read net\.ipv4\.conf\.nope\.forwarding/.test(e.message),
    );
  });
});

describe('host-state.json', () => {
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'lvh-state-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const state: HostState = {
    version: 1,
    pid: 1234,
    tun: 'lvs0',
    routeProtocol: 250,
    sysctls: [{ key: IP_FORWARD, value: '0' }],
    proxies: [{ addr: '192.0.2.200', dev: 'in0' }],
  };

  test('round trip, no temp file left, removal', () => {
    assert.equal(readHostState(root), null);
    writeHostState(root, state);
    assert.deepEqual(readHostState(root), state);
    assert.deepEqual(readdirSync(root), ['host-state.json']);
    removeHostState(root);
    removeHostState(root);
    assert.equal(readHostState(root), null);
  });

  test('a damaged file is an error naming it', () => {
    writeFileSync(join(root, 'host-state.json'), '{"version":1,');
    assert.throws(
      () => readHostState(root),
      (e) => HostError.is(e) && e.code === 'HOST_STATE' && e.message.includes('host-state.json'),
    );
    writeFileSync(join(root, 'host-state.json'), JSON.stringify({ ...state, proxies: [{ addr: 1 }] }));
    assert.throws(() => readHostState(root), /bad proxy entry/);
  });
});

describe('HostError', () => {
  test('combine keeps one error as it is and lists several', () => {
    const a = new HostError('HOST_NETLINK', 'route add 203.0.113.10/32 dev lvs0 proto 250: EEXIST', 'EEXIST');
    const b = new HostError('HOST_SYSCTL', 'write net.ipv4.ip_forward=1: EACCES', 'EACCES');
    assert.equal(HostError.combine('sync', [a]), a);
    const c = HostError.combine('sync', [a, b]);
    assert.equal(c.code, 'HOST_PARTIAL');
    assert.deepEqual(c.causes, [a, b]);
    assert.match(c.message, /^sync: 2 operations failed:\n {2}route add .*\n {2}write net/);
  });
});
