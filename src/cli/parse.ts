// argv -> one control Request (or help/version/restore/subcommand), driven by the tables in spec.ts.
// Pure: name look-ups go through the injected Names; errors are CliError with ipvsadm's words.
//
// As in ipvsadm (popt): the command is the first option (only --socket may precede it); short options
// cluster (-Ln, -lnc, -w3, -p60); an optional argument (-p) is taken from the same word or from the
// next word when that does not start with '-'; long options take `--opt value` or `--opt=value`.
import { type Family, formatIp, parseIp, parseIpv4, parseIpv6 } from '../common/addr.js';
import { type SysctlSpec, sysctlSpec } from '../common/sysctls.js';
import { SCHED_F_1, SCHED_F_2, SCHED_F_3, SCHED_F_FALLBACK, SCHED_F_PORT } from '../common/vocabulary.js';
import type { Request, ServiceKey, ServiceOptions, SysctlName, SysctlValues } from '../control/protocol.js';
import { CliError, EXIT_REFUSED, PROGRAM, TRY_HELP } from './cli-error.js';
import { type Names, NO_NAMES } from './names.js';
import {
  COMMANDS,
  type CommandId,
  type CommandSpec,
  commandByLong,
  commandByShort,
  DEFAULT_PERSISTENT_TIMEOUT,
  DEFAULT_SCHEDULER,
  GLOBAL_GROUPS,
  MAX_THRESHOLD,
  MAX_TIMEOUT,
  MAX_WEIGHT,
  OPTION_GROUPS,
  type OptionGroup,
  type OptionSpec,
  optionByLong,
  optionByShort,
  SCHEDULER_NAMES,
  SUBCOMMANDS,
  usageOf,
} from './spec.js';
import { unsupportedLong, unsupportedShort } from './unsupported.js';

type ProtoName = ServiceKey['proto'];

/** How a response is printed (ipvsadm's FMT_* bits). */
export interface FormatOptions {
  numeric: boolean;
  exact: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  /** -L -c: the FULLNAT local address as a last column (lvsadm's --show-laddr). */
  showLaddr: boolean;
}

export const DEFAULT_FORMAT: Readonly<FormatOptions> = Object.freeze({
  numeric: false,
  exact: false,
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  nosort: false,
  showLaddr: false,
});

/** Which printer the response goes to. */
export type View =
  | 'none'
  | 'list'
  | 'service'
  | 'conns'
  | 'timeout'
  | 'save'
  | 'laddrs'
  | 'sysctl'
  | 'ext-stats';

export type ParseResult =
  | { kind: 'request'; request: Request; view: View; format: FormatOptions; socket?: string }
  /** -R: the caller reads stdin and hands it to parseRestore (restore.ts). */
  | { kind: 'restore'; socket?: string; lineByLine: boolean }
  /** Output known without asking the daemon (-L --daemon: lvsadm has no sync daemon). */
  | { kind: 'print'; text: string }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'subcommand'; name: string; args: string[] };

/** One parsed command line of the table (also what each -R line becomes). */
export interface ParsedCommand {
  cmd: CommandSpec;
  result: ParseResult;
}

// ---- value parsers ---------------------------------------------------------------------------

export interface HostPort {
  family: Family;
  addr: string;
  /** Absent when the text had no port. */
  port?: number;
}

function isDigits(s: string): boolean {
  return /^\d+$/.test(s);
}

/** ipvsadm's string_to_number: a decimal integer within [min, max], else undefined. */
export function parseNumber(s: string, min: number, max: number): number | undefined {
  if (!isDigits(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
}

function parsePort(text: string, proto: ProtoName, names: Names): number | undefined {
  return parseNumber(text, 0, 65535) ?? names.servicePort(text, proto);
}

function hostAddr(text: string, names: Names): { family: Family; addr: string } | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, addr: text };
  const name = names.hostAddr(text);
  const a = name === undefined ? null : parseIp(name);
  return a ? { family: a.family, addr: formatIp(a.family, a.words) } : undefined;
}

