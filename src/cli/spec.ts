// The ipvsadm-compatible command line as data: ONE table of options and ONE table of commands, with
// per command which option groups are compulsory, optional, exclusive or illegal (ipvsadm's
// commands_v_options). The parser, --help, the bash completion and the man page are all built from
// these two tables; nothing else lists options.

import { SYSCTL_NAMES } from '../common/sysctls.js';
import { SCHEDULER_NAMES } from '../common/vocabulary.js';

export type ArgKind = 'none' | 'required' | 'optional';

/**
 * Option groups, the columns of the command table, in ipvsadm's column order (the first failing
 * column decides the error message, as in ipvsadm). The names are the ones ipvsadm prints in
 * "Illegal '%s' option with the '%s' command"; Alibaba's local-address and synproxy, then lvsadm's.
 */
export const OPTION_GROUPS = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'exact',
  'sched-flags',
  'local-address',
  'synproxy',
  'toa',
  'merge',
  'show-laddr',
  'line-by-line',
  'ext-stats',
  'sort',
  'socket',
] as const;
export type OptionGroup = (typeof OPTION_GROUPS)[number];

/** How an argument is completed in the shell. */
export type Completion = 'scheduler' | 'sched-flags' | 'enable-disable' | 'on-off' | 'file';

export interface OptionSpec {
  /** Unique id (the long name without dashes). */
  readonly id: string;
  readonly group: OptionGroup;
  readonly short?: string;
  readonly long: string;
  readonly arg: ArgKind;
  /** Name of the argument in help text. */
  readonly argName?: string;
  readonly help: string;
  /** The short letter means this option only under these commands (`-b` is sched-flags on -A/-E but
   *  FULLNAT on -a/-e); elsewhere the letter resolves to the option of the same letter without this. */
  readonly shortOnlyWith?: readonly CommandId[];
  readonly complete?: Completion;
}

/** `'+'` compulsory, `' '` optional, `'1'` at most one of the `'1'` options; absent = illegal. */
export type Usage = '+' | ' ' | '1';

export type CommandId =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'delete-server'
  | 'edit-server'
  | 'set'
  | 'sysctl'
  | 'restore'
  | 'save'
  | 'zero'
  | 'add-laddr'
  | 'del-laddr'
  | 'get-laddr'
  | 'help'
  | 'version';

export interface CommandSpec {
  /** ipvsadm's command name, as in its error messages ("... with the 'add-service' command"). */
  readonly id: CommandId;
  readonly short: readonly string[];
  readonly long: string;
  readonly help: string;
  /** Synopsis after the program name. */
  readonly usage: string;
  readonly options: Partial<Record<OptionGroup, Usage>>;
  /** Positional arguments: exactly this many (--set), or 'any' number (--sysctl). */
  readonly positional?: number | 'any';
  /** Words the shell completion offers for the positional arguments. */
  readonly operandWords?: readonly string[];
  /** Pairs of group sets that may not be combined ("options conflicts in the list command"). */
  readonly conflicts?: readonly (readonly [readonly OptionGroup[], readonly OptionGroup[]])[];
}

/** ipvsadm's default scheduler. */
export const DEFAULT_SCHEDULER = 'wlc';
/** `-p` without a value (ipvsadm's man page and DESIGN.md: 300 s). */
export const DEFAULT_PERSISTENT_TIMEOUT = 300;
/** ipvsadm's MAX_TIMEOUT: 31 days, for -p and --set. */
export const MAX_TIMEOUT = 86400 * 31;
export const MAX_WEIGHT = 65535;
export const MAX_THRESHOLD = 0x7fffffff;
export const DEFAULT_SOCKET = '/run/lvsadm/lvsadm.sock';
export const SOCKET_ENV = 'LVSADM_SOCKET';

/** Scheduler flag names accepted by `-b` on -A/-E (ipvsadm's parse_sched_flags). */
export const SCHED_FLAG_NAMES = [
  'flag-1',
  'flag-2',
  'flag-3',
  'sh-fallback',
  'sh-port',
  'mh-fallback',
  'mh-port',
] as const;

