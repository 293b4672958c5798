// `lvsadm toa ...`: the RealServer helpers. Parses the arguments and runs ebpf.ts / kmod.ts.
// Exit status: 0 done (also when there was nothing to do), 1 failed, 2 usage error.

import type { SubcommandIo } from '../cli/main.js';
import { DEFAULT_PIN_DIR, type EbpfStatus, ebpfLoad, ebpfStatus, ebpfUnload } from './ebpf.js';
import { ToaError } from './errors.js';
import { buildModule, loadModule, moduleLoaded, moduleStats, moduleSupport, unloadModule } from './kmod.js';
import { BPF_FS_MAGIC, defaultSys, kernelRelease, outerPath, type ToaSys } from './sys.js';

export const TOA_USAGE = `usage: lvsadm toa COMMAND [options]
Real-server side of TOA: getpeername() (and so every server's idea of its peer) reports the
client address that the LB's FULLNAT put into TCP option 254, instead of the LB's local address.

  load --ebpf [--cgroup PATH] [--pin-dir DIR]
        load the eBPF reader and attach it to a cgroup v2 directory (default: the root of the
        hierarchy, mounting cgroup2 if nothing has it): sockets that processes in that cgroup or
        below open from then on are served. Pinned under DIR (default ${DEFAULT_PIN_DIR}), so
        nothing keeps running. Again with another --cgroup: attached there too.
  unload --ebpf [--cgroup PATH] [--pin-dir DIR] [--orphans]
        detach it (from PATH only, or everywhere) and remove the pins once it is attached nowhere;
        --orphans: also detach programs named like the reader's that are not the pinned ones
        (left attached when their pins were deleted by hand)
  load [--module FILE]
        insmod the kernel module (default: the toa.ko that \`build\` made for the running kernel)
  unload
        rmmod the kernel module
  status [--json] [--pin-dir DIR]
        which reader is active, where it is attached, and its counters
  build [--kdir DIR] [--out DIR] [--strict]
        build toa.ko: make -C KDIR M=OUT modules (KDIR default /lib/modules/$(uname -r)/build,
        OUT default build/toa-kmod/<kernel release> in the checkout; --strict: W=1, and a
        compiler warning fails the build)
  -h, --help
        this text
Loading and unloading need root. The kernel module needs a kernel with loadable modules and
kprobes; the eBPF reader needs BPF, cgroup v2, cgroup getpeername hooks and socket storage
(tested on Debian 12's 6.1 and on 6.18).`;

interface Parsed {
  command: string;
  ebpf: boolean;
  json: boolean;
  strict: boolean;
  orphans: boolean;
  cgroup?: string;
  pinDir?: string;
  module?: string;
  kdir?: string;
  out?: string;
}

const COMMANDS = new Set(['load', 'unload', 'status', 'build']);
/** Options each command takes. */
const ALLOWED: Record<string, ReadonlySet<string>> = {
  load: new Set(['--ebpf', '--cgroup', '--pin-dir', '--module']),
  unload: new Set(['--ebpf', '--cgroup', '--pin-dir', '--orphans']),
  status: new Set(['--json', '--pin-dir']),
  build: new Set(['--kdir', '--out', '--strict']),
};

const usage = (msg: string) =>
  new ToaError('USAGE', `${msg}\nTry \`lvsadm toa --help' for more information.`);

/** Parses `lvsadm toa` arguments; null means help. */
export function parseToaArgs(args: readonly string[]): Parsed | null {
  const p: Parsed = { command: '', ebpf: false, json: false, strict: false, orphans: false };
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help' || a === 'help') return null;
    if (!a.startsWith('-')) {
      if (p.command !== '') throw usage(`unexpected argument ${JSON.stringify(a)}`);
      if (!COMMANDS.has(a)) throw usage(`unknown command ${JSON.stringify(a)}`);
      p.command = a;
      continue;
    }
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    if (seen.has(flag)) throw usage(`${flag} given twice`);
    seen.add(flag);
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw usage(`${flag} needs a value`);
      return v;
    };
    const boolean = () => {
      if (inline !== undefined) throw usage(`${flag} takes no value`);
      return true;
    };
    switch (flag) {
      case '--ebpf':
        p.ebpf = boolean();
        break;
      case '--json':
        p.json = boolean();
        break;
      case '--strict':
        p.strict = boolean();
        break;
      case '--orphans':
        p.orphans = boolean();
        break;
      case '--cgroup':
        p.cgroup = value();
        break;
      case '--pin-dir':
        p.pinDir = value();
        break;
      case '--module':
        p.module = value();
        break;
      case '--kdir':
        p.kdir = value();
        break;
      case '--out':
        p.out = value();
        break;
      default:
        throw usage(`unknown option ${a}`);
    }
  }
  if (p.command === '') throw usage('a command is needed: load, unload, status or build');
  for (const flag of seen) {
    if (!ALLOWED[p.command]!.has(flag)) throw usage(`${flag} does not go with ${p.command}`);
  }
  if (!p.ebpf && (p.cgroup !== undefined || p.pinDir !== undefined || p.orphans) && p.command !== 'status')
    throw usage(`--cgroup, --pin-dir and --orphans are for the eBPF reader: ${p.command} --ebpf`);
  if (p.ebpf && p.module !== undefined) throw usage('--module is for the kernel module, not --ebpf');
  return p;
}

// ---- status -------------------------------------------------------------------------------------