/**
 * ipvsadm's parse_service: `a.b.c.d[:port]`, `host[:port]` (from the hosts file), `[v6]:port` or a
 * bare v6 address (no port); the port is a number or a service name for `proto`. An all-digit text
 * is refused (so `-t 80` is an error, not a host).
 */
export function parseServiceAddress(text: string, proto: ProtoName, names: Names): HostPort | undefined {
  if (text === '' || isDigits(text)) return undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    const w = parseIpv6(text.slice(1, close));
    if (!w) return undefined;
    const port = parsePort(text.slice(close + 2), proto, names);
    return port === undefined ? undefined : { family: 6, addr: formatIp(6, w), port };
  }
  const w6 = parseIpv6(text);
  if (w6) return { family: 6, addr: formatIp(6, w6) };
  const colon = text.lastIndexOf(':');
  const host = hostAddr(colon >= 0 ? text.slice(0, colon) : text, names);
  if (!host) return undefined;
  if (colon < 0) return host;
  const port = parsePort(text.slice(colon + 1), proto, names);
  return port === undefined ? undefined : { ...host, port };
}

/**
 * `2001:db8::10:80` is a valid IPv6 address without a port, so the parse succeeds and ipvsadm's
 * later words (zero port) hide the mistake: name the brackets when the last group reads as a port.
 */
function bracketHint(text: string, flag: string): string | undefined {
  if (text.startsWith('[') || parseIpv6(text) === null) return undefined;
  const colon = text.lastIndexOf(':');
  const head = text.slice(0, colon);
  const port = text.slice(colon + 1);
  if (!isDigits(port) || parseIpv6(head) === null) return undefined;
  return `IPv6 addresses with a port go in brackets: ${flag} [${head}]:${port} (${text} is one address, without a port)`;
}

/** ipvsadm speaks of tunnelling here, which lvsadm does not have: say what differs. */
function familyMismatch(rs: HostPort, svc: HostPort): CliError {
  const fam = (f: Family) => `IPv${f}`;
  return new CliError(
    `real server ${rs.addr} is ${fam(rs.family)} and the virtual service ${fam(svc.family)}: both must be of the same family`,
  );
}

/** -z: an address (IPv4, IPv6 bare or in brackets, or a host name); a port, if any, is ignored. */
export function parseLocalAddress(text: string, names: Names): { family: Family; addr: string } | undefined {
  const m = /^\[([^\]]+)\]$/.exec(text);
  if (m) {
    const w = parseIpv6(m[1]!);
    return w ? { family: 6, addr: formatIp(6, w) } : undefined;
  }
  const hp = parseServiceAddress(text, 'tcp', names);
  return hp ? { family: hp.family, addr: hp.addr } : undefined;
}

/** -M: dotted mask for IPv4 (contiguous), prefix length 1..128 for IPv6; returns the prefix length. */
export function parseNetmask(text: string, family: Family): number {
  if (family === 6) {
    const n = parseNumber(text, 1, 128);
    if (n === undefined) throw new CliError('illegal ipv6 netmask specified');
    return n;
  }
  const v = parseIpv4(text);
  if (v !== null) {
    let prefix = 0;
    while (prefix < 32 && (v & (0x80000000 >>> prefix)) !== 0) prefix++;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (mask === v) return prefix;
  }
  throw new CliError('illegal virtual server persistent mask specified');
}

/** -b on -A/-E (ipvsadm's parse_sched_flags): names -> SCHED_F_* bits. */
export function parseSchedFlags(text: string, sched: string): number {
  const parts = text.split(',').filter((p) => p !== '');
  if (parts.length === 0) throw new CliError(`invalid scheduler flag \`${text}'`);
  let flags = 0;
  for (const f of parts) {
    const only = (s: string) => {
      if (sched !== s) throw new CliError(`incompatible scheduler flag \`${f}'`);
    };
    switch (f) {
      case 'flag-1':
        flags |= SCHED_F_1;
        break;
      case 'flag-2':
        flags |= SCHED_F_2;
        break;
      case 'flag-3':
        flags |= SCHED_F_3;
        break;
      case 'sh-fallback':
      case 'mh-fallback':
        only(f.slice(0, 2));
        flags |= SCHED_F_FALLBACK;
        break;
      case 'sh-port':
      case 'mh-port':
        only(f.slice(0, 2));
        flags |= SCHED_F_PORT;
        break;
      default:
        throw new CliError(`invalid scheduler flag \`${f}'`);
    }
  }
  return flags;
}

