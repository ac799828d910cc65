/**
 * canonicalJson, which copies only objects whose keys are out of order, writes exactly
 * the text of the version that rebuilt every object (saved plans and manifest digests
 * were checksummed with it), for any data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson } from '../../src/core/digest.js';

/** The definition canonicalJson must keep matching. */
function byReplacer(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

const key = fc.oneof(fc.string(), fc.constantFrom('0', '1', '2', '10', '9', '007', '4294967294', '4294967295', '-1', '1.5', '__proto__', 'a', 'B'), fc.nat().map(String));
const leaf = fc.oneof(fc.string(), fc.double(), fc.integer(), fc.bigInt(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.date());
const data = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object'), fc.uint8Array().map((u) => Buffer.from(u))),
  array: fc.array(tie('node'), { maxLength: 5 }),
  object: fc.dictionary(key, tie('node'), { maxKeys: 6 }),
})).node;

test('canonicalJson equals the replacer-based text for any data', () => {
  fc.assert(fc.property(data, (v) => assert.equal(canonicalJson(v), byReplacer(v))), { numRuns: 3000 });
});

test('keys are sorted, integer-like ones first in numeric order, bigints written as strings, holes as null', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: 2n, c: [3, undefined, () => 0] }, 10: 'x', 9: 'y', '010': 'z' }), '{"9":"y","10":"x","010":"z","a":{"c":[3,null,null],"d":"2"},"b":1}');
  // eslint-disable-next-line no-sparse-arrays
  assert.equal(canonicalJson([1, , 3]), byReplacer([1, , 3]));
  assert.equal(canonicalJson({ u: undefined, f: () => 0 }), '{}');
});
