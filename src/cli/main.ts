// lvsadm command line entry (bin/lvsadm runs the compiled dist/src/cli/main.js):
// argv -> parse (spec.ts tables) -> one request to the daemon -> ipvsadm-format output.
//
// Exit status: 0 ok; 1 the daemon refused (ipvsadm's words on stderr); 2 usage error or no daemon.
import { packageVersion } from '../common/version.js';
import type { ConnInfo, Request, Results } from '../control/protocol.js';
import { CliError, EXIT_LIST_FAILED, EXIT_REFUSED, PROGRAM } from './cli-error.js';
import { bashCompletion } from './completion.js';
import {
  batchFailure,
  daemonErrorText,
  errorCode,
  TRANSPORT_CODES,
  UNREACHABLE_CODES,
} from './daemon-errors.js';
import { connsHeader, formatConnLines, formatResult, IPVS_VERSION } from './format.js';
import { usageBody } from './help.js';
import { manPage } from './man.js';
import { type Names, NO_NAMES } from './names.js';
import { nssNames } from './nss-names.js';
import { type ParseResult, parseArgs } from './parse.js';
import { lineWords, parseRestore, parseRestoreLine } from './restore.js';
import { DEFAULT_SOCKET, SOCKET_ENV } from './spec.js';

export { IPVS_VERSION };

/** Minimal writable the CLI prints to (process.stdout/stderr, or a capture in tests). */
export interface Out {
  write(s: string): unknown;
  /** A stream's: long output waits for 'drain' when write() returns false. */
  once?(event: 'drain', fn: () => void): unknown;
}

/**
 * What the CLI needs from the control client. src/control/client.ts's
 * `class ControlClient { constructor(socketPath); request(req); close() }` has this shape; its
 * errors carry `.code` (LvsError codes, or 'UNREACHABLE' when no daemon listens).
 */
export interface ControlClientLike {
  /** `onPart` takes the parts of a streamed result (listConns with stream) as they arrive. */
  request(req: Request, opts?: { onPart?: (items: unknown[]) => void | Promise<void> }): Promise<unknown>;
  close?(): unknown;
}

/** Everything main touches outside itself; tests pass fakes, bin/lvsadm passes nothing. */
export interface CliIo {
  stdout?: Out;
  stderr?: Out;
  env?: Readonly<Record<string, string | undefined>>;
  /** All of stdin (for -R). */
  readStdin?: () => Promise<string>;
  /** Opens a client on the socket (default: ControlClient from src/control/client.ts). */
  connect?: (socketPath: string) => ControlClientLike | Promise<ControlClientLike>;
  /** Host and service names (default: /etc/hosts and /etc/services, read when needed). */
  names?: Names;
  /** Subcommand handlers overriding SUBCOMMAND_HANDLERS (tests). */
  subcommands?: Readonly<Record<string, Subcommand>>;
}

/** The io a subcommand runs with (defaults filled in). */
export interface SubcommandIo {
  stdout: Out;
  stderr: Out;
  env: Readonly<Record<string, string | undefined>>;
}

/** A subcommand: its arguments (after the name) -> exit status. */
export type Subcommand = (args: string[], io: SubcommandIo) => Promise<number>;

export function versionText(): string {
  return `${PROGRAM} v${packageVersion()} (IP Virtual Server version ${IPVS_VERSION} compatible)\n`;
}

export function usageText(): string {
  return versionText() + usageBody();
}

// =====================================================================================================
// SUBCOMMAND DISPATCH HOOK
// `lvsadm <name> args...` runs SUBCOMMAND_HANDLERS[name](args, io). `daemon`, `top` and `toa` live
// elsewhere (src/daemon, src/tui, src/toa): wire each one here, e.g.
//   daemon: async (args, io) => (await import('../daemon/cli.js')).daemonMain(args, io),
// A dynamic import keeps `lvsadm -L` from loading the daemon, the TUI or their dependencies.
// The names must also be in SUBCOMMANDS (spec.ts) so help, completion and the man page list them.
// =====================================================================================================
function notBuiltYet(name: string): Subcommand {
  return async (_args, io) => {
    io.stderr.write(`${PROGRAM} ${name}: not available in this build yet\n`);
    return 1;
  };
}

export const SUBCOMMAND_HANDLERS: Record<string, Subcommand> = {
  daemon: async (args, io) => (await import('../daemon/cli.js')).daemonMain(args, io),
  top: notBuiltYet('top'),
  toa: async (args, io) => (await import('../toa/cli.js')).toaMain(args, io),
  completion: async (args, io) => {
    if (args.length === 1 && args[0] === 'bash') {
      io.stdout.write(bashCompletion());
      return 0;
    }
    io.stderr.write(`usage: ${PROGRAM} completion bash\n`);
    return 2;
  },
  man: async (args, io) => {
    if (args.length > 0) {
      io.stderr.write(`usage: ${PROGRAM} man\n`);
      return 2;
    }
    io.stdout.write(manPage(packageVersion()));
    return 0;
  },
};

// ---- the control client ---------------------------------------------------------------------------

