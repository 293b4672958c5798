// The control plane's logging: an injected sink, so the daemon decides where lines go (stderr,
// journal) and tests can capture them.

export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Lines on stderr, prefixed with the level. */
export const stderrLog: Log = {
  info: (m) => process.stderr.write(`lvsadm: ${m}\n`),
  warn: (m) => process.stderr.write(`lvsadm: warning: ${m}\n`),
  error: (m) => process.stderr.write(`lvsadm: error: ${m}\n`),
};

/** Discards everything. */
export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {} };

/** Keeps lines in memory (tests). */
export class MemoryLog implements Log {
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push(`info: ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn: ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error: ${m}`);
  }
}
