/**
 * The planner: a pure diff of the desired state (manifests) against the live state
 * (kernel). No I/O. See DESIGN.md, "Plan".
 */
import { KfnError } from '../core/errors.js';
import { DEFAULT_NETNS, attachmentKey, breaksOrder } from '../core/types.js';
import type {
  ChainHandle,
  Attachment,
  ChainChange,
  DesiredChain,
  DesiredInstance,
  DesiredState,
  HostIdentity,
  HostSelector,
  InstanceChange,
  LiveChain,
  LiveInstance,
  LiveState,
  PlannedChanges,
  PlanNote,
  PlanSummary,
  ProbeChange,
  Reason,
  StackRecord,
} from '../core/types.js';
import { identityChanges, mapChanges, movedNames, proceedOnChange, stateReset } from './diff.js';
import { compareAttachments, expandChains, globToRegExp, netnsText } from './expand.js';
import { liveFingerprint } from './fingerprint.js';
import { planProbes } from './probes.js';

export interface PlanOptions {
  /** Clock for `createdAt` (tests pin it). */
  now?: Date;
  /** The host that applies the plan; absent: every chain's host selector is taken as matching. */
  host?: HostIdentity;
}

function liveHandle(i: LiveInstance): NonNullable<InstanceChange['live']> {
  const h: NonNullable<InstanceChange['live']> = { progId: i.progId, pinDir: i.pinDir, identity: i.identity };
  if (i.proceedOn) h.proceedOn = i.proceedOn;
  return h;
}

function createInstance(d: DesiredInstance, reason: Reason): InstanceChange {
  const change: InstanceChange = { name: d.name, action: 'create', reasons: [reason], identityChanges: [], mapChanges: mapChanges(d.maps, undefined), desired: d };
  const pc = proceedOnChange(d, undefined);
  if (pc) change.proceedOnChange = pc;
  return change;
}

function deleteInstance(l: LiveInstance, reason: Reason): InstanceChange {
  return { name: l.name, action: 'delete', reasons: [reason], identityChanges: [], mapChanges: [], live: liveHandle(l) };
}

function createChain(chain: DesiredChain, attachment: Attachment): ChainChange {
  return {
    attachment,
    chainName: chain.name,
    action: 'create',
    reasons: [{ code: 'chain-missing' }],
    drift: [],
    fromOrder: [],
    toOrder: chain.instances.map((i) => i.name),
    reordered: false,
    instances: chain.instances.map((i) => createInstance(i, { code: 'instance-added' })),
    mode: chain.mode,
    position: chain.position,
  };
}

function chainHandle(l: LiveChain): NonNullable<ChainChange['live']> {
  const h: ChainHandle = { ifindex: l.ifindex, rootProgId: l.rootProgId, linkId: l.linkId, pinDir: l.pinDir, attached: l.attached };
  if (l.mode) h.mode = l.mode;
  if (l.position) h.position = l.position;
  return h;
}

function deleteChain(l: LiveChain): ChainChange {
  return {
    attachment: l.attachment,
    chainName: l.chainName,
    action: 'delete',
    reasons: [{ code: 'chain-unwanted' }],
    drift: [...l.drift],
    fromOrder: l.instances.map((i) => i.name),
    toOrder: [],
    reordered: false,
    instances: [
      ...l.instances.map((i) => deleteInstance(i, { code: 'chain-unwanted' })),
      ...l.orphans.map((i) => deleteInstance(i, { code: 'orphaned' })),
    ],
    mode: l.mode ?? 'auto',
    position: l.position ?? 'last',
    live: chainHandle(l),
  };
}

function forgetChain(rc: StackRecord['chains'][number]): ChainChange {
  return {
    attachment: { ...rc.attachment },
    chainName: rc.chainName,
    action: 'delete',
    reasons: [{ code: 'chain-gone' }],
    drift: [],
    fromOrder: [],
    toOrder: [],
    reordered: false,
    instances: [],
    mode: 'auto',
    position: 'last',
  };
}

/** Why an instance cannot be kept (its state is lost with its unpinned maps), or undefined. */
function unusable(l: LiveChain, name: string): string | undefined {
  for (const d of l.driftKinds ?? []) {
    if (d.code === 'maps-missing' && d.instance === name && !d.recoverable) return 'its maps were unpinned and the kernel no longer holds them';
  }
  return undefined;
}

