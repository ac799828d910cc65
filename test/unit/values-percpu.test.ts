/**
 * sumPerCpuValues: per-CPU values of a BTF type summed through the values layer's shape.
 * Table tests of every kind of leaf, then properties over random layouts checked against
 * an oracle that knows, from how each layout was generated, which byte ranges are
 * counters (everything else must be CPU 0's bytes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BtfMember, BtfType } from '../../src/libbpf/btf-types.js';
import { decodeValue, encodeValue, sumPerCpuValues, ValueError } from '../../src/values/index.js';

// ---------------------------------------------------------------- BTF builders

function int(size: number, signed = false): BtfType {
  return { kind: 'int', name: `${signed ? '' : 'unsigned '}int${size * 8}`, size, signed, bool: false, char: false };
}
const u8 = int(1);
const u16 = int(2);
const u32 = int(4);
const u64 = int(8);
const s8 = int(1, true);
const s64 = int(8, true);
const u128 = int(16);
const char: BtfType = { kind: 'int', name: 'char', size: 1, signed: true, bool: false, char: false };
const bool: BtfType = { kind: 'int', name: '_Bool', size: 1, signed: false, bool: true, char: false };
const typedef = (name: string, type: BtfType): BtfType => ({ kind: 'typedef', name, type });
const array = (elem: BtfType, length: number): BtfType => ({ kind: 'array', elem, length });
const member = (name: string, offset: number, type: BtfType, bitSize?: number): BtfMember =>
  bitSize === undefined ? { name, offset, type } : { name, offset, type, bitSize };
const struct = (name: string, size: number, members: BtfMember[]): BtfType => ({ kind: 'struct', name, size, members });
const union = (name: string, size: number, members: BtfMember[]): BtfType => ({ kind: 'union', name, size, members });
const be16 = typedef('__be16', typedef('__u16', u16));
const be32 = typedef('__be32', typedef('__u32', u32));

const sum = (t: BtfType, values: unknown[], name?: string): unknown =>
  decodeValue(t, sumPerCpuValues(t, values.map((v) => encodeValue(t, v, '', name)), name), name);

// ---------------------------------------------------------------- table tests

describe('values: sumPerCpuValues', () => {
  it('adds counters field by field, including an array inside a struct at its own offset', () => {
    // struct percpu_test_stats of bpf/percpu_test.bpf.c
    const stats = struct('percpu_test_stats', 48, [member('packets', 0, u64), member('bytes', 8, u64), member('by_size', 16, array(u64, 4))]);
    assert.deepEqual(
      sum(stats, [
        { packets: 3, bytes: 180, by_size: [3, 0, 0, 0] },
        { packets: 2, bytes: 1300, by_size: [1, 0, 0, 1] },
        { packets: 0, bytes: 0, by_size: [0, 0, 0, 0] },
      ]),
      { packets: 5, bytes: 1480, by_size: [4, 0, 0, 1] },
    );
    // padding before the array, and an array of structs after it
    const pair = struct('pair', 16, [member('n', 0, u32), member('m', 8, u64)]);
    const mixed = struct('mixed', 64, [member('a', 0, u16), member('arr', 4, array(u32, 3)), member('b', 16, u8), member('pairs', 32, array(pair, 2))]);
    assert.deepEqual(
      sum(mixed, [
        { a: 1, arr: [1, 2, 3], b: 4, pairs: [{ n: 1, m: 10 }, { n: 2, m: 20 }] },
        { a: 10, arr: [100, 200, 300], b: 40, pairs: [{ n: 100, m: 1000 }, { n: 200, m: 2000 }] },
      ]),
      { a: 11, arr: [101, 202, 303], b: 44, pairs: [{ n: 101, m: 1010 }, { n: 202, m: 2020 }] },
    );
  });

  it('adds nested arrays and 16-byte integers', () => {
    const grid = array(array(u32, 3), 2);
    assert.deepEqual(sum(grid, [[[1, 2, 3], [4, 5, 6]], [[10, 20, 30], [40, 50, 60]]]), [[11, 22, 33], [44, 55, 66]]);
    assert.equal(sum(u128, ['18446744073709551615', 1]), '18446744073709551616');
  });

  it('wraps around at the width of each integer, signed ones in two\'s complement', () => {
    assert.equal(sum(u8, [250, 10]), 4);
    assert.equal(sum(s8, [-1, -1, 127]), 125);
    assert.equal(sum(u64, ['18446744073709551615', 2]), 1);
    assert.equal(sum(s64, ['-9223372036854775808', -1]), '9223372036854775807');
  });

  it('takes CPU 0 for what is not a counter: addresses, bools, enums, strings, bytes, be ints, unions, bitfields', () => {
    const en: BtfType = { kind: 'enum', name: 'verdict', size: 4, signed: false, values: [{ name: 'PASS', value: 0n }, { name: 'DROP', value: 1n }] };
    const flags = struct('flags', 4, [member('lo', 0, u32, 3), member('hi', 0, u32, 5)]);
    const t = struct('flow_stats', 56, [
      member('saddr', 0, array(u8, 4)),
      member('daddr', 4, be32),
      member('sport', 8, be16),
      member('seen', 10, bool),
      member('verdict', 12, en),
      member('ifname', 16, array(char, 8)),
      member('digest', 24, array(u8, 4)),
      member('u', 28, union('u', 4, [member('x', 0, u32), member('y', 0, u16)])),
      member('flags', 32, flags),
      member('packets', 40, u64),
      member('bits', 48, u64),
    ]);
    const cpu0 = { saddr: '198.18.0.1', daddr: '198.18.0.2', sport: 53, seen: true, verdict: 'DROP', ifname: 'veth0', digest: '0x01020304', u: { x: 7 }, packets: 1, bits: 8 };
    const cpu1 = { saddr: '198.18.0.9', daddr: '198.18.0.8', sport: 80, seen: false, verdict: 'PASS', ifname: 'eth1', digest: '0x0a0b0c0d', u: { x: 9 }, packets: 2, bits: 16 };
    const out = sumPerCpuValues(t, [encodeValue(t, cpu0), encodeValue(t, cpu1)]);
    assert.deepEqual(decodeValue(t, out), { ...cpu0, flags: {}, packets: 3, bits: 24 });
    // bitfield storage (not settable from YAML) is CPU 0's bytes too
    const b0 = encodeValue(t, cpu0);
    const b1 = encodeValue(t, cpu1);
    b0.set([0x2d, 0, 0, 0], 32);
    b1.set([0x12, 0, 0, 0], 32);
    assert.deepEqual(Array.from(sumPerCpuValues(t, [b0, b1]).subarray(32, 36)), [0x2d, 0, 0, 0]);
  });

  it('uses the name hint as decodeValue does: a __be32 named like an address is not summed either way', () => {
    assert.equal(sum(be32, ['198.18.0.1', '198.18.0.2'], 'daddr'), '198.18.0.1');
    assert.equal(sum(be32, [53, 80]), 53);
  });

  it('refuses no values and values of the wrong size', () => {
    assert.throws(() => sumPerCpuValues(u64, []), (e: unknown) => e instanceof ValueError && e.message === 'expected at least one per-CPU value, got none');
    assert.throws(
      () => sumPerCpuValues(u64, [new Uint8Array(8), new Uint8Array(16)]),
      (e: unknown) => e instanceof ValueError && e.message === 'cpu[1]: expected 8 bytes, got 16 bytes',
    );
  });
});

// ---------------------------------------------------------------- random layouts

/** A generated type with its layout and the byte ranges that must be summed. */
interface Layout {
  type: BtfType;
  /** Member-name hint it needs (addresses). */
  name?: string;
  size: number;
  align: number;
  counters: [offset: number, size: number][];
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

const counterLeaf: fc.Arbitrary<Layout> = fc
  .tuple(fc.constantFrom(1, 2, 4, 8, 16), fc.boolean())
  .map(([size, signed]) => ({ type: typedef(`__${signed ? 's' : 'u'}${size * 8}`, int(size, signed)), size, align: size, counters: [[0, size]] }));

const otherLeaf: fc.Arbitrary<Layout> = fc.constantFrom<Layout>(
  { type: be16, size: 2, align: 2, counters: [] },
  { type: be32, size: 4, align: 4, counters: [] },
  { type: be32, name: 'daddr', size: 4, align: 4, counters: [] },
  { type: bool, size: 1, align: 1, counters: [] },
  { type: { kind: 'enum', name: 'e', size: 4, signed: false, values: [{ name: 'A', value: 0n }] }, size: 4, align: 4, counters: [] },
  { type: array(char, 6), size: 6, align: 1, counters: [] },
  { type: array(u8, 3), size: 3, align: 1, counters: [] },
  { type: array(u8, 4), name: 'addr', size: 4, align: 1, counters: [] },
  { type: array(u8, 16), name: 'saddr', size: 16, align: 1, counters: [] },
  { type: union('u', 8, [member('x', 0, u64), member('y', 0, u32)]), size: 8, align: 8, counters: [] },
  { type: struct('bits', 4, [member('lo', 0, u32, 3), member('hi', 0, u32, 5)]), size: 4, align: 4, counters: [] },
);

const shift = (cs: [number, number][], by: number): [number, number][] => cs.map(([o, s]) => [o + by, s]);

function layout(depth: number): fc.Arbitrary<Layout> {
  const leaf = fc.oneof({ arbitrary: counterLeaf, weight: 3 }, { arbitrary: otherLeaf, weight: 1 });
  if (depth === 0) return leaf;
  const child = layout(depth - 1);
  const structArb = fc.array(child, { minLength: 1, maxLength: 4 }).map((kids): Layout => {
    const members: BtfMember[] = [];
    const counters: [number, number][] = [];
    let off = 0;
    kids.forEach((k, i) => {
      const o = roundUp(off, k.align);
      members.push(member(k.name ? `${k.name}_${i}` : `f${i}`, o, k.type));
      counters.push(...shift(k.counters, o));
      off = o + k.size;
    });
    const align = Math.max(...kids.map((k) => k.align));
    return { type: struct('s', roundUp(off, align), members), size: roundUp(off, align), align, counters };
  });
  const arrayArb = fc.tuple(child, fc.integer({ min: 0, max: 3 })).map(([c, n]): Layout => {
    // An array of a 1-byte int is raw bytes (or a string), not n counters.
    let e = c.type;
    while (e.kind === 'typedef') e = e.type;
    const byteArray = e.kind === 'int' && e.size === 1 && !e.bool;
    const counters = byteArray ? [] : Array.from({ length: n }, (_, i) => shift(c.counters, i * c.size)).flat();
    const out: Layout = { type: array(c.type, n), size: c.size * n, align: c.align, counters };
    if (c.name !== undefined) out.name = c.name;
    return out;
  });
  const typedefArb = child.map((c): Layout => ({ ...c, type: typedef('my_t', c.type) }));
  return fc.oneof({ arbitrary: leaf, weight: 2 }, { arbitrary: structArb, weight: 3 }, { arbitrary: arrayArb, weight: 2 }, { arbitrary: typedefArb, weight: 1 });
}

function readLE(b: Uint8Array, off: number, size: number): bigint {
  let x = 0n;
  for (let i = size - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[off + i]!);
  return x;
}

function writeLE(b: Uint8Array, off: number, size: number, v: bigint): void {
  let x = BigInt.asUintN(8 * size, v);
  for (let i = 0; i < size; i++) {
    b[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** CPU 0's bytes, each counter replaced by the sum of all CPUs' modulo its width. */
function oracle(l: Layout, values: Uint8Array[]): Uint8Array {
  const out = Uint8Array.from(values[0]!);
  for (const [off, size] of l.counters) writeLE(out, off, size, values.reduce((s, v) => s + readLE(v, off, size), 0n));
  return out;
}

/** A layout with 1..5 per-CPU values of random bytes. */
const sample = layout(3).chain((l) =>
  fc.array(fc.uint8Array({ minLength: l.size, maxLength: l.size }), { minLength: 1, maxLength: 5 }).map((values) => ({ l, values })),
);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sumOf = (l: Layout, values: Uint8Array[]) => hex(sumPerCpuValues(l.type, values, l.name));

describe('values: sumPerCpuValues properties', () => {
  it('the sum of one CPU is that CPU\'s value', () => {
    fc.assert(fc.property(sample, ({ l, values }) => assert.equal(sumOf(l, [values[0]!]), hex(values[0]!))), { numRuns: 300 });
  });

  it('counters are the sums modulo their width, every other byte is CPU 0\'s', () => {
    fc.assert(fc.property(sample, ({ l, values }) => assert.equal(sumOf(l, values), hex(oracle(l, values)))), { numRuns: 400 });
  });

  it('is order independent: any order of CPUs gives the same counters', () => {
    const withOrder = sample.chain((s) => fc.shuffledSubarray(s.values, { minLength: s.values.length, maxLength: s.values.length }).map((shuffled) => ({ ...s, shuffled })));
    fc.assert(
      fc.property(withOrder, ({ l, values, shuffled }) => {
        const inOrder = sumPerCpuValues(l.type, values, l.name);
        const reordered = sumPerCpuValues(l.type, shuffled, l.name);
        for (const [off, size] of l.counters) assert.equal(readLE(reordered, off, size), readLE(inOrder, off, size));
        // with the same CPU first, the whole value is the same
        const rest = shuffled.filter((v) => v !== values[0]);
        assert.equal(sumOf(l, [values[0]!, ...rest]), hex(inOrder));
      }),
      { numRuns: 300 },
    );
  });

  it('summing in steps is the same as summing at once', () => {
    const split = sample.chain((s) => fc.integer({ min: 1, max: s.values.length }).map((k) => ({ ...s, k })));
    fc.assert(
      fc.property(split, ({ l, values, k }) => {
        const head = sumPerCpuValues(l.type, values.slice(0, k), l.name);
        assert.equal(sumOf(l, [head, ...values.slice(k)]), sumOf(l, values));
      }),
      { numRuns: 300 },
    );
  });
});
