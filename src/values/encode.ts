/**
 * YAML value -> exact bytes of a shape. Every rejection is a ValueError naming the path,
 * what the type accepts and what was given. Bytes not written (missing struct fields,
 * padding, the tail of short lists and strings) are zero.
 *
 * Accepted inputs per shape:
 *   int      safe-integer number, bigint, decimal string, "0x" hex string; range-checked
 *            (the same for 16-byte ints). be16/be32/be64 are written in network order.
 *   bool     true / false only.
 *   enum     a member name (exact), or an integer that is one of the enum's values.
 *   string   (char arrays) a string without NUL whose UTF-8 fits with its NUL
 *            (length < N); or a list of at most N numbers (the raw-bytes form).
 *   ip/mac/prefix   see net.ts (IPv4-mapped IPv6 is refused with a hint).
 *   bytes    "0x" + 2N hex digits; byte arrays also take a list of at most N numbers.
 *   array    a list of at most `length` elements (the rest is zero), or "0x" raw hex.
 *   struct   a plain object by field name (anonymous members' fields at the parent
 *            level, as in C); unknown fields are an error listing the valid ones; setting
 *            a bitfield member is refused. A union takes exactly one member. Both also
 *            take "0x" raw hex of exactly their size.
 *   ptr      only 0 / null (pointers cannot be set from userspace).
 */
import { describeShape, expectedOf } from './describe.js';
import { fail, joinPath, ValueError } from './errors.js';
import { intRange, parseHexBytes, parseInteger, writeInt } from './int.js';
import { formatAddress, isIPv4Mapped, maskAddress, parseAddress, parseMac } from './net.js';
import { fieldNames, type Field, type IntShape, type Shape, type StructShape } from './shape.js';

