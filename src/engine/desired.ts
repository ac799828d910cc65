/** The desired state from a manifest file or directory, with the Git revision it comes from. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DesiredState } from '../core/types.js';
import { readObjectInfo } from '../libbpf/index.js';
import { loadDesiredState } from '../manifest/index.js';

/** `revision: false` skips asking git (validate records nothing, so it needs none). */
export function loadDesired(target: string, opts: { revision?: boolean } = {}): DesiredState {
  const desired = loadDesiredState(target, { readObjectInfo });
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