/** Prefix of the names in Alibaba's sysctl.conf (`net.ipv4.vs.synproxy_sack`); accepted and dropped. */
const SYSCTL_PREFIX = 'net.ipv4.vs.';

function sysctlByName(name: string): SysctlSpec & { name: SysctlName } {
  const short = name.startsWith(SYSCTL_PREFIX) ? name.slice(SYSCTL_PREFIX.length) : name;
  const spec = sysctlSpec(short);
  if (!spec) throw new CliError(`unknown sysctl \`${name}' (${PROGRAM} --sysctl lists them)`);
  return spec as SysctlSpec & { name: SysctlName };
}

/**
 * --sysctl operands: none (show all), names (show those), or name=value words (set them, all in one
 * request). Names and value syntax and ranges are checked here; the daemon checks again (and an
 * older daemon may refuse a value it cannot honour).
 */
export function parseSysctlOperands(words: readonly string[]): Request {
  if (words.length === 0) return { op: 'getSysctl' };
  const setting = words.filter((w) => w.includes('=')).length;
  if (setting === 0) return { op: 'getSysctl', names: words.map((w) => sysctlByName(w).name) };
  if (setting !== words.length) {
    throw new CliError('--sysctl either shows (name ...) or sets (name=value ...), not both at once');
  }
  const values: Partial<SysctlValues> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    const spec = sysctlByName(w.slice(0, eq));
    const text = w.slice(eq + 1);
    if (values[spec.name] !== undefined) throw new CliError(`multiple '${spec.name}' values specified`);
    const n = parseNumber(text, spec.min, spec.max);
    if (n === undefined) {
      const range = spec.kind === 'bool' ? '0 or 1' : `an integer from ${spec.min} to ${spec.max}`;
      throw new CliError(`invalid value \`${text}' for ${spec.name}: must be ${range}`);
    }
    values[spec.name] = n;
  }
  return { op: 'setSysctl', values };
}

function parseTimeout(text: string, min: number): number {
  const n = parseNumber(text, min, MAX_TIMEOUT);
  if (n === undefined) throw new CliError(`invalid timeout value \`${text}' specified`);
  return n;
}

// ---- the parser ------------------------------------------------------------------------------

interface Seen {
  opt: OptionSpec;
  value: string | undefined;
}

const PROTO_OF: Record<string, ProtoName> = { 'tcp-service': 'tcp', 'udp-service': 'udp' };

const COMMAND_LIST = COMMANDS.filter((c) => c.id !== 'help' && c.id !== 'version')
  .map((c) => (c.short.length > 0 ? `-${c.short[0]}` : `--${c.long}`))
  .join(', ');

/** ipvsadm's tryhelp_exit(argv[0], -1): status 255. */
function tryHelp(first: string): CliError {
  return new CliError(`${PROGRAM}: ${first}\n${TRY_HELP}`, EXIT_REFUSED);
}

/** Parses the command line of one lvsadm invocation. */
export function parseArgs(argv: readonly string[], names: Names = NO_NAMES): ParseResult {
  const first = argv[0];
  if (first !== undefined && first !== '' && !first.startsWith('-')) {
    if (SUBCOMMANDS.some((s) => s.name === first)) {
      return { kind: 'subcommand', name: first, args: argv.slice(1) };
    }
    throw tryHelp(`unknown command '${first}'`);
  }
  return parseCommand(argv, names).result;
}

/**
 * Parses options into a request. `argv` holds options only (no program name, no subcommand).
 * An empty argv (or only --socket) lists the table, as ipvsadm without arguments does.
 */
