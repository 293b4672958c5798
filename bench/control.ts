// npm run bench:control — the control plane against a running daemon (e2e topology of
// test/e2e/topology.ts, one real server), and what forwarding feels meanwhile:
//   restore   `lvsadm -R` of RS_TOTAL real servers over SERVICES services (wlc and mh alternating,
//             LIPS local addresses each): wall time of the command (target < 2 s);
//   ping      ICMP echo to a VIP at 100 Hz from the client namespace (bench/ping.py; the engine answers
//             echo to VIPs) during the restore and during the listing: max RTT and replies lost
//             (target max < 20 ms);
//   listing   `lvsadm -L -n -c` with about CONNS connections in the table, made by hping3 --flood
//             SYNs from SOURCES addresses of 198.18.0.0/15 in turn, FLOOD_S seconds each (source
//             ports swept) to a non-SYNPROXY service whose
//             real server address is unused (nothing answers: the entries stay SYN_RECV, 60 s):
//             wall time, lines printed;
//   nft -f    peer: kernel nftables loading a set of RS_TOTAL elements and SERVICES rules, same run.
// Prints a table and, last, one JSON line. Root only. Namespaces, daemon and every process go with
// the topology, also on failure and on SIGINT/SIGTERM; each tool runs bounded in count and time.
import { join } from 'node:path';
import { ControlClient } from '../src/control/client.js';
import {
  ensureBuilt,
  type Proc,
  REPO,
  removeLeftovers,
  run,
  skipReason,
  sleep,
  Topology,
} from '../test/e2e/topology.js';

const SERVICES = 100;
const RS_PER_SERVICE = 100;
const RS_TOTAL = SERVICES * RS_PER_SERVICE;
const LIPS = ['192.0.2.200', '192.0.2.201', '192.0.2.202', '192.0.2.203'];
const PING_VIP = '203.0.113.10';
/** Real server of the SYN target: in the RS subnet, owned by nobody (the LB's ARP fails). */
const DEAD_RS = '192.0.2.99';
/** The SYN flood's real servers (the listing phase): in the RS subnet, owned by nobody. */
const SILENT_RS = ['192.0.2.96', '192.0.2.97', '192.0.2.98', '192.0.2.99'];
const CONNS = 1_000_000;
/** Source addresses per round: 17 x 64511 source ports > CONNS. */
const SOURCES = 17;
/** Seconds each source floods (about 300k packets/s here: a sweep of its ports and more). */
const FLOOD_S = 0.4;
const NODE = process.execPath;
const LVSADM = join(REPO, 'bin/lvsadm');

/** Service s: VIP 203.0.113.(20 + s / 10), port 1000 + s % 10. */
function svcOf(s: number): string {
  return `203.0.113.${20 + Math.floor(s / 10)}:${1000 + (s % 10)}`;
}

function restoreText(): string {
  const lines: string[] = [];
  for (let s = 0; s < SERVICES; s++) {
    lines.push(`-A -t ${svcOf(s)} -s ${s % 2 === 0 ? 'wlc' : 'mh'}`);
    for (let d = 0; d < RS_PER_SERVICE; d++)
      lines.push(`-a -t ${svcOf(s)} -r 198.18.${s}.${d + 1}:80 -b -w ${1 + (d % 3)}`);
  }
  for (let s = 0; s < SERVICES; s++) for (const l of LIPS) lines.push(`-P -t ${svcOf(s)} -z ${l}`);
  return `${lines.join('\n')}\n`;
}

interface PingResult {
  sent: number;
  received: number;
  maxMs: number | null;
  p99Ms: number | null;
  over20: number;
}

const PING = join(REPO, 'bench/ping.py');

/**
 * ICMP echo at 100 Hz from the client namespace until stop() (bench/ping.py: replies matched by
 * sequence number; hping3 -1 pairs some with the wrong request and reports ~1 s for them).
 */
function startPing(t: Topology): { stop: () => Promise<PingResult> } {
  const p: Proc = t.spawn(t.client, 'ping.py', 'python3', [PING, PING_VIP, '10', '20000']);
  return {
    async stop() {
      if (p.running) p.child.kill('SIGINT');
      const killer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(killer);
      const line = p.lines.find((l) => l.startsWith('{'));
      if (!line) throw new Error(`ping.py printed no result: ${p.stderr.join(' ')}`);
      const j = JSON.parse(line) as {
        sent: number;
        received: number;
        max_ms: number | null;
        p99_ms: number | null;
        rtts_over_20ms: number;
      };
      return {
        sent: j.sent,
        received: j.received,
        maxMs: j.max_ms,
        p99Ms: j.p99_ms,
        over20: j.rtts_over_20ms,
      };
    },
  };
}