/** Where ControlClient lives; imported at run time so this file compiles before it exists. */
const CLIENT_MODULE = '../control/client.js';

async function defaultConnect(socketPath: string): Promise<ControlClientLike> {
  const mod = (await import(new URL(CLIENT_MODULE, import.meta.url).href)) as {
    ControlClient: new (path: string) => ControlClientLike;
  };
  return new mod.ControlClient(socketPath);
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function unreachableText(socketPath: string): string {
  return `${PROGRAM}: cannot reach the daemon at ${socketPath} (is "${PROGRAM} daemon" running?)\n`;
}

/** No right to use the socket (file mode, or the daemon's peer-credential check). */
export function permissionText(socketPath: string): string {
  return `${PROGRAM}: ${socketPath}: Permission denied (you must be root)\n`;
}

/** Requests that only read: their refusal is a failed listing (exit 1), not a refused change. */
const READS: ReadonlySet<string> = new Set([
  'list',
  'listConns',
  'getTimeouts',
  'getSysctl',
  'dump',
  'counters',
  'status',
]);

/**
 * -R --line-by-line, as ipvsadm's restore_table: each line parsed and applied on its own, in
 * order. A refused line says why and the next ones still apply; a line that does not parse ends
 * the restore there (exit 2, the lines before it applied). The status is the last line's.
 */
async function restoreLineByLine(
  text: string,
  socket: string | undefined,
  io: CliIo,
  err: Out,
  names: Names,
): Promise<number> {
  let status = 0;
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const words = lineWords(all[i]!);
    if (words.length === 0) continue;
    let req: Request;
    try {
      req = parseRestoreLine(words, i + 1, names);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      err.write(`${e.message}\n`);
      return e.exitCode;
    }
    const r = await send(req, socket, io, err);
    status = r.ok ? 0 : r.exitCode;
  }
  return status;
}

/** The addresses a listing result names (for one batched reverse lookup before it prints). */
function listedAddrs(result: unknown): string[] {
  // A listing's services have `addr`; a dump's (-S) have `svc.addr`.
  type Listed = { addr?: string; svc?: { addr: string }; dests?: { addr: string }[] };
  const services = (result as { services?: Listed[] } | null)?.services;
  return services?.flatMap((s) => [s.addr ?? s.svc?.addr ?? '', ...(s.dests ?? []).map((d) => d.addr)]) ?? [];
}

type SendOutcome = { ok: true; result: unknown } | { ok: false; exitCode: number };

async function send(
  req: Request,
  socket: string | undefined,
  io: CliIo,
  err: Out,
  lines?: readonly number[],
  onPart?: (items: unknown[]) => void | Promise<void>,
): Promise<SendOutcome> {
  const env = io.env ?? process.env;
  const path = socket ?? (env[SOCKET_ENV] || DEFAULT_SOCKET);
  let client: ControlClientLike | undefined;
  try {
    client = await (io.connect ?? defaultConnect)(path);
    return { ok: true, result: await client.request(req, onPart ? { onPart } : undefined) };
  } catch (e) {
    const code = errorCode(e);
    const message = e instanceof Error ? e.message : String(e);
    if (code === 'ERR_MODULE_NOT_FOUND' && !client) {
      err.write(`${PROGRAM}: the control client is not available in this build\n`);
      return { ok: false, exitCode: 2 };
    }
    if (code === undefined) {
      err.write(`${PROGRAM}: ${message}\n`);
      return { ok: false, exitCode: 1 };
    }
    if (
      code === 'EPERM' ||
      code === 'EACCES' ||
      (UNREACHABLE_CODES.has(code) && /permission denied/i.test(message))
    ) {
      err.write(permissionText(path));
      return { ok: false, exitCode: 2 };
    }
    if (UNREACHABLE_CODES.has(code)) {
      err.write(unreachableText(path));
      return { ok: false, exitCode: 2 };
    }
    if (TRANSPORT_CODES.has(code)) {
      err.write(`${PROGRAM}: ${message}\n`);
      return { ok: false, exitCode: 2 };
    }
    // A refused request inside a batch (-R): word it for its own operation and name its line.
    const failed = req.op === 'batch' ? batchFailure(e) : undefined;
    const inner = failed && req.op === 'batch' ? req.requests[failed.index] : undefined;
    const text = daemonErrorText(inner?.op ?? req.op, code, failed?.message ?? message);
    const line = failed ? lines?.[failed.index] : undefined;
    err.write(line !== undefined ? `line ${line}: ${text}\n` : `${text}\n`);
    // As ipvsadm: a refused change ends with -1 (255), a listing that fails with exit(1).
    return { ok: false, exitCode: READS.has(req.op) ? EXIT_LIST_FAILED : EXIT_REFUSED };
  } finally {
    try {
      await client?.close?.();
    } catch {
      // closing a broken connection: nothing to report
    }
  }
}

// ---- FULLNAT without a local address ---------------------------------------------------------------

/**
 * A FULLNAT service without a LIP drops every connection (drop_no_laddr is the only other trace):
 * -A, -a and -L say so on stderr, so that stdout keeps ipvsadm's lines exactly.
 */
