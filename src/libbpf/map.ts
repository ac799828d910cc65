/** Element access on a map fd. Keys and values are raw bytes; typing lives in src/values. */
import { KfnError } from '../core/errors.js';
import { bpf } from './ffi.js';
import { BpfError, check, ENOENT } from './errors.js';
import { BPF_ANY, MAP_TYPE } from './constants.js';
import type { MapKernelInfo } from './info.js';

let possibleCpus: number | undefined;
export function numPossibleCpus(): number {
  possibleCpus ??= check(bpf.num_possible_cpus(), 'count', 'possible CPUs');
  return possibleCpus;
}

export function isPerCpu(type: number): boolean {
  return type === MAP_TYPE.PERCPU_ARRAY || type === MAP_TYPE.PERCPU_HASH || type === MAP_TYPE.LRU_PERCPU_HASH;
}

/** Bytes of one CPU's slot in a per-CPU value buffer: the kernel rounds each up to 8. */
function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** Bytes a lookup returns: per-CPU maps return one 8-byte-aligned slot per possible CPU. */
export function lookupSize(info: Pick<MapKernelInfo, 'type' | 'valueSize'>): number {
  return isPerCpu(info.type) ? perCpuStride(info.valueSize) * numPossibleCpus() : info.valueSize;
}

function sizeError(label: string, what: string, got: number, expected: string): KfnError {
  return new KfnError('VALUE_INVALID', `map ${label}: ${what} of ${got} bytes, expected ${expected}`, {
    hint: 'the bytes were encoded for another layout than the live map has (run plan again), or this is a kfn bug',
  });
}

export class MapHandle {
  constructor(
    readonly fd: number,
    readonly info: MapKernelInfo,
    /** Name used in error messages (pin path or map name). */
    readonly label: string,
  ) {}

  /** The kernel reads key_size bytes whatever the buffer holds: refuse a short one here. */
  private keyBuffer(key: Uint8Array): Buffer {
    if (key.length !== this.info.keySize) throw sizeError(this.label, 'key', key.length, `${this.info.keySize}`);
    return Buffer.from(key);
  }

  /** The raw value: for a per-CPU map, every possible CPU's slot (see perCpuValues). */
  lookup(key: Uint8Array): Buffer | undefined {
    const value = Buffer.alloc(lookupSize(this.info));
    const ret = bpf.map_lookup_elem(this.fd, this.keyBuffer(key), value);
    if (ret === -ENOENT) return undefined;
    check(ret, 'look up in map', this.label);
    return value;
  }

  /** The value of every possible CPU, in CPU order; a map that is not per-CPU has one shared value. */
  lookupPerCpu(key: Uint8Array): Buffer[] | undefined {
    const raw = this.lookup(key);
    if (!raw) return undefined;
    return isPerCpu(this.info.type) ? perCpuValues(this.info, raw) : [raw];
  }

  /**
   * `value` is one value of value_size bytes; for a per-CPU map it is written to every
   * possible CPU's slot. A per-CPU map also takes the whole per-CPU buffer (lookupSize
   * bytes, e.g. from packPerCpu) to give each CPU its own value.
   */
  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    check(bpf.map_update_elem(this.fd, this.keyBuffer(key), this.valueBuffer(value), flags), 'update map', this.label);
  }

  private valueBuffer(value: Uint8Array): Buffer {
    if (value.length === lookupSize(this.info)) return Buffer.from(value);
    if (isPerCpu(this.info.type) && value.length === this.info.valueSize) {
      return packPerCpu(this.info, new Array<Uint8Array>(numPossibleCpus()).fill(value));
    }
    const expected = isPerCpu(this.info.type)
      ? `${this.info.valueSize} (one value for every CPU) or ${lookupSize(this.info)} (${numPossibleCpus()} CPU slots of ${perCpuStride(this.info.valueSize)})`
      : `${this.info.valueSize}`;
    throw sizeError(this.label, 'value', value.length, expected);
  }

  delete(key: Uint8Array): boolean {
    const ret = bpf.map_delete_elem(this.fd, this.keyBuffer(key));
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

  /** Every (key, value); entries deleted during the walk are skipped. Per-CPU values are raw (lookup). */
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
  const stride = perCpuStride(info.valueSize);
  const out: Buffer[] = [];
  for (let off = 0; off + stride <= raw.length; off += stride) out.push(raw.subarray(off, off + info.valueSize));
  return out;
}

/** The inverse of perCpuValues: one value per possible CPU -> the buffer a per-CPU update takes. */
export function packPerCpu(info: Pick<MapKernelInfo, 'valueSize' | 'name'>, values: readonly Uint8Array[]): Buffer {
  const cpus = numPossibleCpus();
  if (values.length !== cpus) {
    throw new KfnError('VALUE_INVALID', `map ${info.name}: ${values.length} per-CPU values, expected one for each of the ${cpus} possible CPUs`, {
      hint: 'give one value for every possible CPU (libbpf_num_possible_cpus), or a single value to write to all of them',
    });
  }
  const stride = perCpuStride(info.valueSize);
  const out = Buffer.alloc(stride * cpus);
  values.forEach((v, cpu) => {
    if (v.length !== info.valueSize) throw sizeError(info.name, `value of CPU ${cpu}`, v.length, `${info.valueSize}`);
    out.set(v, cpu * stride);
  });
  return out;
}
