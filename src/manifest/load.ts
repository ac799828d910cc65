/**
 * Reads manifest files (a file, or a directory recursively in a stable order), parses
 * every YAML document keeping positions, and checks each against the schema of its kind.
 * Every problem of every file is collected; one KfnError, or KfnErrors for several.
 * loadDocuments does the same for any kfn document format (packet tests use it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, isAlias, isCollection, isMap, isScalar, parseAllDocuments, visit, type Alias, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { KfnError, KfnErrors, append, type SourceRef } from '../core/errors.js';
import { InputFileError, readRegularFile } from '../core/files.js';
import { SCHEMA_FILES, validateAgainstSchema, closest, show } from './schema.js';
import { SourceLocator } from './source.js';
import {
  API_VERSION,
  type ChainDocument,
  type ChainManifest,
  type KernelFunctionDocument,
  type LoadedDocument,
  type LoadedManifests,
  type ProbeDocument,
  type ProbeManifest,
} from './types.js';

/** Files above this size are refused before parsing. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const MANIFEST_EXT = /\.ya?ml$/;

/** A kfn document format: the `kind`s it accepts, each with its schema in schemas/. */
export interface DocumentFormat<K extends string> {
  schemas: Record<K, string>;
  /** Checks beyond the schema, run on each schema-valid document in file order. */
  check?: (doc: LoadedDocument<K>, errors: KfnError[]) => void;
}

export interface LoadedDocuments<K extends string> {
  /** Absolute path of what was loaded (file or directory). */
  target: string;
  /** Every file read, in load order (display paths). */
  files: string[];
  /** Every non-empty document in load order. */
  documents: LoadedDocument<K>[];
}

/** The attach fields of a Probe, one of which it must have. */
export const PROBE_ATTACH_FIELDS = ['tracepoint', 'uprobe', 'kprobe', 'fentry', 'fexit', 'freplace'] as const;

function checkProbe(doc: LoadedDocument, errors: KfnError[]): void {
  const spec = (doc.data as ProbeManifest).spec;
  const given = PROBE_ATTACH_FIELDS.filter((f) => spec[f] !== undefined);
  if (given.length !== 1) {
    errors.push(
      new KfnError('PROBE_ATTACH_INVALID', `spec: a Probe attaches to exactly one of ${PROBE_ATTACH_FIELDS.join(', ')}; ${given.length ? `found ${given.join(' and ')}` : 'none is given'}`, {
        source: given.length > 1 ? doc.locate(['spec', given[1]!], { key: true }) : doc.locate(['spec'], { key: true }),
        hint: given.length ? 'split it into one Probe per attach point' : 'add e.g. tracepoint: tcp/tcp_retransmit_skb',
      }),
    );
  } else if (spec.uprobe && spec.uprobe.symbol === undefined && spec.uprobe.offset === undefined) {
    errors.push(
      new KfnError('PROBE_ATTACH_INVALID', 'spec.uprobe: needs a symbol (a function of the file) or an offset in the file', {
        source: doc.locate(['spec', 'uprobe'], { key: true }),
        hint: 'add symbol: <function name>',
      }),
    );
  }
}

const MANIFESTS: DocumentFormat<keyof typeof SCHEMA_FILES> = {
  schemas: SCHEMA_FILES,
  check(doc, errors) {
    if (doc.kind === 'Probe') return checkProbe(doc, errors);
    if (doc.kind !== 'Chain') return;
    const spec = (doc.data as ChainManifest).spec;
    if (spec.hook === 'xdp' && spec.position !== undefined) {
      errors.push(
        new KfnError('FIELD_NOT_APPLICABLE', `spec.position: only applies to tc hooks (this chain's hook is xdp)`, {
          source: doc.locate(['spec', 'position'], { key: true }),
          hint: 'remove it; for xdp use spec.mode (native, generic, auto)',
        }),
      );
    }
    if (spec.hook !== 'xdp' && spec.mode !== undefined) {
      errors.push(
        new KfnError('FIELD_NOT_APPLICABLE', `spec.mode: only applies to hook xdp (this chain's hook is ${spec.hook})`, {
          source: doc.locate(['spec', 'mode'], { key: true }),
          hint: 'remove it; for tc hooks use spec.position (first, last)',
        }),
      );
    }
  },
};

