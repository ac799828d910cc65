/**
 * What each function instance saw: its state maps (counters, flow tables) decoded,
 * per-CPU values summed into one. Read for `kfn show --stats` and the demo.
 */
import { MapHandle, btfResolve, perCpuValues, isPerCpu, openPinned, withFd, type BtfType, type MapKernelInfo } from '../libbpf/index.js';
import { formatValue } from '../values/index.js';
import { PARAMETER_MAP_TYPES, listInstanceMaps, typedMapInfo } from './read.js';

export interface StatLine {
  map: string;
  text: string;
}

/** Adds the integer leaves of `src` into `dst` (same BTF type), in place. */
function addInto(type: BtfType, dst: Buffer, src: Buffer, off = 0): void {
  const t = btfResolve(type);
  if (t.kind === 'int' && !t.bool && !t.char && [1, 2, 4, 8].includes(t.size)) {
    const n = t.size;
    const read = (b: Buffer): bigint => (n === 8 ? b.readBigUInt64LE(off) : BigInt(b.readUIntLE(off, n)));
    const sum = (read(dst) + read(src)) & ((1n << BigInt(8 * n)) - 1n);
    if (n === 8) dst.writeBigUInt64LE(sum, off);
    else dst.writeUIntLE(Number(sum), off, n);
  } else if (t.kind === 'struct') {
    for (const m of t.members) if (m.bitSize === undefined) addInto(m.type, dst, src, off + m.offset);
  } else if (t.kind === 'array') {
    const size = src.length / Math.max(1, t.length);
    for (let i = 0; i < t.length; i++) addInto(t.elem, dst, src, off + i * size);
  }
}

function sumPerCpu(info: MapKernelInfo, value: BtfType | undefined, raw: Buffer): Buffer {
  const cpus = perCpuValues(info, raw);
  const total = Buffer.alloc(info.valueSize);
  if (!value) return cpus[0] ?? total;
  for (const v of cpus) addInto(value, total, Buffer.from(v));
  return total;
}

/** Decoded state maps of an instance; at most `limit` entries per map. */
export function readInstanceStats(instancePinDir: string, limit = 8): StatLine[] {
  const out: StatLine[] = [];
  for (const m of listInstanceMaps(instancePinDir)) {
    if (PARAMETER_MAP_TYPES.has(m.info.typeName)) continue;
    const typed = typedMapInfo(m.name, m.info);
    withFd(openPinned(m.pin), (fd) => {
      const entries = new MapHandle(fd, m.info, m.pin).entries();
      const shown = entries.slice(0, limit);
      for (const e of shown) {
        const value = isPerCpu(m.info.type) ? sumPerCpu(m.info, typed.value, e.value) : e.value;
        const key = typed.key ? formatValue(typed.key, e.key) : e.key.toString('hex');
        const text = typed.value ? formatValue(typed.value, value) : value.toString('hex');
        out.push({ map: m.name, text: entries.length === 1 && m.info.maxEntries === 1 ? text : `[${key}] ${text}` });
      }
      if (entries.length > shown.length) out.push({ map: m.name, text: `... ${entries.length - shown.length} more entries` });
    });
  }
  return out;
}
