/**
 * One value out of the per-CPU values of a per-CPU map, walking the same shape as encode
 * and decode. What is summed is what decodes as a number: `int` leaves in host order
 * (u8..u128, s8..s128, two's complement wrap-around at their width), wherever they sit
 * (struct fields, arrays, arrays inside structs, nested arrays). Everything else is
 * CPU 0's bytes: addresses, MACs, prefixes, bools, enums, strings, raw byte arrays
 * (`u8[N]` decodes as "0x..."), pointers, padding, and also
 *   - be16/be32/be64: wire values (ports, protocol fields), never counters;
 *   - unions: their members overlap, adding one would corrupt the others;
 *   - bitfields: they share storage with their neighbours.
 * Only the summed leaves are order independent; the rest follows whichever value is first.
 */
import { readInt, writeInt } from './int.js';
import type { Shape } from './shape.js';

function addInto(s: Shape, dst: Uint8Array, src: Uint8Array, off: number): void {
  switch (s.k) {
    case 'int':
      if (s.be) return;
      writeInt(dst, off, s.size, readInt(dst, off, s.size, false, false) + readInt(src, off, s.size, false, false), false);
      return;
    case 'array':
      for (let i = 0; i < s.length; i++) addInto(s.elem, dst, src, off + i * s.elemSize);
      return;
    case 'struct':
      if (s.union) return;
      for (const f of s.fields) if (!f.bitSize) addInto(f.shape, dst, src, off + f.offset);
      return;
    default:
      return;
  }
}

/** `values` are buffers of exactly `s.size` bytes, at least one (the caller checks). */
export function sumShape(s: Shape, values: readonly Uint8Array[]): Uint8Array {
  const out = Uint8Array.from(values[0]!);
  for (const v of values.slice(1)) addInto(s, out, v, 0);
  return out;
}
