/**
 * Resolution of loaded manifests into the desired state: function references, object
 * files (inside the root, sha256 pins), programs per hook, typed map entries and globals.
 * Every problem found in one pass is reported together; no I/O beyond stat/realpath of
 * object paths and the injected readObjectInfo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError, isKfnError, type SourceRef } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import {
  DEFAULT_NETNS,
  type DesiredChain,
  type DesiredInstance,
  type DesiredMap,
  type DesiredState,
  type GlobalValue,
  type Hook,
  type MapEntry,
} from '../core/types.js';
import { mapLayoutDigest, type GlobalInfo, type MapInfo, type ObjectInfo, type ProgramInfo } from '../libbpf/object-info.js';
import { ValueError, encodeGlobal, encodeMapEntry } from '../values/index.js';
import { throwIfAny } from './load.js';
import { closest } from './schema.js';
import type { PathSegment } from './source.js';
import type { ChainDocument, KernelFunctionDocument, LoadedManifests } from './types.js';

export interface ResolveDeps {
  /** Reads an object file's programs, maps and globals (ELF + BTF, no kernel). */
  readObjectInfo: (path: string) => ObjectInfo;
  /** Objects must live below this directory (after symlinks). Default: see {@link defaultRoot}. */
  root?: string;
}

/** Map types that hold no parameters a manifest could set. */
const NON_PARAMETER_MAP_TYPES = new Set([
  'prog_array',
  'perf_event_array',
  'ringbuf',
  'user_ringbuf',
  'stack_trace',
  'array_of_maps',
  'hash_of_maps',
  'queue',
  'stack',
  'bloom_filter',
  'sk_storage',
  'inode_storage',
  'task_storage',
  'cgrp_storage',
  'cgroup_storage',
  'percpu_cgroup_storage',
  'struct_ops',
  'arena',
]);

/** The per-instance chaining map every function owns; kfn manages it. */
export const NEXT_MAP = 'kfn_next';

type ProgKind = 'xdp' | 'tc';
const hookKind = (h: Hook): ProgKind => (h === 'xdp' ? 'xdp' : 'tc');

interface ResolvedFunction {
  doc: KernelFunctionDocument;
  name: string;
  version: string;
  objectPath?: string;
  info?: ObjectInfo;
  /** Program per hook kind, for the kinds the function declares and that resolved. */
  programs: Partial<Record<ProgKind, string>>;
}

