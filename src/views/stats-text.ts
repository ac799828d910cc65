/**
 * What a function's state maps hold, as people read them (`kfn show --stats`, the demo):
 * flow tables as a table of flows, busiest first, addresses in their own family's form
 * (no ::ffff: for IPv4), protocols by name, no padding fields; per-protocol counters by
 * protocol name; every map cut to a limit, saying how many entries were left out.
 */
import type { MapStats, StatEntry } from '../forms/form.js';
import { compareFlows, flowOf, isFlowTable, protocolSlotName, type Flow } from '../flows/flows.js';
import { hasPorts } from '../core/protocols.js';
import { TCP_FLAGS } from '../packets/types.js';
import { tableLines } from './table.js';
import type { Colors } from './format.js';

export { DEFAULT_STATS_LIMIT } from '../visibility/options.js';

const packetsOf = (v: unknown): bigint | undefined => {
  const p = typeof v === 'object' && v !== null ? (v as Record<string, unknown>).packets : undefined;
  return typeof p === 'bigint' ? p : typeof p === 'number' ? BigInt(p) : typeof p === 'string' && /^\d+$/.test(p) ? BigInt(p) : undefined;
};

/**
 * The map's entries busiest first: flows by packets (then bytes), other maps whose values
 * count packets by packets; the rest as the kernel lists them.
 */
export function orderedEntries(s: MapStats): StatEntry[] {
  if (isFlowTable(s)) {
    const withFlow = s.entries.map((e) => ({ e, f: flowOf(e.key, e.value) }));
    return withFlow.sort((a, b) => (a.f && b.f ? compareFlows(a.f, b.f) : a.f ? -1 : b.f ? 1 : 0)).map((x) => x.e);
  }
  if (!s.entries.every((e) => packetsOf(e.value) !== undefined)) return [...s.entries];
  return [...s.entries].sort((a, b) => {
    const pa = packetsOf(a.value)!;
    const pb = packetsOf(b.value)!;
    return pa === pb ? 0 : pa > pb ? -1 : 1;
  });
}

/** Every map's entries ordered and cut to `limit` (Infinity: all); `count` still says how many there are. */
export function limitStats(stats: readonly MapStats[], limit: number): MapStats[] {
  return stats.map((s) => ({ ...s, entries: orderedEntries(s).slice(0, limit) }));
}

export function tcpFlagsText(bits: number): string {
  return TCP_FLAGS.filter((_, i) => bits & (1 << i)).join(',');
}

/** `198.18.0.2:40001`, `[2001:2::2]:53`, or the bare address for a protocol without ports. */
export function endpointText(f: Flow, side: 'src' | 'dst'): string {
  const addr = f[side];
  if (!hasPorts(f.proto)) return addr;
  const port = side === 'src' ? f.sport : f.dport;
  return f.family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

const left = (n: number, what: string): string => `... ${n} more ${what} (--limit N or --all shows them)`;

function flowLines(c: Colors, s: MapStats, limit: number): string[] {
  const flows = orderedEntries(s).flatMap((e) => flowOf(e.key, e.value) ?? []);
  const shown = flows.slice(0, limit);
  const lines = [`${c.cyan(`${s.map}:`)} ${s.count} flow${s.count === 1 ? '' : 's'}${s.count ? ', most packets first' : ''}`];
  if (shown.length === 0) return lines;
  const anyFlags = shown.some((f) => f.tcpFlags);
  const head = ['proto', 'source', 'destination', 'packets', 'bytes', ...(anyFlags ? ['tcp flags'] : [])].map((h) => c.dim(h));
  const rows = shown.map((f) => [f.protoName, endpointText(f, 'src'), endpointText(f, 'dst'), String(f.packets), String(f.bytes), ...(anyFlags ? [f.tcpFlags ? tcpFlagsText(f.tcpFlags) : ''] : [])]);
  lines.push(...tableLines(head, rows, { align: ['left', 'left', 'left', 'right', 'right', 'left'], indent: '  ' }));
  if (s.count > shown.length) lines.push(`  ${c.dim(left(s.count - shown.length, 'flows'))}`);
  return lines;
}

/**
 * The lines of one state map of a `fn` instance: a one-value map on one line, a flow
 * table as a table, any other map one `map: [key] value` line per entry.
 */
export function mapStatsLines(c: Colors, fn: string, s: MapStats, limit: number): string[] {
  if (isFlowTable(s)) return flowLines(c, s, limit);
  const entries = orderedEntries(s).slice(0, limit);
  if (entries.length === 1 && entries[0]!.keyText === undefined && s.count === 1) {
    const [first = '', ...rest] = entries[0]!.valueText.split('\n');
    return [`${c.cyan(`${s.map}:`)} ${first}`, ...rest.map((r) => `  ${r}`)];
  }
  // One line per entry, each naming its map, as show has always printed them (scripts grep for `map: [key]`).
  if (s.count === 0) return [`${c.cyan(`${s.map}:`)} ${c.dim('(empty)')}`];
  const lines = entries.map((e) => `${c.cyan(`${s.map}:`)} [${protocolSlotName(fn, s.map, e.key) ?? e.keyText ?? ''}] ${e.valueText}`);
  if (s.count > entries.length) lines.push(`${c.cyan(`${s.map}:`)} ${c.dim(left(s.count - entries.length, 'entries'))}`);
  return lines;
}
