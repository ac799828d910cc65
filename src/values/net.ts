/**
 * Network-typed values: which BTF types are addresses, prefixes, MACs and network-order
 * integers, and their text forms. The rules are deliberately few and purely structural
 * or name-based, so an operator can predict them from the C declaration:
 *
 * NAME HINTS. A "name" is the member name (inside structs), the variable name (globals)
 * or the map name (map keys and values), plus any typedef names met on the way down to
 * the type. Names are split into lower-case words at `_`, `-`, digits and lower->Upper
 * changes (`src_ip6` -> src, ip; `ipv4Addr` -> ipv, addr). Struct members reset the name
 * to their own; array elements inherit the array's name.
 *   - address words: addr addrs address ip ips ipv saddr daddr src dst
 *   - MAC words:     mac macs smac dmac hwaddr ether eth lladdr
 *
 * RULES, first match wins:
 *  1. CIDR prefix: a struct with exactly two members, `prefixlen` (4-byte unsigned int,
 *     offset 0) and `addr` (1-byte int array of 4 or 16, offset 4), size 4 + N (the
 *     LPM-trie key convention, `struct kfn_lpm_v4` / `kfn_lpm_v6`). Written as
 *     "198.18.0.0/15" / "2001:2::/48"; a bare address means /32 or /128. prefixlen is
 *     host order, the address network order. Rejected: the other family, a length beyond
 *     32/128, and host bits set beyond the prefix (hint: the network address).
 *     Decoded as "<address>/<len>", always with the length.
 *  2. `struct in_addr` (4 bytes) / `struct in6_addr` (16 bytes): an IPv4 / IPv6 address.
 *  3. typedef `__be16` / `kfn_be16` / `__be32` / `kfn_be32` / `__be64` / `kfn_be64` over an
 *     int of that width: an unsigned integer stored in network byte order (ports...).
 *     A be32 whose name has an address word is an IPv4 address instead: it accepts
 *     "a.b.c.d" or an integer (host value, e.g. 0xc6120001), and decodes to "a.b.c.d".
 *     A host-order `__u32` is never an address (its byte order would be ambiguous).
 *  4. Arrays of a 1-byte non-bool int:
 *       - element is plain `char` (BTF name "char", or the char flag on anything but
 *         "unsigned char"/"signed char"): a string (see encode.ts), never an address;
 *       - length 4 / 16 and an address word: an IPv4 / IPv6 address, network order;
 *       - length 6 and a MAC word: a MAC "aa:bb:cc:dd:ee:ff" (also `-`, any case);
 *       - otherwise raw bytes: "0x" + exactly 2N hex digits, or a list of at most N
 *         numbers; decoded as the "0x..." string.
 *
 * TEXT FORMS. IPv4 is strict dotted decimal (no leading zeros, no short forms). IPv6 is
 * RFC 4291 text without zone ids; it is printed per RFC 5952 (lower case, longest zero
 * run as `::`, IPv4-mapped as ::ffff:a.b.c.d). An IPv4 address is never accepted where
 * IPv6 is expected (the hint suggests ::ffff:a.b.c.d) and vice versa.
 */

const ADDR_WORDS = new Set(['addr', 'addrs', 'address', 'ip', 'ips', 'ipv', 'saddr', 'daddr', 'src', 'dst']);
const MAC_WORDS = new Set(['mac', 'macs', 'smac', 'dmac', 'hwaddr', 'ether', 'eth', 'lladdr']);

export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((w) => w !== '');
}

function hasWord(names: readonly string[], words: Set<string>): boolean {
  return names.some((n) => nameWords(n).some((w) => words.has(w)));
}

export function isAddressName(names: readonly string[]): boolean {
  return hasWord(names, ADDR_WORDS);
}

export function isMacName(names: readonly string[]): boolean {
  return hasWord(names, MAC_WORDS);
}

// ---------------------------------------------------------------- IPv4

export function parseIPv4(s: string): Uint8Array | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

// ---------------------------------------------------------------- IPv6

function groups(part: string): number[] | undefined {
  if (part === '') return [];
  const out: number[] = [];
  for (const g of part.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

/** Strict RFC 4291 text (including a trailing dotted IPv4), no zone id. */
export function parseIPv6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  let body = s;
  const extra: number[] = [];
  if (s.includes('.')) {
    const lc = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(lc + 1));
    if (!v4) return undefined;
    body = s.slice(0, lc + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
    extra.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
  }
  const halves = body.split('::');
  let words: number[];
  if (halves.length > 2) return undefined;
  if (halves.length === 2) {
    const head = groups(halves[0]!);
    const tail = groups(halves[1]!);
    if (!head || !tail) return undefined;
    const rest = [...tail, ...extra];
    if (head.length + rest.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = groups(body);
    if (!all) return undefined;
    words = [...all, ...extra];
    if (words.length !== 8) return undefined;
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** RFC 5952 canonical text. */
export function formatIPv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) {
    return `::ffff:${formatIPv4(b.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

// ---------------------------------------------------------------- prefixes

/** Network address of `addr/len`: host bits cleared. */
export function maskAddress(addr: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(addr);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    out[i]! &= (0xff00 >> keep) & 0xff;
  }
  return out;
}

export function formatAddress(family: 4 | 6, b: Uint8Array): string {
  return family === 4 ? formatIPv4(b) : formatIPv6(b);
}

export function parseAddress(family: 4 | 6, s: string): Uint8Array | undefined {
  return family === 4 ? parseIPv4(s) : parseIPv6(s);
}

// ---------------------------------------------------------------- MAC

export function parseMac(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/.test(s)) return undefined;
  return Uint8Array.from(s.split(/[:-]/), (x) => parseInt(x, 16));
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