export interface ToaStatus {
  ebpf: EbpfStatus | { error: string };
  module: { supported: boolean; loaded: boolean; stats: Record<string, number> | null };
  /** which reader serves sockets now */
  active: 'ebpf' | 'module' | 'both' | 'none';
}

export async function toaStatus(sys: ToaSys, pinDir: string): Promise<ToaStatus> {
  let ebpf: ToaStatus['ebpf'];
  if (sys.uid !== 0) {
    ebpf = { error: 'needs root to inspect BPF programs' };
  } else {
    try {
      ebpf = await ebpfStatus(sys, pinDir);
    } catch (e) {
      if (!ToaError.is(e)) throw e;
      ebpf = { error: e.message };
    }
  }
  const supported = moduleSupport(sys);
  const module = { supported, loaded: supported && moduleLoaded(sys), stats: moduleStats(sys) };
  const ebpfOn = 'attached' in ebpf && ebpf.attached.length + ebpf.orphans.length > 0;
  const active = ebpfOn && module.loaded ? 'both' : ebpfOn ? 'ebpf' : module.loaded ? 'module' : 'none';
  return { ebpf, module, active };
}

export function formatStatus(s: ToaStatus, sys: ToaSys): string {
  const lines: string[] = [];
  const e = s.ebpf;
  if ('error' in e) {
    lines.push(`eBPF reader: unknown (${e.error})`);
  } else {
    if (e.loaded) {
      const build = e.current
        ? `build ${e.build}`
        : `build ${e.build}, not this lvsadm's: unload and load again`;
      lines.push(`eBPF reader: loaded (${build}, pinned at ${e.pinDir})`);
    } else if (e.partial) {
      lines.push(
        `eBPF reader: incomplete pins at ${e.pinDir} (an interrupted load): lvsadm toa unload --ebpf`,
      );
    } else {
      lines.push('eBPF reader: not loaded');
    }
    const byCgroup = new Map<string, string[]>();
    for (const a of e.attached) byCgroup.set(a.cgroup, [...(byCgroup.get(a.cgroup) ?? []), a.attach]);
    for (const [cg, types] of byCgroup) lines.push(`  attached to ${cg}: ${types.join(' ')}`);
    if (e.loaded && byCgroup.size === 0) lines.push('  attached nowhere');
    for (const o of e.orphans)
      lines.push(
        o.pinnedAt !== undefined
          ? `  pinned at ${o.pinnedAt}: ${o.name} (id ${o.id}) attached to ${o.cgroup} (status --pin-dir ${o.pinnedAt} for it)`
          : `  not pinned here: ${o.name} (id ${o.id}) attached to ${o.cgroup} (another --pin-dir, or pins deleted: unload --ebpf --orphans)`,
      );
    if (e.counters) {
      const c = e.counters;
      lines.push(
        `  connections seen ${c.seen}, TOA stored ${c.stored} (from the first data segment ${c.stored_late}), without TOA ${c.no_option}`,
      );
      lines.push(`  getpeername rewritten: IPv4 sockets ${c.rewritten4}, IPv6 sockets ${c.rewritten6}`);
    }
  }
  if (!s.module.supported) {
    lines.push(`kernel module: not possible (kernel ${kernelRelease(sys)} has no loadable module support)`);
  } else {
    lines.push(`kernel module: ${s.module.loaded ? 'loaded' : 'not loaded'}`);
  }
  if (s.module.stats) {
    for (const [k, v] of Object.entries(s.module.stats)) lines.push(`  ${k} ${v}`);
  }
  const active = { ebpf: 'eBPF', module: 'kernel module', both: 'eBPF and kernel module', none: 'none' };
  lines.push(`active reader: ${active[s.active]}`);
  return `${lines.join('\n')}\n`;
}

// ---- entry --------------------------------------------------------------------------------------

/** `lvsadm toa ARGS`; `sys` is for tests (default: this process and host). */
export async function toaMain(
  args: string[],
  io: SubcommandIo,
  sys: ToaSys = defaultSys(io.env),
): Promise<number> {
  try {
    const p = parseToaArgs(args);
    if (p === null) {
      io.stdout.write(`${TOA_USAGE}\n`);
      return 0;
    }
    // under `ip netns exec` the host's bpffs is reached through the outer namespace (sys.ts)
    const pinDir = outerPath(sys, p.pinDir ?? DEFAULT_PIN_DIR, BPF_FS_MAGIC);
    switch (p.command) {
      case 'load':
        if (p.ebpf) await ebpfLoad(sys, { pinDir, cgroup: p.cgroup }, io.stdout);
        else await loadModule(sys, { file: p.module }, io.stdout);
        return 0;
      case 'unload':
        if (p.ebpf) await ebpfUnload(sys, { pinDir, cgroup: p.cgroup, orphans: p.orphans }, io.stdout);
        else await unloadModule(sys, io.stdout);
        return 0;
      case 'status': {
        const s = await toaStatus(sys, pinDir);
        io.stdout.write(p.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s, sys));
        return 0;
      }
      case 'build':
        await buildModule(sys, { kdir: p.kdir, out: p.out, strict: p.strict }, io.stdout);
        return 0;
    }
    return 2;
  } catch (e) {
    if (!ToaError.is(e)) throw e;
    io.stderr.write(`lvsadm toa: ${e.message}\n`);
    return e.code === 'USAGE' ? 2 : 1;
  }
}