export function parseCommand(argv: readonly string[], names: Names = NO_NAMES): ParsedCommand {
  const seen = new Map<OptionGroup, Seen>();
  const positional: string[] = [];
  let cmd: CommandSpec | undefined;

  const setCommand = (c: CommandSpec) => {
    if (cmd) throw new CliError('multiple commands specified');
    cmd = c;
  };
  const commandFirst = (o: OptionSpec) => {
    if (!cmd && !GLOBAL_GROUPS.includes(o.group)) {
      throw tryHelp(`the command (${COMMAND_LIST}) must be the first option`);
    }
  };
  const addOption = (o: OptionSpec, value: string | undefined) => {
    if (o.group === 'sort') return; // a no-op ipvsadm accepts anywhere, repeats included
    if (seen.has(o.group)) throw new CliError(`multiple '${o.group}' options specified`);
    checkValue(o, value);
    seen.set(o.group, { opt: o, value });
  };

  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      const attached = eq >= 0 ? tok.slice(eq + 1) : undefined;
      const c = commandByLong(name);
      const o = c ? undefined : optionByLong(name);
      // What popt cannot parse ends ipvsadm with -1 (255), not with its fail(2); an ipvsadm option
      // lvsadm lacks says so, with what to use instead.
      if (!c && !o) {
        const why = unsupportedLong(name);
        throw why ? new CliError(why) : new CliError(`${tok}: unknown option`, EXIT_REFUSED);
      }
      if (attached !== undefined && (c || o!.arg === 'none')) {
        throw new CliError(`--${name}: option does not take a value`, EXIT_REFUSED);
      }
      if (c) {
        setCommand(c);
        if (c.id === 'help' || c.id === 'version') return { cmd: c, result: { kind: c.id } };
        continue;
      }
      commandFirst(o!);
      let value = attached;
      if (value === undefined && o!.arg === 'required') {
        if (i + 1 >= argv.length) throw new CliError(`${tok}: missing argument`, EXIT_REFUSED);
        value = argv[++i];
      } else if (value === undefined && o!.arg === 'optional') {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('-')) value = argv[++i];
      }
      addOption(o!, value);
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      for (let j = 1; j < tok.length; j++) {
        const ch = tok[j]!;
        const c = commandByShort(ch);
        if (c) {
          setCommand(c);
          if (c.id === 'help' || c.id === 'version') return { cmd: c, result: { kind: c.id } };
          continue;
        }
        const o = optionByShort(ch, cmd?.id);
        if (!o) {
          const why = unsupportedShort(ch);
          throw why ? new CliError(why) : new CliError(`-${ch}: unknown option`, EXIT_REFUSED);
        }
        commandFirst(o);
        if (o.arg === 'none') {
          addOption(o, undefined);
          continue;
        }
        let value: string | undefined = tok.slice(j + 1);
        if (value === '') {
          value = undefined;
          const next = argv[i + 1];
          if (o.arg === 'required') {
            if (next === undefined) throw new CliError(`-${ch}: missing argument`, EXIT_REFUSED);
            value = next;
            i++;
          } else if (next !== undefined && !next.startsWith('-')) {
            value = next;
            i++;
          }
        }
        addOption(o, value);
        break;
      }
      continue;
    }
    if (!cmd) throw tryHelp(`the command (${COMMAND_LIST}) must be the first option`);
    positional.push(tok);
  }

  const socket = seen.get('socket')?.value;
  if (!cmd && positional.length > 0) {
    throw tryHelp(`the command (${COMMAND_LIST}) must be the first option`);
  }
  if (!cmd) {
    // No command at all: list everything (ipvsadm with no arguments).
    const list = COMMANDS.find((c) => c.id === 'list')!;
    return {
      cmd: list,
      result: {
        kind: 'request',
        request: { op: 'list' },
        view: 'list',
        format: { ...DEFAULT_FORMAT },
        socket,
      },
    };
  }
  const command: CommandSpec = cmd;

  // Positional arguments: --set has three timeouts, --sysctl any number of name[=value].
  const want = command.positional ?? 0;
  if (want !== 'any') {
    if (want > 0 && positional.length < want) throw new CliError('--set option requires 3 timeout values');
    if (positional.length > want) throw new CliError(`unexpected argument ${positional[want]}`);
  }
  const timeouts = command.id === 'set' ? positional.map((p) => parseTimeout(p, 0)) : [];

  // Values that depend on other options.
  const svcOpt = seen.get('service-address');
  const proto: ProtoName = svcOpt ? PROTO_OF[svcOpt.opt.id]! : 'tcp';
  const svcAddr = svcOpt ? parseServiceAddress(svcOpt.value!, proto, names) : undefined;
  if (svcOpt && !svcAddr) throw new CliError('illegal virtual server address[:port] specified');
  const family: Family = svcAddr?.family ?? 4;
  const sched = seen.get('scheduler')?.value;
  const maskText = seen.get('netmask')?.value;
  const persistPrefix = maskText === undefined ? undefined : parseNetmask(maskText, family);
  const flagsText = seen.get('sched-flags')?.value;
  const schedFlags =
    flagsText === undefined ? undefined : parseSchedFlags(flagsText, sched ?? DEFAULT_SCHEDULER);
  const rsText = seen.get('real-server')?.value;
  let rs: HostPort | undefined;
  if (rsText !== undefined) {
    rs = parseServiceAddress(rsText, proto, names);
    if (!rs) throw new CliError('illegal real server address[:port] specified');
  }
  const laText = seen.get('local-address')?.value;
  const laddr = laText === undefined ? undefined : parseLocalAddress(laText, names);
  if (laText !== undefined && !laddr) throw new CliError('illegal local address');

  checkTable(command, seen);
  return {
    cmd: command,
    result: build(command, seen, {
      svcAddr,
      proto,
      persistPrefix,
      schedFlags,
      rs,
      laddr,
      timeouts,
      operands: positional,
      socket,
    }),
  };
}

