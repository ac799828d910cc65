/** Element access on a map fd. Keys and values are raw bytes; typing lives in src/values. */
import { bpf } from './ffi.js';
import { BpfError, check } from './errors.js';
import { BPF_ANY, MAP_TYPE } from './constants.js';
import type { MapKernelInfo } from './info.js';

const ENOENT = 2;

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
  possibleCpus ??= check(bpf.num_possible_cpus(), 'count', 'possible CPUs');
  return possibleCpus;
}

export function isPerCpu(type: number): boolean {
  return type === MAP_TYPE.PERCPU_ARRAY || type === MAP_TYPE.PERCPU_HASH || type === MAP_TYPE.LRU_PERCPU_HASH;
}

/** Bytes a lookup returns: per-CPU maps return one 8-byte-aligned slot per possible CPU. */
export function lookupSize(info: Pick<MapKernelInfo, 'type' | 'valueSize'>): number {
  return isPerCpu(info.type) ? Math.ceil(info.valueSize / 8) * 8 * numPossibleCpus() : info.valueSize;
}

export class MapHandle {
  constructor(
    readonly fd: number,
    readonly info: MapKernelInfo,
    /** Name used in error messages (pin path or map name). */
    readonly label: string,
  ) {}

  lookup(key: Uint8Array): Buffer | undefined {
    const value = Buffer.alloc(lookupSize(this.info));
    const ret = bpf.map_lookup_elem(this.fd, Buffer.from(key), value);
    if (ret === -ENOENT) return undefined;
    check(ret, 'look up in map', this.label);
    return value;
  }

  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    check(bpf.map_update_elem(this.fd, Buffer.from(key), Buffer.from(value), flags), 'update map', this.label);
  }

  delete(key: Uint8Array): boolean {
    const ret = bpf.map_delete_elem(this.fd, Buffer.from(key));
    if (ret === -ENOENT) return false;
    check(ret, 'delete from map', this.label);
    return true;
  }

  /** Every key, in the kernel's iteration order; bounded by max_entries. */
  keys(): Buffer[] {
    const out: Buffer[] = [];
    let prev: Buffer | null = null;
    for (let i = 0; i <= this.info.maxEntries; i++) {
      const next = Buffer.alloc(this.info.keySize);
      const ret = bpf.map_get_next_key(this.fd, prev, next);
      if (ret === -ENOENT) return out;
      if (ret < 0) throw new BpfError('iterate map', this.label, -ret);
      out.push(next);
      prev = next;
    }
    return out;
  }

  /** Every (key, value); entries deleted during the walk are skipped. */
  entries(): { key: Buffer; value: Buffer }[] {
    const out: { key: Buffer; value: Buffer }[] = [];
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) out.push({ key, value });
    }
    return out;
  }
}

/** Splits a per-CPU lookup result into one value per CPU. */
export function perCpuValues(info: Pick<MapKernelInfo, 'valueSize'>, raw: Buffer): Buffer[] {
  const stride = Math.ceil(info.valueSize / 8) * 8;
  const out: Buffer[] = [];
  for (let off = 0; off + stride <= raw.length; off += stride) out.push(raw.subarray(off, off + info.valueSize));
  return out;
}
