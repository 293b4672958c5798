// End to end, bulk transfer: the client downloads a 100 MB file of random bytes from nginx on a
// real server through the VIP and it arrives intact (sha256 of the file vs sha256 of what curl
// received). Then the client link gets a smaller MTU (1280 on client eth0 and lb out0, the RS side
// stays 1500) while the client still advertises MSS 1460: the RS's full-size segments are too big
// for out0, the LB's kernel answers with ICMP frag-needed / Packet Too Big into the TUN, the
// engine translates it back to the RS (quoted header included), the RS lowers its path MTU towards
// the LIP and the download completes intact; the RS's route cache shows the learnt MTU.
// IPv4 with 100 MB, IPv6 with 20 MB. No timing assertions: curl has a generous -m.
// Then the same through SYNPROXY services (`-j enable`, timestamps translated too:
// synproxy_timestamp=1), 20 MB over IPv4 and IPv6, each with LIPs of its own so the RS has no
// path MTU cached yet: there the quoted RS segment carries the client-side (cookie) sequence
// numbers, and only once they are translated back does the RS accept the error (Linux ignores
// an error quoting a seq outside its send window, and the transfer would stall).
// All of it twice: with one packet per MTU through the TUN, and with `--offload` (GSO packets up to
// 64 KB with partial checksums, which the RS side's stats show as more than an MTU per packet).
// Root only (else skipped; failed under CI=true).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { privileged } from '../support/privileges.js';
import { counterDelta, engineCounters } from './extra.js';
import { ensureBuilt, ensureTools, parseStats, removeLeftovers, skipReason, Topology } from './topology.js';

const { describe } = privileged(skipReason());
const BIG = 100 * 1024 * 1024;
const MID = 20 * 1024 * 1024;
const LIP4 = '192.0.2.201';
const LIP6 = '2001:db8:2::201';
const SP_VIP4 = '203.0.113.12';
const SP_VIP6 = '2001:db8:203::12';
const SP_LIP4 = '192.0.2.202';
const SP_LIP6 = '2001:db8:2::202';

