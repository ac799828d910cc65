/**
 * The functions chains can use: the built-in library (src/library) and the repository's
 * KernelFunction documents, which add to it. A repository document is defined once per
 * name@version, its object found relative to the manifest and inside the root (after
 * symlinks); a built-in's object is in the installation, outside the root by design.
 * Each object is read once through the injected readObjectInfo, checked against its
 * sha256 pin, one program chosen per hook kind, and (for repository functions) its chain
 * slot, companions and monitored maps checked against the object. Problems are collected into the
 * caller's error list; a function that did not resolve is left without
 * info/objectPath/programs so chains that use it stay quiet.
 *
 * A repository document with a built-in's name@version is the built-in when its object
 * is byte-identical (a repository that vendors the library); otherwise it shadows the
 * built-in, which needs `spec.shadowsBuiltin: true` (docs/library.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError, isKfnError, type SourceRef } from '../core/errors.js';
import { DEFAULT_NEXT_MAP, HOOKS, PROBE_HOOKS, PROCEED_MAP, type Companion, type Hook, type MonitorMap, type ProbeHook } from '../core/types.js';
import type { MapInfo, ObjectInfo, ProgramInfo, ProgramKind } from '../libbpf/object-info.js';
import type { BuiltinFunction } from '../library/index.js';
import { ValueError, encodeMapKey } from '../values/index.js';
import type { CompanionSpec, KernelFunctionDocument } from './types.js';
import { where, withSource } from './util.js';

type ProgKind = 'xdp' | 'tc';
export const hookKind = (h: Hook): ProgKind => (h === 'xdp' ? 'xdp' : 'tc');
export const isChainHook = (h: string): h is Hook => (HOOKS as readonly string[]).includes(h);
export const isProbeHook = (h: string): h is ProbeHook => (PROBE_HOOKS as readonly string[]).includes(h);

/** The program type a probe hook needs, and the section prefixes libbpf gives such programs. */
const PROBE_PROGRAMS: Record<ProbeHook, { kind: ProgramKind; sections: string[] }> = {
  tracepoint: { kind: 'tracepoint', sections: ['tracepoint', 'tp'] },
  uprobe: { kind: 'kprobe', sections: ['uprobe', 'uretprobe'] },
  kprobe: { kind: 'kprobe', sections: ['kprobe', 'kretprobe'] },
  fentry: { kind: 'tracing', sections: ['fentry'] },
  fexit: { kind: 'tracing', sections: ['fexit'] },
  freplace: { kind: 'ext', sections: ['freplace'] },
};

/** Where a function comes from. */
export type FunctionOrigin =
  | { kind: 'repository'; doc: KernelFunctionDocument; /** It replaces the built-in of its name@version. */ shadowsBuiltin: boolean }
  | { kind: 'builtin'; builtin: BuiltinFunction };

export interface ResolvedFunction {
  origin: FunctionOrigin;
  name: string;
  version: string;
  /** Chain hooks and probe hooks. */
  hooks: (Hook | ProbeHook)[];
  objectPath?: string;
  info?: ObjectInfo;
  /** Program per hook kind, for the kinds the function declares and that resolved. */
  programs: Partial<Record<ProgKind, string>>;
  /** Program per probe hook the function declares (and that resolved). */
  probePrograms: Partial<Record<ProbeHook, ProgramInfo>>;
  /**
   * The function's parameter maps: those its C source tags KFN_PARAM plus those its
   * manifest lists under spec.parameters. The one definition validate, plan, apply,
   * drift and show use; every other map is state.
   */
  parameters: Set<string>;
  /** The chain slot the programs tail-call: spec.nextMap, else kfn_next. */
  nextMap: string;
  companions: Companion[];
  monitorMaps: MonitorMap[];
}

