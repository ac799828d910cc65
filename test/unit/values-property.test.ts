/**
 * Property tests of src/values:
 *  1. round-trip law: for random BTF type trees and random VALID bytes,
 *     encodeValue(t, decodeValue(t, b)) == b (and the decoded value is JSON-safe);
 *  2. robustness: for random YAML-ish inputs, encodeValue returns exactly btfSizeOf(t)
 *     bytes or throws a ValueError, never anything else;
 *  3. IPv6 text agrees with ipaddr.js.
 * Bounded runs: the whole file takes well under 5 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { btfSizeOf, type BtfMember, type BtfType } from '../../src/libbpf/btf-types.js';
import { decodeValue, describeType, encodeValue, formatValue, ValueError } from '../../src/values/index.js';
import { formatIPv6, parseIPv6 } from '../../src/values/net.js';

// ---------------------------------------------------------------- generated types

/** A generated type, the name it needs (address/MAC hints), its layout and valid bytes. */
interface Node {
  tag: string;
  type: BtfType;
  name?: string;
  size: number;
  align: number;
  bytes: fc.Arbitrary<Uint8Array>;
}

function le(size: number, v: bigint): Uint8Array {
  const out = new Uint8Array(size);
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function intType(size: number, signed: boolean, name?: string): BtfType {
  return { kind: 'int', name: name ?? `${signed ? '' : 'unsigned '}int${size * 8}`, size, signed, bool: false, char: false };
}

const U8: BtfType = { kind: 'int', name: 'unsigned char', size: 1, signed: false, bool: false, char: false };
const CHAR: BtfType = { kind: 'int', name: 'char', size: 1, signed: true, bool: false, char: false };
const U32: BtfType = intType(4, false, 'unsigned int');

const rawBytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

const intNode: fc.Arbitrary<Node> = fc
  .tuple(fc.constantFrom(1, 2, 4, 8, 16), fc.boolean())
  .map(([size, signed]) => ({ tag: 'int', type: intType(size, signed), size, align: size, bytes: rawBytes(size) }));

const boolNode: fc.Arbitrary<Node> = fc.constant({
  tag: 'bool',
  type: { kind: 'int', name: '_Bool', size: 1, signed: false, bool: true, char: false },
  size: 1,
  align: 1,
  bytes: fc.constantFrom(Uint8Array.of(0), Uint8Array.of(1)),
});

const enumNode: fc.Arbitrary<Node> = fc
  .tuple(fc.constantFrom(1, 2, 4, 8), fc.boolean())
  .chain(([size, signed]) => {
    const bits = BigInt(size * 8);
    const [min, max] = signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
    const value = fc.oneof(fc.bigInt({ min, max }), fc.bigInt({ min: signed ? -3n : 0n, max: 3n }));
    return fc.array(value, { minLength: 1, maxLength: 5 }).map((vals): Node => ({
      tag: 'enum',
      type: { kind: 'enum', name: 'e', size, signed, values: vals.map((v, i) => ({ name: `V${i}`, value: v })) },
      size,
      align: size,
      bytes: fc.constantFrom(...vals).map((v) => le(size, v)),
    }));
  });

const charArrayNode: fc.Arbitrary<Node> = fc.integer({ min: 1, max: 20 }).map((n): Node => {
  const text = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', 'é', '€', '😀', '\ufeff'), maxLength: n }).map((s) => {
    const b = new TextEncoder().encode(s).slice(0, n - 1); // may cut a character: still valid bytes
    const out = new Uint8Array(n);
    out.set(b);
    return out;
  });
  return { tag: 'chars', type: { kind: 'array', elem: CHAR, length: n }, size: n, align: 1, bytes: fc.oneof(text, rawBytes(n)) };
});

function byteArray(n: number, tag: string, names: string[] | undefined): fc.Arbitrary<Node> {
  const type: BtfType = { kind: 'array', elem: { kind: 'typedef', name: '__u8', type: U8 }, length: n };
  return (names ? fc.constantFrom(...names) : fc.constant(undefined)).map((name) => {
    const node: Node = { tag, type, size: n, align: 1, bytes: rawBytes(n) };
    if (name !== undefined) node.name = name;
    return node;
  });
}

const ADDR_NAMES = ['addr', 'saddr', 'daddr', 'src_ip', 'dst', 'ipv6Addr', 'nexthop_addr'];
const addr4Node = byteArray(4, 'addr4', ADDR_NAMES);
const addr6Node = byteArray(16, 'addr6', ADDR_NAMES);
const macNode = byteArray(6, 'mac', ['mac', 'src_mac', 'hwaddr', 'ether']);
const bytesNode = fc.integer({ min: 0, max: 20 }).chain((n) => byteArray(n, 'bytes', undefined));

