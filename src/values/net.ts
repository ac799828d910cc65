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
 * IPv6 is expected and vice versa. IPv4-mapped IPv6 (::ffff:a.b.c.d, however spelled) is
 * refused as an IPv6 address or prefix: kfn's functions keep IPv4 in IPv4 maps and
 * fields, so a mapped entry would never match IPv4 traffic (the hint says where the
 * address belongs). Bytes read from the kernel may still hold mapped addresses (flow
 * keys do); they decode to ::ffff:a.b.c.d. Text is parsed and printed by ipaddr.js,
 * with the strictness above added where ipaddr.js is lenient.
 */
import ipaddr from 'ipaddr.js';


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

/** Strict dotted decimal: ipaddr.js alone also takes octal, hex and short forms. */
export function parseIPv4(s: string): Uint8Array | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
  return Uint8Array.from(ipaddr.IPv4.parse(s).octets);
}

export function formatIPv4(b: Uint8Array): string {
  return new ipaddr.IPv4(Array.from(b.subarray(0, 4))).toString();
}

// ---------------------------------------------------------------- IPv6

/**
 * Strict RFC 4291 text (including a trailing dotted IPv4), no zone id. The dotted tail
 * is turned into two hex groups first: ipaddr.js would take octal or hex octets there,
 * and reads "::a.b.c.d" (IPv4-compatible) as IPv4-mapped.
 */
export function parseIPv6(s: string): Uint8Array | undefined {
  let text = s;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail);
    if (!v4 || lastColon < 0) return undefined;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    text = `${s.slice(0, lastColon + 1)}${hex(v4[0]!, v4[1]!)}:${hex(v4[2]!, v4[3]!)}`;
  }
  if (!/^[0-9a-fA-F:]+$/.test(text) || !ipaddr.IPv6.isValid(text)) return undefined;
  return Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
}

function ipv6Of(b: Uint8Array): ipaddr.IPv6 {
  return new ipaddr.IPv6(Array.from(b.subarray(0, 16)));
}

/** RFC 5952 canonical text; IPv4-mapped addresses end in dotted decimal (RFC 5952, 5). */
export function formatIPv6(b: Uint8Array): string {
  return isIPv4Mapped(b) ? `::ffff:${formatIPv4(b.subarray(12, 16))}` : ipv6Of(b).toRFC5952String();
}

const IPV4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** ::ffff:a.b.c.d (RFC 4291 2.5.5.2), by its bytes (ipaddr.js's range() walks every special range). */
export function isIPv4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && IPV4_MAPPED_PREFIX.every((x, i) => b[i] === x);
}

// ---------------------------------------------------------------- prefixes

/** Network address of `addr/len`: host bits cleared. */
export function maskAddress(addr: Uint8Array, len: number): Uint8Array {
  const mask = (addr.length === 4 ? ipaddr.IPv4 : ipaddr.IPv6).subnetMaskFromPrefixLength(len).toByteArray();
  return addr.map((x, i) => x & mask[i]!);
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
