/**
 * One kernel function program loaded straight through src/libbpf (no CLI, no pins),
 * its maps written and read with the same BTF-typed encoder the manifests use
 * (src/values), so a test sets `rules_v4: {"198.18.1.0/24": {rate_pps: 1, burst: 4}}`
 * exactly as a Chain would. Everything lives in this process's fds: close() frees it.
 */
import path from 'node:path';
import {
  BpfObject,
  MapHandle,
  btfResolve,
  isPerCpu,
  mapInfoByFd,
  perCpuValues,
  type MapInfo,
  type ObjectInfo,
} from '../../src/libbpf/index.js';
import { decodeMapEntry, encodeGlobal, encodeMapEntry } from '../../src/values/index.js';
import type { MapEntry } from '../../src/core/types.js';
import { BPF_BUILD } from './paths.js';

export class LoadedFunction {
  private constructor(
    readonly info: ObjectInfo,
    readonly progFd: number,
    private readonly mapFds: Record<string, number>,
    private readonly obj: BpfObject,
  ) {}

  /**
   * Loads `program` of bpf/build/<object>.bpf.o. `globals` are .rodata values as a
   * manifest writes them; `share` hands maps of another loaded program to this one
   * (the programs of one function sharing state).
   */
  static load(object: string, program: string, opts: { globals?: Record<string, unknown>; share?: { from: LoadedFunction; maps: string[] } } = {}): LoadedFunction {
    const file = path.join(BPF_BUILD, `${object}.bpf.o`);
    const obj = BpfObject.open(file);
    try {
      const info = obj.info(obj.sha256());
      const globals = Object.entries(opts.globals ?? {}).map(([name, value]) => {
        const g = info.globals.find((x) => x.name === name);
        if (!g) throw new Error(`${object} has no global ${name}`);
        return { section: g.section, offset: g.offset, bytes: Buffer.from(encodeGlobal(g, value).value, 'hex') };
      });
      const reuseMapFds = Object.fromEntries((opts.share?.maps ?? []).map((m) => [m, opts.share!.from.mapFd(m)]));
      const loaded = obj.load(program, { globals, reuseMapFds });
      return new LoadedFunction(info, loaded.progFd, loaded.mapFds, obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  mapFd(name: string): number {
    const fd = this.mapFds[name];
    if (fd === undefined) throw new Error(`no map ${name} in ${this.info.path}`);
    return fd;
  }

  mapInfo(name: string): MapInfo {
    const m = this.info.maps.find((x) => x.name === name);
    if (!m) throw new Error(`no map ${name} in ${this.info.path}`);
    return m;
  }

  handle(name: string): MapHandle {
    const fd = this.mapFd(name);
    return new MapHandle(fd, mapInfoByFd(fd), name);
  }

  /** Writes entries given as a manifest's `maps.<name>` mapping (key text -> value). */
  set(name: string, entries: Record<string, unknown>): void {
    const h = this.handle(name);
    for (const [k, v] of Object.entries(entries)) {
      const e = encodeMapEntry(this.mapInfo(name), k, v);
      h.update(Buffer.from(e.key, 'hex'), Buffer.from(e.value, 'hex'));
    }
  }

  /** Deletes an entry given by its key text. */
  unset(name: string, key: string): boolean {
    const e = encodeMapEntry(this.mapInfo(name), key, this.zeroValue(name));
    return this.handle(name).delete(Buffer.from(e.key, 'hex'));
  }

  private zeroValue(name: string): unknown {
    const v = this.mapInfo(name).value;
    return v && btfResolve(v).kind === 'struct' ? {} : 0;
  }

  /** Entries of a map that is not per-CPU, decoded as `kfn show` would print them. */
  entries(name: string): MapEntry[] {
    const h = this.handle(name);
    if (isPerCpu(h.info.type)) throw new Error(`${name} is per-CPU: use sum()`);
    return h.entries().map((e) => decodeMapEntry(this.mapInfo(name), e.key, e.value));
  }

  /** keyText -> the value's u64 fields (or the value itself as `value`), from a map that is not per-CPU. */
  fields(name: string): Map<string, Record<string, bigint>> {
    const h = this.handle(name);
    const out = new Map<string, Record<string, bigint>>();
    for (const e of h.entries()) out.set(decodeMapEntry(this.mapInfo(name), e.key, e.value).keyText, this.u64Fields(name, e.value));
    return out;
  }

  /** The u64 fields of one per-CPU entry (key bytes), summed over CPUs. */
  sum(name: string, key: Uint8Array = new Uint8Array(4)): Record<string, bigint> {
    const h = this.handle(name);
    const raw = h.lookup(key);
    const total: Record<string, bigint> = {};
    for (const cpu of raw ? perCpuValues(h.info, raw) : []) {
      for (const [f, v] of Object.entries(this.u64Fields(name, cpu))) total[f] = (total[f] ?? 0n) + v;
    }
    return total;
  }

  /** Every 8-byte member of the map's value struct (a plain u64 value is `value`). */
  private u64Fields(name: string, value: Buffer): Record<string, bigint> {
    const t = this.mapInfo(name).value;
    const r = t && btfResolve(t);
    if (!r || r.kind !== 'struct') return { value: value.readBigUInt64LE(0) };
    const out: Record<string, bigint> = {};
    for (const m of r.members) {
      const mt = btfResolve(m.type);
      if ((mt.kind === 'int' || mt.kind === 'enum') && mt.size === 8) out[m.name] = value.readBigUInt64LE(m.offset);
    }
    return out;
  }

  close(): void {
    // The object owns the program and map fds; closing it releases them.
    this.obj.close();
  }
}