export function loadManifests(target: string): LoadedManifests {
  const { target: absTarget, files, documents } = loadDocuments(target, MANIFESTS);
  const loaded: LoadedManifests = { target: absTarget, files, documents: [], functions: [], chains: [], probes: [] };
  for (const doc of documents) {
    if (doc.kind === 'Chain') {
      const d = doc as ChainDocument;
      loaded.chains.push(d);
      loaded.documents.push(d);
    } else if (doc.kind === 'Probe') {
      const d = doc as ProbeDocument;
      loaded.probes.push(d);
      loaded.documents.push(d);
    } else {
      const d = doc as KernelFunctionDocument;
      loaded.functions.push(d);
      loaded.documents.push(d);
    }
  }
  return loaded;
}

/** Reads `target` (a file, or a directory of *.yaml / *.yml) as documents of `format`. */
export function loadDocuments<K extends string>(target: string, format: DocumentFormat<K>): LoadedDocuments<K> {
  const absTarget = path.resolve(target);
  let st: fs.Stats;
  try {
    st = fs.statSync(absTarget);
  } catch (e) {
    throw new KfnError('MANIFEST_NOT_FOUND', `${target}: no such file or directory`, {
      hint: 'pass a manifest file or a directory of *.yaml / *.yml manifests',
      cause: e,
    });
  }

  const errors: KfnError[] = [];
  let files: { display: string; abs: string }[];
  if (st.isDirectory()) {
    files = listManifestFiles(target, absTarget, errors);
  } else {
    files = [{ display: target, abs: absTarget }];
  }

  const kinds = Object.keys(format.schemas) as K[];
  const loaded: LoadedDocuments<K> = { target: absTarget, files: [], documents: [] };
  for (const f of files) {
    loaded.files.push(f.display);
    const fileErrors: KfnError[] = [];
    loadFile(f.display, f.abs, format, loaded, fileErrors);
    append(errors, sortByPosition(fileErrors));
  }

  if (errors.length === 0 && loaded.documents.length === 0) {
    throw new KfnError('MANIFEST_EMPTY', `${target}: no manifests found`, {
      hint: st.isDirectory()
        ? `the directory holds no *.yaml / *.yml file with a ${kinds.join(' or ')} document (dotfiles are ignored)`
        : 'the file holds no YAML document',
    });
  }
  throwIfAny(errors);
  return loaded;
}

export function throwIfAny(errors: KfnError[]): void {
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new KfnErrors(errors);
}

/** `*.yaml` / `*.yml` below `dir`, recursively, sorted by path (code-unit order); dotfiles skipped. */
function listManifestFiles(display: string, abs: string, errors: KfnError[]): { display: string; abs: string }[] {
  const out: { display: string; abs: string }[] = [];
  const visited = new Set<string>();
  const walk = (d: string, a: string): void => {
    let real: string;
    try {
      real = fs.realpathSync(a);
    } catch {
      return;
    }
    if (visited.has(real)) return; // symlink loop
    visited.add(real);
    let names: string[];
    try {
      names = fs.readdirSync(a);
    } catch (e) {
      errors.push(
        new KfnError('MANIFEST_READ', `cannot read directory: ${(e as Error).message}`, {
          source: { file: d },
          hint: 'fix its permissions: kfn reads manifests as the user running it',
        }),
      );
      return;
    }
    names.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const ca = path.join(a, name);
      const cd = path.join(d, name);
      let s: fs.Stats;
      try {
        s = fs.statSync(ca);
      } catch {
        continue; // dangling symlink
      }
      if (s.isDirectory()) walk(cd, ca);
      else if (s.isFile() && MANIFEST_EXT.test(name)) out.push({ display: cd, abs: ca });
    }
  };
  walk(display, abs);
  return out;
}

