/**
 * Classification of a BTF type (plus the name hints of net.ts) into the "shape" that
 * decides how a value is written, read, printed and described. Encode, decode, format
 * and describe all walk the same shape, so they cannot disagree about a type.
 */
import { btfResolve, btfSizeOf, type BtfInt, type BtfStruct, type BtfType } from '../libbpf/btf-types.js';
import { isAddressName, isMacName } from './net.js';

export interface IntShape {
  k: 'int';
  size: number;
  signed: boolean;
  /** Network byte order (be16/be32/be64 typedefs). */
  be: boolean;
  /** `u32`, `s8`, `be16`... */
  label: string;
}

export interface Field {
  /** '' for anonymous members (their fields are lifted into the parent, as in C). */
  name: string;
  offset: number;
  bitSize?: number;
  shape: Shape;
}

export type Shape =
  | IntShape
  | { k: 'bool'; size: number }
  | { k: 'enum'; size: number; signed: boolean; name: string; values: { name: string; value: bigint }[] }
  | { k: 'string'; size: number; elem: IntShape }
  | { k: 'ip'; size: number; family: 4 | 6; be32: boolean }
  | { k: 'mac'; size: number }
  | { k: 'prefix'; size: number; family: 4 | 6 }
  /** Raw bytes: byte arrays (with `elem`, also writable as a list) and opaque types. */
  | { k: 'bytes'; size: number; label: string; elem?: IntShape }
  | { k: 'array'; size: number; elem: Shape; length: number; elemSize: number }
  | { k: 'struct'; size: number; union: boolean; name: string; fields: Field[] }
  | { k: 'ptr'; size: number };

export type StructShape = Extract<Shape, { k: 'struct' }>;

const INT_SIZES = [1, 2, 4, 8, 16];

function isBool(t: BtfInt): boolean {
  return t.bool || t.name === '_Bool' || t.name === 'bool';
}

/** Plain `char` (strings); `unsigned char` / `signed char` (__u8 / __s8) are numbers. */
export function isStringChar(t: BtfInt): boolean {
  if (t.size !== 1 || isBool(t)) return false;
  if (t.name === 'char') return true;
  return t.char && t.name !== 'unsigned char' && t.name !== 'signed char';
}

function intShape(size: number, signed: boolean, be = false): IntShape {
  return { k: 'int', size, signed, be, label: `${be ? 'be' : signed ? 's' : 'u'}${size * 8}` };
}

function lpmFamily(t: BtfStruct): 4 | 6 | undefined {
  if (t.kind !== 'struct' || t.members.length !== 2) return undefined;
  const p = t.members.find((m) => m.name === 'prefixlen');
  const a = t.members.find((m) => m.name === 'addr');
  if (!p || !a || p.bitSize || a.bitSize || p.offset !== 0 || a.offset !== 4) return undefined;
  const pt = btfResolve(p.type);
  if (pt.kind !== 'int' || pt.size !== 4 || pt.signed || isBool(pt)) return undefined;
  const at = btfResolve(a.type);
  if (at.kind !== 'array' || (at.length !== 4 && at.length !== 16)) return undefined;
  const e = btfResolve(at.elem);
  if (e.kind !== 'int' || e.size !== 1 || isBool(e)) return undefined;
  if (t.size !== 4 + at.length) return undefined;
  return at.length === 4 ? 4 : 6;
}

/** `names`: the member/variable/map name and the typedef names met so far (see net.ts). */
export function shapeOf(t: BtfType, names: readonly string[] = []): Shape {
  switch (t.kind) {
    case 'typedef': {
      const be = /^(?:__|kfn_)be(16|32|64)$/.exec(t.name);
      const r = btfResolve(t.type);
      if (be && r.kind === 'int' && !isBool(r) && r.size * 8 === Number(be[1])) {
        if (r.size === 4 && isAddressName(names)) return { k: 'ip', size: 4, family: 4, be32: true };
        return intShape(r.size, false, true);
      }
      return shapeOf(t.type, [...names, t.name]);
    }
    case 'int':
      if (isBool(t)) return { k: 'bool', size: t.size };
      if (!INT_SIZES.includes(t.size)) return { k: 'bytes', size: t.size, label: t.name || `int${t.size * 8}` };
      return intShape(t.size, t.signed);
    case 'enum':
      if (!INT_SIZES.slice(0, 4).includes(t.size)) return { k: 'bytes', size: t.size, label: `enum ${t.name}` };
      return { k: 'enum', size: t.size, signed: t.signed, name: t.name, values: t.values };
    case 'struct':
    case 'union': {
      if (t.kind === 'struct' && t.name === 'in_addr' && t.size === 4) return { k: 'ip', size: 4, family: 4, be32: false };
      if (t.kind === 'struct' && t.name === 'in6_addr' && t.size === 16) return { k: 'ip', size: 16, family: 6, be32: false };
      const fam = lpmFamily(t);
      if (fam) return { k: 'prefix', size: t.size, family: fam };
      return aggregateShape(t);
    }
    case 'array': {
      const e = btfResolve(t.elem);
      if (e.kind === 'int' && e.size === 1 && !isBool(e)) {
        const elem = intShape(1, e.signed);
        if (isStringChar(e)) return { k: 'string', size: t.length, elem };
        if ((t.length === 4 || t.length === 16) && isAddressName(names)) {
          return { k: 'ip', size: t.length, family: t.length === 4 ? 4 : 6, be32: false };
        }
        if (t.length === 6 && isMacName(names)) return { k: 'mac', size: 6 };
        return { k: 'bytes', size: t.length, label: `${elem.label}[${t.length}]`, elem };
      }
      const elem = shapeOf(t.elem, names);
      const elemSize = btfSizeOf(t.elem);
      return { k: 'array', size: elemSize * t.length, elem, length: t.length, elemSize };
    }
    case 'ptr':
      return { k: 'ptr', size: t.size };
    case 'opaque':
      return { k: 'bytes', size: t.size, label: t.name || 'opaque' };
  }
}

/**
 * A struct/union field by field. Anonymous struct/union members stay field by field even
 * if they look like a prefix or an address: their fields are lifted into the parent.
 */
function aggregateShape(t: BtfStruct): StructShape {
  return {
    k: 'struct',
    size: t.size,
    union: t.kind === 'union',
    name: t.name,
    fields: t.members.map((m) => {
      const r = btfResolve(m.type);
      const shape = !m.name && (r.kind === 'struct' || r.kind === 'union') ? aggregateShape(r) : shapeOf(m.type, m.name ? [m.name] : []);
      const f: Field = { name: m.name, offset: m.offset, shape };
      if (m.bitSize) f.bitSize = m.bitSize;
      return f;
    }),
  };
}

/** The names a struct accepts, anonymous members flattened, bitfields included. */
export function fieldNames(s: StructShape): string[] {
  const out: string[] = [];
  for (const f of s.fields) {
    if (f.name) out.push(f.name);
    else if (f.shape.k === 'struct') out.push(...fieldNames(f.shape));
  }
  return out;
}
