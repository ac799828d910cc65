/**
 * Parameters of one chain entry: map entries and globals typed against the object's BTF
 * (encoded by the values layer) and checked against what the object holds. Errors are
 * collected in the order the YAML is written, and located at the key or value (or the
 * field inside it) that is wrong; a resolver returns undefined if anything failed.
 */
import { KfnError, isKfnError, type SourceRef } from '../core/errors.js';
import type { DesiredMap, GlobalValue, MapEntry } from '../core/types.js';
import { NEXT_MAP } from './functions.js';
import type { GlobalInfo, MapInfo, ObjectInfo } from '../libbpf/object-info.js';
import { ValueError, encodeGlobal, encodeMapEntry, isUnsetSlot } from '../values/index.js';
import { closest } from './schema.js';
import type { PathSegment } from './source.js';
import type { ChainDocument, ProbeDocument } from './types.js';
import { where, withSource } from './util.js';

/**
 * Keys of a mapping in the order they are written (JS objects put integer-like keys
 * first), so that "first" in messages and the order of errors follow the file.
 */
function inSourceOrder(doc: ChainDocument | ProbeDocument, at: PathSegment[], keys: string[]): string[] {
  const pos = new Map(
    keys.map((k) => {
      const src = doc.locate([...at, k], { key: true });
      return [k, (src.line ?? 0) * 1e6 + (src.column ?? 0)] as const;
    }),
  );
  return [...keys].sort((a, b) => pos.get(a)! - pos.get(b)!);
}

/**
 * A ValueError as a VALUE_INVALID KfnError. `label` is how the message names the entry
 * (`blocked_v4["198.18.0.300/32"]`, `rate_pps`); `errPrefix` is how the values layer named
 * it in `err.path`, so that what follows (`.field`, `[2]`) can be located in the YAML.
 */
function valueError(
  doc: ChainDocument | ProbeDocument,
  prefix: string,
  label: string,
  err: ValueError,
  errPrefix: string,
  at: { key: PathSegment[]; value: PathSegment[] } ,
  keyText: string | undefined,
  typeHint: string,
): KfnError {
  const suffix = err.path.startsWith(errPrefix) ? err.path.slice(errPrefix.length) : '';
  const inner = parseSuffix(suffix);
  let source: SourceRef;
  if (inner.length > 0) source = doc.locate([...at.value, ...inner]);
  else if (keyText !== undefined && err.got === showGot(keyText)) source = doc.locate(at.key, { key: true });
  else source = doc.locate(at.value);
  return new KfnError('VALUE_INVALID', `${prefix}: ${label}${suffix}: expected ${err.expected}, got ${err.got}`, {
    source,
    hint: err.hint ?? typeHint,
  });
}

/** `.cfg.limits[2]` -> ['cfg', 'limits', 2] */
function parseSuffix(suffix: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(suffix)) !== null && m.index === pos) {
    out.push(m[1] !== undefined ? m[1] : Number(m[2]));
    pos = re.lastIndex;
  }
  return pos === suffix.length ? out : [];
}