/** The part of ResolveDeps that function resolution uses. */
export interface ObjectReader {
  /** Reads an object file's programs, maps and globals (ELF + BTF, no kernel). */
  readObjectInfo: (path: string) => ObjectInfo;
  /** The built-in function library (none when absent: only the repository's functions exist). */
  builtins?: readonly BuiltinFunction[];
}

type InfoCache = Map<string, ObjectInfo | KfnError[]>;

/**
 * Every function a chain of these manifests can reference, by name then version: the
 * repository's documents (resolved now, each error reported once) merged over the
 * built-ins (resolved when first referenced, errors reported at that reference).
 */
export class FunctionSet {
  private readonly repo: Map<string, Map<string, ResolvedFunction>>;
  private readonly builtins = new Map<string, Map<string, BuiltinFunction>>();
  private readonly resolvedBuiltins = new Map<BuiltinFunction, ResolvedFunction>();
  private readonly cache: InfoCache = new Map();

  constructor(
    docs: readonly KernelFunctionDocument[],
    root: string,
    private readonly deps: ObjectReader,
    private readonly errors: KfnError[],
  ) {
    for (const b of deps.builtins ?? []) this.builtins.set(b.name, new Map([...(this.builtins.get(b.name) ?? []), [b.version, b]]));
    this.repo = resolveFunctions(docs, root, deps, errors, this.cache);
    for (const fn of [...this.repo.values()].flatMap((vs) => [...vs.values()])) this.checkShadow(fn);
  }

  /** The versions of `name` with where each comes from; the repository's document wins a shared name@version. */
  versions(name: string): Map<string, { origin: FunctionOrigin['kind']; resolve: (at: SourceRef) => ResolvedFunction }> {
    const out = new Map<string, { origin: FunctionOrigin['kind']; resolve: (at: SourceRef) => ResolvedFunction }>();
    for (const [v, b] of this.builtins.get(name) ?? []) out.set(v, { origin: 'builtin', resolve: (at) => this.builtin(b, at) });
    for (const [v, fn] of this.repo.get(name) ?? []) out.set(v, { origin: 'repository', resolve: () => fn });
    return new Map([...out].sort(([a], [b]) => compareSemver(a, b)));
  }

  /**
   * The function a reference (`name` or `name@version`) names; undefined after reporting
   * why not. `prefix` names the referring entry in messages.
   */
  lookup(ref: string, prefix: string, refSrc: SourceRef): ResolvedFunction | undefined {
    const [refName, refVersion] = splitRef(ref);
    const versions = this.versions(refName);
    const withBuiltins = this.deps.builtins !== undefined;
    const versionList = (): string => [...versions].map(([v, e]) => (e.origin === 'builtin' ? `${v} built in` : v)).join(', ');
    if (versions.size === 0) {
      this.errors.push(
        new KfnError(
          'FUNCTION_NOT_FOUND',
          withBuiltins ? `${prefix}: no function "${refName}": kfn has no built-in of that name and no KernelFunction defines it` : `${prefix}: no KernelFunction "${refName}" is defined`,
          { source: refSrc, hint: notFoundHint(this.names(), withBuiltins) },
        ),
      );
      return undefined;
    }
    if (refVersion === undefined) {
      if (versions.size > 1) {
        const vs = [...versions.keys()];
        this.errors.push(
          new KfnError('FUNCTION_AMBIGUOUS', `${prefix}: "${refName}" is defined in ${vs.length} versions (${versionList()})`, {
            source: refSrc,
            hint: `say which one, e.g. "${refName}@${vs[vs.length - 1]}"`,
          }),
        );
        return undefined;
      }
      return [...versions.values()][0]!.resolve(refSrc);
    }
    const entry = versions.get(refVersion);
    if (!entry) {
      this.errors.push(
        new KfnError('FUNCTION_VERSION_NOT_FOUND', `${prefix}: "${refName}" has no version ${refVersion}`, {
          source: refSrc,
          hint: `defined versions of ${refName}: ${versionList()}`,
        }),
      );
      return undefined;
    }
    return entry.resolve(refSrc);
  }

