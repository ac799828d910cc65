/** Human descriptions of shapes: `describeType` output and the `expected ...` of errors. */
import { intRange } from './int.js';
import { fieldNames, type Shape, type StructShape } from './shape.js';

const MAX_ENUM_NAMES = 16;

export function enumLabel(s: Extract<Shape, { k: 'enum' }>): string {
  const names = s.values.map((v) => v.name);
  const shown = names.length > MAX_ENUM_NAMES ? [...names.slice(0, MAX_ENUM_NAMES), '…'] : names;
  return `enum ${s.name || '(anonymous)'} (${shown.join('|')})`;
}

function structKeyword(s: StructShape): string {
  return `${s.union ? 'union' : 'struct'}${s.name ? ` ${s.name}` : ''}`;
}

function withDim(inner: string, length: number): string {
  const m = /(\[\d+\])+$/.exec(inner);
  return m ? `${inner.slice(0, m.index)}[${length}]${m[0]}` : `${inner}[${length}]`;
}

export function describeShape(s: Shape): string {
  switch (s.k) {
    case 'int':
      return s.label;
    case 'bool':
      return 'bool';
    case 'enum':
      return enumLabel(s);
    case 'string':
      return `string (char[${s.size}])`;
    case 'ip':
      return `IPv${s.family} address${s.be32 ? ' (be32)' : ''}`;
    case 'mac':
      return 'MAC address';
    case 'prefix':
      return `IPv${s.family} prefix`;
    case 'bytes':
      return s.label;
    case 'array':
      return withDim(describeShape(s.elem), s.length);
    case 'ptr':
      return 'pointer';
    case 'struct': {
      const parts = s.fields.map((f) => {
        if (!f.name) return describeShape(f.shape);
        return f.bitSize ? `${f.name}: ${describeShape(f.shape)}:${f.bitSize} (bitfield)` : `${f.name}: ${describeShape(f.shape)}`;
      });
      return `${structKeyword(s)} {${parts.join(', ')}}`;
    }
  }
}

/** Short form used inside `expected ...`: nested structs are named, not expanded. */
export function shortShape(s: Shape): string {
  if (s.k === 'struct') return structKeyword(s);
  if (s.k === 'array') return withDim(shortShape(s.elem), s.length);
  return describeShape(s);
}

/** The `expected ...` text of an error for a value of shape `s`. */
export function expectedOf(s: Shape): string {
  switch (s.k) {
    case 'int': {
      const [lo, hi] = intRange(s.size, s.signed);
      return `${s.label} (${lo}..${hi})`;
    }
    case 'bool':
      return 'bool (true|false)';
    case 'string':
      return `string of at most ${Math.max(0, s.size - 1)} bytes (char[${s.size}])`;
    case 'ip':
      if (s.family === 6) return 'IPv6 address';
      return s.be32 ? 'IPv4 address (a.b.c.d) or be32 integer' : 'IPv4 address (a.b.c.d)';
    case 'mac':
      return 'MAC address (aa:bb:cc:dd:ee:ff)';
    case 'prefix':
      return s.family === 4 ? 'IPv4 prefix (a.b.c.d/len)' : 'IPv6 prefix (address/len)';
    case 'bytes':
      return s.elem
        ? `${s.label} (0x + ${2 * s.size} hex digits, or a list of at most ${s.size} numbers)`
        : `${s.label} (raw bytes: 0x + ${2 * s.size} hex digits)`;
    case 'array':
      return `list of at most ${s.length} ${shortShape(s.elem)}`;
    case 'ptr':
      return 'null pointer (0): pointers cannot be set';
    case 'struct': {
      const names = fieldNames(s);
      if (names.length === 0) return `${structKeyword(s)} (raw bytes: 0x + ${2 * s.size} hex digits)`;
      return s.union
        ? `${structKeyword(s)} (object with exactly one of ${names.join(', ')})`
        : `${structKeyword(s)} (object with fields ${names.join(', ')})`;
    }
    case 'enum':
      return enumLabel(s);
  }
}
