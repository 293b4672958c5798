// -R: the text -S prints (or any file of ipvsadm command lines) -> ONE batch request, so a restore
// is applied all or nothing. Each line is one command as on the command line, without the program
// name (a leading `ipvsadm` or `lvsadm` word is skipped, as ipvsadm's config_stream does); words
// split on blanks; `#` starts a comment; empty lines are skipped.
import type { Request } from '../control/protocol.js';
import { isMutating } from '../control/validate.js';
import { CliError } from './cli-error.js';
import { type Names, NO_NAMES } from './names.js';
import { parseCommand } from './parse.js';

/** Operations a restore file may contain: the ones that change the table (no nested batch). */
function isRestorable(op: Request['op']): boolean {
  return op !== 'batch' && isMutating(op);
}

/** Splits one line into words, dropping a comment. */
export function lineWords(line: string): string[] {
  const words: string[] = [];
  for (const w of line.split(/[ \t\r]+/)) {
    if (w === '') continue;
    if (w.startsWith('#')) break;
    words.push(w);
  }
  if (words[0] === 'ipvsadm' || words[0] === 'lvsadm') words.shift();
  return words;
}

export interface RestoreResult {
  request: Extract<Request, { op: 'batch' }>;
  /** Input line number (1-based) of each request in the batch, for error messages. */
  lines: number[];
}

/** The request of one restore line (its words, non-empty); a bad line throws a CliError naming it. */
export function parseRestoreLine(words: readonly string[], lineNo: number, names: Names = NO_NAMES): Request {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(words, names);
  } catch (e) {
    if (e instanceof CliError) throw new CliError(`line ${lineNo}: ${e.message}`, e.exitCode);
    throw e;
  }
  const r = parsed.result;
  if (r.kind !== 'request' || !isRestorable(r.request.op)) {
    throw new CliError(`line ${lineNo}: the '${parsed.cmd.id}' command cannot be restored`);
  }
  return r.request;
}

/** Parses a restore text; a bad line throws a CliError naming its line number (exit 2). */
export function parseRestore(text: string, names: Names = NO_NAMES): RestoreResult {
  const requests: Request[] = [];
  const lines: number[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const words = lineWords(all[i]!);
    if (words.length === 0) continue;
    requests.push(parseRestoreLine(words, i + 1, names));
    lines.push(i + 1);
  }
  return { request: { op: 'batch', requests }, lines };
}
