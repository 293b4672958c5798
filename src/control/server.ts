// The daemon's control socket: newline-delimited JSON over a unix stream socket.
//
// Start-up: the socket's directory is created (0700) when missing; an existing socket file is
// removed only when nothing answers on it (a daemon still listening there makes this one refuse
// to start); the socket is bound under umask 0177 and chmod 0600, so only root (or the daemon's
// own user) can connect even before any check. Each connection's peer is checked with
// SO_PEERCRED through the native addon when it is there; without it the socket mode is the only
// guard (said once in the log).
//
// Each line is one RequestEnvelope; each gets exactly one ResponseEnvelope line, in request order
// (requests of one connection run one after the other). A line that is not JSON, or is not a
// valid envelope, gets an error answer (id 0 when its id cannot be read) and the connection goes
// on; a line longer than the limit gets an E2BIG answer and the connection is closed, since the
// rest of it cannot be trusted to be framed. A streamed result (listConns with `stream`) comes as
// part lines before that one answer; each part is written when the socket has drained the one
// before, so a slow reader holds the listing back instead of filling the daemon's memory.
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LvsError } from '../common/errors.js';
import { BatchError } from './config-model.js';
import { ControlFailure, type PartSink } from './control-service.js';
import { type Log, silentLog } from './log.js';
import { PROTOCOL_VERSION, type Request, type ResponseEnvelope, type ResponseError } from './protocol.js';
import { validateBatchEntries, validateEnvelope, type WireError } from './validate.js';

/** Longest request line (a large -R is one batch on one line). */
export const MAX_REQUEST_LINE = 16 * 1024 * 1024;
/** Requests read ahead of their answers on one connection before reading pauses. */
const MAX_QUEUED = 256;
/** Batch entries validated between two turns of the event loop (about 1 ms of work). */
const VALIDATE_SLICE = 512;

/** The peer's credentials of a connected unix socket, or null when they cannot be read. */
export type PeerCredFn = (socket: Socket) => { uid: number } | null;

/** What the server executes requests with (a ControlService). */
export interface RequestHandler {
  execute(req: Request, sink?: PartSink): Promise<unknown>;
}

export interface ControlServerOptions {
  socketPath: string;
  handler: RequestHandler;
  /** SO_PEERCRED reader; null/undefined when the native addon is not available. */
  peerCred?: PeerCredFn | null;
  /** Users allowed to connect (default: root and the daemon's own user). */
  allowedUids?: readonly number[];
  log?: Log;
  maxLineBytes?: number;
}

/**
 * The native addon's SO_PEERCRED reader (src/native: `loadNative().getPeerCred(fd)`), or null when
 * the addon cannot be loaded (not built). The module name is computed so that this file does not
 * depend on the addon at build time.
 */
export async function loadNativePeerCred(): Promise<PeerCredFn | null> {
  type GetPeerCred = (fd: number) => { uid: number };
  let get: GetPeerCred;
  try {
    const spec = '../native/index.js';
    const mod = (await import(spec)) as {
      loadNative?: () => { getPeerCred?: GetPeerCred };
      getPeerCred?: GetPeerCred;
    };
    const addon = mod.loadNative?.();
    const fn = addon?.getPeerCred?.bind(addon) ?? mod.getPeerCred;
    if (typeof fn !== 'function') return null;
    get = fn;
  } catch {
    return null;
  }
  return (sock) => {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return null;
    try {
      const c = get(fd);
      return typeof c?.uid === 'number' ? { uid: c.uid } : null;
    } catch {
      return null;
    }
  };
}

