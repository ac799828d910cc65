/** Map entries and globals: typed values plus their hex bytes and text. */
import type { BtfType } from '../libbpf/btf-types.js';
import type { GlobalInfo, MapInfo } from '../libbpf/object-info.js';
import type { GlobalValue, MapEntry } from '../core/types.js';
import { decodeShape, render } from './decode.js';
import { encodeShape } from './encode.js';
import { fail, showGot, ValueError } from './errors.js';
import { intRange, parseHexBytes, toHex } from './int.js';
import { shapeOf, type Shape } from './shape.js';

const U8: BtfType = { kind: 'int', name: 'unsigned char', size: 1, signed: false, bool: false, char: false };

/**
 * One side (key or value) of a map. Without BTF (maps declared by key_size/value_size
 * only) a side of 1/2/4/8 bytes is an unsigned integer in host byte order, any other
 * size raw bytes; no name hints apply.
 */
interface Side {
  shape: Shape;
  /** Declared by size only. */
  raw: boolean;
}

function rawType(size: number): BtfType {
  if (size === 1 || size === 2 || size === 4 || size === 8) {
    return { kind: 'int', name: `u${size * 8}`, size, signed: false, bool: false, char: false };
  }
  return { kind: 'array', elem: U8, length: size };
}

/**
 * Sides by BTF type and map name. shapeOf is pure and a BtfType is plain data that
 * nothing changes once built (libbpf/btf.ts shares one object per type id): an entry
 * lives as long as its type object, and thousands of entries of one type share it.
 */
const shapes = new WeakMap<BtfType, Map<string, Side>>();
const rawShapes = new Map<number, Side>();

/**
 * The type of a map key or value: its BTF type, or for a map declared by sizes only the
 * unsigned integer (1/2/4/8 bytes, host byte order) or byte array of that size.
 */
export function mapSideType(map: MapInfo, which: 'key' | 'value'): BtfType {
  return map[which] ?? rawType(which === 'key' ? map.keySize : map.valueSize);
}

/** The shape of a map key or value: BTF type with the map name as hint, else raw. */
function side(map: MapInfo, which: 'key' | 'value'): Side {
  const t = map[which];
  if (!t) {
    const size = which === 'key' ? map.keySize : map.valueSize;
    let raw = rawShapes.get(size);
    if (!raw) rawShapes.set(size, (raw = { shape: shapeOf(mapSideType(map, which)), raw: true }));
    return raw;
  }
  let byName = shapes.get(t);
  if (!byName) shapes.set(t, (byName = new Map()));
  let typed = byName.get(map.name);
  if (!typed) byName.set(map.name, (typed = { shape: shapeOf(t, [map.name]), raw: false }));
  return typed;
}

/**
 * A raw integer side takes an integer (range-checked), or its stored bytes as "0x" and
 * exactly two hex digits per byte, in memory order: with no type to say otherwise,
 * "0x0100" for a 2-byte key is the bytes 01 00 (the integer 1), as bpftool shows them,
 * never the integer 256. A "0x" string of another length is refused as ambiguous.
 */
function encodeSide(s: Side, v: unknown, path: string): Uint8Array {
  if (!s.raw || s.shape.k !== 'int') return encodeShape(s.shape, v, path);
  const [lo, hi] = intRange(s.shape.size, false);
  const expected = `${s.shape.label} in host byte order (${lo}..${hi}), or its ${s.shape.size} stored bytes (0x + ${2 * s.shape.size} hex digits)`;
  if (typeof v === 'string' && /^-?0[xX]/.test(v)) {
    const raw = parseHexBytes(v, s.shape.size);
    if (raw) return raw;
    fail(path, expected, v, `the map has no BTF type: a 0x string is the ${s.shape.size} bytes as stored; write an integer in decimal`);
  }
  try {
    return encodeShape(s.shape, v, path);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(e.path, expected, e.got, e.hint);
    throw e;
  }
}

function keyLabel(key: unknown): string {
  return typeof key === 'string' || typeof key === 'number' || typeof key === 'bigint' ? String(key) : showGot(key);
}

function decodeChecked(s: Shape, bytes: Uint8Array, path: string): string {
  if (bytes.length !== s.size) throw new ValueError(path, `${s.size} bytes`, `${bytes.length} bytes`);
  return render(s, decodeShape(s, bytes, 0));
}

/**
 * A map entry from YAML. Errors have the path `<map>[<key>]` (plus `.field...` inside
 * the value). YAML map keys arrive as strings; for a bool key "true"/"false" are accepted.
 */
export function encodeMapEntry(map: MapInfo, key: unknown, value: unknown): MapEntry {
  const k = encodeMapKey(map, key);
  const vs = side(map, 'value');
  const vb = encodeSide(vs, value, `${map.name}[${keyLabel(key)}]`);
  return { key: k.key, value: toHex(vb), keyText: k.keyText, valueText: render(vs.shape, decodeShape(vs.shape, vb, 0)) };
}

/** A map key from YAML alone (as encodeMapEntry encodes it): its hex bytes and text. */
export function encodeMapKey(map: MapInfo, key: unknown): Pick<MapEntry, 'key' | 'keyText'> {
  const ks = side(map, 'key');
  const k = ks.shape.k === 'bool' && (key === 'true' || key === 'false') ? key === 'true' : key;
  const kb = encodeSide(ks, k, `${map.name}[${keyLabel(key)}]`);
  return { key: toHex(kb), keyText: render(ks.shape, decodeShape(ks.shape, kb, 0)) };
}

/** A map entry read from the kernel. Throws ValueError only when a buffer has the wrong size. */
export function decodeMapEntry(map: MapInfo, key: Uint8Array, value: Uint8Array): MapEntry {
  const ks = side(map, 'key');
  const vs = side(map, 'value');
  const keyText = decodeChecked(ks.shape, key, `${map.name}[key]`);
  const valueText = decodeChecked(vs.shape, value, `${map.name}[${keyText}]`);
  return { key: toHex(key), value: toHex(value), keyText, valueText };
}

/** A global (`.rodata`/`.data`) from YAML; the variable name is the path and the hint. */
export function encodeGlobal(g: GlobalInfo, value: unknown): GlobalValue {
  const s = shapeOf(g.type, [g.name]);
  const b = encodeShape(s, value, g.name);
  return { value: toHex(b), valueText: render(s, decodeShape(s, b, 0)) };
}

/** A global's bytes (e.g. read back from the loaded object) as a GlobalValue. */
export function decodeGlobal(g: GlobalInfo, bytes: Uint8Array): GlobalValue {
  const s = shapeOf(g.type, [g.name]);
  return { value: toHex(bytes), valueText: decodeChecked(s, bytes, g.name) };
}


/**
 * An array map always holds every index; an all-zero value is how a slot reads when
 * nothing was written to it. kfn treats such a slot as absent, in manifests and in the
 * kernel alike, so `{"0": {rate_pps: 0}}` and an unmentioned index are the same state.
 */
export function isUnsetSlot(mapType: string, value: Uint8Array | string): boolean {
  if (mapType !== 'array' && mapType !== 'percpu_array') return false;
  return typeof value === 'string' ? /^0*$/.test(value) : value.every((b) => b === 0);
}
