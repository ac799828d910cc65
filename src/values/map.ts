/** Map entries and globals: typed values plus their hex bytes and text. */
import type { BtfType } from '../libbpf/btf-types.js';
import type { GlobalInfo, MapInfo } from '../libbpf/object-info.js';
import type { GlobalValue, MapEntry } from '../core/types.js';
import { decodeShape, render } from './decode.js';
import { encodeShape } from './encode.js';
import { showGot, ValueError } from './errors.js';
import { toHex } from './int.js';
import { shapeOf, type Shape } from './shape.js';

const U8: BtfType = { kind: 'int', name: 'unsigned char', size: 1, signed: false, bool: false, char: false };

/**
 * Without BTF a key/value is an unsigned host-order integer when its size is 1/2/4/8,
 * else raw bytes ("0x..."). No name hints apply to it.
 */
function rawType(size: number): BtfType {
  if (size === 1 || size === 2 || size === 4 || size === 8) {
    return { kind: 'int', name: `u${size * 8}`, size, signed: false, bool: false, char: false };
  }
  return { kind: 'array', elem: U8, length: size };
}

/**
 * Shapes by BTF type and map name. shapeOf is pure and a BtfType is plain data that
 * nothing changes once built (libbpf/btf.ts shares one object per type id): an entry
 * lives as long as its type object, and thousands of entries of one type share it.
 */
const shapes = new WeakMap<BtfType, Map<string, Shape>>();
const rawShapes = new Map<number, Shape>();

/** The shape of a map key or value: BTF type with the map name as hint, else raw. */
function side(map: MapInfo, which: 'key' | 'value'): Shape {
  const t = map[which];
  if (!t) {
    const size = which === 'key' ? map.keySize : map.valueSize;
    let raw = rawShapes.get(size);
    if (!raw) rawShapes.set(size, (raw = shapeOf(rawType(size))));
    return raw;
  }
  let byName = shapes.get(t);
  if (!byName) shapes.set(t, (byName = new Map()));
  let shape = byName.get(map.name);
  if (!shape) byName.set(map.name, (shape = shapeOf(t, [map.name])));
  return shape;
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
  const ks = side(map, 'key');
  const vs = side(map, 'value');
  const path = `${map.name}[${keyLabel(key)}]`;
  const k = ks.k === 'bool' && (key === 'true' || key === 'false') ? key === 'true' : key;
  const kb = encodeShape(ks, k, path);
  const vb = encodeShape(vs, value, path);
  return { key: toHex(kb), value: toHex(vb), keyText: render(ks, decodeShape(ks, kb, 0)), valueText: render(vs, decodeShape(vs, vb, 0)) };
}

/** A map entry read from the kernel. Throws ValueError only when a buffer has the wrong size. */
export function decodeMapEntry(map: MapInfo, key: Uint8Array, value: Uint8Array): MapEntry {
  const ks = side(map, 'key');
  const vs = side(map, 'value');
  const keyText = decodeChecked(ks, key, `${map.name}[key]`);
  const valueText = decodeChecked(vs, value, `${map.name}[${keyText}]`);
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
