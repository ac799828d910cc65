/**
 * What each function instance saw: its state maps (counters, flow tables) decoded
 * through the values layer, per-CPU values summed into one.
 */
import { MapHandle, perCpuValues, isPerCpu, openPinned, withFd, type MapInfo, type MapKernelInfo } from '../../libbpf/index.js';
import type { LiveInstance } from '../../core/types.js';
import { decodeValue, formatValue, mapSideType, sumPerCpuValues } from '../../values/index.js';
import type { InstanceCounters, MapStats } from '../form.js';
import { FORM_MAPS } from './layout.js';
import { listInstanceMaps, withReadScope, type ReadScope } from './read-instance.js';

/** The instance's (or probe's) state maps (never parameters, never the form's maps), typed from kernel BTF. */
function stateMaps(instance: Pick<LiveInstance, 'pinDir'>, parameters: readonly string[], scope: ReadScope) {
  return listInstanceMaps(instance.pinDir)
    .filter((m) => !FORM_MAPS.includes(m.name) && !parameters.includes(m.name) && m.info.typeName !== 'prog_array')
    .map((m) => ({ ...m, typed: scope.typed(m.name, m.info) }));
}

/**
 * A side's type and name hint: maps declared by sizes only read as host-order integers,
 * as plan and show write them; name hints (addresses, MACs) are for BTF types only.
 */
function side(typed: MapInfo, which: 'key' | 'value'): { type: ReturnType<typeof mapSideType>; hint: string | undefined } {
  return { type: mapSideType(typed, which), hint: typed[which] ? typed.name : undefined };
}

/** One entry's value with its per-CPU values summed. */
function summed(m: { name: string; info: MapKernelInfo }, typed: MapInfo, raw: Buffer): Buffer {
  const cpus = isPerCpu(m.info.type) ? perCpuValues(m.info, raw) : [raw];
  const v = side(typed, 'value');
  return Buffer.from(sumPerCpuValues(v.type, cpus, v.hint));
}

/** Decoded state maps of an instance; at most `limit` entries per map. */
export function readInstanceStats(instance: Pick<LiveInstance, 'pinDir'>, parameters: readonly string[], limit = 8): MapStats[] {
  return withReadScope((scope) => instanceStats(instance, parameters, limit, scope));
}

function instanceStats(instance: Pick<LiveInstance, 'pinDir'>, parameters: readonly string[], limit: number, scope: ReadScope): MapStats[] {
  const out: MapStats[] = [];
  for (const { typed, ...m } of stateMaps(instance, parameters, scope)) {
    withFd(openPinned(m.pin), (fd) => {
      const entries = new MapHandle(fd, m.info, m.pin).entries();
      const single = entries.length === 1 && m.info.maxEntries === 1;
      const stats: MapStats = { map: m.name, count: entries.length, entries: [] };
      for (const e of entries.slice(0, limit)) {
        const value = summed(m, typed, e.value);
        const v = side(typed, 'value');
        const entry: MapStats['entries'][number] = { value: decodeValue(v.type, value, v.hint), valueText: formatValue(v.type, value, v.hint) };
        if (!single) {
          const k = side(typed, 'key');
          entry.key = decodeValue(k.type, e.key, k.hint);
          entry.keyText = formatValue(k.type, e.key, k.hint);
        }
        stats.entries.push(entry);
      }
      out.push(stats);
    });
  }
  return out;
}

const asBigInt = (v: unknown): bigint | undefined =>
  typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : undefined;

/** Sums of the counter-tagged fields of the instance's state maps (see InstanceCounters). */
export function readInstanceCounters(instance: LiveInstance, parameters: readonly string[]): InstanceCounters {
  return withReadScope((scope) => instanceCounters(instance, parameters, scope));
}

function instanceCounters(instance: LiveInstance, parameters: readonly string[], scope: ReadScope): InstanceCounters {
  const totals: InstanceCounters = {};
  for (const { typed, ...m } of stateMaps(instance, parameters, scope)) {
    const counters = typed.counters;
    const valueType = typed.value;
    if (!counters?.length || !valueType) continue;
    withFd(openPinned(m.pin), (fd) => {
      for (const e of new MapHandle(fd, m.info, m.pin).entries()) {
        const value = decodeValue(valueType, summed(m, typed, e.value), m.name);
        for (const c of counters) {
          const n = asBigInt(c.field === undefined ? value : (value as Record<string, unknown> | null)?.[c.field]);
          if (n !== undefined) totals[c.kind] = (totals[c.kind] ?? 0n) + n;
        }
      }
    });
  }
  return totals;
}