export { SCHEDULER_NAMES };

const DEST_CMDS: readonly CommandId[] = ['add-server', 'edit-server'];

export const OPTIONS: readonly OptionSpec[] = [
  {
    id: 'tcp-service',
    group: 'service-address',
    short: 't',
    long: 'tcp-service',
    arg: 'required',
    argName: 'service-address',
    help: 'TCP virtual service; service-address is host[:port], IPv6 as [addr]:port',
  },
  {
    id: 'udp-service',
    group: 'service-address',
    short: 'u',
    long: 'udp-service',
    arg: 'required',
    argName: 'service-address',
    help: 'UDP virtual service; service-address is host[:port], IPv6 as [addr]:port',
  },
  {
    id: 'fwmark-service',
    group: 'service-address',
    short: 'f',
    long: 'fwmark-service',
    arg: 'required',
    argName: 'fwmark',
    help: 'firewall-mark virtual service (recognised, not supported by lvsadm)',
  },
  {
    id: 'scheduler',
    group: 'scheduler',
    short: 's',
    long: 'scheduler',
    arg: 'required',
    argName: 'scheduler',
    help: `one of ${SCHEDULER_NAMES.join('|')}; the default is ${DEFAULT_SCHEDULER}`,
    complete: 'scheduler',
  },
  {
    id: 'persistent',
    group: 'persistent',
    short: 'p',
    long: 'persistent',
    arg: 'optional',
    argName: 'timeout',
    help: `persistent service, timeout in seconds (default ${DEFAULT_PERSISTENT_TIMEOUT}; 0 on -E turns persistence off)`,
  },
  {
    id: 'netmask',
    group: 'netmask',
    short: 'M',
    long: 'netmask',
    arg: 'required',
    argName: 'netmask',
    help: 'persistent granularity mask: dotted for IPv4, prefix length for IPv6',
  },
  {
    id: 'sched-flags',
    group: 'sched-flags',
    short: 'b',
    long: 'sched-flags',
    arg: 'required',
    argName: 'sched-flags',
    help: 'scheduler flags on -A/-E, comma-separated: flag-1,flag-2,flag-3, sh-fallback,sh-port, mh-fallback,mh-port',
    complete: 'sched-flags',
  },
  {
    id: 'synproxy',
    group: 'synproxy',
    short: 'j',
    long: 'synproxy',
    arg: 'required',
    argName: 'enable|disable',
    help: 'SYN proxy (syncookie handshake by the load balancer) for the service',
    complete: 'enable-disable',
  },
  {
    id: 'toa',
    group: 'toa',
    long: 'toa',
    arg: 'required',
    argName: 'on|off',
    help: 'client address in a TCP option towards the real servers (default on)',
    complete: 'on-off',
  },
  {
    id: 'show-laddr',
    group: 'show-laddr',
    long: 'show-laddr',
    arg: 'none',
    help: "lvsadm's: with -L -c, the FULLNAT local address and port of each connection as a last column (JSON always has them)",
  },
  {
    id: 'line-by-line',
    group: 'line-by-line',
    long: 'line-by-line',
    arg: 'none',
    help: "lvsadm's: -R applies each line on its own, as ipvsadm does: a refused line is reported and the next ones still apply",
  },
  {
    id: 'merge',
    group: 'merge',
    long: 'merge',
    arg: 'none',
    help: "lvsadm's: -E/-e change only the options given (ipvsadm, and lvsadm without it, reset the others to their defaults)",
  },
  {
    id: 'real-server',
    group: 'real-server',
    short: 'r',
    long: 'real-server',
    arg: 'required',
    argName: 'server-address',
    help: "server-address is host[:port] (the port defaults to the service's)",
  },
  {
    id: 'fullnat',
    group: 'forwarding-method',
    short: 'b',
    long: 'fullnat',
    arg: 'none',
    help: 'full NAT (source and destination rewritten) on -a/-e: the default and only method',
    shortOnlyWith: DEST_CMDS,
  },
  {
    id: 'masquerading',
    group: 'forwarding-method',
    short: 'm',
    long: 'masquerading',
    arg: 'none',
    help: 'masquerading (NAT): not supported by lvsadm yet',
  },
  {
    id: 'ipip',
    group: 'forwarding-method',
    short: 'i',
    long: 'ipip',
    arg: 'none',
    help: 'ipip encapsulation (tunneling): not supported by lvsadm yet',
  },
  {
    id: 'gatewaying',
    group: 'forwarding-method',
    short: 'g',
    long: 'gatewaying',
    arg: 'none',
    help: 'gatewaying (direct routing): needs L2 I/O, not supported by lvsadm yet',
  },
  {
    id: 'weight',
    group: 'weight',
    short: 'w',
    long: 'weight',
    arg: 'required',
    argName: 'weight',
    help: `capacity of the real server, 0..${MAX_WEIGHT} (0 = quiesced)`,
  },
  {
    id: 'u-threshold',
    group: 'u-threshold',
    short: 'x',
    long: 'u-threshold',
    arg: 'required',
    argName: 'uthreshold',
    help: 'upper threshold of connections (0 = none)',
  },
  {
    id: 'l-threshold',
    group: 'l-threshold',
    short: 'y',
    long: 'l-threshold',
    arg: 'required',
    argName: 'lthreshold',
    help: 'lower threshold of connections',
  },
  {
    id: 'laddr',
    group: 'local-address',
    short: 'z',
    long: 'laddr',
    arg: 'required',
    argName: 'local-address',
    help: 'local (FULLNAT source) address of the service, for -P/-Q',
  },
  {
    id: 'numeric',
    group: 'numeric',
    short: 'n',
    long: 'numeric',
    arg: 'none',
    help: 'numeric output of addresses and ports',
  },
  {
    id: 'connection',
    group: 'connection',
    short: 'c',
    long: 'connection',
    arg: 'none',
    help: 'output of current connections',
  },
  {
    id: 'timeout',
    group: 'timeout',
    long: 'timeout',
    arg: 'none',
    help: 'output of timeout (tcp tcpfin udp)',
  },
  {
    id: 'daemon',
    group: 'daemon',
    long: 'daemon',
    arg: 'none',
    help: 'output of sync daemon information (lvsadm has none: prints nothing)',
  },
  { id: 'stats', group: 'stats', long: 'stats', arg: 'none', help: 'output of statistics information' },
  {
    id: 'ext-stats',
    group: 'ext-stats',
    long: 'ext-stats',
    arg: 'none',
    help: 'output of the engine counters (packets, drops by reason, connections, ICMP, TOA, SYNPROXY), always exact',
  },
  { id: 'rate', group: 'rate', long: 'rate', arg: 'none', help: 'output of rate information' },
  {
    id: 'thresholds',
    group: 'thresholds',
    long: 'thresholds',
    arg: 'none',
    help: 'output of thresholds information',
  },
  {
    id: 'persistent-conn',
    group: 'persistent-conn',
    long: 'persistent-conn',
    arg: 'none',
    help: 'output of persistent connection info',
  },
  {
    id: 'nosort',
    group: 'nosort',
    long: 'nosort',
    arg: 'none',
    help: "disable sorting of service/server entries (keep the daemon's order)",
  },
  {
    id: 'sort',
    group: 'sort',
    long: 'sort',
    arg: 'none',
    help: 'does nothing (sorting is the default), for backwards compatibility',
  },
  {
    id: 'exact',
    group: 'exact',
    short: 'X',
    long: 'exact',
    arg: 'none',
    help: 'expand numbers (display exact values)',
  },
  {
    id: 'socket',
    group: 'socket',
    long: 'socket',
    arg: 'required',
    argName: 'path',
    help: `control socket of the daemon (default $${SOCKET_ENV} or ${DEFAULT_SOCKET})`,
    complete: 'file',
  },
];

