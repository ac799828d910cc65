/**
 * `kfn plan -json`: the documented contract (schemas/plan-output.schema.json), not the
 * internal Plan. Internal handles (pin paths, fds) are left out; program ids are the
 * kernel's own and stay.
 */
import type { ChainChange, FunctionIdentity, InstanceAction, InstanceChange, LiveChain, Plan, PlanNote, PlannedChanges, PlannedStep, ProbeAction, ProbeChange, ValueChange } from '../core/types.js';
import { DEFAULT_NEXT_MAP } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import { hasChanges, proceedOnOf } from '../plan/index.js';
import { proceedOnEffect } from './proceed.js';
import { chainAddress, instanceAddress, probeAddress, stepAddress } from './address.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { companionJson, foreignJson, targetJson } from './live-json.js';
import { noteCode, noteText, reasonCode, reasonText } from './reasons.js';
import type { PacketPreview } from '../engine/packets.js';
import type { Outcome } from '../packets/expect.js';
import { groupPacketChanges } from './packets-format.js';

type Actions = ['create'] | ['update'] | ['delete'] | ['create', 'delete'] | ['no-op'];

const INSTANCE_ACTIONS: Record<InstanceAction, Actions> = {
  create: ['create'],
  delete: ['delete'],
  replace: ['create', 'delete'],
  update: ['update'],
  move: ['update'],
  reload: ['update'],
  noop: ['no-op'],
};

const CHAIN_ACTIONS: Record<ChainChange['action'], Actions> = { create: ['create'], delete: ['delete'], update: ['update'], noop: ['no-op'] };

function where(c: Pick<ChainChange | LiveChain, 'attachment'>) {
  return { netns: c.attachment.netns, interface: c.attachment.ifname, hook: c.attachment.hook };
}

function identityJson(id: FunctionIdentity) {
  return {
    function: id.function,
    version: id.version,
    sha256: id.sha256,
    program: id.program,
    globals: Object.fromEntries(Object.entries(id.globals).map(([k, g]) => [k, g.valueText])),
    next_map: id.nextMap ?? DEFAULT_NEXT_MAP,
    companions: (id.companions ?? []).map(companionJson),
  };
}

function mapsAfter(i: InstanceChange): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.values(i.desired?.maps ?? {}).map((m) => [m.name, Object.fromEntries(m.entries.map((e) => [e.keyText, e.valueText]))]));
}

function instanceJson(c: ChainChange, i: InstanceChange) {
  const before = i.live
    ? { ...identityJson(i.live.identity), prog_id: i.live.progId, position: c.fromOrder.indexOf(i.name) + 1 || null, proceed_on: proceedOnOf(i.live.proceedOn) }
    : null;
  const after = i.desired ? { ...identityJson(i.desired.identity), position: c.toOrder.indexOf(i.name) + 1, maps: mapsAfter(i), proceed_on: proceedOnOf(i.desired.proceedOn) } : null;
  const pc = i.proceedOnChange;
  return {
    address: instanceAddress(c.chainName, c.attachment, i.name),
    type: 'kfn_function_instance',
    name: i.name,
    chain: chainAddress(c.chainName, c.attachment),
    change: {
      actions: INSTANCE_ACTIONS[i.action],
      before,
      after,
      action_reason: i.reasons[0] ? reasonCode(i.reasons[0]) : null,
      reasons: i.reasons.map((r) => ({ ...r, code: reasonCode(r), text: reasonText(r) })),
      replace_paths: i.identityChanges.map((v: ValueChange) => v.field),
      identity_changes: i.identityChanges.map((v: ValueChange) => ({ field: v.field, before: v.from ?? null, after: v.to ?? null })),
      map_changes: mapChangesJson(i.mapChanges),
      state_reset: i.stateReset ?? [],
      proceed_on_change: pc ? { before: pc.from, after: pc.to, drift: pc.drift, in_place: i.action === 'update' && !i.reasons.some((r) => r.code === 'copied'), effect: proceedOnEffect(pc.from, pc.to) } : null,
    },
  };
}

function chainJson(c: ChainChange) {
  const xdp = c.attachment.hook === 'xdp';
  const side = (name: string, order: string[], mode: string | null | undefined, position: string | null | undefined) => ({
    ...where(c),
    name,
    order,
    mode: xdp ? (mode ?? null) : null,
    position: xdp ? null : (position ?? null),
  });
  // Before is the live chain: its recorded name, and the mode and position it runs with.
  const renamed = c.reasons.find((r) => r.code === 'chain-renamed');
  const liveName = renamed?.code === 'chain-renamed' ? renamed.from : c.chainName;
  return {
    address: chainAddress(c.chainName, c.attachment),
    type: 'kfn_chain',
    name: c.chainName,
    ...where(c),
    change: {
      actions: CHAIN_ACTIONS[c.action],
      before: c.action === 'create' ? null : { ...side(liveName, c.fromOrder, c.live?.mode, c.live?.position), prog_id: c.live?.rootProgId ?? 0, link_id: c.live?.linkId ?? 0 },
      after: c.action === 'delete' ? null : side(c.chainName, c.toOrder, c.mode, c.position),
      action_reason: c.reasons[0] ? reasonCode(c.reasons[0]) : null,
      reasons: c.reasons.map((r) => ({ ...r, code: reasonCode(r), text: reasonText(r) })),
      reattach: c.reattach === true,
    },
  };
}

const PROBE_ACTIONS: Record<ProbeAction, Actions> = { create: ['create'], delete: ['delete'], replace: ['create', 'delete'], update: ['update'], noop: ['no-op'] };

