/**
 * Manifests: load YAML (positions kept), validate against schemas/, resolve function
 * references and objects, type map entries and globals into the desired state.
 */
import fs from 'node:fs';
import type { KfnError } from '../core/errors.js';
import type { DesiredState } from '../core/types.js';
import { FunctionSet, type ResolvedFunction } from './functions.js';
import { loadManifests, throwIfAny } from './load.js';
import { defaultRoot, resolveDesired, type ResolveDeps } from './resolve.js';

export { loadManifests, loadDocuments, throwIfAny, MAX_MANIFEST_BYTES, type DocumentFormat, type LoadedDocuments } from './load.js';
export { resolveDesired, defaultRoot, manifestDigest, compareSemver, NEXT_MAP, type ResolveDeps } from './resolve.js';
export { PACKET_TEST_SCHEMA, SCHEMA_DIR, SCHEMA_FILES } from './schema.js';
export { formatPath, type PathSegment, type LocateOptions } from './source.js';
export * from './types.js';
export { definedAt, type ResolvedFunction, type FunctionOrigin } from './functions.js';

/** loadManifests + resolveDesired: everything `kfn validate` checks. */
export function loadDesiredState(target: string, deps: ResolveDeps): DesiredState {
  return resolveDesired(loadManifests(target), deps);
}

/**
 * Every function a chain can use: the built-ins of `deps`, and with `target` the
 * KernelFunctions of those manifests (which add to them, or shadow them). Chains are not
 * resolved; a function that does not resolve is an error, as at validate.
 */
export function listFunctions(target: string | undefined, deps: ResolveDeps): ResolvedFunction[] {
  const errors: KfnError[] = [];
  const docs = target === undefined ? [] : loadManifests(target).functions;
  let root = deps.root ?? (target === undefined ? '/' : defaultRoot(target));
  try {
    root = fs.realpathSync(root);
  } catch {
    /* as in resolveDesired: a missing root contains nothing */
  }
  const all = new FunctionSet(docs, root, deps, errors).all();
  throwIfAny(errors);
  return all;
}
