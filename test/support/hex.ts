// Hex helpers for packet tests: toHex/fromHex for fixtures, hexDump for messages, and
// hexDiff for `assert.equal(hexDiff(actual, expected), '')`, which prints the differing
// lines with offsets when a packet is not the expected one.

const BYTES_PER_LINE = 16;

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Lower-case hex, no separators by default: toHex([0x45, 0]) === '4500'. */
export function toHex(bytes: Uint8Array, sep = ''): string {
  const parts: string[] = [];
  for (const b of bytes) parts.push(hex2(b));
  return parts.join(sep);
}

/**
 * Parses hex text into bytes. Whitespace, ':' '-' '.' '_' separators and `#` comments (to the
 * end of the line) are ignored, so fixtures can be written as annotated dumps. Throws on an
 * odd digit count or any other character.
 */
export function fromHex(text: string): Uint8Array {
  const digits = text
    .split('\n')
    .map((line) => {
      const hash = line.indexOf('#');
      return hash >= 0 ? line.slice(0, hash) : line;
    })
    .join('')
    .replace(/[\s:._-]/g, '');
  if (!/^[0-9a-fA-F]*$/.test(digits)) throw new SyntaxError(`fromHex: not hex: ${JSON.stringify(text)}`);
  if (digits.length % 2 !== 0) throw new SyntaxError(`fromHex: odd number of hex digits (${digits.length})`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function offsetLabel(off: number): string {
  return off.toString(16).padStart(4, '0');
}

/** Classic dump: `0000  45 00 00 3c ...`, 16 bytes a line, a space after 8. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += BYTES_PER_LINE) {
    const cells: string[] = [];
    for (let i = off; i < Math.min(off + BYTES_PER_LINE, bytes.length); i++) {
      cells.push(hex2(bytes[i]!));
    }
    lines.push(`${offsetLabel(off)}  ${groupCells(cells)}`);
  }
  return lines.join('\n');
}

function groupCells(cells: string[]): string {
  const first = cells.slice(0, 8).join(' ');
  const second = cells.slice(8).join(' ');
  return second ? `${first}  ${second}` : first;
}

function cellAt(bytes: Uint8Array, i: number): string {
  return i < bytes.length ? hex2(bytes[i]!) : '--';
}

/**
 * '' when both byte arrays are equal. Otherwise a report: a summary line (lengths, number of
 * differing bytes, first differing offset), then for every 16-byte line that differs (plus
 * one line of context either side) the actual bytes (`act`), the expected bytes (`exp`) and a
 * `^^` marker under each differing byte. Bytes past the end of the shorter side are `--`.
 * Offsets are hex, as in hexDump.
 */
export function hexDiff(actual: Uint8Array, expected: Uint8Array): string {
  const len = Math.max(actual.length, expected.length);
  const differs: boolean[] = [];
  let count = 0;
  let first = -1;
  for (let i = 0; i < len; i++) {
    const d = i >= actual.length || i >= expected.length || actual[i] !== expected[i];
    differs.push(d);
    if (d) {
      count++;
      if (first < 0) first = i;
    }
  }
  if (count === 0) return '';

  const nLines = Math.ceil(len / BYTES_PER_LINE);
  const lineDiffers = (l: number) =>
    l >= 0 && l < nLines && differs.slice(l * BYTES_PER_LINE, (l + 1) * BYTES_PER_LINE).some((d) => d);
  const out: string[] = [
    `actual ${actual.length} bytes, expected ${expected.length} bytes, ${count} byte(s) differ, first at 0x${offsetLabel(first)} (${first})`,
  ];
  let lastShown = -2;
  for (let l = 0; l < nLines; l++) {
    if (!(lineDiffers(l) || lineDiffers(l - 1) || lineDiffers(l + 1))) continue;
    if (lastShown >= 0 && l !== lastShown + 1) out.push('....');
    lastShown = l;
    const start = l * BYTES_PER_LINE;
    const end = Math.min(start + BYTES_PER_LINE, len);
    const act: string[] = [];
    const exp: string[] = [];
    const mark: string[] = [];
    for (let i = start; i < end; i++) {
      act.push(cellAt(actual, i));
      exp.push(cellAt(expected, i));
      mark.push(differs[i] ? '^^' : '  ');
    }
    const pad = ' '.repeat(offsetLabel(start).length);
    if (lineDiffers(l)) {
      out.push(`${offsetLabel(start)} act ${groupCells(act)}`);
      out.push(`${pad} exp ${groupCells(exp)}`);
      out.push(`${pad}     ${groupCells(mark)}`.trimEnd());
    } else {
      out.push(`${offsetLabel(start)}     ${groupCells(act)}`);
    }
  }
  return out.join('\n');
}