/** A probe's attach point as data, and as text. */
function mapChangesJson(mcs: InstanceChange['mapChanges']) {
  return mcs.map((m) => ({
    map: m.map,
    drift: m.drift,
    entries: m.entries.map((e) => ({ op: e.op, key: e.keyText, ...(e.fromText !== undefined ? { before: e.fromText } : {}), ...(e.toText !== undefined ? { after: e.toText } : {}) })),
  }));
}

/** A probe's identity: it has no chain slot and no companions. */
function probeIdentityJson(id: FunctionIdentity) {
  const { next_map: _n, companions: _c, ...rest } = identityJson(id);
  return rest;
}

function probeJson(pc: ProbeChange) {
  const before = pc.live ? { ...probeIdentityJson(pc.live.identity), target: targetJson(pc.live.target), prog_id: pc.live.progId, link_id: pc.live.linkId || null } : null;
  const after = pc.desired
    ? {
        ...probeIdentityJson(pc.desired.identity),
        target: targetJson(pc.desired.target),
        maps: Object.fromEntries(Object.values(pc.desired.maps).map((m) => [m.name, Object.fromEntries(m.entries.map((e) => [e.keyText, e.valueText]))])),
      }
    : null;
  return {
    address: probeAddress(pc.name),
    type: 'kfn_probe',
    name: pc.name,
    change: {
      actions: PROBE_ACTIONS[pc.action],
      before,
      after,
      action_reason: pc.reasons[0] ? reasonCode(pc.reasons[0]) : null,
      reasons: pc.reasons.map((r) => ({ ...r, code: reasonCode(r), text: reasonText(r) })),
      replace_paths: [...pc.identityChanges.map((v: ValueChange) => v.field), ...(pc.targetChange ? ['target'] : [])],
      identity_changes: pc.identityChanges.map((v: ValueChange) => ({ field: v.field, before: v.from ?? null, after: v.to ?? null })),
      map_changes: mapChangesJson(pc.mapChanges),
      state_reset: pc.stateReset ?? [],
      reattach: pc.reattach === true,
    },
  };
}

function stepJson(s: PlannedStep, index: number) {
  return {
    index: index + 1,
    kind: s.kind,
    phase: s.phase,
    address: stepAddress(s),
    description: s.description,
  };
}

function noteJson(n: PlanNote) {
  const base = { code: noteCode(n), text: noteText(n) };
  switch (n.code) {
    case 'owned-by-stack':
      return { ...base, address: chainAddress(n.chainName, n.attachment), name: n.chainName, ...where(n), stack: n.stack };
    case 'unowned':
      return { ...base, address: chainAddress(n.chainName, n.attachment), name: n.chainName, ...where(n), stack: null };
    case 'host-not-selected':
      return { ...base, name: n.chainName, selector: { hostnames: n.selector.hostnames ?? null, labels: n.selector.labels ?? null } };
  }
}

const outcomeJson = (o: Outcome) => ({ verdict: o.verdict, decided_by: o.decidedBy ?? null });

/** `packet_changes` (format 1.0, additive): null unless the plan ran packet cases. */
function packetChangesJson(pp: PacketPreview | undefined) {
  if (!pp) return null;
  return {
    cases: pp.cases,
    packets: pp.packets,
    changed: pp.changes.reduce((n, c) => n + c.count, 0),
    summary: groupPacketChanges(pp.changes).map((g) => ({ address: g.address, before: outcomeJson(g.before), after: outcomeJson(g.after), count: g.count, text: g.text })),
    changes: pp.changes.map((c) => ({
      address: chainAddress(c.chainName, c.attachment),
      chain: c.chainName,
      test: c.test,
      case: c.case,
      packet: c.packet,
      count: c.count,
      label: c.label,
      file: c.source.file,
      line: c.source.line ?? null,
      before: outcomeJson(c.before),
      after: outcomeJson(c.after),
    })),
    notes: pp.notes,
  };
}

export function planJson(p: PlannedChanges & Partial<Pick<Plan, 'steps'>>, packets?: PacketPreview) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    created_at: p.createdAt,
    manifest_digest: p.manifestDigest,
    revision: p.revision ?? null,
    stack: p.stack ?? null,
    live_fingerprint: p.liveFingerprint,
    has_changes: hasChanges(p),
    summary: p.summary,
    resource_changes: [...p.changes.flatMap((c) => [chainJson(c), ...c.instances.map((i) => instanceJson(c, i))]), ...(p.probes ?? []).map(probeJson)],
    resource_drift: [
      ...p.changes
        .filter((c) => c.drift.length > 0 || c.instances.some((i) => i.mapChanges.some((m) => m.drift)))
        .map((c) => ({
          address: chainAddress(c.chainName, c.attachment),
          ...where(c),
          drift: c.drift,
          maps: c.instances.flatMap((i) => i.mapChanges.filter((m) => m.drift).map((m) => ({ address: instanceAddress(c.chainName, c.attachment, i.name), map: m.map }))),
        })),
      ...(p.probes ?? [])
        .filter((pc) => pc.drift.length > 0 || pc.mapChanges.some((m) => m.drift))
        .map((pc) => ({
          address: probeAddress(pc.name),
          hook: (pc.desired ?? pc.live)!.target.hook,
          drift: pc.drift,
          maps: pc.mapChanges.filter((m) => m.drift).map((m) => ({ address: probeAddress(pc.name), map: m.map })),
        })),
    ],
    planned_steps: (p.steps ?? []).map(stepJson),
    notes: (p.notes ?? []).map(noteJson),
    foreign_programs: p.foreign.map(foreignJson),
    packet_changes: packetChangesJson(packets),
    output: { warnings: p.warnings },
  };
}

export function renderPlanJson(p: PlannedChanges & Partial<Pick<Plan, 'steps'>>, packets?: PacketPreview): string {
  return renderJson(planJson(p, packets));
}
