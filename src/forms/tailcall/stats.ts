/**
 * What each function instance saw: its state maps (counters, flow tables) decoded
 * through the values layer, per-CPU values summed into one.
 */
import { MapHandle, btfResolve, btfSizeOf, perCpuValues, isPerCpu, openPinned, withFd, type BtfType, type MapKernelInfo } from '../../libbpf/index.js';
import type { LiveInstance } from '../../core/types.js';
import { decodeValue, formatValue } from '../../values/index.js';
import type { MapStats } from '../form.js';
import { NEXT_MAP } from './layout.js';
import { listInstanceMaps, typedMapInfo } from './read.js';

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
    const size = btfSizeOf(t.elem);
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
export function readInstanceStats(instance: LiveInstance, parameters: readonly string[], limit = 8): MapStats[] {
  const out: MapStats[] = [];
  for (const m of listInstanceMaps(instance.pinDir)) {
    if (m.name === NEXT_MAP || parameters.includes(m.name) || m.info.typeName === 'prog_array') continue;
    const typed = typedMapInfo(m.name, m.info);
    withFd(openPinned(m.pin), (fd) => {
      const entries = new MapHandle(fd, m.info, m.pin).entries();
      const single = entries.length === 1 && m.info.maxEntries === 1;
      const stats: MapStats = { map: m.name, count: entries.length, entries: [] };
      for (const e of entries.slice(0, limit)) {
        const value = isPerCpu(m.info.type) ? sumPerCpu(m.info, typed.value, e.value) : e.value;
        const entry: MapStats['entries'][number] = {
          value: typed.value ? decodeValue(typed.value, value, m.name) : value.toString('hex'),
          valueText: typed.value ? formatValue(typed.value, value, m.name) : value.toString('hex'),
        };
        if (!single) {
          entry.key = typed.key ? decodeValue(typed.key, e.key, m.name) : e.key.toString('hex');
          entry.keyText = typed.key ? formatValue(typed.key, e.key, m.name) : e.key.toString('hex');
        }
        stats.entries.push(entry);
      }
      out.push(stats);
    });
  }
  return out;
}