/** Groups every command accepts (lvsadm's own global options). */
export const GLOBAL_GROUPS: readonly OptionGroup[] = ['socket'];

const SVC_OPTS = {
  'service-address': '+',
  scheduler: ' ',
  persistent: ' ',
  netmask: ' ',
  'sched-flags': ' ',
  synproxy: ' ',
  toa: ' ',
} as const;

export const COMMANDS: readonly CommandSpec[] = [
  {
    id: 'add-service',
    short: ['A'],
    long: 'add-service',
    help: 'add virtual service with options',
    usage:
      '-A virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-j enable|disable] [--toa on|off]',
    options: SVC_OPTS,
  },
  {
    id: 'edit-service',
    short: ['E'],
    long: 'edit-service',
    help: 'edit virtual service with options (as ipvsadm: those not given go back to their defaults; --merge keeps them)',
    usage:
      '-E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-j enable|disable] [--toa on|off] [--merge]',
    options: { ...SVC_OPTS, merge: ' ' },
  },
  {
    id: 'delete-service',
    short: ['D'],
    long: 'delete-service',
    help: 'delete virtual service',
    usage: '-D virtual-service',
    options: { 'service-address': '+' },
  },
  {
    id: 'flush',
    short: ['C'],
    long: 'clear',
    help: 'clear the whole table',
    usage: '-C',
    options: {},
  },
  {
    id: 'restore',
    short: ['R'],
    long: 'restore',
    help: 'restore rules from stdin (all or nothing; --line-by-line: as ipvsadm, one line at a time)',
    usage: '-R [--line-by-line]',
    options: { 'line-by-line': ' ' },
  },
  {
    id: 'save',
    short: ['S'],
    long: 'save',
    help: 'save rules to stdout',
    usage: '-S [-n]',
    options: { numeric: ' ' },
  },
  {
    id: 'add-server',
    short: ['a'],
    long: 'add-server',
    help: 'add real server with options',
    usage: '-a virtual-service -r server-address [-b] [-w weight] [-x upper-threshold] [-y lower-threshold]',
    options: {
      'service-address': '+',
      'real-server': '+',
      'forwarding-method': ' ',
      weight: ' ',
      'u-threshold': ' ',
      'l-threshold': ' ',
    },
  },
  {
    id: 'edit-server',
    short: ['e'],
    long: 'edit-server',
    help: 'edit real server with options (as ipvsadm: weight 1 and no thresholds unless given; --merge keeps them)',
    usage:
      '-e virtual-service -r server-address [-w weight] [-x upper-threshold] [-y lower-threshold] [--merge]',
    options: {
      'service-address': '+',
      'real-server': '+',
      'forwarding-method': ' ',
      weight: ' ',
      'u-threshold': ' ',
      'l-threshold': ' ',
      merge: ' ',
    },
  },
  {
    id: 'delete-server',
    short: ['d'],
    long: 'delete-server',
    help: 'delete real server',
    usage: '-d virtual-service -r server-address',
    options: { 'service-address': '+', 'real-server': '+' },
  },
  {
    id: 'list',
    short: ['L', 'l'],
    long: 'list',
    help: 'list the table',
    usage: '-L|l [virtual-service] [options]',
    options: {
      numeric: ' ',
      connection: '1',
      'service-address': '1',
      timeout: '1',
      daemon: '1',
      stats: ' ',
      rate: ' ',
      thresholds: ' ',
      'persistent-conn': ' ',
      nosort: ' ',
      exact: ' ',
      sort: ' ',
      'ext-stats': '1',
      'show-laddr': ' ',
    },
    conflicts: [
      [
        ['connection', 'timeout', 'daemon', 'ext-stats'],
        ['stats', 'rate', 'thresholds'],
      ],
      [['timeout', 'daemon', 'ext-stats'], ['persistent-conn']],
    ],
  },
  {
    id: 'zero',
    short: ['Z'],
    long: 'zero',
    help: 'zero counters in a service or all services',
    usage: '-Z [virtual-service]',
    options: { 'service-address': ' ' },
  },
  {
    id: 'set',
    short: [],
    long: 'set',
    help: 'set connection timeout values (0 keeps a value)',
    usage: '--set tcp tcpfin udp',
    options: {},
    positional: 3,
  },
  {
    id: 'sysctl',
    short: [],
    long: 'sysctl',
    help: 'show the sysctls (synproxy_*, expire_*, timeout_timewait, timeout_close; all, or those named), or set name=value ones (all or none)',
    usage: '--sysctl [name[=value] ...]',
    options: {},
    positional: 'any',
    operandWords: SYSCTL_NAMES,
  },
  {
    id: 'add-laddr',
    short: ['P'],
    long: 'add-laddr',
    help: 'add local address',
    usage: '-P virtual-service -z local-address',
    options: { 'service-address': '+', 'local-address': '+' },
  },
  {
    id: 'del-laddr',
    short: ['Q'],
    long: 'del-laddr',
    help: 'delete local address',
    usage: '-Q virtual-service -z local-address',
    options: { 'service-address': '+', 'local-address': '+' },
  },
  {
    id: 'get-laddr',
    short: ['G'],
    long: 'get-laddr',
    help: 'list local addresses: conflicts, connections, ports the busiest real server holds',
    usage: '-G [virtual-service]',
    options: { 'service-address': ' ' },
  },
  {
    id: 'help',
    short: ['h'],
    long: 'help',
    help: 'display this help message',
    usage: '-h|--help',
    options: {},
  },
  {
    id: 'version',
    short: ['v'],
    long: 'version',
    help: 'display the version',
    usage: '-v|--version',
    options: {},
  },
];

