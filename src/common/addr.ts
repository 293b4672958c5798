// IP address text <-> 4 x uint32 words (network order, word 0 first). IPv4 uses word 0 only,
// words 1-3 are zero; the family always travels next to the words, so ::a.b.c.d never aliases a.b.c.d.

export type Family = 4 | 6;

export interface IpAddr {
  family: Family;
  words: Uint32Array;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): number | null {
  const m = V4_RE.exec(text);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part[0] === '0') return null;
    const n = Number(part);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function parseIpv6(text: string, out: Uint32Array = new Uint32Array(4)): Uint32Array | null {
  if (text.length === 0 || text.length > 45) return null;
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    if (text.indexOf('::', dbl + 1) >= 0) return null;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const groups = (s: string, v4Tail: boolean): number[] | null => {
    if (s === '') return [];
    const parts = s.split(':');
    const res: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (v4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (v4 === null) return null;
        res.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        res.push(parseInt(p, 16));
      }
    }
    return res;
  };
  // Dotted IPv4 may only form the last 32 bits.
  const h = groups(head, dbl < 0);
  const t = groups(tail, true);
  if (!h || !t) return null;
  if (dbl >= 0 ? h.length + t.length > 7 : h.length !== 8) return null;
  const all = h.concat(new Array<number>(8 - h.length - t.length).fill(0), t);
  for (let i = 0; i < 4; i++) out[i] = ((all[2 * i]! << 16) | all[2 * i + 1]!) >>> 0;
  return out;
}

/** Parses an IPv4 or IPv6 address (no brackets, no zone). */
export function parseIp(text: string): IpAddr | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) {
    const words = new Uint32Array(4);
    words[0] = v4;
    return { family: 4, words };
  }
  const w6 = parseIpv6(text);
  return w6 ? { family: 6, words: w6 } : null;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text: lower case, longest run (>= 2) of zero groups as ::, first run on ties. */
export function formatIpv6(w: ArrayLike<number>): string {
  // IPv4-mapped addresses print with a dotted tail, as inet_ntop (and so ipvsadm) does.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return `::ffff:${formatIpv4(w[3]!)}`;
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[i]! >>> 16, w[i]! & 0xffff);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(family: Family, words: ArrayLike<number>): string {
  return family === 4 ? formatIpv4(words[0]!) : formatIpv6(words);
}

/** `a.b.c.d:port` or `[v6]:port`, as ipvsadm prints them. */
export function formatAddrPort(family: Family, words: ArrayLike<number>, port: number): string {
  return family === 4 ? `${formatIpv4(words[0]!)}:${port}` : `[${formatIpv6(words)}]:${port}`;
}

export function addrEquals(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** Network mask words for a prefix length (0..32 for v4, 0..128 for v6). */
export function prefixMask(
  family: Family,
  prefix: number,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  const bits = family === 4 ? 32 : 128;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits)
    throw new RangeError(`bad prefix length ${prefix}`);
  out.fill(0);
  for (let i = 0; i < (family === 4 ? 1 : 4); i++) {
    const n = Math.min(32, Math.max(0, prefix - 32 * i));
    out[i] = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  }
  return out;
}
