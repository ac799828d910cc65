/**
 * Probe documents into desired probes: the KernelFunction they name, the program it runs
 * on the probe's hook, typed map entries and globals, and the attach point as written
 * (host facts such as a uprobe symbol's file offset are found when planning).
 */
import { KfnError } from '../core/errors.js';
import { PROCEED_MAP, type DesiredProbe, type ProbeHook, type ProbeTarget } from '../core/types.js';
import { mapLayoutDigest } from '../libbpf/object-info.js';
import { NEXT_MAP, type FunctionSet } from './functions.js';
import { PROBE_ATTACH_FIELDS } from './load.js';
import { resolveGlobals, resolveMaps } from './parameters.js';
import type { ProbeDocument, ProbeSpec } from './types.js';
import { where } from './util.js';

function targetOf(spec: ProbeSpec, hook: ProbeHook): ProbeTarget {
  switch (hook) {
    case 'tracepoint':
      return { hook, tracepoint: spec.tracepoint! };
    case 'uprobe': {
      const u = spec.uprobe!;
      return { hook, path: u.path, ...(u.symbol !== undefined ? { symbol: u.symbol } : {}), offset: u.offset ?? 0, retprobe: u.retprobe ?? false };
    }
    case 'kprobe':
      return { hook, function: spec.kprobe!.function, offset: spec.kprobe!.offset ?? 0, retprobe: spec.kprobe!.retprobe ?? false };
    case 'fentry':
    case 'fexit':
      return { hook, function: spec[hook]!.function };
    case 'freplace':
      return { hook, target: spec.freplace!.target, function: spec.freplace!.function };
  }
}

export function resolveProbes(docs: readonly ProbeDocument[], functions: FunctionSet, errors: KfnError[]): DesiredProbe[] {
  const out: DesiredProbe[] = [];
  const seen = new Map<string, ProbeDocument>();
  for (const doc of docs) {
    const spec = doc.data.spec;
    const name = doc.data.metadata.name;
    const prev = seen.get(name);
    if (prev) {
      errors.push(
        new KfnError('MANIFEST_DUPLICATE', `Probe "${name}" is defined twice (first at ${where(prev.source)})`, { source: doc.source, hint: 'probe names must be unique across all manifests' }),
      );
      continue;
    }
    seen.set(name, doc);
    const prefix = `probe "${name}"`;
    const refSrc = doc.locate(['spec', 'function']);
    const fn = functions.lookup(spec.function, prefix, refSrc);
    // The loader checked that there is exactly one attach field.
    const hook = PROBE_ATTACH_FIELDS.find((f) => spec[f] !== undefined);
    if (!fn || !hook) continue;
    if (!fn.hooks.includes(hook)) {
      const origin = fn.origin;
      errors.push(
        new KfnError('HOOK_NOT_SUPPORTED_BY_FUNCTION', `${prefix}: ${origin.kind === 'builtin' ? 'the built-in ' : ''}${fn.name}@${fn.version} does not support hook ${hook} (hooks: ${fn.hooks.join(', ')})`, {
          source: refSrc,
          hint:
            origin.kind === 'repository'
              ? `use a function whose spec.hooks has ${hook}, or add it at ${where(origin.doc.locate(['spec', 'hooks']))} if its object has such a program`
              : `use a function whose hooks have ${hook}`,
        }),
      );
      continue;
    }
    const program = fn.probePrograms[hook];
    const info = fn.info;
    if (!program || !info || !fn.objectPath) continue; // the function's own error is already reported
    const built = /^(?:tracepoint|tp)\/([A-Za-z0-9_]+\/[A-Za-z0-9_]+)$/.exec(program.section)?.[1];
    if (hook === 'tracepoint' && built !== undefined && built !== spec.tracepoint) {
      // Its record layout is that tracepoint's: anywhere else it would read the wrong fields.
      errors.push(
        new KfnError('PROBE_ATTACH_INVALID', `${prefix}: ${program.name} of ${fn.name}@${fn.version} is built for tracepoint ${built} (section "${program.section}"), not ${spec.tracepoint}`, {
          source: doc.locate(['spec', 'tracepoint']),
          hint: `attach it to ${built}, or use a function built for ${spec.tracepoint} (or a generic SEC("tracepoint") program)`,
        }),
      );
      continue;
    }
    const label = `${fn.name}@${fn.version}`;
    const maps = resolveMaps(doc, ['spec'], prefix, spec.maps ?? {}, info, fn.parameters, label, errors);
    const globals = resolveGlobals(doc, ['spec'], prefix, spec.globals ?? {}, info, label, errors);
    if (!maps || !globals) continue;
    let mergeOk = true;
    for (const [i, m] of (spec.mergeMaps ?? []).entries()) {
      const dm = (spec.maps ?? {})[m] !== undefined ? maps[m] : undefined;
      if (dm) dm.merge = true;
      else {
        mergeOk = false;
        errors.push(
          new KfnError('MAP_NOT_FOUND', `${prefix}: mergeMaps names "${m}", which is not listed under maps`, {
            source: doc.locate(['spec', 'mergeMaps', i]),
            hint: 'list the map and its managed entries under maps',
          }),
        );
      }
    }
    if (!mergeOk) continue;
    out.push({
      name,
      target: targetOf(spec, hook),
      identity: { function: fn.name, version: fn.version, sha256: info.sha256, program: program.name, globals },
      objectPath: fn.objectPath,
      maps,
      stateMaps: Object.fromEntries(info.maps.filter((m) => m.name !== NEXT_MAP && m.name !== PROCEED_MAP).map((m) => [m.name, mapLayoutDigest(m)])),
      // What the kernel says about the probe is about its attach point.
      source: doc.locate(['spec', hook], { key: true }),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
