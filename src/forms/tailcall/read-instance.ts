/**
 * Reading one function instance's pins and maps, and the scope one read of the live state
 * shares across instances: the chain reader, the probe reader and the counters all start here.
 */
import fs from 'node:fs';
import {
  BpfError,
  MapHandle,
  fdById,
  mapInfoByFd,
  progIdByFd,
  tryOpenPinned,
  withFd,
  KernelBtfCache,
  mapLayoutDigest,
  isPerCpu,
  perCpuValues,
  type MapInfo,
  type MapKernelInfo,
} from '../../libbpf/index.js';
import { decodeMapEntry, isUnsetSlot } from '../../values/index.js';
import type { MapEntry } from '../../core/types.js';
import { instancePins, under } from './layout.js';

/**
 * Instances loaded by a kfn that did not record their parameter maps: these map kinds
 * were its parameters. Current metadata names them (the function's one definition).
 */
const LEGACY_PARAMETER_MAP_TYPES = new Set(['hash', 'array', 'lpm_trie']);

/**
 * What one read of the live state learns once and uses for every instance: kernel BTF
 * typed once per content, and each map layout's digest computed once. Made for one read
 * and dropped with it, so nothing carries over to the next.
 */
export class ReadScope {
  readonly btf = new KernelBtfCache();
  private readonly layouts = new Map<string, string>();
  private readonly described = new Map<string, { typed: MapInfo; layout: string }>();

  /** MapInfo (with BTF key/value types from the kernel) of a live map, for the value codec. */
  typed(name: string, info: MapKernelInfo): MapInfo {
    const m: MapInfo = { name, type: info.typeName, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries };
    const hit = this.btf.get(info.btfId);
    if (hit && info.btfKeyTypeId) m.key = hit.btf.type(info.btfKeyTypeId);
    if (hit && info.btfValueTypeId) m.value = hit.btf.type(info.btfValueTypeId);
    const counters = hit?.btf.counters(name, info.btfValueTypeId) ?? [];
    if (counters.length) m.counters = counters;
    return m;
  }

  /** mapLayoutDigest of `typed`, which this scope typed from `info`. */
  layout(typed: MapInfo, info: MapKernelInfo): string {
    const key = [this.btf.get(info.btfId)?.content ?? '', info.type, info.keySize, info.valueSize, info.maxEntries, info.btfKeyTypeId, info.btfValueTypeId].join(':');
    let digest = this.layouts.get(key);
    if (digest === undefined) {
      digest = mapLayoutDigest(typed);
      this.layouts.set(key, digest);
    }
    return digest;
  }

  /**
   * `typed` and its layout digest. Given the sha256 of the object the map was loaded from,
   * the maps of other loads of that object are described without fetching their BTF: a
   * load's BTF is its object's, the same bytes with the same type ids.
   */
  describe(name: string, info: MapKernelInfo, objectSha256?: string): { typed: MapInfo; layout: string } {
    const key = objectSha256 && [objectSha256, name, info.type, info.keySize, info.valueSize, info.maxEntries, info.btfKeyTypeId, info.btfValueTypeId].join(':');
    let d = key ? this.described.get(key) : undefined;
    if (!d) {
      const typed = this.typed(name, info);
      d = { typed, layout: this.layout(typed, info) };
      if (key) this.described.set(key, d);
    }
    return { typed: { ...d.typed }, layout: d.layout };
  }

  close(): void {
    this.btf.close();
  }
}

/** Runs `fn` with a scope that is closed afterwards. */
export function withReadScope<T>(fn: (scope: ReadScope) => T): T {
  const scope = new ReadScope();
  try {
    return fn(scope);
  } finally {
    scope.close();
  }
}

/** An fd of the pinned object, or undefined when the pin is missing or is not a BPF object. */
export function openPin(pin: string): number | undefined {
  try {
    return tryOpenPinned(pin);
  } catch (e) {
    if (e instanceof BpfError) return undefined;
    throw e;
  }
}

/** The id of the object pinned at `pin` (0: missing, or not of that kind). */
export function pinnedId(pin: string, info: (fd: number) => { id: number }): number {
  const fd = openPin(pin);
  if (fd === undefined) return 0;
  return withFd(fd, (f) => {
    try {
      return info(f).id;
    } catch {
      return 0;
    }
  });
}

export function pinnedProgId(pin: string): number {
  return pinnedId(pin, (fd) => ({ id: progIdByFd(fd) }));
}

