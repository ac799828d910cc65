/** The desired state from a manifest file or directory, with the Git revision it comes from. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DesiredState } from '../core/types.js';
import { readObjectInfo, requireLibbpf } from '../libbpf/index.js';
import { listFunctions, loadDesiredState, type ResolvedFunction } from '../manifest/index.js';
import { builtinFunctions } from '../library/index.js';

/** `revision: false` skips asking git (validate records nothing, so it needs none). */
export function loadDesired(target: string, opts: { revision?: boolean } = {}): DesiredState {
  // One LIBBPF_UNAVAILABLE error up front, not one per object that could not be read.
  requireLibbpf();
  const desired = loadDesiredState(target, { readObjectInfo, builtins: builtinFunctions() });
  const revision = opts.revision === false ? undefined : gitRevision(target);
  return revision ? { ...desired, revision } : desired;
}

/** The commit the manifests come from, when they live in a git work tree. */
function gitRevision(target: string): string | undefined {
  const dir = fs.existsSync(target) && fs.statSync(target).isDirectory() ? target : path.dirname(target);
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

export const netnsOf = (d: { chains: { netns: string }[] } | undefined): string[] => [...new Set((d?.chains ?? []).map((c) => c.netns))];

/** The functions chains can use here: this kfn's built-ins, plus the KernelFunctions under `target`. */
export function listFunctionsHere(target: string | undefined): ResolvedFunction[] {
  requireLibbpf();
  return listFunctions(target, { readObjectInfo, builtins: builtinFunctions() });
}
