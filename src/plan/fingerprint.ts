/**
 * Fingerprint of the live state a plan was computed from. It covers what the plan
 * depends on (attachments, root/link/program ids, identities, drift, foreign programs
 * and the entries of maps kfn manages) and nothing that moves on its own: counters
 * and other maps kfn never wrote are left out, so `apply FILE` is not refused because
 * a packet went by.
 */
import { canonicalJson, sha256Hex } from '../core/digest.js';
import { attachmentKey } from '../core/types.js';
import type { LiveInstance, LiveState } from '../core/types.js';
import { compareAttachments } from './expand.js';

function instanceView(i: LiveInstance) {
  const maps: Record<string, string[]> = {};
  for (const name of Object.keys(i.appliedMaps).sort()) {
    maps[name] = (i.maps[name] ?? []).map((e) => `${e.key}=${e.value}`).sort();
  }
  return { name: i.name, progId: i.progId, identity: i.identity, maps, proceedOn: i.proceedOn ?? null };
}

export function liveFingerprint(live: LiveState): string {
  const chains = [...live.chains]
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
    }));
  const foreign = live.foreign
    .map((f) => ({ attachment: attachmentKey(f.attachment), progId: f.progId, progName: f.progName, linkId: f.linkId ?? null }))
    .sort((a, b) => (a.attachment < b.attachment ? -1 : a.attachment > b.attachment ? 1 : a.progId - b.progId));
  return sha256Hex(canonicalJson({ v: 1, chains, foreign }));
}