function loadFile<K extends string>(file: string, abs: string, format: DocumentFormat<K>, loaded: LoadedDocuments<K>, errors: KfnError[]): void {
  let text: string;
  try {
    text = readRegularFile(abs, { maxBytes: MAX_MANIFEST_BYTES }).toString('utf8');
  } catch (e) {
    if (!(e instanceof InputFileError)) throw e;
    if (e.problem === 'too-large') {
      errors.push(
        new KfnError('MANIFEST_TOO_LARGE', `file ${e.detail}`, {
          source: { file },
          hint: 'split it into several files; manifests are small',
        }),
      );
    } else if (e.problem === 'not-regular') {
      errors.push(
        new KfnError('MANIFEST_READ', `this path ${e.detail}`, {
          source: { file },
          hint: 'manifests are regular *.yaml / *.yml files; kfn never reads FIFOs, devices or sockets',
        }),
      );
    } else {
      errors.push(new KfnError('MANIFEST_READ', `cannot read file: ${e.detail}`, { source: { file }, hint: 'fix its permissions: kfn reads manifests as the user running it' }));
    }
    return;
  }
  // yaml reads a byte-order mark itself; the line counter then counts it as a column.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const lineCounter = new LineCounter();
  // Duplicate keys are errors, as with yaml's default uniqueKeys; but its check compares
  // every pair with every other (20k map entries: seconds), so it is done in one pass below.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false, intAsBigInt: true });
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [];
  list.forEach((doc, index) => {
    const loc = new SourceLocator(file, doc, lineCounter);
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        errors.push(new KfnError('MANIFEST_YAML', msg, { source: loc.at(err.pos[0]), hint: 'fix the YAML syntax' }));
      }
      return;
    }
    const wrong = structureErrors(doc, loc);
    if (wrong.length > 0) {
      append(errors, wrong);
      return;
    }
    let data: unknown;
    try {
      data = normalize(doc.toJS({ maxAliasCount: 100 }));
    } catch (e) {
      errors.push(
        new KfnError('MANIFEST_YAML', (e as Error).message.split('\n')[0]!, {
          source: loc.locate([]),
          hint: 'fix the YAML: anchors (&name) and aliases (*name) must be few and point backwards',
        }),
      );
      return;
    }
    if (data === null || data === undefined) return; // empty document (`---` alone, or only comments)
    checkDocument(file, abs, index, data, loc, format, loaded, errors);
  });
}

/**
 * What toJS would read wrongly or drop, found in one walk of the document: keys repeated
 * within a mapping, aliases with no anchor before them, and YAML 1.1 collection tags.
 * Only the first of these kinds that occurs is reported, in that order.
 */
function structureErrors(doc: Document.Parsed, loc: SourceLocator): KfnError[] {
  const dupes: KfnError[] = [];
  const unresolved: KfnError[] = [];
  const tagged: KfnError[] = [];
  const anchors = new Set<string>();
  visit(doc, {
    Node(_k, node) {
      if (isAlias(node)) {
        if (!anchors.has(node.source)) unresolved.push(unresolvedAlias(node, loc));
        return undefined;
      }
      if (isMap(node)) append(dupes, duplicateKeys(node, loc));
      const name = isCollection(node) && node.tag ? TYPED_COLLECTIONS[node.tag] : undefined;
      if (name) tagged.push(typedCollection(name, node, loc));
      if (node.anchor) anchors.add(node.anchor);
      return undefined;
    },
  });
  return dupes.length > 0 ? dupes : unresolved.length > 0 ? unresolved : tagged;
}

/**
 * Keys repeated within one mapping: `duplicate key "hook" (first at line 5)` at the repeat.
 * Keys compare as the strings they become in the loaded data, so `1` and `"1"` collide too.
 */
function duplicateKeys(map: YAMLMap, loc: SourceLocator): KfnError[] {
  const out: KfnError[] = [];
  const seen = new Map<string, Pair>();
  for (const pair of map.items) {
    const key = pair.key;
    if (!isScalar(key)) continue;
    const text = String(key.value);
    const first = seen.get(text);
    if (!first) {
      seen.set(text, pair);
      continue;
    }
    const at = (key as Node).range?.[0] ?? 0;
    const firstAt = (first.key as Node | null)?.range?.[0];
    out.push(
      new KfnError('MANIFEST_YAML', `duplicate key ${show(text)}${firstAt !== undefined ? ` (first at line ${loc.at(firstAt).line})` : ''}`, {
        source: loc.at(at),
        hint: 'each key may appear once per mapping: remove or merge one',
      }),
    );
  }
  return out;
}

/** An alias (`*name`) with no anchor (`&name`) before it in the document (toJS takes the last one before it). */
function unresolvedAlias(node: Alias, loc: SourceLocator): KfnError {
  return new KfnError('MANIFEST_YAML', `unresolved alias *${node.source}: no anchor &${node.source} before it in this document`, {
    source: loc.at(node.range?.[0] ?? 0),
    hint: `define the anchor first (e.g. "key: &${node.source} value") earlier in the same document, or write the value out`,
  });
}

