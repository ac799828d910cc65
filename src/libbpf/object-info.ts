/**
 * What an object file declares, read without the kernel (ELF + BTF only): used by
 * `validate` and by the manifest layer to type map entries and globals.
 */
import type { BtfType } from './btf-types.js';

export type ProgramKind = 'xdp' | 'tc' | 'other';

export interface ProgramInfo {
  name: string;
  section: string;
  kind: ProgramKind;
}

export interface MapInfo {
  name: string;
  /** Kernel map type name, e.g. `lpm_trie`, `hash`, `percpu_array`, `prog_array`. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  key?: BtfType;
  value?: BtfType;
}

export interface GlobalInfo {
  name: string;
  /** `.rodata` (read-only after load) or `.data`/`.bss`. */
  section: string;
  /** Offset within the section's data. */
  offset: number;
  type: BtfType;
}

export interface ObjectInfo {
  path: string;
  sha256: string;
  programs: ProgramInfo[];
  /** User-visible maps (internal `.rodata`/`.data`/`.bss` maps excluded). */
  maps: MapInfo[];
  globals: GlobalInfo[];
}
