/**
 * Manifests: load YAML (positions kept), validate against schemas/, resolve function
 * references and objects, type map entries and globals into the desired state.
 */
import type { DesiredState } from '../core/types.js';
import { loadManifests } from './load.js';
import { resolveDesired, type ResolveDeps } from './resolve.js';

export { loadManifests, loadDocuments, throwIfAny, MAX_MANIFEST_BYTES, type DocumentFormat, type LoadedDocuments } from './load.js';
export { resolveDesired, defaultRoot, manifestDigest, compareSemver, NEXT_MAP, type ResolveDeps } from './resolve.js';
export { PACKET_TEST_SCHEMA, SCHEMA_DIR, SCHEMA_FILES } from './schema.js';
export { formatPath, type PathSegment, type LocateOptions } from './source.js';
export * from './types.js';

/** loadManifests + resolveDesired: everything `kfn validate` checks. */
export function loadDesiredState(target: string, deps: ResolveDeps): DesiredState {
  return resolveDesired(loadManifests(target), deps);
}
