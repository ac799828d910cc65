/** `kfn functions [PATH] [--json]`: the functions chains can use, with what their objects declare. */
import type { MapCounter, MapInfo } from '../libbpf/object-info.js';
import { NEXT_MAP, type ResolvedFunction } from '../manifest/functions.js';
import { describeType } from '../values/index.js';
import { colors } from './format.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { kfnVersion } from '../core/version.js';
import { formatSource } from '../core/errors.js';

function typeText(m: MapInfo, part: 'key' | 'value'): string {
  const t = m[part];
  if (t) return describeType(t, m.name);
  return `${part === 'key' ? m.keySize : m.valueSize} bytes`;
}

function countersOf(m: MapInfo): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of m.counters ?? []) (out[c.kind] ??= []).push(counterField(c));
  return out;
}

const counterField = (c: MapCounter): string => c.field ?? '(value)';

function origin(fn: ResolvedFunction): { origin: 'builtin' | 'repository'; defined_at: string | null; shadows_builtin: boolean } {
  return fn.origin.kind === 'builtin'
    ? { origin: 'builtin', defined_at: null, shadows_builtin: false }
    : { origin: 'repository', defined_at: formatSource(fn.origin.doc.source), shadows_builtin: fn.origin.shadowsBuiltin };
}

export function functionsJson(fns: readonly ResolvedFunction[]) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    functions: fns.map((fn) => {
      const maps = (fn.info?.maps ?? []).filter((m) => m.name !== NEXT_MAP);
      const map = (m: MapInfo) => ({ name: m.name, map_type: m.type, max_entries: m.maxEntries, key: typeText(m, 'key'), value: typeText(m, 'value') });
      return {
        name: fn.name,
        version: fn.version,
        ...origin(fn),
        summary: fn.origin.kind === 'builtin' ? fn.origin.builtin.summary : null,
        object: fn.objectPath ?? null,
        sha256: fn.info?.sha256 ?? null,
        hooks: fn.hooks,
        programs: fn.programs,
        parameters: maps.filter((m) => fn.parameters.has(m.name)).map(map),
        state_maps: maps.filter((m) => !fn.parameters.has(m.name)).map((m) => ({ ...map(m), counters: countersOf(m) })),
        globals: (fn.info?.globals ?? []).map((g) => ({ name: g.name, section: g.section, type: describeType(g.type, g.name) })),
      };
    }),
  };
}

export function renderFunctionsJson(fns: readonly ResolvedFunction[]): string {
  return renderJson(functionsJson(fns));
}

export function renderFunctions(fns: readonly ResolvedFunction[], opts: { color: boolean }): string {
  const c = colors(opts.color);
  const out: string[] = [];
  for (const f of functionsJson(fns).functions) {
    const where = f.origin === 'builtin' ? 'built in' : `${f.shadows_builtin ? 'shadows the built-in, ' : ''}defined at ${f.defined_at}`;
    out.push(`${c.bold(`${f.name}@${f.version}`)}  ${where}`);
    if (f.summary) out.push(`  ${f.summary}`);
    out.push(`  hooks: ${f.hooks.join(', ')}   sha256: ${f.sha256 ?? '?'}`);
    out.push(`  object: ${f.object ?? '?'}`);
    const rows = (title: string, list: { name: string; map_type: string; key: string; value: string; counters?: Record<string, string[]> }[]) => {
      if (list.length === 0) return;
      out.push(`  ${title}:`);
      for (const m of list) {
        const counts = Object.entries(m.counters ?? {}).map(([kind, fields]) => `${kind}: ${fields.join(' + ')}`);
        out.push(`    ${m.name} (${m.map_type}): ${m.key} -> ${m.value}${counts.length ? `   ${c.dim(`[metrics ${counts.join('; ')}]`)}` : ''}`);
      }
    };
    rows('parameters', f.parameters);
    rows('state', f.state_maps);
    if (f.globals.length) {
      out.push('  globals:');
      for (const g of f.globals) out.push(`    ${g.name} (${g.section}): ${g.type}`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}