export function encodeShape(s: Shape, v: unknown, path: string): Uint8Array {
  const buf = new Uint8Array(s.size);
  enc(s, v, buf, 0, path);
  return buf;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function enc(s: Shape, v: unknown, buf: Uint8Array, off: number, path: string): void {
  switch (s.k) {
    case 'int':
      return encInt(s, v, buf, off, path);
    case 'bool':
      if (v !== true && v !== false) fail(path, expectedOf(s), v);
      writeInt(buf, off, s.size, v ? 1n : 0n, false);
      return;
    case 'enum':
      return encEnum(s, v, buf, off, path);
    case 'string':
      return encString(s, v, buf, off, path);
    case 'ip':
      return encIp(s, v, buf, off, path);
    case 'mac': {
      const b = typeof v === 'string' ? parseMac(v) : undefined;
      if (!b) fail(path, expectedOf(s), v);
      buf.set(b, off);
      return;
    }
    case 'prefix':
      return encPrefix(s, v, buf, off, path);
    case 'bytes': {
      const raw = parseHexBytes(v, s.size);
      if (raw) buf.set(raw, off);
      else if (s.elem && Array.isArray(v)) encList(s.elem, 1, s.size, v, buf, off, path);
      else fail(path, expectedOf(s), v);
      return;
    }
    case 'array': {
      const raw = parseHexBytes(v, s.size);
      if (raw) buf.set(raw, off);
      else if (Array.isArray(v)) encList(s.elem, s.elemSize, s.length, v, buf, off, path);
      else fail(path, expectedOf(s), v);
      return;
    }
    case 'struct':
      return encStruct(s, v, buf, off, path);
    case 'ptr':
      if (v !== null && parseInteger(v) !== 0n) fail(path, expectedOf(s), v);
      return;
  }
}

function encInt(s: IntShape, v: unknown, buf: Uint8Array, off: number, path: string): void {
  const x = parseInteger(v);
  const [lo, hi] = intRange(s.size, s.signed);
  if (x === undefined) {
    const big = typeof v === 'number' && Number.isInteger(v);
    fail(path, expectedOf(s), v, big ? 'numbers beyond 2^53 lose precision in YAML: quote them' : undefined);
  }
  if (x < lo || x > hi) fail(path, expectedOf(s), v);
  writeInt(buf, off, s.size, x, s.be);
}

function encEnum(s: Extract<Shape, { k: 'enum' }>, v: unknown, buf: Uint8Array, off: number, path: string): void {
  const bits = s.size * 8;
  let value: bigint | undefined;
  if (typeof v === 'string') value = s.values.find((e) => e.name === v)?.value;
  if (value === undefined) {
    const x = parseInteger(v);
    // An integer matches a value bit for bit at the enum's width, whichever sign BTF gives it.
    if (x !== undefined && x >= -(1n << BigInt(bits - 1)) && x < 1n << BigInt(bits)) {
      const ux = BigInt.asUintN(bits, x);
      if (s.values.some((e) => BigInt.asUintN(bits, e.value) === ux)) value = x;
    }
  }
  if (value === undefined) fail(path, expectedOf(s), v);
  writeInt(buf, off, s.size, value, false);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function encString(s: Extract<Shape, { k: 'string' }>, v: unknown, buf: Uint8Array, off: number, path: string): void {
  if (Array.isArray(v)) return encList(s.elem, 1, s.size, v, buf, off, path);
  if (typeof v !== 'string') fail(path, expectedOf(s), v);
  if (v.includes('\0')) fail(path, expectedOf(s), v, 'NUL characters cannot be stored');
  if (LONE_SURROGATE.test(v)) fail(path, expectedOf(s), v, 'not valid Unicode');
  const b = new TextEncoder().encode(v);
  if (b.length >= s.size) fail(path, expectedOf(s), v, `${b.length} bytes plus the terminating NUL do not fit`);
  buf.set(b, off);
}

/** Why an IPv4 address (mapped or not) has no place where IPv6 is expected. */
const KEEP_V4 = "kfn's functions keep IPv4 in IPv4 maps and fields";

function encIp(s: Extract<Shape, { k: 'ip' }>, v: unknown, buf: Uint8Array, off: number, path: string): void {
  if (typeof v === 'string') {
    const b = parseAddress(s.family, v);
    if (b && s.family === 6 && isIPv4Mapped(b)) {
      const v4 = formatAddress(4, b.subarray(12));
      fail(path, expectedOf(s), v, `an IPv4-mapped address never matches IPv4 traffic: ${KEEP_V4}, so put ${v4} in the IPv4 map or field instead`);
    }
    if (b) {
      buf.set(b, off);
      return;
    }
    if (s.family === 6 && parseAddress(4, v)) fail(path, expectedOf(s), v, `an IPv4 address does not fit here: ${KEEP_V4}, so put ${v} in the IPv4 map or field instead`);
    if (s.family === 4 && parseAddress(6, v)) fail(path, expectedOf(s), v, 'an IPv6 address does not fit in this IPv4 field');
  }
  if (s.be32 && typeof v !== 'string') {
    const x = parseInteger(v);
    if (x !== undefined && x >= 0n && x <= 0xffffffffn) {
      writeInt(buf, off, 4, x, true);
      return;
    }
  }
  fail(path, expectedOf(s), v);
}

function encPrefix(s: Extract<Shape, { k: 'prefix' }>, v: unknown, buf: Uint8Array, off: number, path: string): void {
  const fam = s.family;
  const max = fam === 4 ? 32 : 128;
  const exp = expectedOf(s);
  if (typeof v !== 'string') fail(path, exp, v);
  const slash = v.indexOf('/');
  const addrText = slash < 0 ? v : v.slice(0, slash);
  const addr = parseAddress(fam, addrText);
  if (!addr) {
    const other = fam === 4 ? 6 : 4;
    if (parseAddress(other, addrText)) fail(path, exp, v, `an IPv${other} prefix does not fit this IPv${fam} key`);
    fail(path, exp, v);
  }
  let len = max;
  if (slash >= 0) {
    const lenText = v.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > max) fail(path, exp, v, `the prefix length is 0..${max}`);
    len = Number(lenText);
  }
  if (fam === 6 && isIPv4Mapped(addr)) {
    // Without host bits set, a mapped prefix is at least /96: the IPv4 prefix is its tail.
    const v4 = len >= 96 ? `${formatAddress(4, maskAddress(addr.subarray(12), len - 96))}/${len - 96}` : 'the IPv4 prefix';
    fail(path, exp, v, `an IPv4-mapped prefix never matches IPv4 traffic: ${KEEP_V4}, so put ${v4} in the IPv4 map instead`);
  }
  const net = maskAddress(addr, len);
  if (!net.every((x, i) => x === addr[i])) {
    fail(path, `${exp} without host bits set`, v, `did you mean ${formatAddress(fam, net)}/${len}?`);
  }
  writeInt(buf, off, 4, BigInt(len), false);
  buf.set(addr, off + 4);
}

function encList(elem: Shape, elemSize: number, length: number, v: unknown[], buf: Uint8Array, off: number, path: string): void {
  if (v.length > length) {
    throw new ValueError(path, `list of at most ${length} ${describeShape(elem)}`, `a list of ${v.length} items`);
  }
  for (let i = 0; i < v.length; i++) enc(elem, v[i], buf, off + i * elemSize, `${path}[${i}]`);
}

/** The direct member a (possibly flattened) field name belongs to. */
function memberFor(s: StructShape, key: string): Field | undefined {
  for (const f of s.fields) {
    if (f.name === key) return f;
    if (!f.name && f.shape.k === 'struct' && fieldNames(f.shape).includes(key)) return f;
  }
  return undefined;
}

function encStruct(s: StructShape, v: unknown, buf: Uint8Array, off: number, path: string): void {
  if (typeof v === 'string' && /^0[xX]/.test(v)) {
    const raw = parseHexBytes(v, s.size);
    if (!raw) fail(path, `${expectedOf(s)} or raw bytes (0x + ${2 * s.size} hex digits)`, v);
    buf.set(raw, off);
    return;
  }
  if (!isPlainObject(v)) fail(path, expectedOf(s), v);
  const given = new Map<Field, unknown>();
  for (const key of Object.keys(v)) {
    const f = memberFor(s, key);
    const kw = `${s.union ? 'union' : 'struct'}${s.name ? ` ${s.name}` : ''}`;
    if (!f) fail(path, `a field of ${kw} (${fieldNames(s).join(', ')})`, key);
    if (f.name) {
      if (f.bitSize) fail(joinPath(path, key), `no value (bitfield member ${key}:${f.bitSize} cannot be set by kfn)`, v[key]);
      given.set(f, v[key]);
    } else {
      let sub = given.get(f) as Record<string, unknown> | undefined;
      if (!sub) {
        sub = Object.create(null) as Record<string, unknown>;
        given.set(f, sub);
      }
      Object.defineProperty(sub, key, { value: v[key], enumerable: true, writable: true, configurable: true });
    }
  }
  if (s.union && given.size !== 1) fail(path, expectedOf(s), v);
  for (const [f, val] of given) enc(f.shape, val, buf, off + f.offset, f.name ? joinPath(path, f.name) : path);
}
