/**
 * What each function instance saw: its state maps (counters, flow tables) decoded
 * through the values layer, per-CPU values summed into one.
 */
import { MapHandle, perCpuValues, isPerCpu, openPinned, withFd } from '../../libbpf/index.js';
import type { LiveInstance } from '../../core/types.js';
import { decodeValue, formatValue, sumPerCpuValues } from '../../values/index.js';
import type { MapStats } from '../form.js';
import { FORM_MAPS } from './layout.js';
import { listInstanceMaps, typedMapInfo } from './read.js';

/** Decoded state maps of an instance; at most `limit` entries per map. */
export function readInstanceStats(instance: Pick<LiveInstance, 'pinDir'>, parameters: readonly string[], limit = 8): MapStats[] {
  const out: MapStats[] = [];
  for (const m of listInstanceMaps(instance.pinDir)) {
    if (FORM_MAPS.includes(m.name) || parameters.includes(m.name) || m.info.typeName === 'prog_array') continue;
    const typed = typedMapInfo(m.name, m.info);
    withFd(openPinned(m.pin), (fd) => {
      const entries = new MapHandle(fd, m.info, m.pin).entries();
      const single = entries.length === 1 && m.info.maxEntries === 1;
      const stats: MapStats = { map: m.name, count: entries.length, entries: [] };
      for (const e of entries.slice(0, limit)) {
        const cpus = isPerCpu(m.info.type) ? perCpuValues(m.info, e.value) : [e.value];
        const value = Buffer.from(typed.value ? sumPerCpuValues(typed.value, cpus, m.name) : cpus[0]!);
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