function lpmNode(family: 4 | 6): Node {
  const n = family === 4 ? 4 : 16;
  const max = 8 * n;
  const type: BtfType = {
    kind: 'struct',
    name: `kfn_lpm_v${family}`,
    size: 4 + n,
    members: [
      { name: 'prefixlen', offset: 0, type: { kind: 'typedef', name: '__u32', type: U32 } },
      { name: 'addr', offset: 4, type: { kind: 'array', elem: { kind: 'typedef', name: '__u8', type: U8 }, length: n } },
    ],
  };
  const bytes = fc.tuple(fc.integer({ min: 0, max }), rawBytes(n)).map(([len, addr]) => {
    for (let i = 0; i < n; i++) addr[i]! &= (0xff00 >> Math.max(0, Math.min(8, len - 8 * i))) & 0xff;
    const out = new Uint8Array(4 + n);
    out.set(le(4, BigInt(len)));
    out.set(addr, 4);
    return out;
  });
  return { tag: 'lpm', type, size: 4 + n, align: 4, bytes };
}

const beNode: fc.Arbitrary<Node> = fc
  .constantFrom(['__be16', 2, undefined], ['kfn_be16', 2, undefined], ['__be32', 4, undefined], ['__be32', 4, 'daddr'], ['__be64', 8, undefined])
  .map(([tname, size, name]) => {
    const under: BtfType = { kind: 'typedef', name: `__u${Number(size) * 8}`, type: intType(Number(size), false) };
    const node: Node = { tag: 'be', type: { kind: 'typedef', name: String(tname), type: under }, size: Number(size), align: Number(size), bytes: rawBytes(Number(size)) };
    if (name !== undefined) node.name = String(name);
    return node;
  });

const leaves: fc.Arbitrary<Node>[] = [
  intNode, boolNode, enumNode, charArrayNode, addr4Node, addr6Node, macNode, bytesNode,
  fc.constant(lpmNode(4)), fc.constant(lpmNode(6)), beNode,
];

function concatAt(size: number, parts: [number, Uint8Array][]): Uint8Array {
  const out = new Uint8Array(size);
  for (const [off, b] of parts) out.set(b, off);
  return out;
}

let uid = 0;

/** A struct or union of generated children; anonymous struct/union members now and then. */
function aggregate(children: Node[], anon: boolean[], isUnion: boolean): Node {
  const id = uid++;
  const align = Math.max(1, ...children.map((c) => c.align));
  const members: BtfMember[] = [];
  const offsets: number[] = [];
  let off = 0;
  children.forEach((c, i) => {
    const o = isUnion ? 0 : roundUp(off, c.align);
    offsets.push(o);
    off = o + c.size;
    // Unique in the whole tree, so flattened anonymous members never collide (as C requires);
    // hint names keep their word (`addr_12_0` -> addr).
    const name = anon[i] && (c.tag === 'struct' || c.tag === 'union') ? '' : c.name ? `${c.name}_${id}_${i}` : `f${id}_${i}`;
    members.push({ name, offset: o, type: c.type });
  });
  const size = roundUp(isUnion ? Math.max(0, ...children.map((c) => c.size)) : off, align);
  const type: BtfType = { kind: isUnion ? 'union' : 'struct', name: isUnion ? 'u' : 's', size, members };
  const bytes = isUnion
    ? fc.oneof(...children.map((c) => c.bytes.map((b) => concatAt(size, [[0, b]]))))
    : fc.tuple(...children.map((c) => c.bytes)).map((bs) => concatAt(size, bs.map((b, i) => [offsets[i]!, b])));
  return { tag: isUnion ? 'union' : 'struct', type, size, align, bytes };
}

const nodeCache = new Map<number, fc.Arbitrary<Node>>();

function node(depth: number): fc.Arbitrary<Node> {
  const hit = nodeCache.get(depth);
  if (hit) return hit;
  let arb: fc.Arbitrary<Node>;
  if (depth === 0) {
    arb = fc.oneof(...leaves);
  } else {
    const child = node(depth - 1);
    const kids = fc.array(fc.tuple(child, fc.boolean()), { minLength: 1, maxLength: 4 });
    const structArb = kids.map((ks) => aggregate(ks.map((k) => k[0]), ks.map((k) => k[1]), false));
    const unionArb = kids.map((ks) => aggregate(ks.map((k) => k[0]), ks.map((k) => k[1]), true));
    const arrayArb = fc.tuple(child, fc.integer({ min: 0, max: 4 })).map(([c, n]): Node => {
      const out: Node = {
        tag: 'array',
        type: { kind: 'array', elem: c.type, length: n },
        size: c.size * n,
        align: c.align,
        bytes: fc.array(c.bytes, { minLength: n, maxLength: n }).map((bs) => concatAt(c.size * n, bs.map((b, i) => [i * c.size, b]))),
      };
      if (c.name !== undefined) out.name = c.name;
      return out;
    });
    const typedefArb = child.map((c): Node => ({ ...c, type: { kind: 'typedef', name: 'my_t', type: c.type } }));
    arb = fc.oneof(
      { arbitrary: fc.oneof(...leaves), weight: 3 },
      { arbitrary: structArb, weight: 3 },
      { arbitrary: unionArb, weight: 1 },
      { arbitrary: arrayArb, weight: 2 },
      { arbitrary: typedefArb, weight: 1 },
    );
  }
  nodeCache.set(depth, arb);
  return arb;
}