/** Subcommands (a bare word first); each has its own arguments. */
export interface SubcommandSpec {
  readonly name: string;
  readonly usage: string;
  readonly help: string;
  /** Words offered by the shell completion after the subcommand. */
  readonly words?: readonly string[];
}

export const SUBCOMMANDS: readonly SubcommandSpec[] = [
  {
    name: 'daemon',
    usage: 'daemon --socket PATH --state-dir DIR --tun NAME',
    help: 'run the userspace dataplane',
  },
  { name: 'top', usage: 'top', help: 'live view of services, real servers, connections and rates' },
  { name: 'toa', usage: 'toa ...', help: 'RealServer helpers: build and load a TOA reader' },
  {
    name: 'completion',
    usage: 'completion bash',
    help: 'print the bash completion script',
    words: ['bash'],
  },
  { name: 'man', usage: 'man', help: 'print the manual page (roff)' },
];

// ---- look-ups --------------------------------------------------------------------------------

const BY_LONG = new Map(OPTIONS.map((o) => [o.long, o]));
const CMD_BY_LONG = new Map(COMMANDS.map((c) => [c.long, c]));
const CMD_BY_SHORT = new Map(COMMANDS.flatMap((c) => c.short.map((s) => [s, c] as const)));

export function optionByLong(name: string): OptionSpec | undefined {
  return BY_LONG.get(name);
}

