// Client of the daemon's control socket (used by the CLI and the TUI). Connects on the first
// request; requests may be pipelined (each carries an id; answers come back in order). Failures
// are ControlError with a stable `code`: the daemon's code and words for a refused request,
// UNREACHABLE when there is no daemon to talk to (or the connection is lost), TIMEOUT when it does
// not answer in time, EPROTO when its answer cannot be understood.
//
// A streamed result (listConns with `stream: true`) arrives as part lines before the answer: given
// `onPart`, each part goes there as it arrives (reading pauses while its promise is pending, so
// the daemon slows down to the consumer); without it, the parts are gathered into the result's
// `conns`. The timeout applies to each line, not to the whole listing.
import { createConnection, type Socket } from 'node:net';
import {
  type PartEnvelope,
  PROTOCOL_VERSION,
  type Request,
  type ResponseEnvelope,
  type Results,
} from './protocol.js';

/** Default time to wait for one answer (a large -R can take a while: it is saved before the answer). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Longest answer line accepted (a connection listing not streamed is one line). */
const MAX_RESPONSE_LINE = 256 * 1024 * 1024;

export interface RequestOptions {
  /** Receives the parts of a streamed result in order (see above). */
  onPart?: (items: unknown[]) => void | Promise<void>;
}

export class ControlError extends Error {
  readonly code: string;
  /** For a refused batch: the 0-based position of the refused request. */
  readonly index: number | undefined;

  constructor(code: string, message: string, index?: number) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
    this.index = index;
  }
}

export interface ControlClientOptions {
  /** Milliseconds to wait for each answer; 0 waits forever. */
  timeoutMs?: number;
}

interface Pending {
  id: number;
  resolve: (v: unknown) => void;
  reject: (e: ControlError) => void;
  timer: NodeJS.Timeout | undefined;
  onPart: RequestOptions['onPart'];
  /** Parts gathered for a result without onPart. */
  parts: unknown[][];
}