/** Nearest ancestor of the manifest target (its directory for a file) holding `.git`, else that directory. */
export function defaultRoot(target: string): string {
  let start = path.resolve(target);
  try {
    if (!fs.statSync(start).isDirectory()) start = path.dirname(start);
  } catch {
    start = path.dirname(start);
  }
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

export function resolveDesired(loaded: LoadedManifests, deps: ResolveDeps): DesiredState {
  const errors: KfnError[] = [];
  const rootGiven = path.resolve(deps.root ?? defaultRoot(loaded.target));
  let root = rootGiven;
  try {
    root = fs.realpathSync(rootGiven);
  } catch {
    /* a missing root contains nothing: every object will be outside it */
  }

  // ------------------------------------------------------------ functions
  const byName = new Map<string, Map<string, ResolvedFunction>>();
  const infoCache = new Map<string, ObjectInfo | KfnError[]>();
  for (const doc of loaded.functions) {
    const name = doc.data.metadata.name;
    const version = doc.data.spec.version;
    const versions = byName.get(name) ?? new Map<string, ResolvedFunction>();
    const prev = versions.get(version);
    if (prev) {
      errors.push(
        new KfnError('MANIFEST_DUPLICATE', `KernelFunction "${name}@${version}" is defined twice (first at ${where(prev.doc.source)})`, {
          source: doc.source,
          hint: 'each name@version may be defined once; bump spec.version for a new build',
        }),
      );
      continue;
    }
    const fn: ResolvedFunction = { doc, name, version, programs: {} };
    versions.set(version, fn);
    byName.set(name, versions);
    resolveFunction(fn, root, deps, infoCache, errors);
  }
  const defined = [...byName.values()].flatMap((vs) => [...vs.values()].map((f) => `${f.name}@${f.version}`)).sort();

  // ------------------------------------------------------------ chains
  const chains: DesiredChain[] = [];
  const chainByName = new Map<string, ChainDocument>();
  const attachments = new Map<string, { chain: string; doc: ChainDocument; index: number }>();
  for (const doc of loaded.chains) {
    const spec = doc.data.spec;
    const chainName = doc.data.metadata.name;
    const prev = chainByName.get(chainName);
    if (prev) {
      errors.push(
        new KfnError('MANIFEST_DUPLICATE', `Chain "${chainName}" is defined twice (first at ${where(prev.source)})`, {
          source: doc.source,
          hint: 'chain names must be unique across all manifests',
        }),
      );
      continue;
    }
    chainByName.set(chainName, doc);
    const netns = spec.netns ?? DEFAULT_NETNS;

    spec.interfaces.forEach((ifname, i) => {
      const key = `${netns}\u0000${spec.hook}\u0000${ifname}`;
      const other = attachments.get(key);
      if (other) {
        errors.push(
          new KfnError(
            'CHAIN_CONFLICT',
            `chain "${chainName}": interface "${ifname}" (netns ${netns}, hook ${spec.hook}) is also claimed by chain "${other.chain}" at ${where(other.doc.locate(['spec', 'interfaces', other.index]))}`,
            { source: doc.locate(['spec', 'interfaces', i]), hint: 'one hook of one interface carries one chain: merge the chains or use another hook' },
          ),
        );
      } else {
        attachments.set(key, { chain: chainName, doc, index: i });
      }
    });

    const instances: DesiredInstance[] = [];
    const instanceNames = new Map<string, SourceRef>();
    spec.functions.forEach((f, i) => {
      const base: PathSegment[] = ['spec', 'functions', i];
      const [refName, refVersion] = splitRef(f.function);
      const instName = f.name ?? refName;
      const nameSrc = doc.locate(f.name !== undefined ? [...base, 'name'] : [...base, 'function']);
      const prevInst = instanceNames.get(instName);
      if (prevInst) {
        errors.push(
          new KfnError('MANIFEST_DUPLICATE', `chain "${chainName}": instance name "${instName}" is used twice (first at ${where(prevInst)})`, {
            source: nameSrc,
            hint: f.name === undefined ? `the name defaults to the function name; give this entry a distinct "name:"` : 'give each instance a distinct "name:"',
          }),
        );
      } else {
        instanceNames.set(instName, nameSrc);
      }
      const prefix = `chain "${chainName}" function "${instName}"`;
      const refSrc = doc.locate([...base, 'function']);

      // function reference
      const versions = byName.get(refName);
      let fn: ResolvedFunction | undefined;
      if (!versions) {
        errors.push(
          new KfnError('FUNCTION_NOT_FOUND', `${prefix}: no KernelFunction "${refName}" is defined`, {
            source: refSrc,
            hint: defined.length > 0 ? `defined functions: ${defined.join(', ')}` : 'no KernelFunction manifest was loaded',
          }),
        );
        return;
      } else if (refVersion === undefined) {
        if (versions.size > 1) {
          const vs = [...versions.keys()].sort(compareSemver);
          errors.push(
            new KfnError('FUNCTION_AMBIGUOUS', `${prefix}: "${refName}" is defined in ${vs.length} versions (${vs.join(', ')})`, {
              source: refSrc,
              hint: `say which one, e.g. "${refName}@${vs[vs.length - 1]}"`,
            }),
          );
          return;
        }
        fn = [...versions.values()][0]!;
      } else {
        fn = versions.get(refVersion);
        if (!fn) {
          errors.push(
            new KfnError('FUNCTION_VERSION_NOT_FOUND', `${prefix}: "${refName}" has no version ${refVersion}`, {
              source: refSrc,
              hint: `defined versions of ${refName}: ${[...versions.keys()].sort(compareSemver).join(', ')}`,
            }),
          );
          return;
        }
      }

      // hook
      if (!fn.doc.data.spec.hooks.includes(spec.hook)) {
        errors.push(
          new KfnError(
            'HOOK_NOT_SUPPORTED_BY_FUNCTION',
            `${prefix}: ${fn.name}@${fn.version} does not support hook ${spec.hook} (hooks: ${fn.doc.data.spec.hooks.join(', ')})`,
            { source: refSrc, hint: `use it on a chain with one of its hooks, or add ${spec.hook} to its spec.hooks at ${where(fn.doc.locate(['spec', 'hooks']))}` },
          ),
        );
        return;
      }
      const info = fn.info;
      const program = fn.programs[hookKind(spec.hook)];
      if (!info || !fn.objectPath || !program) return; // the function's own error is already reported

      const maps = resolveMaps(doc, base, prefix, f.maps ?? {}, info, `${fn.name}@${fn.version}`, errors);
      const globals = resolveGlobals(doc, base, prefix, f.globals ?? {}, info, `${fn.name}@${fn.version}`, errors);
      if (!maps || !globals) return;

      for (const [i, name] of (f.mergeMaps ?? []).entries()) {
        const m = maps[name];
        if (m) m.merge = true;
        else {
          errors.push(
            new KfnError('MAP_NOT_FOUND', `${prefix}: mergeMaps names "${name}", which is not listed under maps`, {
              source: doc.locate([...base, 'mergeMaps', i]),
              hint: 'list the map and its managed entries under maps',
            }),
          );
          return;
        }
      }

      if (prevInst) return;
      const stateMaps = Object.fromEntries(
        info.maps.filter((m) => m.name !== NEXT_MAP).map((m) => [m.name, mapLayoutDigest(m)]),
      );
      instances.push({
        name: instName,
        identity: { function: fn.name, version: fn.version, sha256: info.sha256, program, globals },
        objectPath: fn.objectPath,
        maps,
        stateMaps,
        source: doc.locate(base),
      });
    });

    chains.push({
      name: chainName,
      hook: spec.hook,
      netns,
      interfaces: [...spec.interfaces],
      interfaceSources: spec.interfaces.map((_, i) => doc.locate(['spec', 'interfaces', i])),
      mode: spec.mode ?? 'native',
      position: spec.position ?? 'last',
      instances,
      source: doc.source,
    });
  }

  throwIfAny(errors);
  return { chains, manifestDigest: manifestDigest(chains) };
}

/**
 * Digest of the desired chains: what would run where, with which parameters. Source
 * positions and absolute object paths are left out so that moving a line or checking
 * the repository out elsewhere does not change it (the object's sha256 is in the identity).
 */
export function manifestDigest(chains: readonly DesiredChain[]): string {
  const stripped = chains.map(({ source: _s, interfaceSources: _is, instances, ...c }) => ({
    ...c,
    instances: instances.map(({ source: _src, objectPath: _o, maps, ...inst }) => ({
      ...inst,
      maps: Object.fromEntries(Object.entries(maps).map(([k, { source: _ms, ...m }]) => [k, m])),
    })),
  }));
  return sha256Hex(canonicalJson(stripped));
}

/** Semantic-version order (build metadata ignored, pre-releases before their release). */
export function compareSemver(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('+')[0]!.split(/-(.*)/s) as [string, string | undefined];
    return { nums: core.split('.').map(Number), pre: pre === undefined ? [] : pre.split('.') };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! - y.nums[i]!;
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Keys of a mapping in the order they are written (JS objects put integer-like keys
 * first), so that "first" in messages and the order of errors follow the file.
 */
function inSourceOrder(doc: ChainDocument, at: PathSegment[], keys: string[]): string[] {
  const pos = new Map(
    keys.map((k) => {
      const src = doc.locate([...at, k], { key: true });
      return [k, (src.line ?? 0) * 1e6 + (src.column ?? 0)] as const;
    }),
  );
  return [...keys].sort((a, b) => pos.get(a)! - pos.get(b)!);
}

function splitRef(ref: string): [string, string | undefined] {
  const at = ref.indexOf('@');
  return at < 0 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
}

function where(src: SourceRef | undefined): string {
  if (!src) return 'unknown location';
  return src.line === undefined ? src.file : `${src.file}:${src.line}:${src.column ?? 1}`;
}

function short(hex: string): string {
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function resolveFunction(
  fn: ResolvedFunction,
  root: string,
  deps: ResolveDeps,
  cache: Map<string, ObjectInfo | KfnError[]>,
  errors: KfnError[],
): void {
  const { doc } = fn;
  const spec = doc.data.spec;
  const prefix = `function "${fn.name}@${fn.version}"`;
  const objSrc = doc.locate(['spec', 'object']);
  const lexical = path.resolve(path.dirname(doc.absFile), spec.object);

  // object path: exists, regular file, inside the root after symlinks
  let real: string;
  try {
    real = fs.realpathSync(lexical);
  } catch {
    if (!isInside(root, lexical)) {
      errors.push(outsideRoot(prefix, spec.object, lexical, root, objSrc));
    } else {
      errors.push(
        new KfnError('OBJECT_NOT_FOUND', `${prefix}: object ${spec.object} not found (looked for ${lexical})`, {
          source: objSrc,
          hint: 'build it (make -C bpf) or fix spec.object; the path is relative to the manifest file',
        }),
      );
    }
    return;
  }
  if (!isInside(root, real)) {
    errors.push(outsideRoot(prefix, spec.object, real, root, objSrc));
    return;
  }
  let isFile = false;
  try {
    isFile = fs.statSync(real).isFile();
  } catch {
    /* raced away: reported as not a file */
  }
  if (!isFile) {
    errors.push(
      new KfnError('OBJECT_NOT_FOUND', `${prefix}: object ${spec.object} is not a regular file (${real})`, {
        source: objSrc,
        hint: 'spec.object must name a compiled eBPF object (.bpf.o)',
      }),
    );
    return;
  }

  // object info (once per file)
  let cached = cache.get(real);
  if (!cached) {
    try {
      cached = deps.readObjectInfo(real);
    } catch (e) {
      cached = objectErrors(e, objSrc, prefix, spec.object);
    }
    cache.set(real, cached);
  }
  if (Array.isArray(cached)) {
    errors.push(...cached);
    return;
  }
  const info = cached;

  if (spec.sha256 !== undefined && spec.sha256.toLowerCase() !== info.sha256.toLowerCase()) {
    errors.push(
      new KfnError(
        'OBJECT_SHA256_MISMATCH',
        `${prefix}: object ${spec.object} has sha256 ${short(info.sha256)}, the manifest pins ${short(spec.sha256.toLowerCase())}`,
        {
          source: doc.locate(['spec', 'sha256']),
          hint: `refusing an object that differs from the pin; rebuild the pinned source, or if this build is intended set spec.sha256: ${info.sha256}`,
        },
      ),
    );
    return;
  }

  // one program per declared hook kind
  const kinds = [...new Set(spec.hooks.map(hookKind))];
  const progSrc = spec.program !== undefined ? doc.locate(['spec', 'program']) : doc.locate(['spec', 'hooks']);
  const listing = info.programs.length > 0 ? info.programs.map((p) => `${p.name} (${p.kind})`).join(', ') : 'none';
  for (const kind of kinds) {
    const ofKind = info.programs.filter((p) => p.kind === kind);
    let chosen: ProgramInfo | undefined;
    if (spec.program !== undefined) {
      const wanted = spec.program;
      chosen = ofKind.find((p) => p.name === wanted) ?? ofKind.find((p) => p.name === `${wanted}_${kind}`);
      if (!chosen) {
        const hooksOfKind = spec.hooks.filter((h) => hookKind(h) === kind).join('/');
        const a = kind === 'xdp' ? 'an' : 'a';
        const other = info.programs.find((p) => p.name === wanted && p.kind !== kind);
        errors.push(
          new KfnError(
            'PROGRAM_NOT_FOUND',
            other
              ? `${prefix}: ${wanted} is ${other.kind === 'xdp' ? 'an' : 'a'} ${other.kind} program; hook ${hooksOfKind} needs ${a} ${kind} program (programs in ${spec.object}: ${listing})`
              : `${prefix}: no ${kind} program named "${wanted}" or "${wanted}_${kind}" in ${spec.object} (programs: ${listing})`,
            {
              source: progSrc,
              hint:
                other && ofKind.length > 0
                  ? `set spec.program to ${ofKind.map((p) => `"${p.name}"`).join(' or ')}, or to a base name B with programs B_xdp / B_tc; or remove hook ${hooksOfKind}`
                  : `spec.hooks needs ${a} ${kind} program (SEC("${kind}")); fix spec.program or the object`,
            },
          ),
        );
        continue;
      }
    } else if (ofKind.length === 1) {
      chosen = ofKind[0]!;
    } else if (ofKind.length === 0) {
      errors.push(
        new KfnError('PROGRAM_NOT_FOUND', `${prefix}: no ${kind} program in ${spec.object} (programs: ${listing})`, {
          source: progSrc,
          hint: `spec.hooks needs an ${kind} program (SEC("${kind}")); remove the hook or rebuild the object`,
        }),
      );
      continue;
    } else {
      errors.push(
        new KfnError(
          'PROGRAM_AMBIGUOUS',
          `${prefix}: ${ofKind.length} ${kind} programs in ${spec.object} (${ofKind.map((p) => p.name).join(', ')})`,
          { source: doc.source, hint: `set spec.program to the one to run (a name, or a base name B with programs B_xdp / B_tc)` },
        ),
      );
      continue;
    }
    fn.programs[kind] = chosen.name;
  }

  fn.objectPath = real;
  fn.info = info;
}

function outsideRoot(prefix: string, object: string, resolved: string, root: string, source: SourceRef): KfnError {
  return new KfnError('OBJECT_OUTSIDE_ROOT', `${prefix}: object ${object} resolves to ${resolved}, outside the root ${root}`, {
    source,
    hint: 'objects must live inside the manifest repository (symlinks are followed before the check)',
  });
}

function withSource(e: KfnError, source: SourceRef, prefix: string): KfnError {
  return e.source ? e : new KfnError(e.code, `${prefix}: ${e.message}`, { source, hint: e.hint, cause: e });
}

/** readObjectInfo failures as KfnErrors carrying the manifest position when they have none. */
function objectErrors(e: unknown, source: SourceRef, prefix: string, object: string): KfnError[] {
  const list: unknown[] = isKfnError(e) && 'errors' in e && Array.isArray((e as { errors: unknown }).errors) ? (e as { errors: unknown[] }).errors : [e];
  return list.map((x) => {
    if (isKfnError(x)) {
      return withSource(x, source, prefix);
    }
    const msg = x instanceof Error ? x.message : String(x);
    return new KfnError('OBJECT_INVALID', `${prefix}: cannot read object ${object}: ${msg.split('\n')[0]}`, {
      source,
      hint: 'is it an eBPF object compiled with BTF (clang -g -target bpf)?',
      cause: x,
    });
  });
}

/**
 * A ValueError as a VALUE_INVALID KfnError. `label` is how the message names the entry
 * (`blocked_v4["198.18.0.300/32"]`, `rate_pps`); `errPrefix` is how the values layer named
 * it in `err.path`, so that what follows (`.field`, `[2]`) can be located in the YAML.
 */
function valueError(
  doc: ChainDocument,
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

function resolveMaps(
  doc: ChainDocument,
  base: PathSegment[],
  prefix: string,
  wanted: Record<string, Record<string, unknown>>,
  info: ObjectInfo,
  fnLabel: string,
  errors: KfnError[],
): Record<string, DesiredMap> | undefined {
  const out: Record<string, DesiredMap> = {};
  let ok = true;
  const params = info.maps.filter((m) => m.name !== NEXT_MAP && !NON_PARAMETER_MAP_TYPES.has(m.type));
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
          : `"${mapName}" is a ${other.type} map, not a parameter map`
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
              `key and value types of ${mapName} come from the object's BTF`),
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
    encoded.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    out[mapName] = { name: mapName, entries: encoded, source: mapSrc };
  }
  return ok ? out : undefined;
}

function resolveGlobals(
  doc: ChainDocument,
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
