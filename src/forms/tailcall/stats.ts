/**
 * What each function instance saw: its state maps (counters, flow tables) decoded
 * through the values layer, per-CPU values summed into one.
 */
import { MapHandle, perCpuValues, isPerCpu, openPinned, withFd } from '../../libbpf/index.js';
import type { LiveInstance } from '../../core/types.js';
import { decodeValue, formatValue, mapSideType, sumPerCpuValues } from '../../values/index.js';
import type { MapStats } from '../form.js';
import { NEXT_MAP } from './layout.js';
import { listInstanceMaps, typedMapInfo } from './read.js';

/** Decoded state maps of an instance; at most `limit` entries per map. */
export function readInstanceStats(instance: LiveInstance, parameters: readonly string[], limit = 8): MapStats[] {
  const out: MapStats[] = [];
  for (const m of listInstanceMaps(instance.pinDir)) {
    if (m.name === NEXT_MAP || parameters.includes(m.name) || m.info.typeName === 'prog_array') continue;
    const typed = typedMapInfo(m.name, m.info);
    // Maps declared by sizes only read as host-order integers, as plan and show write them.
    const keyType = mapSideType(typed, 'key');
    const valueType = mapSideType(typed, 'value');
    // Name hints (addresses, MACs) are for BTF types only, as in the values layer.
    const keyHint = typed.key ? m.name : undefined;
    const valueHint = typed.value ? m.name : undefined;
    withFd(openPinned(m.pin), (fd) => {
      const entries = new MapHandle(fd, m.info, m.pin).entries();
      const single = entries.length === 1 && m.info.maxEntries === 1;
      const stats: MapStats = { map: m.name, count: entries.length, entries: [] };
      for (const e of entries.slice(0, limit)) {
        const cpus = isPerCpu(m.info.type) ? perCpuValues(m.info, e.value) : [e.value];
        const value = Buffer.from(sumPerCpuValues(valueType, cpus, valueHint));
        const entry: MapStats['entries'][number] = { value: decodeValue(valueType, value, valueHint), valueText: formatValue(valueType, value, valueHint) };
        if (!single) {
          entry.key = decodeValue(keyType, e.key, keyHint);
          entry.keyText = formatValue(keyType, e.key, keyHint);
        }
        stats.entries.push(entry);
      }
      out.push(stats);
    });
  }
  return out;
}