/** How the values layer renders a given input (a string: JSON-quoted, cut at 60). */
function showGot(v: string): string {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 59)}…` : s;
}

/** Array maps: the key is an index below max_entries. */
const ARRAY_MAP_TYPES = new Set(['array', 'percpu_array']);

/**
 * Typed entries of every parameter map of one chain entry: the maps it sets, and the
 * function's other parameter maps at their defaults (empty), so that every parameter
 * is managed and watched for drift. Undefined if any failed (errors pushed).
 */
export function resolveMaps(
  doc: ChainDocument | ProbeDocument,
  base: PathSegment[],
  prefix: string,
  wanted: Record<string, Record<string, unknown>>,
  info: ObjectInfo,
  parameters: ReadonlySet<string>,
  fnLabel: string,
  errors: KfnError[],
): Record<string, DesiredMap> | undefined {
  const out: Record<string, DesiredMap> = {};
  let ok = true;
  const params = info.maps.filter((m) => parameters.has(m.name));
  const paramList = params.length > 0 ? params.map((m) => `${m.name} (${m.type})`).join(', ') : 'none';
  for (const mapName of inSourceOrder(doc, [...base, 'maps'], Object.keys(wanted))) {
    const entries = wanted[mapName]!;
    const mapPath = [...base, 'maps', mapName];
    const mapSrc = doc.locate(mapPath, { key: true });
    const map: MapInfo | undefined = params.find((m) => m.name === mapName);
    if (!map) {
      const other = info.maps.find((m) => m.name === mapName);
      const why = other
        ? other.name === NEXT_MAP
          ? `"${mapName}" is kfn's chaining map and cannot be set`
          : `"${mapName}" is a ${other.type} map, not a parameter map${other.type === 'prog_array' ? '' : ` (it holds ${fnLabel}'s state, which manifests never write)`}`
        : `${fnLabel} has no map "${mapName}"`;
      const guess = other ? undefined : closest(mapName, params.map((m) => m.name));
      errors.push(
        new KfnError('MAP_NOT_FOUND', `${prefix}: ${why}`, {
          source: mapSrc,
          hint: `${guess ? `did you mean "${guess}"? ` : ''}parameter maps of ${fnLabel}: ${paramList}`,
        }),
      );
      ok = false;
      continue;
    }
    const keys = inSourceOrder(doc, mapPath, Object.keys(entries));
    const encoded: MapEntry[] = [];
    const byKey = new Map<string, string>();
    for (const keyText of keys) {
      const label = `${mapName}[${JSON.stringify(keyText)}]`;
      const entryPath = [...mapPath, keyText];
      let entry: MapEntry;
      try {
        entry = encodeMapEntry(map, keyText, entries[keyText]);
      } catch (e) {
        if (e instanceof ValueError) {
          errors.push(
            valueError(doc, prefix, label, e, `${mapName}[${keyText}]`, { key: entryPath, value: entryPath }, keyText,
              map.key && map.value
                ? `key and value types of ${mapName} come from the object's BTF`
                : `${mapName} is declared by key and value sizes only (no BTF types): integers are in host byte order, 0x strings are the stored bytes`),
          );
          ok = false;
          continue;
        }
        if (isKfnError(e)) {
          errors.push(withSource(e, doc.locate(entryPath, { key: true }), prefix));
          ok = false;
          continue;
        }
        throw e;
      }
      const first = byKey.get(entry.key);
      if (first !== undefined) {
        errors.push(
          new KfnError('VALUE_DUPLICATE_KEY', `${prefix}: ${label} is the same key as ${JSON.stringify(first)}`, {
            source: doc.locate(entryPath, { key: true }),
            hint: `keep one of them (first at ${where(doc.locate([...mapPath, first], { key: true }))})`,
          }),
        );
        ok = false;
        continue;
      }
      if (ARRAY_MAP_TYPES.has(map.type) && Buffer.from(entry.key, 'hex').readUInt32LE(0) >= map.maxEntries) {
        errors.push(
          new KfnError('MAP_INDEX_OUT_OF_RANGE', `${prefix}: ${label}: index ${Buffer.from(entry.key, 'hex').readUInt32LE(0)} is beyond the array, which holds indexes 0..${map.maxEntries - 1}`, {
            source: doc.locate(entryPath, { key: true }),
            hint: `use an index below ${map.maxEntries} (max_entries of ${mapName})`,
          }),
        );
        ok = false;
        continue;
      }
      byKey.set(entry.key, keyText);
      encoded.push(entry);
    }
    // Counted after normalisation: "0" and "0x0" are one entry (reported above as a duplicate).
    if (byKey.size > map.maxEntries) {
      errors.push(
        new KfnError('MAP_TOO_MANY_ENTRIES', `${prefix}: ${mapName} has ${byKey.size} entries, the map holds at most ${map.maxEntries}`, {
          source: mapSrc,
          hint: 'remove entries, or raise max_entries in the object and rebuild',
        }),
      );
      ok = false;
      continue;
    }
    // An all-zero array slot is the same state as an unset one (values/map.ts).
    const kept = encoded.filter((e) => !isUnsetSlot(map.type, e.value));
    kept.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    out[mapName] = { name: mapName, entries: kept, source: mapSrc };
  }
  for (const m of params) out[m.name] ??= { name: m.name, entries: [] };
  return ok ? out : undefined;
}

/** Encoded values of the globals one chain entry sets; undefined if any failed (errors pushed). */
export function resolveGlobals(
  doc: ChainDocument | ProbeDocument,
  base: PathSegment[],
  prefix: string,
  wanted: Record<string, unknown>,
  info: ObjectInfo,
  fnLabel: string,
  errors: KfnError[],
): Record<string, GlobalValue> | undefined {
  const out: Record<string, GlobalValue> = {};
  let ok = true;
  const listing = info.globals.length > 0 ? [...new Set(info.globals.map((g) => `${g.name} (${g.section})`))].join(', ') : 'none';
  for (const name of inSourceOrder(doc, [...base, 'globals'], Object.keys(wanted))) {
    const value = wanted[name];
    const gPath = [...base, 'globals', name];
    const g: GlobalInfo | undefined =
      info.globals.find((x) => x.name === name && x.section === '.rodata') ?? info.globals.find((x) => x.name === name);
    if (!g) {
      const guess = closest(name, info.globals.map((x) => x.name));
      errors.push(
        new KfnError('GLOBAL_NOT_FOUND', `${prefix}: ${fnLabel} has no global "${name}"`, {
          source: doc.locate(gPath, { key: true }),
          hint: `${guess ? `did you mean "${guess}"? ` : ''}globals of ${fnLabel}: ${listing}`,
        }),
      );
      ok = false;
      continue;
    }
    try {
      out[name] = encodeGlobal(g, value);
    } catch (e) {
      if (e instanceof ValueError) {
        errors.push(valueError(doc, prefix, name, e, name, { key: gPath, value: gPath }, undefined, `the type of ${name} comes from the object's BTF`));
        ok = false;
        continue;
      }
      if (isKfnError(e)) {
        errors.push(withSource(e, doc.locate(gPath), prefix));
        ok = false;
        continue;
      }
      throw e;
    }
  }
  return ok ? out : undefined;
}