/** Values checked as soon as they are seen, in argv order (as ipvsadm does while parsing). */
function checkValue(o: OptionSpec, value: string | undefined): void {
  const v = value ?? '';
  switch (o.id) {
    case 'tcp-service':
    case 'udp-service':
      // Syntax only here; the address is parsed (with the protocol's service names) after the loop.
      if (v === '' || isDigits(v)) throw new CliError('illegal virtual server address[:port] specified');
      return;
    case 'fwmark-service':
      throw new CliError('fwmark services are not supported by lvsadm: use -t or -u');
    case 'scheduler':
      if (!SCHEDULER_NAMES.includes(v)) {
        throw new CliError(`Scheduler not found: ${v} (one of ${SCHEDULER_NAMES.join('|')})`);
      }
      return;
    case 'persistent':
      if (value !== undefined) parseTimeout(value, 0);
      return;
    case 'synproxy':
      if (v !== 'enable' && v !== 'disable') throw new CliError('synproxy switch must be enable or disable');
      return;
    case 'toa':
      if (v !== 'on' && v !== 'off') throw new CliError('toa switch must be on or off');
      return;
    case 'weight':
      if (parseNumber(v, 0, MAX_WEIGHT) === undefined) throw new CliError('illegal weight specified');
      return;
    case 'u-threshold':
      if (parseNumber(v, 0, MAX_THRESHOLD) === undefined) throw new CliError('illegal u_threshold specified');
      return;
    case 'l-threshold':
      if (parseNumber(v, 0, MAX_THRESHOLD) === undefined) throw new CliError('illegal l_threshold specified');
      return;
    case 'socket':
      if (v === '') throw new CliError('--socket needs a path');
      return;
  }
}

