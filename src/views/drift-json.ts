/** `kfn drift --json` (schemas/drift-output.schema.json), and the typed drift of `show --json` / `status --json`. */
import { driftText } from '../core/drift.js';
import type { DriftKind } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import type { ChainDrift, DriftReport, ProbeDrift } from '../plan/drift.js';
import { targetText } from '../plan/probes.js';
import { chainAddress, probeAddress } from './address.js';
import { repairText } from './drift-text.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';

export const driftCode = (d: DriftKind): string => d.code.replace(/-/g, '_');

/** One drift finding: its code, its words, what apply would do, and its own fields. */
export function driftKindJson(d: DriftKind) {
  const base = { code: driftCode(d), text: driftText(d), repair: repairText(d) };
  switch (d.code) {
    case 'pin-missing':
      return { ...base, pin: d.pin, instance: d.instance ?? null };
    case 'netns-missing':
      return { ...base, netns: d.netns };
    case 'interface-missing':
    case 'interface-recreated':
    case 'link-defunct':
      return { ...base, interface: d.ifname };
    case 'root-not-attached':
      return { ...base, running_prog_id: d.running ?? null };
    case 'foreign-in-chain':
      return { ...base, prog_id: d.progId, prog_name: d.progName, after: d.after ?? null };
    case 'loop':
      return { ...base, to: d.to, after: d.after ?? null };
    case 'bypassed':
      return { ...base, after: d.after ?? null, unreached: d.unreached };
    case 'position-lost':
      return { ...base, position: d.position, prog_id: d.progId, prog_name: d.progName };
    case 'map-edited':
      return { ...base, instance: d.instance, map: d.map };
    case 'proceed-on-edited':
      return { ...base, instance: d.instance, applied: d.applied, live: d.live };
    case 'foreign-on-hook':
      return { ...base, prog_id: d.progId, prog_name: d.progName };
    case 'instance-drift':
      return { ...base, instance: d.instance };
    default:
      return base;
  }
}

export function chainDriftJson(c: ChainDrift) {
  return {
    address: chainAddress(c.chainName, c.attachment),
    name: c.chainName,
    netns: c.attachment.netns,
    interface: c.attachment.ifname,
    hook: c.attachment.hook,
    stack: c.stack ?? null,
    revision: c.revision ?? null,
    applied_at: c.appliedAt ?? null,
    in_sync: c.drift.length === 0,
    drift: c.drift.map(driftKindJson),
  };
}

export function probeDriftJson(p: ProbeDrift) {
  return {
    address: probeAddress(p.name),
    name: p.name,
    target: targetText(p.target),
    stack: p.stack ?? null,
    in_sync: p.drift.length === 0,
    drift: p.drift.map(driftKindJson),
  };
}

export function driftJson(r: DriftReport) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    stack: r.stack ?? null,
    in_sync: r.inSync,
    drift_count: [...r.chains, ...r.probes].reduce((n, c) => n + c.drift.length, 0),
    chains: r.chains.map(chainDriftJson),
    probes: r.probes.map(probeDriftJson),
  };
}

export function renderDriftJson(r: DriftReport): string {
  return renderJson(driftJson(r));
}