for (const offload of [false, true]) {
  describe(`e2e: 100 MB through the VIP, then with a smaller MTU on the client side${offload ? ', TUN offload' : ''}`, {
    timeout: 900_000,
  }, () => {
    let net: Topology;
    let bigSha = '';
    let midSha = '';

    before(async () => {
      await ensureTools();
      await ensureBuilt();
      await removeLeftovers();
      net = await Topology.create({ rsCount: 1, daemonArgs: ['--offload', offload ? 'on' : 'off'] });
      await net.startDaemon();
      bigSha = net.makeRandomFile('big.bin', BIG);
      midSha = net.makeRandomFile('mid.bin', MID);
      await net.startNginx(net.rs[0]!);
      const rs = net.rs[0]!;
      await net.lvsadmOk('-A', '-t', '203.0.113.11:80', '-s', 'rr');
      await net.lvsadmOk('-a', '-t', '203.0.113.11:80', '-r', `${rs.v4}:80`, '-b');
      await net.lvsadmOk('-P', '-t', '203.0.113.11:80', '-z', LIP4);
      await net.lvsadmOk('-A', '-t', '[2001:db8:203::10]:80', '-s', 'rr');
      await net.lvsadmOk('-a', '-t', '[2001:db8:203::10]:80', '-r', `[${rs.v6}]:80`, '-b');
      await net.lvsadmOk('-P', '-t', '[2001:db8:203::10]:80', '-z', LIP6);
      await net.lvsadmOk('-A', '-t', `${SP_VIP4}:80`, '-s', 'rr', '-j', 'enable');
      await net.lvsadmOk('-a', '-t', `${SP_VIP4}:80`, '-r', `${rs.v4}:80`, '-b');
      await net.lvsadmOk('-P', '-t', `${SP_VIP4}:80`, '-z', SP_LIP4);
      await net.lvsadmOk('-A', '-t', `[${SP_VIP6}]:80`, '-s', 'rr', '-j', 'enable');
      await net.lvsadmOk('-a', '-t', `[${SP_VIP6}]:80`, '-r', `[${rs.v6}]:80`, '-b');
      await net.lvsadmOk('-P', '-t', `[${SP_VIP6}]:80`, '-z', SP_LIP6);
      assert.equal(await net.lvsadmOk('--sysctl', 'synproxy_timestamp=1'), '');
    });

    after(async () => {
      await net?.destroy();
    });

    const download = async (url: string, size: number, sha: string, timeoutS = 300) => {
      const r = await net.download(url, timeoutS);
      assert.equal(r.code, 0, `curl ${url}: exit ${r.code}: ${r.stderr}\n${net.daemonLogText()}`);
      assert.equal(r.bytes, size, 'bytes received');
      assert.equal(r.sha256, sha, 'sha256 of what arrived');
    };

    /** The path MTU the RS has learnt towards `lip` (null when it has none cached). */
    const learntMtu = async (family: '-4' | '-6', lip: string): Promise<number | null> => {
      const out = await net.exec(net.rs[0]!.ns, 'ip', family, 'route', 'get', lip);
      const m = /\bmtu (\d+)/.exec(out);
      return m ? Number(m[1]) : null;
    };

    test('100 MB over IPv4 arrives intact (MTU 1500 everywhere)', async () => {
      await download('http://203.0.113.11/big.bin', BIG, bigSha);
      assert.equal(await learntMtu('-4', LIP4), null, 'no PMTU learnt yet');
      const svc = parseStats(await net.lvsadmOk('-L', '-n', '--stats', '--exact')).find(
        (s) => s.svc.key === 'TCP  203.0.113.11:80',
      )!;
      assert.equal(svc.svc.conns, 1);
      assert.ok(svc.svc.outBytes >= BIG, `OutBytes ${svc.svc.outBytes} >= ${BIG}`);
      const perPacket = svc.svc.outBytes / svc.svc.outPkts;
      if (offload) assert.ok(perPacket > 3000, `GSO packets through the TUN: ${perPacket.toFixed(0)} B each`);
      else assert.ok(perPacket <= 1500, `one MTU per packet: ${perPacket.toFixed(0)} B each`);
    });

    test('client side MTU 1280: frag-needed is translated to the RS, 100 MB still arrive intact', async () => {
      await net.exec(net.client, 'ip', 'link', 'set', 'eth0', 'mtu', '1280');
      await net.exec(net.lb, 'ip', 'link', 'set', 'out0', 'mtu', '1280');
      // without this the client would advertise MSS 1240 and the RS would never send too much
      await net.exec(
        net.client,
        'ip',
        'route',
        'replace',
        'default',
        'via',
        '198.51.100.1',
        'advmss',
        '1460',
      );
      const rsMtu = await net.exec(net.rs[0]!.ns, 'cat', '/sys/class/net/eth0/mtu');
      assert.equal(rsMtu.trim(), '1500', 'the RS side keeps MTU 1500');
      await download('http://203.0.113.11/big.bin', BIG, bigSha);
      assert.equal(await learntMtu('-4', LIP4), 1280, 'the RS learnt the client path MTU through the LB');
    });

    test('IPv6, client side MTU 1280: Packet Too Big is translated to the RS, 20 MB arrive intact', async () => {
      await net.exec(
        net.client,
        'ip',
        '-6',
        'route',
        'replace',
        'default',
        'via',
        '2001:db8:100::1',
        'advmss',
        '1440',
      );
      assert.equal(await learntMtu('-6', LIP6), null, 'no PMTU learnt yet');
      await download('http://[2001:db8:203::10]/mid.bin', MID, midSha);
      assert.equal(await learntMtu('-6', LIP6), 1280, 'the RS learnt the client path MTU through the LB');
    });

    // After the two tests above: client side MTU 1280, the client advertising the full MSS.
    for (const [fam, vip, lip] of [
      ['-4', SP_VIP4, SP_LIP4],
      ['-6', `[${SP_VIP6}]`, SP_LIP6],
    ] as const) {
      test(`SYNPROXY, IP${fam === '-4' ? 'v4' : 'v6'}, client side MTU 1280: the RS takes the translated error, 20 MB arrive intact`, async () => {
        assert.equal(await learntMtu(fam, lip), null, 'no PMTU learnt yet');
        const c0 = await engineCounters(net);
        // A stalled transfer never recovers (no MTU probing): a shorter limit fails sooner.
        await download(`http://${vip}/mid.bin`, MID, midSha, 60);
        const d = counterDelta(c0, await engineCounters(net));
        assert.ok((d.synproxy_ack_ok ?? 0) >= 1, `through SYNPROXY: ${JSON.stringify(d)}`);
        assert.ok((d.icmp_xlate_in ?? 0) >= 1, `errors translated to the RS: ${JSON.stringify(d)}`);
        assert.equal(await learntMtu(fam, lip), 1280, 'the RS learnt the client path MTU through the LB');
      });
    }

    test('leaves nothing behind', async () => {
      await net.destroyAndCheck();
    });
  });
}
