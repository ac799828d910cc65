/**
 * What an object file declares, read without the kernel (ELF + BTF only): used by
 * `validate` and by the manifest layer to type map entries and globals.
 */
import type { BtfType } from './btf-types.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';

/**
 * The program type libbpf derives from the ELF section name: `kprobe` is the type of
 * kprobe and uprobe programs, `tracing` of fentry/fexit ones, `ext` of freplace ones.
 * `other` covers every other type and sections libbpf does not know (`SEC("xdp_ratelimiting")`): such a program
 * loads only with a type given by the caller (see BpfObject.loadPrograms).
 */
export type ProgramKind = 'xdp' | 'tc' | 'tracepoint' | 'kprobe' | 'tracing' | 'ext' | 'other';

export interface ProgramInfo {
  name: string;
  section: string;
  kind: ProgramKind;
  /** The section names no program type (kind `other`): the program loads only with a type given. */
  needsType?: true;
}

export interface MapInfo {
  name: string;
  /** Kernel map type name, e.g. `lpm_trie`, `hash`, `percpu_array`, `prog_array`. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Absent for maps declared by key_size/value_size only: their keys and values are raw. */
  key?: BtfType;
  value?: BtfType;
  /** Declared a parameter in the object's C source (`KFN_PARAM`, a BTF decl tag). */
  parameter?: boolean;
  /**
   * The object asks for the map to be pinned by name (`__uint(pinning, LIBBPF_PIN_BY_NAME)`).
   * kfn never honours it: a load pins nothing (see BpfObject.loadPrograms).
   */
  pinning?: 'by-name';
  /** What the map counts for metrics (`KFN_PACKETS` / `KFN_BYTES` / `KFN_DROPS`); absent: nothing. */
  counters?: MapCounter[];
}

/** What a counter counts: the metrics kfn_function_{packets,bytes,drops}_total. */
export enum CounterKind {
  Packets = 'packets',
  Bytes = 'bytes',
  Drops = 'drops',
}

/** BTF decl tags `kfn:counter:<kind>` (bpf/include/kfn.h). */
export const COUNTER_TAG_PREFIX = 'kfn:counter:';

export interface MapCounter {
  kind: CounterKind;
  /** Member of the map's value struct; absent: the value itself (an integer). */
  field?: string;
}

/** The BTF decl tag by which a function's C source declares a map a parameter (bpf/include/kfn.h). */
export const PARAMETER_TAG = 'kfn:param';

export interface GlobalInfo {
  name: string;
  /** `.rodata` (read-only after load) or `.data`/`.bss`. */
  section: string;
  /** Offset within the section's data. */
  offset: number;
  type: BtfType;
}

/**
 * Identity of a map's layout: kernel type, sizes and BTF key/value types. Two maps
 * with the same digest can be handed from one program to another as they are.
 */
export function mapLayoutDigest(m: Omit<MapInfo, 'parameter' | 'pinning' | 'counters'>): string {
  return sha256Hex(canonicalJson([m.type, m.keySize, m.valueSize, m.maxEntries, m.key ?? null, m.value ?? null]));
}

export interface ObjectInfo {
  path: string;
  sha256: string;
  programs: ProgramInfo[];
  /** User-visible maps (internal `.rodata`/`.data`/`.bss` maps excluded). */
  maps: MapInfo[];
  globals: GlobalInfo[];
}
