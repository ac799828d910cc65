/**
 * Resolution of loaded manifests into the desired state: function references, object
 * files (inside the root, sha256 pins), programs per hook, typed map entries and globals.
 * Every problem found in one pass is reported together; no I/O beyond stat/realpath of
 * object paths and the injected readObjectInfo. This module resolves chains and their
 * instances; KernelFunction documents are resolved in functions.ts, map entries and
 * globals in parameters.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError, type SourceRef } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import { DEFAULT_NETNS, PROCEED_MAP, PROCEED_VERDICTS, type DesiredChain, type DesiredInstance, type DesiredMap, type DesiredProbe, type DesiredState, type ProceedVerdict } from '../core/types.js';
import { mapLayoutDigest, type ObjectInfo } from '../libbpf/object-info.js';
import { compareSemver, FunctionSet, hookKind, splitRef, type ObjectReader, type ResolvedFunction } from './functions.js';
import { resolveProbes } from './probes.js';
import { throwIfAny } from './load.js';
import { resolveGlobals, resolveMaps } from './parameters.js';
import { NEXT_MAP } from './functions.js';
import type { PathSegment } from './source.js';
import type { ChainDocument, LoadedManifests } from './types.js';
import { where } from './util.js';

export { compareSemver, NEXT_MAP };

export interface ResolveDeps extends ObjectReader {
  /** Reads an object file's programs, maps and globals (ELF + BTF, no kernel). */
  readObjectInfo: (path: string) => ObjectInfo;
  /** Objects of repository functions must live below this directory (after symlinks). Default: see {@link defaultRoot}. */
  root?: string;
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

  const functions = new FunctionSet(loaded.functions, root, deps, errors);
  // Layout digests per function, not per instance (every instance of a function has its layouts).
  const layouts = new Map<ResolvedFunction, Record<string, string>>();

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
      const [refName] = splitRef(f.function);
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

      const fn = functions.lookup(f.function, prefix, refSrc);
      if (!fn) return;

      // hook
      if (!fn.hooks.includes(spec.hook)) {
        const origin = fn.origin;
        errors.push(
          new KfnError(
            'HOOK_NOT_SUPPORTED_BY_FUNCTION',
            `${prefix}: ${origin.kind === 'builtin' ? 'the built-in ' : ''}${fn.name}@${fn.version} does not support hook ${spec.hook} (hooks: ${fn.hooks.join(', ')})`,
            {
              source: refSrc,
              hint:
                origin.kind === 'repository'
                  ? `use it on a chain with one of its hooks, or add ${spec.hook} to its spec.hooks at ${where(origin.doc.locate(['spec', 'hooks']))}`
                  : `use it on a chain with one of its hooks`,
            },
          ),
        );
        return;
      }
      const info = fn.info;
      const program = fn.programs[hookKind(spec.hook)];
      if (!info || !fn.objectPath || !program) return; // the function's own error is already reported
      if (f.sha256 !== undefined && f.sha256.toLowerCase() !== info.sha256.toLowerCase()) {
        errors.push(
          new KfnError(
            'OBJECT_SHA256_MISMATCH',
            `${prefix}: ${fn.origin.kind === 'builtin' ? 'the built-in ' : ''}${fn.name}@${fn.version} has sha256 ${info.sha256.slice(0, 12)}…, the chain pins ${f.sha256.toLowerCase().slice(0, 12)}…`,
            {
              source: doc.locate([...base, 'sha256']),
              hint:
                fn.origin.kind === 'builtin'
                  ? `this kfn ships another build of ${fn.name}@${fn.version}: run the kfn whose library has the pinned object, or, if this build is intended, pin sha256: ${info.sha256}`
                  : `refusing an object that differs from the pin; rebuild the pinned source, or if this build is intended pin sha256: ${info.sha256}`,
            },
          ),
        );
        return;
      }

      const maps = resolveMaps(doc, base, prefix, f.maps ?? {}, info, fn.parameters, `${fn.name}@${fn.version}`, errors);
      const globals = resolveGlobals(doc, base, prefix, f.globals ?? {}, info, `${fn.name}@${fn.version}`, errors);
      if (!maps || !globals) return;

      for (const [i, name] of (f.mergeMaps ?? []).entries()) {
        const m = (f.maps ?? {})[name] !== undefined ? maps[name] : undefined;
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

      const proceedOn = resolveProceedOn(f.proceedOn, fn, info, prefix, doc.locate([...base, 'proceedOn']), errors);
      if (prevInst || proceedOn === null) return;
      let stateMaps = layouts.get(fn);
      if (!stateMaps) {
        stateMaps = Object.fromEntries(info.maps.filter((m) => m.name !== NEXT_MAP && m.name !== fn.nextMap && m.name !== PROCEED_MAP).map((m) => [m.name, mapLayoutDigest(m)]));
        layouts.set(fn, stateMaps);
      }
      const identity: DesiredInstance['identity'] = { function: fn.name, version: fn.version, sha256: info.sha256, program, globals };
      if (fn.nextMap !== NEXT_MAP) identity.nextMap = fn.nextMap;
      if (fn.companions.length) identity.companions = fn.companions.map((c) => ({ program: c.program, attach: { ...c.attach } }));
      const inst: DesiredInstance = { name: instName, identity, objectPath: fn.objectPath, maps, stateMaps, source: doc.locate(base) };
      if (info.programs.find((p) => p.name === program)?.needsType) inst.programType = hookKind(spec.hook);
      if (fn.monitorMaps.length) inst.monitorMaps = fn.monitorMaps.map((m) => ({ ...m }));
      if (proceedOn) inst.proceedOn = proceedOn;
      instances.push(inst);
    });

    const chain: DesiredChain = {
      name: chainName,
      hook: spec.hook,
      netns,
      interfaces: [...spec.interfaces],
      interfaceSources: spec.interfaces.map((_, i) => doc.locate(['spec', 'interfaces', i])),
      mode: spec.mode ?? 'native',
      position: spec.position ?? 'last',
      instances,
      source: doc.source,
    };
    if (spec.hosts) {
      chain.hosts = {};
      if (spec.hosts.hostnames) chain.hosts.hostnames = [...spec.hosts.hostnames];
      if (spec.hosts.labels) chain.hosts.labels = { ...spec.hosts.labels };
    }
    chains.push(chain);
  }

  const probes = resolveProbes(loaded.probes, functions, errors);
  throwIfAny(errors);
  return { chains, ...(probes.length ? { probes } : {}), manifestDigest: manifestDigest(chains, probes) };
}

