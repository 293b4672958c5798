// The three load balancers bench:e2e compares, each brought up in the lb namespace of the e2e
// topology and taken down completely before the next one comes up:
//   lvsadm   the daemon, FULLNAT, rr over the real servers, a pool of LIPs;
//   haproxy  TCP mode on the VIP (a local address of lb while it runs), roundrobin, connecting
//            from lb's inner address (its FULLNAT equivalent);
//   nft      kernel DNAT (numgen inc mod N: round robin) + SNAT to a pool of local addresses.
// Each LB's RS-side source addresses are its own (lvsadm: the LIPs, haproxy: lb's inner address,
// nft: another pool): the real servers keep TIME_WAIT entries per (source, port) for 60 s, and a
// NAT that reuses a tuple another LB just used meets them (DESIGN.md, "Forwarding: FULLNAT").
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import type { Proc, Topology } from '../../test/e2e/topology.js';
import { sleep } from '../../test/e2e/topology.js';
import { type CpuTime, procCpu } from './load.js';

export type LbName = 'lvsadm' | 'haproxy' | 'nft';

export interface Services {
  vip: string;
  /** HTTP service port (nginx on every RS, port 80). */
  httpPort: number;
  /** iperf3 service port (the iperf3 server on the first RS only). */
  iperfPort: number;
}

export interface LoadBalancer {
  readonly name: LbName;
  /** One line: what runs and how it is configured. */
  readonly what: string;
  up(): Promise<void>;
  /** Takes it down; safe after a failed or partial up(), and twice. */
  down(): Promise<void>;
  /**
   * CPU time used so far by the LB's own process (NaN when it works in softirq). System time
   * includes the kernel's forwarding work done inside its own write() calls.
   */
  cpu(): CpuTime;
  /** Its cumulative drop counters by name (empty when it has none to read). */
  drops(): Promise<Record<string, number>>;
  /** Lines about its state after the load: counters, errors, log. */
  report(): Promise<string[]>;
}

async function readNumbers(net: Topology, ns: string, files: string[]): Promise<number[]> {
  const r = await net.run(ns, 'cat', files);
  const v = r.stdout.trim().split(/\s+/).map(Number);
  if (r.code !== 0 || v.length !== files.length)
    throw new Error(`cat ${files.join(' ')}: ${r.stderr.trim()}`);
  return v;
}

/** Conntrack's per-CPU statistics of a namespace, summed by column name. */
async function conntrackStats(net: Topology, ns: string): Promise<Record<string, number>> {
  const r = await net.run(ns, 'cat', ['/proc/net/stat/nf_conntrack']);
  const lines = r.stdout.trim().split('\n');
  if (r.code !== 0 || lines.length < 2) return {};
  const head = lines[0]!.trim().split(/\s+/);
  const sum: Record<string, number> = {};
  for (const l of lines.slice(1))
    l.trim()
      .split(/\s+/)
      .forEach((h, i) => {
        sum[head[i]!] = (sum[head[i]!] ?? 0) + Number.parseInt(h, 16);
      });
  return sum;
}

