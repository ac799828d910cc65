/**
 * JSON Schema validation of manifest documents. The schemas in schemas/ are the single
 * definition of the format; ajv errors are turned into one-line KfnErrors that name the
 * field path and point at the YAML node (the key, for unknown fields and bad names).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { KfnError } from '../core/errors.js';
import type { ManifestKind } from './types.js';
import { decodePointer, formatPath, valueAt, type PathSegment, type SourceLocator } from './source.js';

/** schemas/ of the installation: src/manifest/*.ts and dist/manifest/*.js are both two levels down. */
export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

export const SCHEMA_FILES: Record<ManifestKind, string> = {
  KernelFunction: 'kernelfunction.schema.json',
  Chain: 'chain.schema.json',
  Probe: 'probe.schema.json',
};

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

/** The compiled schema of `file` (in schemas/), compiled on first use. */
function validatorFor(file: string): ValidateFunction {
  let v = validators.get(file);
  if (!v) {
    const full = `${SCHEMA_DIR}${file}`;
    let schema: unknown;
    try {
      schema = JSON.parse(fs.readFileSync(full, 'utf8'));
    } catch (e) {
      throw new KfnError('SCHEMA_MISSING', `cannot read manifest schema ${full}: ${(e as Error).message}`, {
        hint: 'the kfn installation is incomplete: schemas/ must sit next to dist/',
      });
    }
    ajv ??= new Ajv({ allErrors: true, verbose: true, strict: true });
    v = ajv.compile(schema as object);
    validators.set(file, v);
  }
  return v;
}

/**
 * Validates one document against a schema of schemas/ (a manifest kind's, or another kfn
 * document's such as packet tests); returns one KfnError per problem.
 */
export function validateAgainstSchema(schemaFile: string, data: unknown, loc: SourceLocator): KfnError[] {
  const validate = validatorFor(schemaFile);
  if (validate(data)) return [];
  const out: KfnError[] = [];
  const seen = new Set<string>();
  for (const err of chosenBranches(validate.errors ?? [])) {
    const e = schemaError(schemaFile, err, data, loc);
    if (!e) continue;
    const key = `${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/**
 * ajv reports every failing branch of an `anyOf` plus the anyOf itself. A value is meant
 * for the branch whose type it has: keep that branch's errors only; when no branch has
 * its type, one `type` error naming the alternatives (the anyOf's description) remains.
 * Branches must be inline (no $ref directly under anyOf) for their errors to be found.
 */
function chosenBranches(errors: ErrorObject[]): ErrorObject[] {
  let out = errors;
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const a of anyOfs) {
    if (!out.includes(a)) continue;
    const inBranch = (e: ErrorObject): number | undefined =>
      e !== a && e.schemaPath.startsWith(`${a.schemaPath}/`) && (e.instancePath === a.instancePath || e.instancePath.startsWith(`${a.instancePath}/`))
        ? Number(e.schemaPath.slice(a.schemaPath.length + 1).split('/')[0])
        : undefined;
    const branches = new Map<number, ErrorObject[]>();
    for (const e of out) {
      const i = inBranch(e);
      if (i !== undefined) branches.set(i, [...(branches.get(i) ?? []), e]);
    }
    const typeFails = (list: ErrorObject[]) => list.some((e) => e.keyword === 'type' && e.instancePath === a.instancePath);
    const chosen = [...branches.values()].find((list) => !typeFails(list));
    const description = (a.parentSchema as { description?: string } | undefined)?.description;
    const none: ErrorObject = { ...a, keyword: 'type', params: { type: description ?? 'one of the forms the schema allows' } };
    out = out.flatMap((e) => (e === a ? (chosen ? [] : [none]) : inBranch(e) !== undefined && !chosen?.includes(e) ? [] : [e]));
  }
  return out;
}

function schemaError(schemaFile: string, err: ErrorObject, data: unknown, loc: SourceLocator): KfnError | undefined {
  const at = decodePointer(err.instancePath, data);
  const value = valueAt(data, at);
  const parent = (err.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  const hintFile = `the format is defined in schemas/${schemaFile}`;
  const mk = (path: readonly PathSegment[], text: string, opts: { key?: boolean; hint?: string } = {}) =>
    new KfnError('MANIFEST_SCHEMA', `${formatPath(path)}: ${text}`, {
      source: loc.locate(path, { key: opts.key ?? false }),
      hint: opts.hint ?? hintFile,
    });

  // Errors about a property name (propertyNames): point at the key.
  if (err.keyword === 'propertyNames') return undefined; // the inner error (with propertyName) says more
  if (err.propertyName !== undefined) {
    const path = [...at, err.propertyName];
    const expected = parent.description ? ` (expected ${parent.description})` : '';
    return mk(path, `invalid name ${JSON.stringify(err.propertyName)}${expected}`, { key: true });
  }

  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const prop = String(p.additionalProperty);
      const allowed = Object.keys(parent.properties ?? {});
      const guess = closest(prop, allowed);
      return mk([...at, prop], `unknown field (allowed: ${allowed.join(', ')})`, {
        key: true,
        hint: guess ? `did you mean "${guess}"?` : `remove it; ${hintFile}`,
      });
    }
    case 'required': {
      const missing = String(p.missingProperty);
      return mk([...at, missing], 'required field missing', { key: true, hint: `add "${missing}"; ${hintFile}` });
    }
    case 'type': {
      const got = typeName(value);
      const hint =
        p.type === 'string' && (got === 'number' || got === 'boolean' || got === 'null')
          ? `quote the value so YAML reads it as a string`
          : hintFile;
      return mk(at, `expected ${String(p.type)}, got ${got}`, { hint });
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
      return mk(at, `${show(value)} is not one of ${allowed.join(', ')}`, {
        hint: guess ? `did you mean "${guess}"?` : hintFile,
      });
    }
    case 'const':
      return mk(at, `must be ${show(p.allowedValue)}, got ${show(value)}`);
    case 'pattern': {
      const expected = parent.description ?? `a value matching ${String(p.pattern)}`;
      return mk(at, `invalid value ${show(value)} (expected ${expected})`);
    }
    case 'minItems':
      return mk(at, `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`);
    case 'maxItems':
      return mk(at, `has ${Array.isArray(value) ? value.length : '?'} items, at most ${String(p.limit)} allowed`, {
        hint: parent.description ?? hintFile,
      });
    case 'uniqueItems': {
      const first = Number(p.i);
      const dup = Number(p.j);
      const item = Array.isArray(value) ? value[dup] : undefined;
      return mk([...at, dup], `duplicate of ${formatPath([...at, first])} (${show(item)})`, {
        hint: 'list each item once',
      });
    }
    case 'minProperties':
      return mk(at, p.limit === 1 ? 'must not be empty' : `must have at least ${String(p.limit)} fields`);
    case 'minLength':
      return mk(at, p.limit === 1 ? 'must not be empty' : `shorter than ${String(p.limit)} characters`);
    case 'maxLength':
      return mk(at, `longer than ${String(p.limit)} characters`);
    default:
      return mk(at, err.message ?? `fails schema keyword ${err.keyword}`);
  }
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** A value for a one-line message: strings quoted, long values cut. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'bigint' ? v.toString() : v === undefined ? 'nothing' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The candidate closest to `word` (edit distance <= 2, or same letters ignoring case), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.min(2, Math.max(1, Math.floor(word.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  let prev2 = prev;
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      // a transposition counts as one edit
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, prev2[j - 2]! + 1);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}
