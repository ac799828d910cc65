/**
 * Typed values: YAML values <-> the exact bytes of a BTF type (map keys/values, globals).
 * Pure functions; nothing here touches the kernel. The rules per type are documented in
 * encode.ts (inputs) and net.ts (addresses, prefixes, MACs, network byte order).
 *
 * `name` (optional everywhere) is the member/variable/map name the type belongs to: it
 * drives the address/MAC hints of net.ts, so pass the same name to encode and decode.
 *
 * CANONICAL DECODED FORMS (what decodeValue returns):
 *   int (any width, be16/32/64)  number when a safe integer, else its decimal string
 *   bool                         true | false
 *   enum                         the first member name with that value
 *   char array                   the string up to the first NUL, when the bytes are
 *                                NUL-terminated, zero after the NUL and valid UTF-8; else
 *                                the list of all N chars as numbers
 *   IPv4/IPv6 address            "198.18.0.1" / "2001:db8::1" (RFC 5952)
 *   be32 address                 "a.b.c.d"
 *   prefix (LPM key)             "198.18.0.0/15", always with the length
 *   MAC                          "aa:bb:cc:dd:ee:ff"
 *   byte array, opaque           "0x" + lower-case hex of every byte
 *   array                        a list of exactly `length` elements
 *   struct                       an object with every non-bitfield member (anonymous
 *                                members' fields lifted), in declaration order
 *   union                        { member: value } for the first member whose value
 *                                re-encodes to exactly the bytes; else "0x" raw hex
 *   pointer                      its integer value
 *
 * ROUND-TRIP LAW: for every VALID byte buffer b of a type t (bool bytes 0/1, enum values
 * of the enum, prefixes with length <= max and no host bits, IPv6 addresses and prefixes
 * that are not IPv4-mapped, zero padding, zero bitfield storage, null pointers),
 * encodeValue(t, decodeValue(t, b, n), '', n) equals b. Every canonical form above is
 * also an accepted input; char arrays, unions and byte arrays satisfy the law for ANY
 * bytes.
 */
import type { BtfType } from '../libbpf/btf-types.js';
import { describeShape } from './describe.js';
import { decodeShape, render } from './decode.js';
import { encodeShape } from './encode.js';
import { ValueError } from './errors.js';
import { shapeOf } from './shape.js';
import { sumShape } from './sum.js';

export { ValueError } from './errors.js';
export { encodeMapEntry, encodeMapKey, decodeMapEntry, encodeGlobal, decodeGlobal, isUnsetSlot, mapSideType } from './map.js';

function names(name: string | undefined): string[] {
  return name ? [name] : [];
}

function checkSize(size: number, bytes: Uint8Array, path: string): void {
  if (bytes.length !== size) throw new ValueError(path, `${size} bytes`, `${bytes.length} bytes`);
}

/** YAML value -> bytes of exactly the size of `type`. Throws ValueError. */
export function encodeValue(type: BtfType, value: unknown, path = '', name?: string): Uint8Array {
  return encodeShape(shapeOf(type, names(name)), value, path);
}

/** Bytes -> canonical value (see above). Throws ValueError only for a wrong-sized buffer. */
export function decodeValue(type: BtfType, bytes: Uint8Array, name?: string): unknown {
  const s = shapeOf(type, names(name));
  checkSize(s.size, bytes, '');
  return decodeShape(s, bytes, 0);
}

/** One-line human text: `198.18.0.0/15`, `{packets: 3, bytes: 180}`, `"eth0"`. */
export function formatValue(type: BtfType, bytes: Uint8Array, name?: string): string {
  const s = shapeOf(type, names(name));
  checkSize(s.size, bytes, '');
  return render(s, decodeShape(s, bytes, 0));
}

/**
 * The per-CPU values of a per-CPU map entry (one buffer of the type's size per CPU, CPU 0
 * first, as libbpf's perCpuValues returns them) summed into one value of `type`: number
 * leaves added with wrap-around at their width, everything else taken from CPU 0 (see
 * sum.ts). `name` is the same hint as for decodeValue (the map name for map values).
 * Throws ValueError for no values or a wrong-sized one.
 */
export function sumPerCpuValues(type: BtfType, values: readonly Uint8Array[], name?: string): Uint8Array {
  const s = shapeOf(type, names(name));
  if (values.length === 0) throw new ValueError('', 'at least one per-CPU value', 'none');
  values.forEach((v, cpu) => checkSize(s.size, v, `cpu[${cpu}]`));
  return sumShape(s, values);
}

/** `u32`, `IPv4 prefix`, `struct foo {a: u8, b: IPv4 address}`, `enum verdict (pass|drop)`. */
export function describeType(type: BtfType, name?: string): string {
  return describeShape(shapeOf(type, names(name)));
}