function updateChain(chain: DesiredChain, attachment: Attachment, l: LiveChain, stack: string | undefined): ChainChange {
  const liveByName = new Map<string, LiveInstance>();
  for (const i of l.instances) if (!liveByName.has(i.name)) liveByName.set(i.name, i);
  // A broken walk cut the chain short: the instances it did not reach are still the
  // chain's own (their maps hold its state), so the rebuilt chain takes them over.
  if (breaksOrder(l.driftKinds)) for (const o of l.orphans) if (!liveByName.has(o.name)) liveByName.set(o.name, o);
  const matched = new Set(liveByName.values());
  const fromOrder = l.instances.map((i) => i.name);
  const toOrder = chain.instances.map((i) => i.name);
  const moved = movedNames(fromOrder, toOrder);
  const desiredNames = new Set(toOrder);

  const instances: InstanceChange[] = [];
  for (const d of chain.instances) {
    const li = liveByName.get(d.name);
    if (!li) {
      instances.push(createInstance(d, { code: 'instance-added' }));
      continue;
    }
    const idc = identityChanges(li.identity, d.identity);
    const broken = unusable(l, d.name);
    const mc = mapChanges(d.maps, broken ? undefined : li);
    const pc = proceedOnChange(d, li);
    const reasons: Reason[] = [];
    let action: InstanceChange['action'] = 'noop';
    if (idc.length > 0) {
      action = 'replace';
      reasons.push({ code: 'forces-replacement' });
    } else if (broken) {
      action = 'replace';
      reasons.push({ code: 'damaged', what: broken });
    } else if (mc.length > 0 || pc) {
      action = 'update';
      if (mc.length > 0) reasons.push({ code: 'maps-differ' });
      if (pc) reasons.push({ code: 'proceed-on-changed', from: pc.from, to: pc.to });
    }
    // Damage only a reload repairs; the replacement takes the state maps over.
    if (li.drift?.length && action !== 'replace') {
      action = 'replace';
      reasons.push({ code: 'instance-drift' });
    }
    for (const m of mc) if (m.drift) reasons.push({ code: 'map-drift', map: m.map });
    if (pc?.drift) reasons.push({ code: 'proceed-on-drift' });
    if (moved.has(d.name)) {
      if (action === 'noop') action = 'move';
      reasons.push({ code: 'moved', from: fromOrder.indexOf(d.name) + 1, to: toOrder.indexOf(d.name) + 1 });
    }
    const change: InstanceChange = { name: d.name, action, reasons, identityChanges: idc, mapChanges: mc, desired: d, live: liveHandle(li) };
    if (pc) change.proceedOnChange = pc;
    if (action === 'replace') {
      // Unpinned maps are gone with their contents: every state map starts empty.
      const reset = stateReset(d.stateMaps, broken ? Object.fromEntries(Object.keys(d.stateMaps ?? {}).map((k) => [k, ''])) : li.stateMaps, d.maps);
      if (reset.length) change.stateReset = reset;
    }
    instances.push(change);
  }
  for (const li of l.instances) {
    if (!desiredNames.has(li.name)) instances.push(deleteInstance(li, { code: 'instance-removed' }));
  }
  for (const o of l.orphans) if (!matched.has(o) || !desiredNames.has(o.name)) instances.push(deleteInstance(o, { code: 'orphaned' }));

  const reordered = moved.size > 0;
  const reasons: Reason[] = [];
  const metaLost = (l.driftKinds ?? []).some((d) => d.code === 'metadata-missing');
  // Without its metadata a chain has no recorded name: it is the desired one, not a rename.
  if (chain.name !== l.chainName && !metaLost) reasons.push({ code: 'chain-renamed', from: l.chainName });
  if (stack !== undefined && l.stack === undefined) reasons.push({ code: 'adopted', stack });
  // Another program took the root's place on its tcx hook: attaching again restores it.
  let reattach = l.attached && (l.driftKinds ?? []).some((d) => d.code === 'position-lost');
  if (chain.hook === 'xdp' && chain.mode !== 'auto' && l.mode !== undefined && l.mode !== chain.mode) {
    reasons.push({ code: 'xdp-mode-changed', from: l.mode, to: chain.mode });
    reattach = l.attached;
  }
  if (chain.hook !== 'xdp' && l.position !== undefined && l.position !== chain.position) {
    reasons.push({ code: 'tc-position-changed', from: l.position, to: chain.position });
    reattach = l.attached;
  }
  if (reordered) reasons.push({ code: 'reordered' });
  if (l.drift.length > 0) reasons.push({ code: 'drift' });
  const busy = reasons.length > 0 || instances.some((i) => i.action !== 'noop');
  return {
    attachment,
    chainName: chain.name,
    action: busy ? 'update' : 'noop',
    reasons,
    drift: [...l.drift],
    fromOrder,
    toOrder,
    reordered,
    ...(reattach ? { reattach } : {}),
    instances,
    mode: chain.mode,
    position: chain.position,
    live: chainHandle(l),
  };
}