/**
 * One pass over an instance's maps, each typed from kernel BTF once: the decoded
 * entries of its parameter maps (state maps are left out) and every map's layout digest.
 */
export function readInstanceMaps(
  instancePinDir: string,
  parameters: string[] | undefined,
  scope: ReadScope,
  opts: { byId?: readonly { name: string; id: number }[]; objectSha256?: string; pins?: readonly { name: string; pin: string }[] } = {},
): { maps: Record<string, MapEntry[]>; stateMaps: Record<string, string> } {
  const maps: Record<string, MapEntry[]> = {};
  const stateMaps: Record<string, string> = {};
  const isParameter = (name: string, typeName: string): boolean => (parameters ? parameters.includes(name) : LEGACY_PARAMETER_MAP_TYPES.has(typeName));
  const refs: { name: string; pin: string; open: () => number | undefined }[] = [
    ...(opts.pins ?? instanceMapPins(instancePinDir)).map((m) => ({ ...m, open: () => openPin(m.pin) })),
    ...(opts.byId ?? []).map((m) => ({ name: m.name, pin: `map ${m.id}`, open: () => openMapById(m.id) })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { name, pin, open } of refs) {
    const fd = open();
    if (fd === undefined) continue;
    withFd(fd, (f) => {
      let info: MapKernelInfo;
      try {
        info = mapInfoByFd(f);
      } catch {
        return; // a program or link pinned where a map belongs
      }
      const { typed, layout } = scope.describe(name, info, opts.objectSha256);
      stateMaps[name] = layout;
      if (isParameter(name, info.typeName)) maps[name] = readMapEntries(new MapHandle(f, info, pin), typed);
    });
  }
  return { maps, stateMaps };
}

export function openMapById(id: number): number | undefined {
  try {
    return fdById('map', id);
  } catch {
    return undefined;
  }
}

/** The map pins of an instance, by map name, in name order. */
export function instanceMapPins(instancePinDir: string): { name: string; pin: string }[] {
  const dir = instancePins(instancePinDir).maps;
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return files.map((file) => {
    let name = file;
    try {
      name = decodeURIComponent(file);
    } catch {
      /* not a name kfn wrote: shown as it is */
    }
    return { name, pin: under(dir, file) };
  });
}

export function listInstanceMaps(instancePinDir: string): { name: string; pin: string; info: MapKernelInfo }[] {
  return instanceMapPins(instancePinDir).flatMap(({ name, pin }) => {
    const fd = openPin(pin);
    if (fd === undefined) return [];
    const info = withFd(fd, (f) => {
      try {
        return mapInfoByFd(f);
      } catch {
        return undefined; // a program or link pinned where a map belongs
      }
    });
    return info ? [{ name, pin, info }] : [];
  });
}


/**
 * A per-CPU parameter holds one value, written to every CPU. When the CPUs agree that is
 * the value; when they do not (someone wrote one CPU's slot), the whole per-CPU buffer,
 * which can never equal a desired value, so the plan shows it as drift and rewrites it.
 */
function oneValue(info: MapKernelInfo, raw: Buffer): Buffer {
  const cpus = perCpuValues(info, raw);
  const first = cpus[0] ?? Buffer.alloc(info.valueSize);
  return cpus.every((c) => c.equals(first)) ? Buffer.from(first) : raw;
}

function unevenEntry(typed: MapInfo, key: Buffer, raw: Buffer): MapEntry {
  const cpus = perCpuValues({ valueSize: typed.valueSize }, raw);
  const one = decodeMapEntry(typed, key, cpus[0]!);
  const texts = cpus.map((c) => decodeMapEntry(typed, key, c).valueText);
  return { ...one, value: raw.toString('hex'), valueText: `per-CPU values differ: [${texts.join(', ')}]` };
}

/** All entries of a map, decoded and sorted by key bytes; unset (all-zero) array slots are omitted. */
function readMapEntries(handle: MapHandle, typed: MapInfo): MapEntry[] {
  const { info } = handle;
  return handle
    .entries()
    .map((e) => ({ key: e.key, value: isPerCpu(info.type) ? oneValue(info, e.value) : e.value }))
    .filter((e) => !isUnsetSlot(info.typeName, e.value))
    .map((e) => (e.value.length === info.valueSize ? decodeMapEntry(typed, e.key, e.value) : unevenEntry(typed, e.key, e.value)))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