/** The error an exception becomes on the wire. Unknown exceptions are logged. */
export function wireError(err: unknown, log: Log, what: string): ResponseError {
  if (err instanceof BatchError) return { code: err.code, message: err.message, index: err.index };
  if (LvsError.is(err)) return { code: err.code, message: err.message };
  if (err instanceof ControlFailure) return { code: err.code, message: err.message };
  log.error(`internal error on ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return {
    code: 'EINTERNAL',
    message: `internal error: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/** What is at `path`: nothing, a socket nobody answers on, or a live listener. */
export async function probeSocket(path: string): Promise<'absent' | 'stale' | 'live'> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket: refusing to replace it`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.destroy();
      if (e.code === 'ECONNREFUSED') resolve('stale');
      else if (e.code === 'ENOENT') resolve('absent');
      // A full backlog: someone is listening.
      else if (e.code === 'EAGAIN') resolve('live');
      else reject(new Error(`cannot check the socket ${path}: ${e.message}`));
    });
  });
}

export class ControlServer {
  readonly socketPath: string;
  private readonly server: Server;
  private readonly handler: RequestHandler;
  private readonly peerCred: PeerCredFn | null;
  private readonly allowed: readonly number[];
  private readonly log: Log;
  private readonly maxLine: number;
  private readonly conns = new Set<Socket>();
  private ino = -1;
  private closed = false;

  private constructor(opts: ControlServerOptions) {
    this.socketPath = opts.socketPath;
    this.handler = opts.handler;
    this.peerCred = opts.peerCred ?? null;
    const own = process.getuid?.() ?? 0;
    this.allowed = opts.allowedUids ?? (own === 0 ? [0] : [0, own]);
    this.log = opts.log ?? silentLog;
    this.maxLine = opts.maxLineBytes ?? MAX_REQUEST_LINE;
    this.server = createServer((sock) => this.accept(sock));
  }

  /** Starts listening; throws when another daemon listens on the path or the path is not usable. */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const s = new ControlServer(opts);
    await s.listen();
    return s;
  }

  private async listen(): Promise<void> {
    const path = this.socketPath;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const state = await probeSocket(path);
    if (state === 'live') throw new Error(`another lvsadm daemon is running on ${path}`);
    if (state === 'stale') {
      this.log.info(`removing stale control socket ${path} (nothing listens on it)`);
      await rm(path, { force: true });
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(e.code === 'EADDRINUSE' ? new Error(`another lvsadm daemon is running on ${path}`) : e);
      };
      this.server.once('error', onError);
      // Bind with no permission for anyone but the owner; chmod below makes it explicit.
      const old = process.umask(0o177);
      try {
        this.server.listen(path, () => {
          this.server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
    await chmod(path, 0o600);
    this.ino = (await lstat(path)).ino;
    this.server.on('error', (e) => this.log.error(`control socket ${path}: ${e.message}`));
    if (!this.peerCred) {
      this.log.warn(
        `peer credentials are not available (native addon not loaded): access to ${path} is guarded by its mode 0600 only`,
      );
    }
  }

  /** Live connections (for tests and status). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Stops listening, drops the connections and removes the socket file (if it is still ours). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.destroy();
    await done;
    try {
      if ((await lstat(this.socketPath)).ino === this.ino) await rm(this.socketPath, { force: true });
    } catch {
      // already gone
    }
  }

  private accept(sock: Socket): void {
    if (this.peerCred) {
      const cred = this.peerCred(sock);
      if (!cred || !this.allowed.includes(cred.uid)) {
        const who = cred ? `uid ${cred.uid}` : 'a peer whose credentials cannot be read';
        this.log.warn(`refused a control connection from ${who}`);
        const err: ResponseEnvelope = {
          v: PROTOCOL_VERSION,
          id: 0,
          ok: false,
          error: {
            code: 'EPERM',
            message: `permission denied: ${who} may not use the lvsadm control socket`,
          },
        };
        sock.on('error', () => {});
        this.conns.add(sock);
        sock.on('close', () => this.conns.delete(sock));
        endAfter(sock, `${JSON.stringify(err)}\n`);
        return;
      }
    }
    this.conns.add(sock);
    new Connection(sock, this.handler, this.log, this.maxLine);
    sock.on('close', () => this.conns.delete(sock));
  }
}

/** How long a connection being closed by the server waits for the client to close its side. */
const LINGER_MS = 2000;

/**
 * Sends a last line and closes: the connection is read (and what comes is dropped) until the
 * client closes too, so the client reads the line before it learns of the close; a client that
 * does not close is cut off after LINGER_MS.
 */
function endAfter(sock: Socket, line: string): void {
  sock.on('data', () => {});
  sock.resume();
  sock.end(line);
  setTimeout(() => sock.destroy(), LINGER_MS).unref();
}

/** One client connection: framing, in-order execution, answers. */
class Connection {
  private chunks: Buffer[] = [];
  private size = 0;
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();
  private dead = false;

  constructor(
    private readonly sock: Socket,
    private readonly handler: RequestHandler,
    private readonly log: Log,
    private readonly maxLine: number,
  ) {
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('error', () => {
      this.dead = true;
    });
    sock.on('close', () => {
      this.dead = true;
    });
  }

  private onData(buf: Buffer): void {
    if (this.dead) return;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) {
        if (start < buf.length) {
          this.chunks.push(buf.subarray(start));
          this.size += buf.length - start;
        }
        if (this.size > this.maxLine) this.tooLong();
        return;
      }
      const len = this.size + (nl - start);
      if (len > this.maxLine) {
        this.tooLong();
        return;
      }
      const part = buf.subarray(start, nl);
      const line = this.chunks.length === 0 ? part : Buffer.concat([...this.chunks, part], len);
      this.chunks = [];
      this.size = 0;
      start = nl + 1;
      this.enqueue(line);
    }
  }

  private tooLong(): void {
    this.dead = true;
    this.chunks = [];
    const err: WireError = {
      code: 'E2BIG',
      message: `request line longer than ${this.maxLine} bytes: closing the connection`,
    };
    this.tail = this.tail.then(() => {
      const line = `${JSON.stringify({ v: PROTOCOL_VERSION, id: 0, ok: false, error: err })}\n`;
      if (this.sock.writable) endAfter(this.sock, line);
      else this.sock.destroy();
    });
  }

  private enqueue(line: Buffer): void {
    if (line.length === 0 || (line.length === 1 && line[0] === 13)) return;
    this.queued++;
    if (this.queued >= MAX_QUEUED) this.sock.pause();
    this.tail = this.tail.then(async () => {
      const resp = await this.handle(line);
      this.queued--;
      await this.send(resp);
      if (this.queued < MAX_QUEUED / 2 && !this.dead && this.sock.isPaused()) this.sock.resume();
    });
  }

  /** Writes one line; resolves when the socket has room again (or is gone). */
  private async send(msg: unknown): Promise<void> {
    if (!this.sock.writable || this.sock.destroyed) return;
    const ok = this.sock.write(`${JSON.stringify(msg)}\n`);
    if (ok || this.sock.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  private async handle(line: Buffer): Promise<ResponseEnvelope> {
    const v = PROTOCOL_VERSION;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString('utf8'));
    } catch (e) {
      return {
        v,
        id: 0,
        ok: false,
        error: { code: 'EINVAL', message: `malformed JSON: ${(e as Error).message}` },
      };
    }
    const chk = validateEnvelope(parsed, true);
    if (!chk.ok) return { v, id: chk.id, ok: false, error: chk.error };
    const { id, req } = chk.env;
    if (req.op === 'batch') {
      // Checked in slices with turns of the event loop between them: an -R of 10,000 lines
      // must not hold up packets for the tens of ms one pass takes.
      const all = req.requests as readonly unknown[];
      for (let i = 0; i < all.length; i += VALIDATE_SLICE) {
        if (i > 0) await nextTurn();
        const bad = validateBatchEntries(all, i, Math.min(all.length, i + VALIDATE_SLICE));
        if (bad) return { v, id, ok: false, error: bad };
      }
    }
    const sink: PartSink = async (part) => {
      // A client gone mid-listing: stop producing it.
      if (this.dead || this.sock.destroyed) throw new ControlFailure('EINTERNAL', 'the client went away');
      await this.send({ v, id, ok: true, part });
    };
    try {
      const result = await this.handler.execute(req, sink);
      return { v, id, ok: true, result: result ?? null };
    } catch (e) {
      return { v, id, ok: false, error: wireError(e, this.log, req.op) };
    }
  }
}