async function lvsadm(t: Topology, args: string[], input?: string, timeoutMs = 120_000) {
  const t0 = performance.now();
  const r = await run(NODE, [LVSADM, ...args], {
    input,
    env: { ...process.env, LVSADM_SOCKET: t.socket },
    timeoutMs,
  });
  return { ...r, ms: performance.now() - t0 };
}

/** `lvsadm -L -n -c`, its output counted as it streams (not kept). */
async function listConns(t: Topology): Promise<{ ms: number; lines: number; code: number }> {
  const t0 = performance.now();
  const { spawn } = await import('node:child_process');
  const child = spawn(NODE, [LVSADM, '-L', '-n', '-c'], {
    env: { ...process.env, LVSADM_SOCKET: t.socket },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let lines = 0;
  child.stdout.on('data', (b: Buffer) => {
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  clearTimeout(killer);
  return { ms: performance.now() - t0, lines, code };
}

async function status(client: ControlClient): Promise<number> {
  return (await client.request({ op: 'status' })).connCount;
}

/**
 * Fills the table with SYN_RECV entries: hping3 --flood SYNs, one source address at a time, each
 * bounded to FLOOD_S seconds (a flood ignores -c). Source ports sweep 1024.. and wrap after 64512
 * packets (a repeated tuple finds its entry: no new one), so one source makes at most 64511.
 */
async function makeConns(t: Topology, client: ControlClient): Promise<{ conns: number; ms: number }> {
  const t0 = performance.now();
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < SOURCES; k++) {
      if ((await status(client)) >= CONNS) break;
      const src = `198.18.${100 + round}.${k + 1}`;
      await t.run(
        t.client,
        'timeout',
        [
          '-s',
          'INT',
          String(FLOOD_S),
          'hping3',
          '-q',
          '-S',
          '-p',
          '80',
          '-a',
          src,
          '-s',
          '1024',
          '--flood',
          PING_VIP,
        ],
        (FLOOD_S + 5) * 1000,
      );
    }
    if ((await status(client)) >= CONNS * 0.99) break;
  }
  return { conns: await status(client), ms: performance.now() - t0 };
}

async function nftPeer(t: Topology): Promise<number | null> {
  const which = await run('sh', ['-c', 'command -v nft']);
  if (which.code !== 0) return null;
  const els: string[] = [];
  for (let s = 0; s < SERVICES; s++)
    for (let d = 0; d < RS_PER_SERVICE; d++) els.push(`198.18.${s}.${d + 1} . 80`);
  const rules: string[] = [];
  for (let s = 0; s < SERVICES; s++) {
    const [a, p] = svcOf(s).split(':');
    rules.push(`    ip daddr ${a} tcp dport ${p} ip daddr . tcp dport @rs counter`);
  }
  const text = `table ip lvsbench {\n  set rs { type ipv4_addr . inet_service; elements = { ${els.join(', ')} } }\n  chain pre {\n    type filter hook prerouting priority -100;\n${rules.join('\n')}\n  }\n}\n`;
  const file = join(t.tmp, 'bench.nft');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, text);
  const t0 = performance.now();
  const r = await t.run(t.lb, 'nft', ['-f', file], 60_000);
  const ms = performance.now() - t0;
  await t.run(t.lb, 'nft', ['delete', 'table', 'ip', 'lvsbench']);
  return r.code === 0 ? ms : null;
}

async function main(): Promise<number> {
  const why = skipReason();
  if (why) {
    console.error(`bench:control needs ${why}`);
    return 1;
  }
  await ensureBuilt();
  await removeLeftovers();
  const t = await Topology.create({ rsCount: 1 });
  const bye = () => {
    void t.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', bye);
  process.once('SIGTERM', bye);
  const client = new ControlClient(t.socket);
  try {
    await t.startDaemon();
    await t.lvsadmOk('-A', '-t', `${PING_VIP}:80`, '-s', 'wlc');
    await t.lvsadmOk('-a', '-t', `${PING_VIP}:80`, '-r', `${DEAD_RS}:80`, '-b');
    await t.lvsadmOk('-P', '-t', `${PING_VIP}:80`, '-z', LIPS[0]!);
    await sleep(500);

    // (a) + (b): restore while pinging.
    const text = restoreText();
    const ping1 = startPing(t);
    await sleep(500);
    const restore = await lvsadm(t, ['-R'], text);
    const pingR = await ping1.stop();
    if (restore.code !== 0) throw new Error(`lvsadm -R failed: ${restore.stderr}`);
    const dump = await client.request({ op: 'dump' });
    const dests = dump.services.reduce((n, s) => n + s.dests.length, 0);
    if (dests !== RS_TOTAL + 1) throw new Error(`after -R the daemon has ${dests} real servers`);
    // The same again with everything there: the time of a -R that only fails (duplicates)
    // is not interesting; instead remove it all and restore once more for a second sample.
    const cleared = await lvsadm(t, ['-C']);
    if (cleared.code !== 0) throw new Error(`lvsadm -C failed: ${cleared.stderr}`);
    const restore2 = await lvsadm(t, ['-R'], text);

    // (c): a table of about a million connections, listed while pinging.
    await lvsadm(t, ['-C']);
    await t.lvsadmOk('-A', '-t', `${PING_VIP}:80`, '-s', 'wlc');
    // A LIP holds 64511 connections per real server: 4 LIPs x 4 silent servers leave room for 1M.
    for (const rs of SILENT_RS) {
      await t.lvsadmOk('-a', '-t', `${PING_VIP}:80`, '-r', `${rs}:80`, '-b');
      // They never answer; a fixed neighbour entry spares the kernel resolving them for every
      // forwarded SYN (an unresolved neighbour queues and drops, costly per packet).
      await t.exec(
        t.lb,
        'ip',
        'neigh',
        'replace',
        rs,
        'lladdr',
        '02:00:00:00:00:99',
        'nud',
        'permanent',
        'dev',
        'br0',
      );
    }
    for (const l of LIPS) await t.lvsadmOk('-P', '-t', `${PING_VIP}:80`, '-z', l);
    await sleep(300);
    const made = await makeConns(t, client);
    const ping2 = startPing(t);
    await sleep(300);
    const listing = await listConns(t);
    const pingL = await ping2.stop();
    const nftMs = await nftPeer(t);

    const f = (n: number | null, d = 0) => (n === null ? 'n/a' : n.toFixed(d));
    const rows: [string, string, string][] = [
      [
        'restore_ms (lvsadm -R)',
        f(restore.ms),
        `${RS_TOTAL} RS over ${SERVICES} services (wlc/mh), ${LIPS.length} LIPs each; target < 2000`,
      ],
      ['restore_again_ms', f(restore2.ms), 'after -C, the same file once more'],
      [
        'restore_ping_max_ms',
        f(pingR.maxMs, 2),
        'ICMP echo to a VIP at 100 Hz during the restore; target < 20',
      ],
      ['restore_ping_lost', String(pingR.sent - pingR.received), `of ${pingR.sent} echo requests`],
      ['restore_ping_p99_ms', f(pingR.p99Ms, 2), `${pingR.over20} replies above 20 ms`],
      [
        'conns_in_table',
        String(made.conns),
        `made in ${f(made.ms)} ms by hping3 --flood SYNs, ${SOURCES} sources a round`,
      ],
      ['list_conns_ms (lvsadm -L -n -c)', f(listing.ms), `${listing.lines} lines printed (2 title lines)`],
      ['list_ping_max_ms', f(pingL.maxMs, 2), 'ICMP echo at 100 Hz during the listing; target < 20'],
      ['list_ping_lost', String(pingL.sent - pingL.received), `of ${pingL.sent} echo requests`],
      ['list_ping_p99_ms', f(pingL.p99Ms, 2), `${pingL.over20} replies above 20 ms`],
      ['nft_load_ms (peer)', f(nftMs), `nft -f: a set of ${RS_TOTAL} elements and ${SERVICES} rules`],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    console.log(`${'metric'.padEnd(w0)}  ${'value'.padStart(w1)}  context`);
    for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
    const num = (n: number | null, d = 1) => (n === null ? null : Number(n.toFixed(d)));
    console.log(
      JSON.stringify({
        restore_ms: num(restore.ms),
        restore_again_ms: num(restore2.ms),
        restore_ping_max_ms: num(pingR.maxMs, 2),
        restore_ping_lost: pingR.sent - pingR.received,
        restore_ping_sent: pingR.sent,
        restore_ping_p99_ms: num(pingR.p99Ms, 2),
        conns: made.conns,
        list_conns_ms: num(listing.ms),
        list_lines: listing.lines,
        list_ping_max_ms: num(pingL.maxMs, 2),
        list_ping_lost: pingL.sent - pingL.received,
        list_ping_p99_ms: num(pingL.p99Ms, 2),
        nft_load_ms: num(nftMs),
        real_servers: RS_TOTAL,
        services: SERVICES,
        node: process.version,
      }),
    );
    return listing.code === 0 ? 0 : 1;
  } finally {
    await client.close().catch(() => undefined);
    await t.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
