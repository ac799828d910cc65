/**
 * Bytes -> canonical JS value, and the one-line text of it. Decoding never throws for a
 * buffer of the right size: bytes no valid input could produce (a bool of 2, an enum value
 * not in the enum, host bits in a prefix, non-zero padding...) still decode to something
 * readable, but only valid bytes satisfy the round-trip law (see index.ts).
 */
import { encodeShape } from './encode.js';
import { canonicalInt, readInt, toHex } from './int.js';
import { formatAddress, formatMac } from './net.js';
import type { Shape, StructShape } from './shape.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

export function decodeShape(s: Shape, b: Uint8Array, off: number): unknown {
  switch (s.k) {
    case 'int':
      return canonicalInt(readInt(b, off, s.size, s.signed, s.be));
    case 'bool': {
      const x = readInt(b, off, s.size, false, false);
      return x === 0n ? false : x === 1n ? true : canonicalInt(x);
    }
    case 'enum': {
      const bits = s.size * 8;
      const x = readInt(b, off, s.size, false, false);
      const e = s.values.find((v) => BigInt.asUintN(bits, v.value) === x);
      return e ? e.name : canonicalInt(s.signed ? BigInt.asIntN(bits, x) : x);
    }
    case 'string': {
      const bytes = b.subarray(off, off + s.size);
      const nul = bytes.indexOf(0);
      if (nul >= 0 && bytes.subarray(nul).every((x) => x === 0)) {
        try {
          return UTF8.decode(bytes.subarray(0, nul));
        } catch {
          // not UTF-8: fall through to the list form
        }
      }
      return Array.from(bytes, (_, i) => decodeShape(s.elem, b, off + i));
    }
    case 'ip':
      return formatAddress(s.family, b.subarray(off, off + s.size));
    case 'mac':
      return formatMac(b.subarray(off, off + 6));
    case 'prefix': {
      const len = readInt(b, off, 4, false, false);
      return `${formatAddress(s.family, b.subarray(off + 4, off + s.size))}/${len}`;
    }
    case 'bytes':
      return `0x${toHex(b.subarray(off, off + s.size))}`;
    case 'array':
      return Array.from({ length: s.length }, (_, i) => decodeShape(s.elem, b, off + i * s.elemSize));
    case 'ptr':
      return canonicalInt(readInt(b, off, s.size, false, false));
    case 'struct':
      return s.union ? decodeUnion(s, b, off) : decodeStruct(s, b, off);
  }
}

function decodeStruct(s: StructShape, b: Uint8Array, off: number): unknown {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) {
    if (f.bitSize) continue;
    const v = decodeShape(f.shape, b, off + f.offset);
    if (f.name) {
      setProp(out, f.name, v);
    } else if (f.shape.k === 'struct') {
      // An anonymous member that only has the raw form makes the whole struct raw.
      if (typeof v !== 'object' || v === null) return `0x${toHex(b.subarray(off, off + s.size))}`;
      for (const [k, x] of Object.entries(v)) setProp(out, k, x);
    }
  }
  return out;
}

/** The first member whose value re-encodes to exactly these bytes; else the raw form. */
function decodeUnion(s: StructShape, b: Uint8Array, off: number): unknown {
  const bytes = b.subarray(off, off + s.size);
  for (const f of s.fields) {
    if (f.bitSize || (!f.name && f.shape.k !== 'struct')) continue;
    const v = decodeShape(f.shape, b, off + f.offset);
    let candidate: unknown;
    if (f.name) {
      candidate = {};
      setProp(candidate as Record<string, unknown>, f.name, v);
    } else {
      if (typeof v !== 'object' || v === null) continue;
      candidate = v;
    }
    try {
      const re = encodeShape(s, candidate, '');
      if (re.every((x, i) => x === bytes[i])) return candidate;
    } catch {
      // this member cannot represent the bytes; try the next
    }
  }
  return `0x${toHex(bytes)}`;
}

// ---------------------------------------------------------------- text

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function renderFields(s: StructShape, o: Record<string, unknown>): string[] {
  const parts: string[] = [];
  for (const f of s.fields) {
    if (f.bitSize) continue;
    if (!f.name) {
      if (f.shape.k === 'struct') parts.push(...renderFields(f.shape, o));
    } else if (hasOwn(o, f.name)) {
      parts.push(`${f.name}: ${render(f.shape, o[f.name])}`);
    }
  }
  return parts;
}

/** One-line text of a decoded value: YAML flow style, strings of char arrays quoted. */
export function render(s: Shape, v: unknown): string {
  if (s.k === 'string' && typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const elem = s.k === 'array' ? s.elem : s.k === 'string' || s.k === 'bytes' ? s.elem : undefined;
    return `[${v.map((x) => (elem ? render(elem, x) : String(x))).join(', ')}]`;
  }
  if (s.k === 'struct' && typeof v === 'object' && v !== null) {
    return `{${renderFields(s, v as Record<string, unknown>).join(', ')}}`;
  }
  return String(v);
}