/** ipvsadm's generic_opt_check over the command table, then the command's conflict rules. */
function checkTable(cmd: CommandSpec, seen: Map<OptionGroup, Seen>): void {
  let exclusive: OptionGroup | undefined;
  for (const g of OPTION_GROUPS) {
    const u = usageOf(cmd, g);
    if (!seen.has(g)) {
      if (u === '+') throw new CliError(`You need to supply the '${g}' option for the '${cmd.id}' command`);
      continue;
    }
    if (u === 'x') throw new CliError(`Illegal '${g}' option with the '${cmd.id}' command`);
    if (u === '1') {
      if (exclusive !== undefined) {
        throw new CliError(
          `The option '${g}' conflicts with the '${exclusive}' option in the '${cmd.id}' command`,
        );
      }
      exclusive = g;
    }
  }
  for (const [a, b] of cmd.conflicts ?? []) {
    if (a.some((g) => seen.has(g)) && b.some((g) => seen.has(g))) {
      throw new CliError(`options conflicts in the ${cmd.id} command`);
    }
  }
}

interface Derived {
  svcAddr: HostPort | undefined;
  proto: ProtoName;
  persistPrefix: number | undefined;
  schedFlags: number | undefined;
  rs: HostPort | undefined;
  laddr: { family: Family; addr: string } | undefined;
  timeouts: number[];
  /** Positional arguments as given (--sysctl's). */
  operands: readonly string[];
  socket: string | undefined;
}