export function summarize(changes: readonly ChainChange[], probes: readonly ProbeChange[] = []): PlanSummary {
  const s: PlanSummary = { add: 0, change: 0, replace: 0, destroy: 0 };
  for (const p of probes) {
    if (p.action === 'create') s.add++;
    else if (p.action === 'update') s.change++;
    else if (p.action === 'replace') s.replace++;
    else if (p.action === 'delete') s.destroy++;
  }
  for (const c of changes) {
    if (c.action === 'create') s.add++;
    if (c.action === 'delete') s.destroy++;
    let instanceWork = false;
    for (const i of c.instances) {
      if (i.action === 'create') s.add++;
      else if (i.action === 'update') s.change++;
      else if (i.action === 'replace') s.replace++;
      else if (i.action === 'delete') s.destroy++;
      if (i.action !== 'noop' && i.action !== 'move' && i.action !== 'reload') instanceWork = true;
    }
    if (c.action !== 'update') continue;
    // A reorder counts once; a chain whose only work is chain-level (drift repair,
    // XDP mode, rename) counts once so that it never shows as "0 to change".
    if (c.reordered || !instanceWork) s.change++;
  }
  return s;
}

/** Whether `host` is one of the hosts a chain's selector names. */
export function selectsHost(sel: HostSelector, host: HostIdentity): boolean {
  if (sel.hostnames && !sel.hostnames.some((g) => globToRegExp(g).test(host.hostname))) return false;
  return Object.entries(sel.labels ?? {}).every(([k, v]) => host.labels[k] === v);
}

function conflict(chain: DesiredChain, a: Attachment, stack: string, l: LiveChain): KfnError {
  return new KfnError(
    'CHAIN_CONFLICT',
    `chain "${chain.name}" of stack "${stack}" claims ${a.ifname}/${a.hook} in ${netnsText(a.netns)}, which chain "${l.chainName}" of stack "${l.stack}" owns`,
    {
      source: chain.source,
      hint: `one hook carries one chain: drop it from one of the two stacks (kfn destroy --stack ${JSON.stringify(l.stack)} frees the hook), or use another interface or hook`,
    },
  );
}

/**
 * Whether what kfn applied for `owner` is `stack`'s to change: its own, or applied before
 * stacks (`owner` undefined) and `named` by the stack's manifests, which adopt it. Without
 * a stack (destroy --all, hand-made states) everything is.
 */
export function ownedBy(stack: string | undefined, owner: string | undefined, named: boolean): boolean {
  return stack === undefined || owner === stack || (owner === undefined && named);
}

