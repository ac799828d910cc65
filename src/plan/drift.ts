/**
 * Drift without manifests: the live kernel against what kfn last applied, as kfn
 * recorded it next to its objects (chain and instance metadata, the digests of the
 * entries it wrote, each stack's list of chains). Pure.
 */
import { digestEntries } from '../core/digest.js';
import { attachmentKey } from '../core/types.js';
import type { ChainDrift, DriftKind, DriftReport, LiveChain, LiveInstance, LiveProbe, LiveState, ProbeDrift } from '../core/types.js';
import { compareAttachments } from './expand.js';

export type { ChainDrift, DriftReport, ProbeDrift };

/** Parameter maps whose entries differ from what kfn last wrote (merge-mode maps hold others' entries too: not judged). */
function editedMaps(i: Pick<LiveInstance, 'name' | 'maps' | 'appliedMaps' | 'mergeMaps'>): DriftKind[] {
  const out: DriftKind[] = [];
  for (const map of Object.keys(i.appliedMaps).sort()) {
    if (i.mergeMaps?.includes(map)) continue;
    if (digestEntries(i.maps[map] ?? []) !== i.appliedMaps[map]) out.push({ code: 'map-edited', instance: i.name, map });
  }
  return out;
}

function editedProceedOn(i: LiveInstance): DriftKind[] {
  const { proceedOn: live, appliedProceedOn: applied } = i;
  if (!live || !applied || live.join() === applied.join()) return [];
  return [{ code: 'proceed-on-edited', instance: i.name, applied, live }];
}

function probeDrift(p: LiveProbe): ProbeDrift {
  const drift: DriftKind[] = [...p.drift.map((text): DriftKind => ({ code: 'other', text })), ...editedMaps(p)];
  return { name: p.name, target: p.target, ...(p.stack !== undefined ? { stack: p.stack } : {}), drift };
}

function chainDrift(c: LiveChain, live: LiveState): ChainDrift {
  const kinds: DriftKind[] = c.driftKinds ? [...c.driftKinds] : c.drift.map((text) => ({ code: 'other', text }));
  for (const i of c.instances) kinds.push(...editedMaps(i), ...editedProceedOn(i));
  // Only XDP has one program per hook: a foreign one there holds kfn's place. On tcx the
  // reader reports a tenant that broke the root's position.
  if (c.attachment.hook === 'xdp') {
    for (const f of live.foreign) {
      if (attachmentKey(f.attachment) === attachmentKey(c.attachment)) kinds.push({ code: 'foreign-on-hook', progId: f.progId, progName: f.progName });
    }
  }
  const out: ChainDrift = { attachment: c.attachment, chainName: c.chainName, drift: kinds };
  if (c.stack !== undefined) out.stack = c.stack;
  if (c.revision !== undefined) out.revision = c.revision;
  if (c.appliedAt !== undefined) out.appliedAt = c.appliedAt;
  return out;
}

export function detectDrift(live: LiveState, opts: { stack?: string } = {}): DriftReport {
  const mine = (stack: string | undefined): boolean => opts.stack === undefined || stack === opts.stack;
  const chains = live.chains.filter((c) => mine(c.stack)).map((c) => chainDrift(c, live));
  const present = new Set(live.chains.map((c) => attachmentKey(c.attachment)));
  for (const r of live.stacks ?? []) {
    if (!mine(r.stack)) continue;
    for (const rc of r.chains) {
      if (present.has(attachmentKey(rc.attachment))) continue;
      const gone: ChainDrift = { attachment: rc.attachment, chainName: rc.chainName, stack: r.stack, appliedAt: r.appliedAt, drift: [{ code: 'chain-removed' }] };
      if (r.revision !== undefined) gone.revision = r.revision;
      chains.push(gone);
    }
  }
  chains.sort((a, b) => compareAttachments(a.attachment, b.attachment));
  const probes = (live.probes ?? [])
    .filter((p) => mine(p.stack))
    .map(probeDrift)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const report: DriftReport = { chains, probes, inSync: chains.every((c) => c.drift.length === 0) && probes.every((p) => p.drift.length === 0) };
  if (opts.stack !== undefined) report.stack = opts.stack;
  return report;
}