function build(cmd: CommandSpec, seen: Map<OptionGroup, Seen>, d: Derived): ParseResult {
  const val = (g: OptionGroup) => seen.get(g)?.value;
  const has = (g: OptionGroup) => seen.has(g);
  const format: FormatOptions = {
    numeric: has('numeric'),
    exact: has('exact'),
    stats: has('stats'),
    rate: has('rate'),
    thresholds: has('thresholds'),
    persistentConn: has('persistent-conn'),
    nosort: has('nosort'),
    showLaddr: has('show-laddr'),
  };
  const req = (request: Request, view: View = 'none'): ParseResult => ({
    kind: 'request',
    request,
    view,
    format,
    ...(d.socket !== undefined ? { socket: d.socket } : {}),
  });

  const svc: ServiceKey | undefined = d.svcAddr
    ? { proto: d.proto, addr: d.svcAddr.addr, port: d.svcAddr.port ?? 0 }
    : undefined;
  const id: CommandId = cmd.id;

  switch (id) {
    case 'add-service':
    case 'edit-service': {
      const opts: ServiceOptions = {};
      const sched = val('scheduler');
      if (sched !== undefined) opts.sched = sched;
      else if (id === 'add-service') opts.sched = DEFAULT_SCHEDULER;
      if (d.schedFlags !== undefined) opts.schedFlags = d.schedFlags;
      if (has('persistent')) {
        const p = val('persistent');
        const t = p === undefined ? DEFAULT_PERSISTENT_TIMEOUT : Number(p);
        // -p 0 turns persistence off; only meaningful when editing (ipvsadm's minimum is 1).
        if (t === 0 && id === 'add-service') throw new CliError(`invalid timeout value \`${p}' specified`);
        opts.persistTimeout = t;
      }
      if (d.persistPrefix !== undefined) opts.persistPrefix = d.persistPrefix;
      if (has('synproxy')) opts.synproxy = val('synproxy') === 'enable';
      if (has('toa')) opts.toa = val('toa') === 'on';
      // ipvsadm's -E replaces: what is not given goes back to -A's default (lvsadm's -j and --toa
      // too). --merge keeps the current values instead.
      const replace = id === 'edit-service' && !has('merge');
      if (replace) {
        opts.sched ??= DEFAULT_SCHEDULER;
        opts.schedFlags ??= 0;
        opts.persistTimeout ??= 0;
        opts.persistPrefix ??= d.svcAddr!.family === 4 ? 32 : 128;
        opts.synproxy ??= false;
        opts.toa ??= true;
      }
      if ((id === 'add-service' || replace) && svc!.port === 0 && !(opts.persistTimeout! > 0)) {
        const o = seen.get('service-address')!;
        const hint = bracketHint(o.value!, `-${o.opt.short?.[0] ?? 't'}`);
        throw new CliError(hint ?? 'Zero port specified for non-persistent service');
      }
      return req({ op: id === 'add-service' ? 'addService' : 'editService', svc: svc!, opts });
    }
    case 'delete-service':
      return req({ op: 'delService', svc: svc! });
    case 'flush':
      return req({ op: 'flush' });
    case 'add-server':
    case 'edit-server': {
      checkForwarding(seen.get('forwarding-method')?.opt);
      const rs = d.rs!;
      if (rs.family !== d.svcAddr!.family) throw familyMismatch(rs, d.svcAddr!);
      const port = rs.port ?? svc!.port;
      const w = val('weight');
      const x = val('u-threshold');
      const y = val('l-threshold');
      if (id === 'add-server') {
        return req({
          op: 'addDest',
          svc: svc!,
          dest: {
            addr: rs.addr,
            port,
            weight: w === undefined ? 1 : Number(w),
            ...(x !== undefined ? { uThreshold: Number(x) } : {}),
            ...(y !== undefined ? { lThreshold: Number(y) } : {}),
          },
        });
      }
      // ipvsadm's -e replaces: weight 1 and no thresholds unless given; --merge keeps them.
      const merge = has('merge');
      return req({
        op: 'editDest',
        svc: svc!,
        addr: rs.addr,
        port,
        change: {
          ...(w !== undefined ? { weight: Number(w) } : merge ? {} : { weight: 1 }),
          ...(x !== undefined ? { uThreshold: Number(x) } : merge ? {} : { uThreshold: 0 }),
          ...(y !== undefined ? { lThreshold: Number(y) } : merge ? {} : { lThreshold: 0 }),
        },
      });
    }
    case 'delete-server': {
      const rs = d.rs!;
      if (rs.family !== d.svcAddr!.family) throw familyMismatch(rs, d.svcAddr!);
      return req({ op: 'delDest', svc: svc!, addr: rs.addr, port: rs.port ?? svc!.port });
    }
    case 'add-laddr':
    case 'del-laddr':
      return req({ op: id === 'add-laddr' ? 'addLaddr' : 'delLaddr', svc: svc!, addr: d.laddr!.addr });
    case 'get-laddr':
      return req(svc ? { op: 'list', svc } : { op: 'list' }, 'laddrs');
    case 'list':
      if (has('connection')) return req({ op: 'listConns' }, 'conns');
      if (has('timeout')) return req({ op: 'getTimeouts' }, 'timeout');
      if (has('daemon')) return { kind: 'print', text: '' };
      if (has('ext-stats')) return req({ op: 'counters' }, 'ext-stats');
      if (svc) return req({ op: 'list', svc }, 'service');
      return req({ op: 'list' }, 'list');
    case 'save':
      return req({ op: 'dump' }, 'save');
    case 'zero':
      return req(svc ? { op: 'zero', svc } : { op: 'zero' });
    case 'set': {
      const [tcp, tcpfin, udp] = d.timeouts as [number, number, number];
      return req({ op: 'setTimeouts', timeouts: { tcp, tcpfin, udp } });
    }
    case 'sysctl': {
      const r = parseSysctlOperands(d.operands);
      return req(r, r.op === 'getSysctl' ? 'sysctl' : 'none');
    }
    case 'restore':
      return {
        kind: 'restore',
        lineByLine: has('line-by-line'),
        ...(d.socket !== undefined ? { socket: d.socket } : {}),
      };
    case 'help':
    case 'version':
      return { kind: id };
  }
}

/** FULLNAT is the only forwarding method the daemon has; the others are refused by name. */
function checkForwarding(o: OptionSpec | undefined): void {
  switch (o?.id) {
    case 'masquerading':
      throw new CliError('masquerading (NAT, -m) is not supported by lvsadm yet: use -b (FULLNAT)');
    case 'ipip':
      throw new CliError('ipip tunneling (-i) is not supported by lvsadm yet: use -b (FULLNAT)');
    case 'gatewaying':
      throw new CliError('direct routing needs L2 I/O; not supported by lvsadm yet');
  }
}