export class ControlClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private sock: Socket | null = null;
  private connected = false;
  private nextId = 1;
  /** Unanswered requests in the order they were sent. */
  private pending: Pending[] = [];
  private chunks: Buffer[] = [];
  private size = 0;
  /** Parts whose consumer has not finished yet (reading is paused meanwhile). */
  private paused = 0;

  constructor(socketPath: string, opts: ControlClientOptions = {}) {
    this.socketPath = socketPath;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Sends one request and resolves with its result, or rejects with a ControlError. */
  request<K extends Request['op']>(
    req: Extract<Request, { op: K }>,
    opts: RequestOptions = {},
  ): Promise<Results[K]> {
    return new Promise<Results[K]>((resolve, reject) => {
      const sock = this.socket();
      const p: Pending = {
        id: this.nextId++,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: undefined,
        onPart: opts.onPart,
        parts: [],
      };
      this.arm(p);
      this.pending.push(p);
      sock.ref();
      sock.write(`${JSON.stringify({ v: PROTOCOL_VERSION, id: p.id, req })}\n`);
    });
  }

  /** (Re)starts the answer timer of a request. */
  private arm(p: Pending): void {
    if (this.timeoutMs <= 0) return;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      this.fail(
        new ControlError(
          'TIMEOUT',
          `no answer from the lvsadm daemon on ${this.socketPath} within ${this.timeoutMs} ms`,
        ),
      );
    }, this.timeoutMs);
  }

  /** Closes the connection; unanswered requests are rejected (UNREACHABLE). */
  close(): Promise<void> {
    const s = this.sock;
    if (!s) return Promise.resolve();
    this.fail(
      new ControlError('UNREACHABLE', 'the control connection was closed before the daemon answered'),
    );
    return new Promise((resolve) => {
      if (s.destroyed) resolve();
      else s.once('close', () => resolve());
    });
  }

  private socket(): Socket {
    if (this.sock) return this.sock;
    const s = createConnection(this.socketPath);
    this.sock = s;
    this.connected = false;
    this.chunks = [];
    this.size = 0;
    this.paused = 0;
    s.on('connect', () => {
      this.connected = true;
    });
    s.on('data', (b: Buffer) => this.onData(s, b));
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (this.sock === s) this.fail(this.connectError(e));
    });
    // The daemon ends a connection it will not serve (EPERM, E2BIG) after its answer.
    const closed = () => {
      if (this.sock === s) {
        this.fail(
          new ControlError(
            'UNREACHABLE',
            `the lvsadm daemon on ${this.socketPath} closed the connection before answering`,
          ),
        );
      }
    };
    s.on('end', closed);
    s.on('close', closed);
    return s;
  }

  private connectError(e: NodeJS.ErrnoException): ControlError {
    const path = this.socketPath;
    if (!this.connected) {
      switch (e.code) {
        case 'ENOENT':
          return new ControlError(
            'UNREACHABLE',
            `cannot reach the lvsadm daemon: ${path} does not exist (is the daemon running?)`,
          );
        case 'ECONNREFUSED':
          return new ControlError(
            'UNREACHABLE',
            `cannot reach the lvsadm daemon: nothing listens on ${path} (is the daemon running?)`,
          );
        case 'EACCES':
        case 'EPERM':
          return new ControlError(
            'UNREACHABLE',
            `cannot reach the lvsadm daemon: permission denied on ${path} (run as root)`,
          );
      }
      return new ControlError('UNREACHABLE', `cannot reach the lvsadm daemon on ${path}: ${e.message}`);
    }
    return new ControlError(
      'UNREACHABLE',
      `lost the connection to the lvsadm daemon on ${path}: ${e.message}`,
    );
  }

  /** Rejects every unanswered request and drops the connection (the next request reconnects). */
  private fail(err: ControlError): void {
    const s = this.sock;
    this.sock = null;
    const ps = this.pending;
    this.pending = [];
    for (const p of ps) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    s?.destroy();
  }

  private onData(s: Socket, buf: Buffer): void {
    let start = 0;
    while (this.sock === s) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) {
        this.chunks.push(buf.subarray(start));
        this.size += buf.length - start;
        if (this.size > MAX_RESPONSE_LINE)
          this.fail(new ControlError('EPROTO', 'answer from the daemon is too long'));
        return;
      }
      const part = buf.subarray(start, nl);
      const line = this.chunks.length === 0 ? part : Buffer.concat([...this.chunks, part]);
      this.chunks = [];
      this.size = 0;
      start = nl + 1;
      this.onLine(line);
    }
  }

  private onLine(line: Buffer): void {
    let resp: ResponseEnvelope | PartEnvelope;
    try {
      resp = JSON.parse(line.toString('utf8')) as ResponseEnvelope | PartEnvelope;
      if (
        typeof resp !== 'object' ||
        resp === null ||
        typeof resp.id !== 'number' ||
        typeof resp.ok !== 'boolean'
      ) {
        throw new Error('not a response envelope');
      }
    } catch (e) {
      this.fail(new ControlError('EPROTO', `cannot understand the daemon's answer: ${(e as Error).message}`));
      return;
    }
    if ('part' in resp) {
      this.onPart(resp);
      return;
    }
    // Answers come in request order; id 0 answers a line the daemon could not read (the oldest).
    let i = this.pending.findIndex((p) => p.id === resp.id);
    if (i < 0 && resp.id === 0 && this.pending.length > 0) i = 0;
    if (i < 0) return; // an answer to a request that timed out
    const [p] = this.pending.splice(i, 1);
    clearTimeout(p!.timer);
    if (resp.ok) {
      const r = resp.result as { conns?: unknown } | null;
      if (p!.parts.length > 0 && r && Array.isArray(r.conns)) r.conns = [...p!.parts.flat(), ...r.conns];
      p!.resolve(resp.result);
    } else {
      const e = resp.error;
      const err = new ControlError(
        String(e?.code ?? 'EPROTO'),
        String(e?.message ?? 'error'),
        typeof e?.index === 'number' ? e.index : undefined,
      );
      p!.reject(err);
      // The daemon closes the connection after these: the next request connects anew.
      if (resp.id === 0 && (err.code === 'EPERM' || err.code === 'E2BIG')) {
        this.fail(err);
        return;
      }
    }
    if (this.pending.length === 0) this.sock?.unref();
  }

  private onPart(msg: PartEnvelope): void {
    const p = this.pending.find((x) => x.id === msg.id);
    if (!p) return; // a request that timed out
    if (!Array.isArray(msg.part)) {
      this.fail(new ControlError('EPROTO', "cannot understand the daemon's answer: a part is not a list"));
      return;
    }
    this.arm(p);
    if (!p.onPart) {
      p.parts.push(msg.part);
      return;
    }
    const s = this.sock;
    let r: void | Promise<void>;
    try {
      r = p.onPart(msg.part);
    } catch (e) {
      this.fail(new ControlError('EPART', `the listing could not be taken: ${(e as Error).message}`));
      return;
    }
    if (r && s) {
      // Hold the daemon back until the consumer has taken this part.
      this.paused++;
      s.pause();
      r.then(
        () => {
          if (--this.paused === 0 && this.sock === s) {
            if (this.pending.includes(p)) this.arm(p); // that wait was the consumer's
            s.resume();
          }
        },
        (e: unknown) => this.fail(new ControlError('EPART', `the listing could not be taken: ${String(e)}`)),
      );
    }
  }
}