  /** What every reference can resolve to, by name then version (a built-in's errors point at its object). */
  all(): ResolvedFunction[] {
    const names = [...new Set([...this.builtins.keys(), ...this.repo.keys()])].sort();
    return names.flatMap((n) => [...this.versions(n).values()].map((e) => e.resolve({ file: '' })));
  }

  /** `name@version` of every repository function, then of every built-in. */
  names(): { repository: string[]; builtin: string[] } {
    const list = (m: Map<string, Map<string, unknown>>) => [...m].flatMap(([n, vs]) => [...vs.keys()].map((v) => `${n}@${v}`)).sort();
    return { repository: list(this.repo), builtin: list(this.builtins) };
  }

  private builtin(b: BuiltinFunction, at: SourceRef): ResolvedFunction {
    let fn = this.resolvedBuiltins.get(b);
    if (!fn) {
      if (!at.file) at = { file: b.objectPath };
      fn = { origin: { kind: 'builtin', builtin: b }, name: b.name, version: b.version, hooks: [...b.hooks], programs: {}, probePrograms: {}, parameters: new Set(), nextMap: DEFAULT_NEXT_MAP, companions: [], monitorMaps: [] };
      this.resolvedBuiltins.set(b, fn);
      const prefix = `built-in function "${b.name}@${b.version}"`;
      let isFile = false;
      try {
        isFile = fs.statSync(b.objectPath).isFile();
      } catch {
        /* reported below */
      }
      if (!isFile) {
        this.errors.push(
          new KfnError('OBJECT_NOT_FOUND', `${prefix}: its object ${b.objectPath} is missing from this kfn installation`, {
            source: at,
            hint: 'in a clone, build it (npm run build:bpf); an installed kfn is incomplete: reinstall it',
          }),
        );
      } else {
        const checkObject = (info: ObjectInfo): boolean => {
          const before = this.errors.length;
          resolveCompanions(fn!, { wanted: b.companions ?? [], label: b.objectPath, at: () => at }, info, prefix, this.errors);
          return this.errors.length === before;
        };
        describeObject(fn, b.objectPath, { label: b.objectPath, program: b.program, parameters: [], at: () => at, checkObject }, this.deps, this.cache, this.errors, prefix);
      }
    }
    return fn;
  }

  /** A repository document with a built-in's name@version: the same object, or an explicit shadow. */
  private checkShadow(fn: ResolvedFunction): void {
    if (fn.origin.kind !== 'repository') return;
    const b = this.builtins.get(fn.name)?.get(fn.version);
    const doc = fn.origin.doc;
    if (!b || !fn.info || fn.origin.shadowsBuiltin) return;
    let cached = this.cache.get(b.objectPath);
    if (!cached) {
      try {
        cached = this.deps.readObjectInfo(b.objectPath);
      } catch (e) {
        // A missing or broken built-in cannot be the same object; its error is reported where it is referenced.
        cached = objectErrors(e, doc.source, `built-in function "${b.name}@${b.version}"`, b.objectPath);
      }
      this.cache.set(b.objectPath, cached);
    }
    const builtinSha = Array.isArray(cached) ? undefined : cached.sha256;
    if (builtinSha !== undefined && builtinSha.toLowerCase() === fn.info.sha256.toLowerCase()) return;
    this.errors.push(
      new KfnError('FUNCTION_SHADOWS_BUILTIN', `KernelFunction "${fn.name}@${fn.version}" has the name and version of a built-in function with another object (${short(fn.info.sha256)}, the built-in's is ${builtinSha ? short(builtinSha) : 'missing'})`, {
        source: doc.source,
        hint: `to replace the built-in in this repository set spec.shadowsBuiltin: true; to add your build beside it, give it another version (the built-in stays "${fn.name}@${fn.version}")`,
      }),
    );
  }
}