async function warnNoLaddr(parsed: ParseResult, result: unknown, io: CliIo, err: Out): Promise<void> {
  if (parsed.kind !== 'request') return;
  const req = parsed.request;
  type Svc = { proto: string; addr: string; port: number; laddrs?: readonly unknown[] };
  let bare: Svc[] = [];
  if (req.op === 'addService') bare = [req.svc];
  else if (req.op === 'addDest') {
    const q = await send({ op: 'list', svc: req.svc }, parsed.socket, io, { write: () => true });
    const svcs = q.ok ? (q.result as { services?: Svc[] }).services : undefined;
    bare = (svcs ?? []).filter((s) => s.laddrs?.length === 0);
  } else if (parsed.view === 'list' && req.op === 'list') {
    bare = ((result as { services?: Svc[] }).services ?? []).filter((s) => s.laddrs?.length === 0);
  }
  for (const s of bare) {
    const flag = `${s.proto === 'udp' ? '-u' : '-t'} ${s.addr.includes(':') ? `[${s.addr}]` : s.addr}:${s.port}`;
    err.write(
      `${PROGRAM}: warning: ${flag} has no local address yet: add one with -P ${flag} -z LIP; until then its connections are dropped\n`,
    );
  }
}

// ---- -L -c -----------------------------------------------------------------------------------------

/**
 * -L -c streams: the daemon sends the table in parts and each is printed as it arrives (stdout's
 * back-pressure holds the daemon back), so a million connections never sit in memory at once.
 * The text is formatConns' exactly. Every connection is listed; should the daemon stop at a limit,
 * stderr says so.
 */
async function listConns(
  parsed: Extract<ParseResult, { kind: 'request' }>,
  io: CliIo,
  out: Out,
  err: Out,
  names: Names,
): Promise<number> {
  const fmt = parsed.format;
  const nm = fmt.numeric ? NO_NAMES : names;
  let started = false;
  const print = (conns: readonly ConnInfo[]): void | Promise<void> => {
    nm.prefetch?.(
      conns.flatMap((c) => [c.caddr, c.vaddr, c.daddr, ...(fmt.showLaddr && c.laddr ? [c.laddr] : [])]),
    );
    let text = formatConnLines(conns, fmt, nm);
    if (!started) {
      started = true;
      text = connsHeader(fmt) + text;
    }
    if (out.write(text) === false && out.once) {
      const wait = out.once.bind(out);
      return new Promise<void>((resolve) => {
        wait('drain', resolve);
      });
    }
  };
  const req: Request = { ...(parsed.request as Extract<Request, { op: 'listConns' }>), stream: true };
  const r = await send(req, parsed.socket, io, err, undefined, (items) => print(items as ConnInfo[]));
  if (!r.ok) return r.exitCode;
  const res = r.result as Results['listConns'];
  await print(res.conns ?? []);
  if (res.limit !== undefined)
    err.write(
      `${PROGRAM}: listed the first ${res.listed ?? res.limit} connections (limit ${res.limit}); the table holds ${res.total}\n`,
    );
  return 0;
}

// ---- main ------------------------------------------------------------------------------------------

/** Runs the CLI on `argv` (without node and script); resolves to the process exit status. */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const names = io.names ?? nssNames();
  let parsed: ParseResult;
  try {
    parsed = parseArgs(argv, names);
  } catch (e) {
    if (e instanceof CliError) {
      err.write(`${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }

  switch (parsed.kind) {
    case 'help':
      out.write(usageText());
      return 0;
    case 'version':
      out.write(versionText());
      return 0;
    case 'print':
      out.write(parsed.text);
      return 0;
    case 'subcommand': {
      const handler = io.subcommands?.[parsed.name] ?? SUBCOMMAND_HANDLERS[parsed.name];
      if (!handler) {
        err.write(`${PROGRAM}: unknown command '${parsed.name}'\n`);
        return 2;
      }
      return handler(parsed.args, { stdout: out, stderr: err, env: io.env ?? process.env });
    }
    case 'restore': {
      if (parsed.lineByLine)
        return restoreLineByLine(await (io.readStdin ?? readAllStdin)(), parsed.socket, io, err, names);
      let restore: ReturnType<typeof parseRestore>;
      try {
        restore = parseRestore(await (io.readStdin ?? readAllStdin)(), names);
      } catch (e) {
        if (e instanceof CliError) {
          err.write(`${e.message}\n`);
          return e.exitCode;
        }
        throw e;
      }
      const r = await send(restore.request, parsed.socket, io, err, restore.lines);
      return r.ok ? 0 : r.exitCode;
    }
    case 'request': {
      if (parsed.view === 'conns' && parsed.request.op === 'listConns')
        return listConns(parsed, io, out, err, names);
      const r = await send(parsed.request, parsed.socket, io, err);
      if (!r.ok) return r.exitCode;
      const nm = parsed.format.numeric ? NO_NAMES : names;
      nm.prefetch?.(listedAddrs(r.result));
      out.write(formatResult(parsed.view, r.result, parsed.format, nm));
      await warnNoLaddr(parsed, r.result, io, err);
      return 0;
    }
  }
}