/** Printable counterexamples: the type, its name hint and the bytes as hex. */
interface Sample {
  type: BtfType;
  name: string | undefined;
  hex: string;
  b: Uint8Array;
}
function withBytes(depth: number): fc.Arbitrary<Sample> {
  return node(depth).chain((n) => n.bytes.map((b) => ({ type: n.type, name: n.name, hex: Buffer.from(b).toString('hex'), b })));
}

// ---------------------------------------------------------------- generated values

/** Replaces (or adds) one random spot of a value tree with `repl`. */
function mutate(v: unknown, picks: number[], repl: unknown): unknown {
  if (picks.length === 0) return repl;
  const [p, ...rest] = picks as [number, ...number[]];
  if (Array.isArray(v)) {
    const i = p % (v.length + 1);
    const copy = [...v];
    copy[i] = i === v.length ? repl : mutate(v[i], rest, repl);
    return copy;
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const i = p % (keys.length + 1);
    const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (i === keys.length) copy[`bogus${p}`] = repl;
    else copy[keys[i]!] = mutate(copy[keys[i]!], rest, repl);
    return copy;
  }
  return repl;
}

const tricky = fc.constantFrom<unknown>(
  '1.2.3.4', '::1', '10.0.0.0/8', '10.0.0.1/8', '2001:db8::/32', 'aa:bb:cc:dd:ee:ff', '0x', '0x00', '0x0000', '0xzz',
  '-1', '18446744073709551616', 'V0', 'V1', 'true', '', 'a\0b', '\ud800', 1.5, -0, NaN, Infinity, 2 ** 60, -(2n ** 200n),
  [], {}, [[]], { f1_0: 1 }, null, undefined, true,
);

const yamlish: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true, withTypedArray: true, withDate: true, withMap: true, maxDepth: 3 }),
  tricky,
);

// ---------------------------------------------------------------- properties

describe('values: properties', () => {
  it('round-trip law: encode(decode(bytes)) == bytes for valid bytes of random types', () => {
    fc.assert(
      fc.property(withBytes(3), ({ type, name, hex, b }) => {
        assert.equal(b.length, btfSizeOf(type));
        const v = decodeValue(type, b, name);
        assert.doesNotThrow(() => JSON.stringify(v), 'canonical values are JSON-safe');
        const re = encodeValue(type, v, '', name);
        assert.equal(Buffer.from(re).toString('hex'), hex);
        assert.equal(typeof formatValue(type, b, name), 'string');
        assert.ok(describeType(type, name).length > 0);
      }),
      { numRuns: 400 },
    );
  });

  it('encodeValue returns exactly the type size or throws ValueError, never anything else', () => {
    const arb = fc.tuple(
      withBytes(2),
      fc.array(fc.nat(), { maxLength: 4 }),
      yamlish,
      fc.integer({ min: 0, max: 3 }),
    );
    fc.assert(
      fc.property(arb, ([{ type, name, b }, picks, junk, mode]) => {
        // mode 0: junk alone; 1-3: a valid value with one spot replaced by junk
        const value = mode === 0 ? junk : mutate(decodeValue(type, b, name), picks, junk);
        try {
          const out = encodeValue(type, value, 'v', name);
          assert.ok(out instanceof Uint8Array);
          assert.equal(out.length, btfSizeOf(type));
        } catch (e) {
          if (!(e instanceof ValueError)) throw e;
          assert.match(e.message, /^v(\.|\[|:).*expected .+, got .+/s);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('IPv6 text: formatIPv6 output parses back, and agrees with ipaddr.js', () => {
    const addr = fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      // sparse addresses exercise the "::" rules
      fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 }).map((ws) => {
        const b = new Uint8Array(16);
        ws.forEach((w, i) => {
          b[2 * i] = w >> 8;
          b[2 * i + 1] = w & 0xff;
        });
        return b;
      }),
    );
    fc.assert(
      fc.property(addr, (b) => {
        const text = formatIPv6(b);
        assert.deepEqual(parseIPv6(text), b);
        assert.deepEqual(Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray()), b);
        // the expanded form ipaddr.js prints parses to the same bytes
        assert.deepEqual(parseIPv6(ipaddr.fromByteArray(Array.from(b)).toNormalizedString()), b);
        if (!text.includes('.')) assert.equal(text, ipaddr.fromByteArray(Array.from(b)).toString());
      }),
      { numRuns: 500 },
    );
  });
});