/** The option a short letter means under `cmd` (see OptionSpec.shortOnlyWith). */
export function optionByShort(letter: string, cmd: CommandId | undefined): OptionSpec | undefined {
  let fallback: OptionSpec | undefined;
  for (const o of OPTIONS) {
    if (o.short !== letter) continue;
    if (o.shortOnlyWith) {
      if (cmd && o.shortOnlyWith.includes(cmd)) return o;
    } else {
      fallback = o;
    }
  }
  return fallback;
}

export function commandByLong(name: string): CommandSpec | undefined {
  return CMD_BY_LONG.get(name);
}

export function commandByShort(letter: string): CommandSpec | undefined {
  return CMD_BY_SHORT.get(letter);
}

export function commandById(id: CommandId): CommandSpec {
  return COMMANDS.find((c) => c.id === id)!;
}

/** How `group` may be used with `cmd`: '+', ' ', '1', or 'x' (illegal). */
export function usageOf(cmd: CommandSpec, group: OptionGroup): Usage | 'x' {
  if (GLOBAL_GROUPS.includes(group)) return ' ';
  return cmd.options[group] ?? 'x';
}

/** Options that may appear with `cmd` (for completion and the man page). */
export function optionsFor(cmd: CommandSpec): OptionSpec[] {
  return OPTIONS.filter((o) => usageOf(cmd, o.group) !== 'x');
}
