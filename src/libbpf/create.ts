import { bpf } from './ffi.js';
import { check } from './errors.js';
import { MAP_TYPE } from './constants.js';

/** A plain array map created from user space (kfn's metadata maps). Returns its fd. */
export function createArrayMap(name: string, valueSize: number, maxEntries: number): number {
  return check(bpf.map_create(MAP_TYPE.ARRAY, name, 4, valueSize, maxEntries, null), 'create map', name);
}