function notFoundHint(defined: { repository: string[]; builtin: string[] }, withBuiltins: boolean): string {
  if (!withBuiltins) return defined.repository.length > 0 ? `defined functions: ${defined.repository.join(', ')}` : 'no KernelFunction manifest was loaded';
  const parts = [`built-in functions: ${defined.builtin.join(', ') || 'none'}`];
  if (defined.repository.length > 0) parts.push(`defined by KernelFunctions: ${defined.repository.join(', ')}`);
  return parts.join('; ');
}

/** Resolves every KernelFunction document; returns them by name, then by version. */
export function resolveFunctions(
  docs: readonly KernelFunctionDocument[],
  root: string,
  deps: ObjectReader,
  errors: KfnError[],
  infoCache: InfoCache = new Map(),
): Map<string, Map<string, ResolvedFunction>> {
  const byName = new Map<string, Map<string, ResolvedFunction>>();
  for (const doc of docs) {
    const name = doc.data.metadata.name;
    const version = doc.data.spec.version;
    const versions = byName.get(name) ?? new Map<string, ResolvedFunction>();
    const prev = versions.get(version);
    if (prev) {
      errors.push(
        new KfnError('MANIFEST_DUPLICATE', `KernelFunction "${name}@${version}" is defined twice (first at ${where(definedAt(prev))})`, {
          source: doc.source,
          hint: 'each name@version may be defined once; bump spec.version for a new build',
        }),
      );
      continue;
    }
    const fn: ResolvedFunction = {
      origin: { kind: 'repository', doc, shadowsBuiltin: doc.data.spec.shadowsBuiltin === true },
      name,
      version,
      hooks: [...doc.data.spec.hooks],
      programs: {},
      probePrograms: {},
      parameters: new Set(),
      nextMap: doc.data.spec.nextMap ?? DEFAULT_NEXT_MAP,
      companions: [],
      monitorMaps: [],
    };
    versions.set(version, fn);
    byName.set(name, versions);
    resolveFunction(fn, root, deps, infoCache, errors);
  }
  return byName;
}