/**
 * An instance's proceed-on in canonical order; undefined for the default (so manifests
 * that do not use it keep their digest), null when the function cannot have another one:
 * its object has no kfn_proceed word (built before proceed-on, or not with kfn.h).
 */
function resolveProceedOn(
  given: readonly ProceedVerdict[] | undefined,
  fn: ResolvedFunction,
  info: ObjectInfo,
  prefix: string,
  source: SourceRef,
  errors: KfnError[],
): ProceedVerdict[] | undefined | null {
  if (given === undefined) return undefined;
  const set = PROCEED_VERDICTS.filter((v) => given.includes(v));
  if (set.length === 1 && set[0] === 'pass') return undefined;
  const word = info.maps.find((m) => m.name === PROCEED_MAP);
  if (word && word.type === 'array' && word.maxEntries === 1 && word.valueSize === 4 && fn.nextMap === NEXT_MAP) return set;
  errors.push(
    new KfnError('PROCEED_ON_UNSUPPORTED', `${prefix}: ${fn.name}@${fn.version} cannot take proceedOn [${set.join(', ')}]: its object has no ${PROCEED_MAP} word (it always proceeds on pass)`, {
      source,
      hint: 'rebuild the function with the current bpf/include/kfn.h (KFN_FUNCTION reads kfn_proceed), or remove proceedOn',
    }),
  );
  return null;
}

/**
 * Digest of the desired chains: what would run where, with which parameters. Source
 * positions and absolute object paths are left out so that moving a line or checking
 * the repository out elsewhere does not change it (the object's sha256 is in the identity).
 */
export function manifestDigest(chains: readonly DesiredChain[], probes: readonly DesiredProbe[] = []): string {
  const bare = (maps: Record<string, DesiredMap>) => Object.fromEntries(Object.entries(maps).map(([k, { source: _ms, ...m }]) => [k, m]));
  const stripped = chains.map(({ source: _s, interfaceSources: _is, instances, ...c }) => ({
    ...c,
    instances: instances.map(({ source: _src, objectPath: _o, maps, ...inst }) => ({ ...inst, maps: bare(maps) })),
  }));
  // Without probes, the digest of chains is what it was before probes existed.
  if (probes.length === 0) return sha256Hex(canonicalJson(stripped));
  return sha256Hex(canonicalJson({ chains: stripped, probes: probes.map(({ source: _s, objectPath: _o, maps, ...p }) => ({ ...p, maps: bare(maps) })) }));
}