export function plan(desired: DesiredState, live: LiveState, opts: PlanOptions = {}): PlannedChanges {
  const warnings: string[] = [];
  const notes: PlanNote[] = [];
  const selected = desired.chains.filter((c) => {
    if (!opts.host || !c.hosts || selectsHost(c.hosts, opts.host)) return true;
    notes.push({ code: 'host-not-selected', chainName: c.name, selector: c.hosts });
    return false;
  });
  const expanded = expandChains(selected, live, warnings);

  const wanted = new Map<string, { chain: DesiredChain; attachment: Attachment }>();
  for (const { chain, attachments } of expanded) {
    for (const attachment of attachments) wanted.set(attachmentKey(attachment), { chain, attachment });
  }
  // Ownership: a plan for a stack sees its own chains and, to adopt them, the chains
  // applied before stacks that it declares; every other chain is only noted.
  const stack = desired.stack;
  const have = new Map<string, LiveChain>();
  for (const c of live.chains) {
    const key = attachmentKey(c.attachment);
    if (have.has(key)) continue;
    const w = wanted.get(key);
    if (stack === undefined || c.stack === stack) have.set(key, c);
    else if (c.stack === undefined) {
      if (w) have.set(key, c);
      else notes.push({ code: 'unowned', attachment: { ...c.attachment }, chainName: c.chainName });
    } else if (w) throw conflict(w.chain, w.attachment, stack, c);
    else notes.push({ code: 'owned-by-stack', attachment: { ...c.attachment }, chainName: c.chainName, stack: c.stack });
  }

  const attachments = new Map<string, Attachment>();
  for (const [k, v] of wanted) attachments.set(k, v.attachment);
  for (const [k, v] of have) if (!attachments.has(k)) attachments.set(k, v.attachment);
  const keys = [...attachments.entries()].sort(([, a], [, b]) => compareAttachments(a, b)).map(([k]) => k);
  const gone = new Map<string, StackRecord['chains'][number]>();

  const changes: ChainChange[] = [];
  // What the stack's record lists but the kernel no longer holds at all, and no manifest
  // wants: forgotten (a release of nothing), so that drift stops reporting it as removed.
  const record = stack === undefined ? undefined : live.stacks?.find((r) => r.stack === stack);
  const present = new Set(live.chains.map((c) => attachmentKey(c.attachment)));
  for (const rc of record?.chains ?? []) {
    const key = attachmentKey(rc.attachment);
    if (!present.has(key) && !wanted.has(key) && !attachments.has(key)) {
      attachments.set(key, rc.attachment);
      keys.push(key);
      gone.set(key, rc);
    }
  }
  keys.sort((a, b) => compareAttachments(attachments.get(a)!, attachments.get(b)!));
  for (const key of keys) {
    const d = wanted.get(key);
    const l = have.get(key);
    if (d && !l) {
      changes.push(createChain(d.chain, d.attachment));
      if (d.attachment.hook === 'xdp') {
        for (const f of live.foreign) {
          if (attachmentKey(f.attachment) !== key) continue;
          const ns = f.attachment.netns === DEFAULT_NETNS ? '' : ` (netns ${f.attachment.netns})`;
          warnings.push(
            `foreign XDP program '${f.progName}' (id ${f.progId}) is attached to ${f.attachment.ifname}${ns}: ` +
              'kfn cannot attach until it is removed',
          );
        }
      }
    } else if (l && !d) {
      changes.push(deleteChain(l));
    } else if (gone.has(key)) {
      changes.push(forgetChain(gone.get(key)!));
    } else if (d && l) {
      changes.push(updateChain(d.chain, d.attachment, l, stack));
    }
  }

  // A stack's plan sees its own probes and, to adopt them, unowned ones its manifests name.
  const probeNames = new Set((desired.probes ?? []).map((p) => p.name));
  const liveProbes = (live.probes ?? []).filter((p) => ownedBy(stack, p.stack, probeNames.has(p.name)));
  for (const p of live.probes ?? []) {
    const d = desired.probes?.find((w) => w.name === p.name);
    if (d && stack !== undefined && p.stack !== undefined && p.stack !== stack) {
      throw new KfnError('CHAIN_CONFLICT', `probe "${d.name}" of stack "${stack}" is a probe of stack "${p.stack}"`, {
        source: d.source,
        hint: `probe names are host-wide: rename it, or drop it from one of the two stacks (kfn destroy --stack ${JSON.stringify(p.stack)})`,
      });
    }
  }
  const probes = desired.probes?.length || liveProbes.length ? planProbes(desired.probes ?? [], liveProbes, stack) : undefined;
  const result: PlannedChanges = {
    createdAt: (opts.now ?? new Date()).toISOString(),
    liveFingerprint: liveFingerprint(live),
    manifestDigest: desired.manifestDigest,
    changes,
    notes,
    ...(probes ? { probes } : {}),
    foreign: live.foreign.map((f) => ({ ...f, attachment: { ...f.attachment } })),
    warnings,
    summary: summarize(changes, probes),
  };
  if (desired.revision !== undefined) result.revision = desired.revision;
  if (stack !== undefined) result.stack = stack;
  return result;
}

export function hasChanges(p: Pick<PlannedChanges, 'changes' | 'probes'>): boolean {
  return p.changes.some((c) => c.action !== 'noop') || (p.probes ?? []).some((c) => c.action !== 'noop');
}