/** Where a repository function's document is; undefined for a built-in. */
export function definedAt(fn: ResolvedFunction): SourceRef | undefined {
  return fn.origin.kind === 'repository' ? fn.origin.doc.source : undefined;
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

export function splitRef(ref: string): [string, string | undefined] {
  const at = ref.indexOf('@');
  return at < 0 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
}

function short(hex: string): string {
  return hex.length > 12 ? `${hex.slice(0, 12)}…` : hex;
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function resolveFunction(fn: ResolvedFunction, root: string, deps: ObjectReader, cache: InfoCache, errors: KfnError[]): void {
  if (fn.origin.kind !== 'repository') return;
  const { doc } = fn.origin;
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

  describeObject(
    fn,
    real,
    {
      label: spec.object,
      ...(spec.program !== undefined ? { program: spec.program } : {}),
      parameters: spec.parameters ?? [],
      ...(spec.sha256 !== undefined ? { sha256: spec.sha256 } : {}),
      at: (field, i) =>
        field === 'object'
          ? objSrc
          : field === 'sha256'
            ? doc.locate(['spec', 'sha256'])
            : field === 'program'
              ? spec.program !== undefined
                ? doc.locate(['spec', 'program'])
                : doc.locate(['spec', 'hooks'])
              : field === 'parameter'
                ? doc.locate(['spec', 'parameters', i ?? 0])
                : doc.source,
      checkObject: (info) => {
        const before = errors.length;
        resolveNextMap(doc, info, prefix, errors);
        resolveCompanions(fn, { wanted: spec.companions ?? [], label: spec.object, at: (i, field) => doc.locate(['spec', 'companions', i, field]) }, info, prefix, errors);
        resolveMonitorMaps(fn, doc, info, prefix, errors);
        return errors.length === before;
      },
    },
    deps,
    cache,
    errors,
    prefix,
  );
}

/** What describeObject needs of a function's definition, and where each part is written. */
interface ObjectSpec {
  /** The object as its definition names it (for messages). */
  label: string;
  program?: string;
  /** Parameter maps beyond the object's KFN_PARAM tags. */
  parameters: readonly string[];
  sha256?: string;
  at: (field: 'object' | 'sha256' | 'program' | 'parameter' | 'definition', index?: number) => SourceRef;
  /** Checks of the definition against the object once its programs are chosen (false: refused). */
  checkObject?: (info: ObjectInfo) => boolean;
}

/**
 * Reads the object at `real` (once per file), checks the pin, chooses one program per hook
 * kind and collects the parameter maps; on success fills fn.info/objectPath/programs/parameters.
 */
function describeObject(fn: ResolvedFunction, real: string, spec: ObjectSpec, deps: ObjectReader, cache: InfoCache, errors: KfnError[], prefix: string): void {
  const objSrc = spec.at('object');
  let cached = cache.get(real);
  if (!cached) {
    try {
      cached = deps.readObjectInfo(real);
    } catch (e) {
      cached = objectErrors(e, objSrc, prefix, spec.label);
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
        `${prefix}: object ${spec.label} has sha256 ${short(info.sha256)}, the manifest pins ${short(spec.sha256.toLowerCase())}`,
        {
          source: spec.at('sha256'),
          hint: `refusing an object that differs from the pin; rebuild the pinned source, or if this build is intended set spec.sha256: ${info.sha256}`,
        },
      ),
    );
    return;
  }

  // one program per declared hook kind
  const kinds = [...new Set(fn.hooks.filter(isChainHook).map(hookKind))];
  const progSrc = spec.at('program');
  const listing = info.programs.length > 0 ? info.programs.map((p) => `${p.name} (${p.kind})`).join(', ') : 'none';
  for (const kind of kinds) {
    const ofKind = info.programs.filter((p) => p.kind === kind);
    let chosen: ProgramInfo | undefined;
    if (spec.program !== undefined) {
      const wanted = spec.program;
      // A section that names no type (SEC("xdp_ratelimiting")) takes the hook's.
      chosen =
        ofKind.find((p) => p.name === wanted) ??
        ofKind.find((p) => p.name === `${wanted}_${kind}`) ??
        info.programs.find((p) => p.name === wanted && p.needsType);
      if (!chosen) {
        const hooksOfKind = fn.hooks.filter((h) => isChainHook(h) && hookKind(h) === kind).join('/');
        const a = kind === 'xdp' ? 'an' : 'a';
        const other = info.programs.find((p) => p.name === wanted && p.kind !== kind);
        errors.push(
          new KfnError(
            'PROGRAM_NOT_FOUND',
            other
              ? `${prefix}: ${wanted} is ${other.kind === 'other' ? `a program of section "${other.section}"` : `${other.kind === 'xdp' ? 'an' : 'a'} ${other.kind} program`}; hook ${hooksOfKind} needs ${a} ${kind} program (programs in ${spec.label}: ${listing})`
              : `${prefix}: no ${kind} program named "${wanted}" or "${wanted}_${kind}" in ${spec.label} (programs: ${listing})`,
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
        new KfnError('PROGRAM_NOT_FOUND', `${prefix}: no ${kind} program in ${spec.label} (programs: ${listing})`, {
          source: progSrc,
          hint: `spec.hooks needs an ${kind} program (SEC("${kind}")); remove the hook or rebuild the object`,
        }),
      );
      continue;
    } else {
      errors.push(
        new KfnError(
          'PROGRAM_AMBIGUOUS',
          `${prefix}: ${ofKind.length} ${kind} programs in ${spec.label} (${ofKind.map((p) => p.name).join(', ')})`,
          { source: spec.at('definition'), hint: `set spec.program to the one to run (a name, or a base name B with programs B_xdp / B_tc)` },
        ),
      );
      continue;
    }
    fn.programs[kind] = chosen.name;
  }
  for (const hook of fn.hooks.filter(isProbeHook)) {
    const chosen = probeProgram(info, hook, spec, listing, prefix, errors);
    if (chosen) fn.probePrograms[hook] = chosen;
  }

  if (spec.checkObject && !spec.checkObject(info)) return;
  const parameters = new Set(info.maps.filter((m) => m.parameter).map((m) => m.name));
  let paramsOk = true;
  spec.parameters.forEach((name, i) => {
    const m = info.maps.find((x) => x.name === name);
    const problem = !m ? `declares parameter map "${name}", which ${spec.label} does not have` : !isParameterCapable(m.name, m.type) ? `declares "${name}" a parameter, but it is a ${m.type} map` : undefined;
    if (problem) {
      paramsOk = false;
      const maps = info.maps.filter((x) => isParameterCapable(x.name, x.type)).map((x) => x.name);
      errors.push(
        new KfnError('MAP_NOT_FOUND', `${prefix}: ${problem}`, {
          source: spec.at('parameter', i),
          hint: `maps that can be parameters: ${maps.length ? maps.join(', ') : 'none'}`,
        }),
      );
    } else parameters.add(name);
  });
  if (!paramsOk) return;
  fn.parameters = parameters;
  fn.objectPath = real;
  fn.info = info;
}

/**
 * The program a probe hook runs: spec.program (a name, or a base name B with program
 * B_<hook>), else the one program of the hook's type, preferring those whose section
 * says the hook (SEC("uprobe") for uprobe where a kprobe program would also load).
 */
function probeProgram(info: ObjectInfo, hook: ProbeHook, spec: ObjectSpec, listing: string, prefix: string, errors: KfnError[]): ProgramInfo | undefined {
  const want = PROBE_PROGRAMS[hook];
  const ofKind = info.programs.filter((p) => p.kind === want.kind);
  if (spec.program !== undefined) {
    const chosen = ofKind.find((p) => p.name === spec.program) ?? ofKind.find((p) => p.name === `${spec.program}_${hook}`);
    if (!chosen) {
      errors.push(
        new KfnError('PROGRAM_NOT_FOUND', `${prefix}: no ${want.kind} program named "${spec.program}" or "${spec.program}_${hook}" for hook ${hook} in ${spec.label} (programs: ${listing})`, {
          source: spec.at('program'),
          hint: `hook ${hook} needs a program of section ${want.sections.map((s) => `"${s}"`).join(' or ')}; fix spec.program or remove the hook`,
        }),
      );
    }
    return chosen;
  }
  const bySection = ofKind.filter((p) => want.sections.includes(p.section.split('/')[0]!));
  const candidates = bySection.length ? bySection : ofKind;
  if (candidates.length === 1) return candidates[0];
  errors.push(
    candidates.length === 0
      ? new KfnError('PROGRAM_NOT_FOUND', `${prefix}: no program for hook ${hook} in ${spec.label} (programs: ${listing})`, {
          source: spec.at('program'),
          hint: `hook ${hook} needs a ${want.kind} program (SEC("${want.sections[0]}")); remove the hook or rebuild the object`,
        })
      : new KfnError('PROGRAM_AMBIGUOUS', `${prefix}: ${candidates.length} programs for hook ${hook} in ${spec.label} (${candidates.map((p) => p.name).join(', ')})`, {
          source: spec.at('definition'),
          hint: 'set spec.program to the one to run (a name, or a base name B with a program B_<hook>)',
        }),
  );
  return undefined;
}

/** The per-instance chaining map every function owns; kfn manages it. */
export { DEFAULT_NEXT_MAP as NEXT_MAP };

/** Map types that hold no entries a manifest could set. */
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

export function isParameterCapable(name: string, type: string): boolean {
  return name !== DEFAULT_NEXT_MAP && name !== PROCEED_MAP && !NON_PARAMETER_MAP_TYPES.has(type);
}

function mapListing(maps: readonly MapInfo[]): string {
  return maps.length > 0 ? maps.map((m) => `${m.name} (${m.type})`).join(', ') : 'none';
}

/** spec.nextMap names a one-slot program array of the object (kfn_next is kfn's own and not checked here). */
function resolveNextMap(doc: KernelFunctionDocument, info: ObjectInfo, prefix: string, errors: KfnError[]): void {
  const wanted = doc.data.spec.nextMap;
  if (wanted === undefined) return;
  const source = doc.locate(['spec', 'nextMap']);
  const m = info.maps.find((x) => x.name === wanted);
  const slots = info.maps.filter((x) => x.type === 'prog_array' && x.maxEntries === 1);
  if (!m) {
    errors.push(
      new KfnError('MAP_NOT_FOUND', `${prefix}: nextMap "${wanted}" is not a map of ${doc.data.spec.object} (maps: ${mapListing(info.maps)})`, {
        source,
        hint: slots.length > 0 ? `one-slot program arrays of the object: ${slots.map((x) => x.name).join(', ')}` : 'the object has no one-slot program array to chain through',
      }),
    );
    return;
  }
  if (m.type !== 'prog_array' || m.maxEntries !== 1 || m.keySize !== 4 || m.valueSize !== 4) {
    errors.push(
      new KfnError(
        'NEXT_MAP_INVALID',
        `${prefix}: nextMap "${wanted}" is a ${m.type} with ${m.maxEntries} entries (key ${m.keySize} bytes, value ${m.valueSize}), not a one-slot prog_array`,
        {
          source,
          hint: slots.length > 0 ? `one-slot program arrays of the object: ${slots.map((x) => x.name).join(', ')}` : 'the chain slot is a BPF_MAP_TYPE_PROG_ARRAY with max_entries 1 that the program tail-calls with key 0',
        },
      ),
    );
  }
}

/** tracepoint/<category>/<name> or tp/<category>/<name> -> category/name. */
function sectionTracepoint(section: string): string | undefined {
  const m = /^(?:tracepoint|tp)\/([A-Za-z0-9_]+\/[A-Za-z0-9_]+)$/.exec(section);
  return m?.[1];
}

/** A function's companions as written (a KernelFunction's spec, or the library's catalog), and where each field is. */
interface CompanionsSpec {
  wanted: readonly CompanionSpec[];
  /** The object as the definition names it. */
  label: string;
  at: (index: number, field: 'program' | 'tracepoint') => SourceRef;
}

function resolveCompanions(fn: ResolvedFunction, spec: CompanionsSpec, info: ObjectInfo, prefix: string, errors: KfnError[]): void {
  const chained = new Set(Object.values(fn.programs));
  const seen = new Map<string, number>();
  for (const [i, c] of spec.wanted.entries()) {
    const source = spec.at(i, 'program');
    const p = info.programs.find((x) => x.name === c.program);
    if (!p) {
      const listing = info.programs.filter((x) => !chained.has(x.name)).map((x) => `${x.name} (${x.section})`).join(', ') || 'none';
      errors.push(
        new KfnError('PROGRAM_NOT_FOUND', `${prefix}: companion "${c.program}" is not a program of ${spec.label} (other programs: ${listing})`, {
          source,
          hint: 'a companion names another program of the same object',
        }),
      );
      continue;
    }
    const first = seen.get(c.program);
    if (first !== undefined || chained.has(c.program)) {
      errors.push(
        new KfnError(
          'COMPANION_INVALID',
          first !== undefined
            ? `${prefix}: companion "${c.program}" is listed twice (first at ${where(spec.at(first, 'program'))})`
            : `${prefix}: "${c.program}" is the chained program and cannot also be a companion`,
          { source, hint: 'list each other program of the object once' },
        ),
      );
      continue;
    }
    seen.set(c.program, i);
    const fromSection = sectionTracepoint(p.section);
    const tracepoint = c.tracepoint ?? fromSection;
    if ((p.kind !== 'tracepoint' && !p.needsType) || tracepoint === undefined) {
      errors.push(
        new KfnError(
          'COMPANION_INVALID',
          p.kind !== 'tracepoint' && !p.needsType
            ? `${prefix}: companion "${c.program}" is ${p.kind === 'other' ? `a program of section "${p.section}"` : `an ${p.kind} program`}; kfn attaches tracepoint companions only`
            : `${prefix}: companion "${c.program}" (section "${p.section}") does not say which tracepoint it attaches to`,
          { source: c.tracepoint === undefined ? source : spec.at(i, 'tracepoint'), hint: 'set tracepoint: category/name (e.g. sock/inet_sock_set_state) on the companion' },
        ),
      );
      continue;
    }
    if (c.tracepoint !== undefined && fromSection !== undefined && c.tracepoint !== fromSection) {
      errors.push(
        new KfnError('COMPANION_INVALID', `${prefix}: companion "${c.program}" is built for tracepoint ${fromSection} (section "${p.section}"), not ${c.tracepoint}`, {
          source: spec.at(i, 'tracepoint'),
          hint: `remove tracepoint: (the section says ${fromSection}), or rebuild the program for ${c.tracepoint}`,
        }),
      );
      continue;
    }
    fn.companions.push({ program: c.program, attach: { kind: 'tracepoint', tracepoint } });
  }
}

/** Maps that hold no value a metric could show. */
const NON_METRIC_MAP_TYPES = new Set(['prog_array', 'perf_event_array', 'ringbuf', 'array_of_maps', 'hash_of_maps', 'sockmap', 'sockhash', 'devmap', 'devmap_hash', 'cpumap', 'xskmap']);

function resolveMonitorMaps(fn: ResolvedFunction, doc: KernelFunctionDocument, info: ObjectInfo, prefix: string, errors: KfnError[]): void {
  const candidates = info.maps.filter((m) => !NON_METRIC_MAP_TYPES.has(m.type));
  for (const [i, mm] of (doc.data.spec.monitorMaps ?? []).entries()) {
    const m = info.maps.find((x) => x.name === mm.map);
    if (!m || NON_METRIC_MAP_TYPES.has(m.type)) {
      errors.push(
        new KfnError('MAP_NOT_FOUND', `${prefix}: monitorMaps names ${m ? `"${mm.map}", a ${m.type} map that holds no values` : `"${mm.map}", which is not a map of ${doc.data.spec.object}`}`, {
          source: doc.locate(['spec', 'monitorMaps', i, 'map']),
          hint: `maps of the object that metrics can show: ${mapListing(candidates)}`,
        }),
      );
      continue;
    }
    let key;
    try {
      key = encodeMapKey(m, mm.key);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      errors.push(
        new KfnError('VALUE_INVALID', `${prefix}: monitorMaps key of ${mm.map}: expected ${e.expected}, got ${e.got}`, {
          source: doc.locate(['spec', 'monitorMaps', i, 'key']),
          ...(e.hint ? { hint: e.hint } : {}),
        }),
      );
      continue;
    }
    fn.monitorMaps.push({ map: mm.map, key: key.key, keyText: key.keyText, aggregator: mm.aggregator ?? 'scalar' });
  }
}

function outsideRoot(prefix: string, object: string, resolved: string, root: string, source: SourceRef): KfnError {
  return new KfnError('OBJECT_OUTSIDE_ROOT', `${prefix}: object ${object} resolves to ${resolved}, outside the root ${root}`, {
    source,
    hint: 'objects must live inside the manifest repository (symlinks are followed before the check)',
  });
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