/** YAML 1.1 collection types that load as JS Map / Set: a plain-object reading would drop their entries. */
const TYPED_COLLECTIONS: Record<string, string> = {
  'tag:yaml.org,2002:omap': '!!omap',
  'tag:yaml.org,2002:set': '!!set',
  'tag:yaml.org,2002:pairs': '!!pairs',
};

/** `!!omap`, `!!set` or `!!pairs`: refused, at the tag. */
function typedCollection(name: string, node: Node, loc: SourceLocator): KfnError {
  return new KfnError('MANIFEST_YAML', `${name} is not supported in manifests: its entries would not be read as a mapping`, {
    source: loc.at(node.range?.[0] ?? 0),
    hint: `remove the ${name} tag and write a plain mapping (key: value; a set's keys need values, e.g. "198.18.0.0/24": 1)`,
  });
}

/** bigints that fit a double become numbers; bigger integers stay bigints (u64 values). */
function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (Array.isArray(v)) return v.map(normalize);
  // structureErrors refuses the tags that make these; nothing may be dropped silently.
  if (v instanceof Map || v instanceof Set) throw new Error('a YAML collection type kfn does not read (a Map or Set)');
  if (v !== null && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      Object.defineProperty(out, k, { value: normalize(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

function checkDocument<K extends string>(
  file: string,
  abs: string,
  index: number,
  data: unknown,
  loc: SourceLocator,
  format: DocumentFormat<K>,
  loaded: LoadedDocuments<K>,
  errors: KfnError[],
): void {
  const kinds = Object.keys(format.schemas) as K[];
  const here = (p: (string | number)[], key = false): SourceRef => loc.locate(p, { key });
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    errors.push(
      new KfnError('MANIFEST_SCHEMA', `a manifest document must be a mapping, got ${Array.isArray(data) ? 'a sequence' : show(data)}`, {
        source: here([]),
        hint: 'each YAML document needs apiVersion, kind, metadata and spec',
      }),
    );
    return;
  }
  const obj = data as Record<string, unknown>;

  if (!('apiVersion' in obj)) {
    errors.push(
      new KfnError('MANIFEST_API_VERSION', `apiVersion: required field missing (expected ${API_VERSION})`, {
        source: here([]),
        hint: `add "apiVersion: ${API_VERSION}"`,
      }),
    );
    return;
  }
  if (obj.apiVersion !== API_VERSION) {
    errors.push(
      new KfnError('MANIFEST_API_VERSION', `apiVersion: unsupported ${show(obj.apiVersion)} (expected ${API_VERSION})`, {
        source: here(['apiVersion']),
        hint: `this kfn reads ${API_VERSION} manifests only`,
      }),
    );
    return;
  }
  if (!kinds.includes(obj.kind as K)) {
    const guess = typeof obj.kind === 'string' ? closest(obj.kind, kinds) : undefined;
    errors.push(
      new KfnError(
        'MANIFEST_KIND',
        'kind' in obj ? `kind: unknown kind ${show(obj.kind)} (expected ${kinds.join(' or ')})` : `kind: required field missing (expected ${kinds.join(' or ')})`,
        { source: 'kind' in obj ? here(['kind']) : here([]), hint: guess ? `did you mean "${guess}"?` : `kind must be ${kinds.join(' or ')}` },
      ),
    );
    return;
  }
  const kind = obj.kind as K;
  const schemaErrors = validateAgainstSchema(format.schemas[kind], data, loc);
  if (schemaErrors.length > 0) {
    append(errors, schemaErrors);
    return;
  }

  const doc: LoadedDocument<K> = {
    kind,
    data,
    file,
    absFile: abs,
    index,
    source: here(['metadata', 'name']),
    locate: (p: readonly (string | number)[], opts?: { key?: boolean }) => loc.locate(p, opts),
  };
  format.check?.(doc, errors);
  loaded.documents.push(doc);
}

/** Stable sort of one file's errors by line, then column. */
function sortByPosition(errors: KfnError[]): KfnError[] {
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const la = a.e.source?.line ?? 0;
      const lb = b.e.source?.line ?? 0;
      if (la !== lb) return la - lb;
      const ca = a.e.source?.column ?? 0;
      const cb = b.e.source?.column ?? 0;
      return ca !== cb ? ca - cb : a.i - b.i;
    })
    .map((x) => x.e);
}
