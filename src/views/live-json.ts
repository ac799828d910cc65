/** `kfn show -json`: the documented contract (schemas/show-output.schema.json). */
import type { Companion, ForeignProgram, LiveChain, LiveCompanion, LiveInstance, LiveProbe, LiveState, ProbeTarget } from '../core/types.js';
import { DEFAULT_NEXT_MAP, attachmentLabel } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import type { MapStats } from '../forms/form.js';
import { compareAttachments, proceedOnOf, targetText } from '../plan/index.js';
import { chainAddress, instanceAddress, probeAddress } from './address.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { driftKindJson } from './drift-json.js';

/** A probe's attach point: its fields and the words for it. */
export function targetJson(t: ProbeTarget) {
  return { ...t, text: targetText(t) };
}

export function foreignJson(f: ForeignProgram) {
  return {
    netns: f.attachment.netns,
    interface: f.attachment.ifname,
    hook: f.attachment.hook,
    label: attachmentLabel(f.attachment),
    prog_id: f.progId,
    prog_name: f.progName,
    link_id: f.linkId ?? null,
  };
}

export function companionJson(c: Companion) {
  return { program: c.program, kind: c.attach.kind, tracepoint: c.attach.tracepoint };
}

function liveCompanionJson(c: LiveCompanion) {
  return { ...companionJson(c), prog_id: c.progId, link_id: c.linkId, attached: c.attached };
}

function statsJson(s: MapStats[]) {
  return Object.fromEntries(
    s.map((m) => [m.map, { count: m.count, entries: m.entries.map((e) => ({ ...(e.keyText !== undefined ? { key: e.key, key_text: e.keyText } : {}), value: e.value, value_text: e.valueText })) }]),
  );
}

function instanceJson(c: LiveChain, i: LiveInstance, position: number | null, stats: Record<string, MapStats[]> | undefined) {
  return {
    address: instanceAddress(c.chainName, c.attachment, i.name),
    name: i.name,
    position,
    function: i.identity.function,
    version: i.identity.version,
    sha256: i.identity.sha256,
    program: i.identity.program,
    prog_id: i.progId,
    next_map: i.identity.nextMap ?? DEFAULT_NEXT_MAP,
    companions: (i.companions ?? []).map(liveCompanionJson),
    drift: i.drift ?? [],
    globals: Object.fromEntries(Object.entries(i.identity.globals).map(([k, g]) => [k, g.valueText])),
    proceed_on: proceedOnOf(i.proceedOn),
    maps: Object.fromEntries(Object.entries(i.maps).map(([name, entries]) => [name, entries.map((e) => ({ key: e.keyText, value: e.valueText }))])),
    ...(stats ? { stats: statsJson(stats[i.pinDir] ?? []) } : {}),
  };
}

function probeJson(p: LiveProbe, stats: Record<string, MapStats[]> | undefined) {
  return {
    address: probeAddress(p.name),
    name: p.name,
    target: targetJson(p.target),
    function: p.identity.function,
    version: p.identity.version,
    sha256: p.identity.sha256,
    program: p.identity.program,
    prog_id: p.progId,
    link_id: p.linkId || null,
    attached: p.attached,
    globals: Object.fromEntries(Object.entries(p.identity.globals).map(([k, g]) => [k, g.valueText])),
    maps: Object.fromEntries(Object.entries(p.maps).map(([name, entries]) => [name, entries.map((e) => ({ key: e.keyText, value: e.valueText }))])),
    ...(stats ? { stats: statsJson(stats[p.pinDir] ?? []) } : {}),
    drift: p.drift,
  };
}

export function liveJson(live: LiveState, stats?: Record<string, MapStats[]>) {
  const chains = [...live.chains].sort((a, b) => compareAttachments(a.attachment, b.attachment));
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    chains: chains.map((c) => ({
      address: chainAddress(c.chainName, c.attachment),
      name: c.chainName,
      netns: c.attachment.netns,
      interface: c.attachment.ifname,
      hook: c.attachment.hook,
      ifindex: c.ifindex,
      attached: c.attached,
      mode: c.mode ?? null,
      position: c.position ?? null,
      root_prog_id: c.rootProgId,
      link_id: c.linkId,
      revision: c.revision ?? null,
      manifest_digest: c.manifestDigest ?? null,
      stack: c.stack ?? null,
      applied_at: c.appliedAt ?? null,
      drift: c.drift,
      drift_kinds: (c.driftKinds ?? []).map(driftKindJson),
      instances: c.instances.map((i, n) => instanceJson(c, i, n + 1, stats)),
      orphans: c.orphans.map((i) => instanceJson(c, i, null, stats)),
    })),
    probes: [...(live.probes ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((p) => probeJson(p, stats)),
    foreign_programs: live.foreign.map(foreignJson),
  };
}

export function renderLiveJson(live: LiveState, stats?: Record<string, MapStats[]>): string {
  return renderJson(liveJson(live, stats));
}