async function ipOk(net: Topology, ...args: string[]): Promise<void> {
  const r = await net.run(net.lb, 'ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
}

// ---------------------------------------------------------------------------------------------
// lvsadm

export class LvsadmLb implements LoadBalancer {
  readonly name = 'lvsadm';
  readonly what: string;
  private started = false;

  constructor(
    private readonly net: Topology,
    private readonly s: Services,
    private readonly lips: readonly string[],
    /** txqueuelen for the TUN (the kernel's queue towards the daemon); null leaves it. */
    private readonly tunQlen: number | null = null,
  ) {
    this.what =
      `lvsadm daemon ${net.daemonArgs.join(' ')}(1 TUN queue${tunQlen === null ? '' : `, txqueuelen ${tunQlen}`}), FULLNAT rr, ` +
      `LIPs ${lips[0]}..${lips.at(-1)} (${lips.length}), TOA on (default)`;
  }

  async up(): Promise<void> {
    const { net, s } = this;
    this.started = true;
    await net.startDaemon();
    // a restarted daemon (a later round) brings back the saved configuration: start from nothing
    await net.lvsadmOk('-C');
    if (this.tunQlen !== null)
      await ipOk(net, 'link', 'set', 'dev', net.tun, 'txqueuelen', String(this.tunQlen));
    const http = `${s.vip}:${s.httpPort}`;
    const iperf = `${s.vip}:${s.iperfPort}`;
    await net.lvsadmOk('-A', '-t', http, '-s', 'rr');
    for (const r of net.rs) await net.lvsadmOk('-a', '-t', http, '-r', `${r.v4}:${s.httpPort}`, '-b');
    await net.lvsadmOk('-A', '-t', iperf, '-s', 'rr');
    await net.lvsadmOk('-a', '-t', iperf, '-r', `${net.rs[0]!.v4}:${s.iperfPort}`, '-b');
    for (const lip of this.lips) {
      await net.lvsadmOk('-P', '-t', http, '-z', lip);
      await net.lvsadmOk('-P', '-t', iperf, '-z', lip);
    }
  }

  async down(): Promise<void> {
    if (!this.started || this.net.daemonPid < 0) return;
    const r = await this.net.killDaemon('SIGTERM');
    if (r.code !== 0 && r.code !== null)
      process.stderr.write(`bench:e2e: the daemon exited with ${r.code ?? r.signal} on SIGTERM\n`);
  }

  cpu(): CpuTime {
    return procCpu(this.net.daemonPid);
  }

  /**
   * tun_tx_drop: packets the kernel dropped on their way to the daemon (its queue to the TUN
   * reader was full); tun_rx_drop: written by the daemon, dropped by the kernel; engine_drop: the
   * engine's drop_pkts.
   */
  async drops(): Promise<Record<string, number>> {
    const { net } = this;
    const st = `/sys/class/net/${net.tun}/statistics`;
    const [tx, rx] = await readNumbers(net, net.lb, [`${st}/tx_dropped`, `${st}/rx_dropped`]);
    const client = new ControlClient(net.socket, { timeoutMs: 10_000 });
    try {
      const c = await client.request({ op: 'counters' });
      return { tun_tx_drop: tx!, tun_rx_drop: rx!, engine_drop: c.drop_pkts ?? 0 };
    } finally {
      await client.close();
    }
  }

  /** The daemon's own numbers: --stats, -G, engine counters (non-zero), status, its log. */
  async report(): Promise<string[]> {
    const { net } = this;
    const out: string[] = [];
    const daemonPid = net.daemonPid;
    let alive = false;
    try {
      process.kill(daemonPid, 0);
      alive = true;
    } catch {
      // gone
    }
    if (!alive) out.push('the daemon is NOT running any more');
    const stats = await net.lvsadm('-L', '-n', '--stats', '--exact');
    out.push('$ lvsadm -L -n --stats --exact', ...(stats.out + stats.err).trimEnd().split('\n'));
    const g = await net.lvsadm('-G');
    out.push('$ lvsadm -G', ...(g.out + g.err).trimEnd().split('\n'));
    // the TUN as the kernel sees it: TX = kernel -> daemon (dropped: the daemon did not read in
    // time), RX = daemon -> kernel
    const link = await net.run(net.lb, 'ip', ['-s', '-s', 'link', 'show', 'dev', net.tun]);
    out.push(`$ ip -s -s link show dev ${net.tun}`, ...(link.stdout + link.stderr).trimEnd().split('\n'));
    const ext = await net.lvsadm('--ext-stats');
    if (ext.code === 0) out.push('$ lvsadm --ext-stats', ...ext.out.trimEnd().split('\n'));
    const client = new ControlClient(net.socket, { timeoutMs: 10_000 });
    try {
      const st = await client.request({ op: 'status' });
      out.push(`status: conns ${st.connCount}/${st.connCapacity}, uptime ${st.uptimeS} s`);
      const c = await client.request({ op: 'counters' });
      const nz = Object.entries(c).filter(([, v]) => v !== 0);
      out.push(
        `engine counters (non-zero): ${nz.length === 0 ? 'none' : nz.map(([k, v]) => `${k}=${v}`).join(' ')}`,
      );
    } catch (e) {
      out.push(`control socket: ${(e as Error).message}`);
    } finally {
      await client.close();
    }
    const log = net
      .daemonLogText()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const noteworthy = log.filter((l) => /error|warn|fail|drop|exception|full|stall|timeout/i.test(l));
    out.push(
      `daemon log (stdout+stderr): ${log.length} lines, ${noteworthy.length} about errors/drops`,
      ...noteworthy.slice(-30).map((l) => `  ${l}`),
    );
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// haproxy

/**
 * As high as the hard open-files limit lets HAProxy go (it needs about 2.5 fds per connection and
 * refuses to start when it cannot raise its limit that far); at most 50000.
 */
function haproxyMaxconn(): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const hard = m && m[1] !== 'unlimited' ? Number(m[1]) : 1 << 20;
  return Math.max(1000, Math.min(50_000, Math.floor((hard - 1000) / 2.5)));
}

export class HaproxyLb implements LoadBalancer {
  readonly name = 'haproxy';
  readonly what: string;
  private proc: Proc | null = null;
  private vipAdded = false;

  constructor(
    private readonly net: Topology,
    private readonly s: Services,
    /** lb's inner address: the source of HAProxy's connections to the real servers. */
    private readonly source: string,
    private readonly vipDev: string,
  ) {
    this.what = `haproxy TCP mode, nbthread 2, maxconn ${haproxyMaxconn()}, roundrobin, source ${source}, splice-auto, VIP local on ${vipDev}`;
  }

  config(): string {
    const { net, s } = this;
    const maxconn = haproxyMaxconn();
    return [
      'global',
      '  nbthread 2',
      `  maxconn ${maxconn}`,
      'defaults',
      '  mode tcp',
      `  maxconn ${maxconn}`,
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  option tcp-smart-connect',
      '  option splice-auto',
      'frontend fe_http',
      `  bind ${s.vip}:${s.httpPort}`,
      '  default_backend be_http',
      'backend be_http',
      '  balance roundrobin',
      `  source ${this.source}`,
      ...net.rs.map((r) => `  server ${r.name} ${r.v4}:${s.httpPort}`),
      'frontend fe_iperf',
      `  bind ${s.vip}:${s.iperfPort}`,
      '  default_backend be_iperf',
      'backend be_iperf',
      `  source ${this.source}`,
      `  server ${net.rs[0]!.name} ${net.rs[0]!.v4}:${s.iperfPort}`,
      '',
    ].join('\n');
  }

  async up(): Promise<void> {
    const { net, s } = this;
    const cfg = join(net.tmp, 'haproxy.cfg');
    writeFileSync(cfg, this.config());
    const check = await net.run(net.lb, 'haproxy', ['-c', '-q', '-f', cfg]);
    if (check.code !== 0) throw new Error(`haproxy -c: ${check.stdout}${check.stderr}`);
    this.vipAdded = true;
    await ipOk(net, 'addr', 'add', `${s.vip}/32`, 'dev', this.vipDev);
    this.proc = net.spawn(net.lb, 'haproxy', 'haproxy', ['-db', '-f', cfg]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ss = await net.run(net.lb, 'ss', ['-Hltn', `src ${s.vip}`]);
      if (ss.stdout.trim().split('\n').length >= 2) return;
      if (!this.proc.running || Date.now() > deadline)
        throw new Error(`haproxy is not listening: ${this.proc.stderr.join(' | ')}`);
      await sleep(50);
    }
  }

  async down(): Promise<void> {
    if (this.proc) {
      await this.proc.kill('SIGTERM');
      this.proc = null;
    }
    if (this.vipAdded) {
      this.vipAdded = false;
      await ipOk(this.net, 'addr', 'del', `${this.s.vip}/32`, 'dev', this.vipDev);
    }
  }

  cpu(): CpuTime {
    return this.proc ? procCpu(this.proc.pid) : { user: Number.NaN, sys: Number.NaN };
  }

  async drops(): Promise<Record<string, number>> {
    return {}; // a proxy: the kernel's TCP does the retransmitting on both sides
  }

  async report(): Promise<string[]> {
    const p = this.proc;
    if (!p) return ['haproxy not running'];
    return [
      p.running ? 'haproxy running' : 'haproxy NOT running any more',
      ...p.stderr.slice(-20).map((l) => `  ${l}`),
    ];
  }
}

// ---------------------------------------------------------------------------------------------
// nft

export class NftLb implements LoadBalancer {
  readonly name = 'nft';
  readonly what: string;
  private readonly table: string;
  private tableAdded = false;
  private added: string[] = [];
  private savedForward: string | null = null;

  constructor(
    private readonly net: Topology,
    private readonly s: Services,
    /** SNAT pool: added as /32 addresses on `innerDev` while the table exists. */
    private readonly snat: readonly string[],
    private readonly innerDev: string,
    runId: string,
  ) {
    this.table = `lvsbench_${runId}`;
    this.what = `nftables table ip ${this.table}: DNAT numgen inc mod ${net.rs.length} (rr), SNAT to ${snat[0]}-${snat.at(-1)} (${snat.length}, local on ${innerDev}), conntrack`;
  }

  ruleset(): string {
    const { net, s } = this;
    const map = net.rs.map((r, i) => `${i} : ${r.v4}`).join(', ');
    return [
      `table ip ${this.table} {`,
      '  chain pre {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      `    ip daddr ${s.vip} tcp dport ${s.httpPort} dnat to numgen inc mod ${net.rs.length} map { ${map} }`,
      `    ip daddr ${s.vip} tcp dport ${s.iperfPort} dnat to ${net.rs[0]!.v4}`,
      '  }',
      '  chain post {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    oifname "${this.innerDev}" ct status dnat snat to ${this.snat[0]}-${this.snat.at(-1)}`,
      '  }',
      '}',
      '',
    ].join('\n');
  }

  async up(): Promise<void> {
    const { net } = this;
    const r = await net.run(net.lb, 'cat', ['/proc/sys/net/ipv4/ip_forward']);
    this.savedForward = r.stdout.trim() || '0';
    await net.sysctl(net.lb, { 'net/ipv4/ip_forward': '1' });
    for (const a of this.snat) {
      this.added.push(a);
      await ipOk(net, 'addr', 'add', `${a}/32`, 'dev', this.innerDev);
    }
    const file = join(net.tmp, 'nft.conf');
    writeFileSync(file, this.ruleset());
    this.tableAdded = true;
    const nft = await net.run(net.lb, 'nft', ['-f', file]);
    if (nft.code !== 0) throw new Error(`nft -f: ${nft.stderr}`);
  }

  async down(): Promise<void> {
    const { net } = this;
    if (this.tableAdded) {
      this.tableAdded = false;
      const r = await net.run(net.lb, 'nft', ['delete', 'table', 'ip', this.table]);
      if (r.code !== 0) throw new Error(`nft delete table: ${r.stderr}`);
    }
    for (const a of this.added.splice(0)) await ipOk(net, 'addr', 'del', `${a}/32`, 'dev', this.innerDev);
    if (this.savedForward !== null) {
      await net.sysctl(net.lb, { 'net/ipv4/ip_forward': this.savedForward });
      this.savedForward = null;
    }
  }

  cpu(): CpuTime {
    return { user: Number.NaN, sys: Number.NaN }; // softirq work, not a process of its own
  }

  /** Conntrack drops (a full table) and insert failures (clashes). */
  async drops(): Promise<Record<string, number>> {
    const c = await conntrackStats(this.net, this.net.lb);
    return { ct_drop: (c.drop ?? 0) + (c.early_drop ?? 0), ct_insert_failed: c.insert_failed ?? 0 };
  }

  async report(): Promise<string[]> {
    const c = await conntrackStats(this.net, this.net.lb);
    const pick = ['drop', 'early_drop', 'insert_failed', 'invalid', 'search_restart'];
    const cnt = await this.net.run(this.net.lb, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count']);
    const parts = pick.filter((k) => k in c).map((k) => `${k}=${c[k]}`);
    return [`conntrack: count ${cnt.stdout.trim()}, ${parts.join(' ')}`];
  }
}
