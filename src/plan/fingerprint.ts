/**
 * Fingerprint of the live state a plan was computed from. It covers what the plan
 * depends on (attachments, root/link/program ids, identities, drift, foreign programs
 * and the entries of maps kfn manages) and nothing that moves on its own: counters
 * and other maps kfn never wrote are left out, so `apply FILE` is not refused because
 * a packet went by.
 */
import { canonicalJson, sha256Hex } from '../core/digest.js';
import { attachmentKey, probeKey } from '../core/types.js';
import type { LiveInstance, LiveState } from '../core/types.js';
import { compareAttachments } from './expand.js';

/** Entries of the maps kfn manages (wrote), as key=value, sorted. */
function managedMaps(i: Pick<LiveInstance, 'maps' | 'appliedMaps'>): Record<string, string[]> {
  const maps: Record<string, string[]> = {};
  for (const name of Object.keys(i.appliedMaps).sort()) {
    maps[name] = (i.maps[name] ?? []).map((e) => `${e.key}=${e.value}`).sort();
  }
  return maps;
}

function instanceView(i: LiveInstance) {
  const view = { name: i.name, progId: i.progId, identity: i.identity, maps: managedMaps(i), proceedOn: i.proceedOn ?? null };
  // Only instances with companions carry the field, so fingerprints of others do not change.
  return i.companions?.length ? { ...view, companions: i.companions.map((c) => [c.program, c.progId, c.linkId, c.attached]) } : view;
}

/** With `only` (attachment keys, and probeKey of probes), of the chains, foreign programs and probes named alone. */
export function liveFingerprint(live: LiveState, only?: ReadonlySet<string>): string {
  const inScope = (a: LiveState['chains'][number]['attachment']): boolean => !only || only.has(attachmentKey(a));
  const chains = live.chains
    .filter((c) => inScope(c.attachment))
    .sort((a, b) => compareAttachments(a.attachment, b.attachment))
    .map((c) => ({
      attachment: attachmentKey(c.attachment),
      ifindex: c.ifindex,
      rootProgId: c.rootProgId,
      // The link id is left out: re-attaching the same root (a rollback does) is the same state.
      attached: c.attached,
      mode: c.mode ?? null,
      position: c.position ?? null,
      instances: c.instances.map(instanceView),
      orphans: c.orphans.map((o) => ({ name: o.name, progId: o.progId })),
      drift: c.drift,
      stack: c.stack ?? null,
    }));
  const stacks = (live.stacks ?? [])
    .map((r) => ({ stack: r.stack, manifestDigest: r.manifestDigest, revision: r.revision ?? null, chains: r.chains.map((c) => `${attachmentKey(c.attachment)}=${c.chainName}`).sort() }))
    .sort((a, b) => (a.stack < b.stack ? -1 : a.stack > b.stack ? 1 : 0));
  const foreign = live.foreign
    .filter((f) => inScope(f.attachment))
    .map((f) => ({ attachment: attachmentKey(f.attachment), progId: f.progId, progName: f.progName, linkId: f.linkId ?? null }))
    .sort((a, b) => (a.attachment < b.attachment ? -1 : a.attachment > b.attachment ? 1 : a.progId - b.progId));
  const probes = (live.probes ?? [])
    .filter((p) => !only || only.has(probeKey(p.name)))
    .sort((a, b) => (a.pinDir < b.pinDir ? -1 : a.pinDir > b.pinDir ? 1 : 0))
    // The link id is left out, as for chains: the same program attached again is the same state.
    .map((p) => ({ name: p.name, progId: p.progId, attached: p.attached, identity: p.identity, target: p.target, maps: managedMaps(p), drift: p.drift }));
  // Without probes the fingerprint is what it was before probes existed.
  return sha256Hex(canonicalJson(probes.length ? { v: 1, chains, foreign, stacks, probes } : { v: 1, chains, foreign, stacks }));
}
