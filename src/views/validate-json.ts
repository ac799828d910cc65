/** `kfn validate -json` (schemas/validate-output.schema.json): the verdict, and the errors with their places. */
import { KfnErrors, type KfnError } from '../core/errors.js';
import type { DesiredState } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { targetText } from '../plan/probes.js';

export function validateJson(target: string, result: { desired: DesiredState } | { error: KfnError }) {
  const base = { format_version: JSON_FORMAT_VERSION, kfn_version: kfnVersion(), target };
  if ('error' in result) {
    const all = result.error instanceof KfnErrors ? result.error.errors : [result.error];
    return {
      ...base,
      valid: false,
      error_count: all.length,
      diagnostics: all.map((e) => ({
        severity: 'error',
        code: e.code,
        message: e.message,
        hint: e.hint ?? null,
        file: e.source?.file ?? null,
        line: e.source?.line ?? null,
        column: e.source?.column ?? null,
      })),
      chains: [],
      probes: [],
    };
  }
  const d = result.desired;
  return {
    ...base,
    valid: true,
    error_count: 0,
    diagnostics: [],
    manifest_digest: d.manifestDigest,
    chains: d.chains.map((c) => ({
      name: c.name,
      hook: c.hook,
      netns: c.netns,
      interfaces: c.interfaces,
      functions: c.instances.map((i) => ({ name: i.name, function: i.identity.function, version: i.identity.version, sha256: i.identity.sha256, program: i.identity.program })),
    })),
    probes: (d.probes ?? []).map((p) => ({ name: p.name, target: targetText(p.target), function: p.identity.function, version: p.identity.version, sha256: p.identity.sha256, program: p.identity.program })),
  };
}

export function renderValidateJson(target: string, result: { desired: DesiredState } | { error: KfnError }): string {
  return renderJson(validateJson(target, result));
}
