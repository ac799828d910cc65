/**
 * JSON Schema validation of manifest documents. The schemas in schemas/ are the single
 * definition of the format; ajv errors are turned into one-line KfnErrors that name the
 * field path and point at the YAML node (the key, for unknown fields and bad names).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { KfnError } from '../core/errors.js';
import { sha256Hex } from '../core/digest.js';
import type { ManifestKind } from './types.js';
import { decodePointer, formatPath, valueAt, type PathSegment, type SourceLocator } from './source.js';
import { closest } from '../core/closest.js';
import { installPath } from '../core/install.js';

export { closest };

export const SCHEMA_DIR = installPath('schemas') + path.sep;

export const SCHEMA_FILES: Record<ManifestKind, string> = {
  KernelFunction: 'kernelfunction.schema.json',
  Chain: 'chain.schema.json',
  Probe: 'probe.schema.json',
};

/** The schema of packet test documents (src/packets). */
export const PACKET_TEST_SCHEMA = 'packet-test.schema.json';

/**
 * The schemas kfn validates documents with, compiled at build time. The output
 * schemas of schemas/ are contracts for other tools, not checked by kfn; any schema
 * not compiled at build time is compiled at its first use.
 */
const DOCUMENT_SCHEMAS = [...Object.values(SCHEMA_FILES), PACKET_TEST_SCHEMA];

const AJV_OPTIONS = { allErrors: true, verbose: true, strict: true } as const;

/**
 * Validators compiled at build time (scripts/compile-schemas.mjs, ajv standalone code),
 * beside this module in dist/, each with the sha256 of the schema text it was compiled
 * from. One is used only while schemas/ still holds exactly that text; otherwise (a
 * schema edited since the build, or running from src/) the schema is compiled here.
 */
export const COMPILED_SCHEMAS = 'schemas.compiled.cjs';

interface CompiledSchemas {
  validators: Record<string, ValidateFunction>;
  sha256: Record<string, string>;
}

const require = createRequire(import.meta.url);
let compiled: CompiledSchemas | null | undefined;
let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function precompiled(): CompiledSchemas | null {
  if (compiled === undefined) {
    try {
      compiled = require(installPath('dist', COMPILED_SCHEMAS)) as CompiledSchemas;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
      compiled = null;
    }
  }
  return compiled;
}

function readSchema(file: string): string {
  const full = `${SCHEMA_DIR}${file}`;
  try {
    return fs.readFileSync(full, 'utf8');
  } catch (e) {
    throw new KfnError('SCHEMA_MISSING', `cannot read manifest schema ${full}: ${(e as Error).message}`, {
      hint: 'the kfn installation is incomplete: schemas/ must sit next to dist/',
    });
  }
}

/** ajv, loaded only when a schema has to be compiled at run time. */
function runtimeAjv(): Ajv {
  if (!ajv) {
    const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
    ajv = new AjvClass(AJV_OPTIONS);
  }
  return ajv;
}

/** The validator of `file` (in schemas/): the build's, or compiled on first use. */
function validatorFor(file: string): ValidateFunction {
  let v = validators.get(file);
  if (!v) {
    const text = readSchema(file);
    const built = precompiled();
    v = built?.sha256[file] === sha256Hex(text) ? built.validators[file] : undefined;
    v ??= runtimeAjv().compile(JSON.parse(text) as object);
    validators.set(file, v);
  }
  return v;
}

/**
 * The CommonJS source of the document schemas compiled with ajv's standalone code
 * generation, for COMPILED_SCHEMAS (the build writes it beside dist/manifest/schema.js).
 */
export function compiledSchemasSource(): string {
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  const standalone = (require('ajv/dist/standalone/index.js') as { default: (ajv: Ajv, refs: Record<string, string>) => string }).default;
  const builder = new AjvClass({ ...AJV_OPTIONS, code: { source: true } });
  const files = [...DOCUMENT_SCHEMAS].sort();
  const sha256: Record<string, string> = {};
  for (const file of files) {
    const text = readSchema(file);
    builder.addSchema(JSON.parse(text) as object, file);
    sha256[file] = sha256Hex(text);
  }
  const code = standalone(builder, Object.fromEntries(files.map((f) => [f, f])));
  // The generated module assigns one export per schema; gather them under `validators`.
  return `${code}
module.exports = { validators: { ...exports }, sha256: ${JSON.stringify(sha256)} };
`;
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
