/**
 * BTF types as plain data, resolved from libbpf's `struct btf` (see btf.ts).
 * `const`/`volatile`/`restrict` qualifiers are stripped; typedefs are kept because
 * their names carry meaning (`__be16` is a port in network byte order).
 */
export type BtfType =
  | BtfInt
  | BtfEnum
  | BtfStruct
  | BtfArray
  | BtfTypedef
  | BtfPointer
  | BtfOpaque;

export interface BtfInt {
  kind: 'int';
  name: string;
  /** Bytes: 1, 2, 4, 8 or 16. */
  size: number;
  signed: boolean;
  bool: boolean;
  char: boolean;
}

export interface BtfEnum {
  kind: 'enum';
  name: string;
  size: number;
  signed: boolean;
  values: { name: string; value: bigint }[];
}

export interface BtfMember {
  name: string;
  /** Offset from the start of the struct, in bytes. */
  offset: number;
  /** Set for bitfield members; kfn refuses to encode into them. */
  bitSize?: number;
  type: BtfType;
}

export interface BtfStruct {
  kind: 'struct' | 'union';
  name: string;
  size: number;
  members: BtfMember[];
}

export interface BtfArray {
  kind: 'array';
  elem: BtfType;
  length: number;
}

export interface BtfTypedef {
  kind: 'typedef';
  name: string;
  type: BtfType;
}

export interface BtfPointer {
  kind: 'ptr';
  size: 8;
}

/** float, func proto, forward declarations: sized but not encodable. */
export interface BtfOpaque {
  kind: 'opaque';
  name: string;
  size: number;
}

export function btfSizeOf(t: BtfType): number {
  switch (t.kind) {
    case 'array':
      return btfSizeOf(t.elem) * t.length;
    case 'typedef':
      return btfSizeOf(t.type);
    default:
      return t.size;
  }
}

/** Follows typedefs down to the underlying type. */
export function btfResolve(t: BtfType): Exclude<BtfType, BtfTypedef> {
  let cur: BtfType = t;
  while (cur.kind === 'typedef') cur = cur.type;
  return cur;
}
