/**
 * Compiles planned changes into the tail-call form's concrete steps, at plan time, in
 * three phases:
 *
 *  1. prepare: put damaged bookkeeping back where the objects still live (re-pin a root,
 *     a slot, a program or maps by identity; move a renamed interface's pins), then load
 *     and pin every new instance (fresh, replacement, or a copy that shares the maps of
 *     the instance it stands in for) and wire its slot; nothing live can reach any of it.
 *  2. commit: per chain, in-place map updates, then ONE atomic pointer swap (a
 *     `kfn_next` slot or the root slot), an attach, or a re-attach.
 *  3. release: unpin what is no longer referenced (a deleted chain is detached here:
 *     a detach cannot be undone exactly, so it must never need a rollback).
 *
 * A chain whose walked order is not the one kfn built (a foreign program or a loop in a
 * slot, a slot emptied by a removed pin, an instance without metadata in the walk) is
 * rebuilt: every instance is loaded afresh (copies share the old maps, so state is kept),
 * wired, and swapped in with one update of the root's slot; a chain whose root is gone
 * gets a new root first. A working root is never detached to repair anything.
 *
 * Every step of phases 1-2 carries its undo operations; apply journals them before the
 * step runs. Everything a step needs (directories, what maps it shares or carries over,
 * previous values) is decided here, so apply never re-decides.
 */
import path from 'node:path';
import { KfnError, isKfnError } from '../../core/errors.js';
import { tracepointId } from '../../libbpf/index.js';
import { digestEntries } from '../../core/digest.js';
import { attachmentKey, attachmentLabel, breaksOrder, companionText } from '../../core/types.js';
import type { ChainChange, DesiredInstance, DriftKind, InstanceChange, LiveInstance, LiveState, PlannedChanges, PlannedStep, Reason, StackRecord, StepKind, StepPhase } from '../../core/types.js';
import type { CompileContext, Compiled } from '../form.js';
import { chainDir, chainPins, instancePins, newInstanceDir, stackPin } from './layout.js';
import type { InstanceMeta, StackMeta } from './meta.js';
import type { SlotContent, TailcallChainData } from './read.js';
import type { LoadInstanceOp, RecordedChainMeta, RecordedStackMeta, StackWrite, TailcallOp } from './ops.js';
import type { UndoOp } from './ops.js';
import { carriedState } from './carry.js';
import { compileProbes } from './probe-compile.js';

interface Ctx {
  pinRoot: string;
  plan: PlannedChanges;
  instancesByDir: Map<string, LiveInstance>;
  chainDataByDir: Map<string, TailcallChainData>;
  /** The live chains' typed drift, by pin directory: what the repair works from. */
  driftByDir: Map<string, DriftKind[]>;
  /** Per stack the chains change: its record after this plan, and how to put the old one back. */
  stacks: Map<string, { write: StackWrite; undo: UndoOp[] }>;
  /** Owning stack of each live chain, by attachment key. */
  liveStacks: Map<string, string>;
  prepare: PlannedStep[];
  commit: PlannedStep[];
  release: PlannedStep[];
}

function push(ctx: Ctx, phase: StepPhase, c: ChainChange, kind: StepKind, description: string, op: TailcallOp, undo: UndoOp[], instance?: string): void {
  const step: PlannedStep = { kind, phase, chain: c.attachment, chainName: c.chainName, description, op, undo };
  if (instance !== undefined) step.instance = instance;
  ctx[phase].push(step);
}

export function compile(planned: PlannedChanges, cc: CompileContext): Compiled {
  // The compiler annotates the changes it compiles (copies, reloads): those are its own copies.
  const changes = planned.changes.map((c) => (c.action === 'noop' ? c : structuredClone(c)));
  const liveStacks = new Map(cc.live.chains.filter((c) => c.stack !== undefined).map((c) => [attachmentKey(c.attachment), c.stack!]));
  // A chain whose metadata pin was removed no longer names its stack: the stack record that
  // lists it does, so that deleting the chain rewrites (or removes) that record too.
  for (const r of cc.live.stacks ?? []) {
    for (const rc of r.chains) {
      const k = attachmentKey(rc.attachment);
      if (!liveStacks.has(k) && cc.live.chains.some((c) => c.stack === undefined && attachmentKey(c.attachment) === k)) liveStacks.set(k, r.stack);
    }
  }
  const ctx: Ctx = {
    pinRoot: cc.pinRoot,
    plan: planned,
    instancesByDir: indexInstances(cc.live),
    chainDataByDir: new Map(cc.live.chains.filter((c) => c.formData).map((c) => [c.pinDir, c.formData as TailcallChainData])),
    driftByDir: new Map(cc.live.chains.map((c) => [c.pinDir, c.driftKinds ?? []])),
    stacks: stackWrites(cc.pinRoot, planned, changes, cc.live, liveStacks),
    liveStacks,
    prepare: [],
    commit: [],
    release: [],
  };
  for (const c of changes) {
    if (c.action === 'create') compileCreate(ctx, c);
    else if (c.action === 'delete') compileDelete(ctx, c);
    else if (c.action === 'update') compileUpdate(ctx, c);
  }
  const probes = compileProbes(planned.probes ?? [], cc.pinRoot, cc.live, planned.stack);
  return {
    changes,
    steps: [...ctx.prepare, ...probes.prepare, ...ctx.commit, ...probes.commit, ...ctx.release, ...probes.release],
  };
}

/** The stack whose record a change of this chain rewrites: the live owner of a deleted chain, else the plan's. */
function stackOf(plan: PlannedChanges, liveStacks: Map<string, string>, c: ChainChange): string | undefined {
  if (c.action !== 'delete') return plan.stack;
  return liveStacks.get(attachmentKey(c.attachment)) ?? (c.reasons.some((r) => r.code === 'chain-gone') ? plan.stack : undefined);
}

/**
 * A stack's record of what kfn applied (its chains, digest, revision), as it is after
 * this plan, for every stack whose chains it changes: each chain's attach, re-attach,
 * metadata write or release writes it (so a plan gains no step of its own), and a
 * commit-phase write is undone by putting the old record back. A stack left without
 * chains loses its record. Without a plan stack (destroy), the remaining chains keep
 * their stack's digest and revision.
 */
function stackWrites(pinRoot: string, plan: PlannedChanges, changes: ChainChange[], live: LiveState, liveStacks: Map<string, string>): Map<string, { write: StackWrite; undo: UndoOp[] }> {
  const records = new Map((live.stacks ?? []).map((r) => [r.stack, r]));
  const changed = changes.filter((c) => c.action !== 'noop');
  const touched = new Set<string>();
  for (const c of changed) {
    const s = stackOf(plan, liveStacks, c);
    if (s !== undefined) touched.add(s);
  }
  const deleted = new Set(changed.filter((c) => c.action === 'delete').map((c) => attachmentKey(c.attachment)));
  const out = new Map<string, { write: StackWrite; undo: UndoOp[] }>();
  for (const stack of touched) {
    const pin = stackPin(pinRoot, stack);
    const old = records.get(stack);
    const chains =
      stack === plan.stack
        ? changes.filter((c) => c.action !== 'delete').map((c) => ({ ...c.attachment, chainName: c.chainName }))
        : live.chains.filter((c) => c.stack === stack && !deleted.has(attachmentKey(c.attachment))).map((c) => ({ ...c.attachment, chainName: c.chainName }));
    let meta: RecordedStackMeta | null = null;
    if (chains.length) {
      const own = stack === plan.stack;
      meta = { kind: 'stack', stack, manifestDigest: own ? plan.manifestDigest : (old?.manifestDigest ?? ''), chains };
      const revision = own ? plan.revision : old?.revision;
      if (revision) meta.revision = revision;
    }
    out.set(stack, { write: { pin, meta }, undo: old ? [{ op: 'writeMeta', pin, meta: stackMeta(old) }] : [{ op: 'unpin', pin }] });
  }
  return out;
}

/** The record write a chain's step carries, and the undo operations it adds. */
function stackWrite(ctx: Ctx, c: ChainChange): { write?: StackWrite; undo: UndoOp[] } {
  const s = stackOf(ctx.plan, ctx.liveStacks, c);
  const w = s === undefined ? undefined : ctx.stacks.get(s);
  return w ? { write: w.write, undo: w.undo } : { undo: [] };
}

function stackMeta(r: StackRecord): StackMeta {
  const m: StackMeta = { kind: 'stack', stack: r.stack, manifestDigest: r.manifestDigest, chains: r.chains.map((c) => ({ ...c.attachment, chainName: c.chainName })), appliedAt: r.appliedAt };
  if (r.revision !== undefined) m.revision = r.revision;
  return m;
}

function indexInstances(live: LiveState): Map<string, LiveInstance> {
  const out = new Map<string, LiveInstance>();
  for (const c of live.chains) for (const i of [...c.instances, ...c.orphans]) out.set(i.pinDir, i);
  return out;
}

function chainMeta(ctx: Ctx, c: ChainChange): RecordedChainMeta {
  const meta: RecordedChainMeta = {
    kind: 'chain',
    chainName: c.chainName,
    netns: c.attachment.netns,
    ifname: c.attachment.ifname,
    hook: c.attachment.hook,
    mode: c.mode,
    position: c.position,
    manifestDigest: ctx.plan.manifestDigest,
    order: [...c.toOrder],
  };
  if (ctx.plan.revision) meta.revision = ctx.plan.revision;
  if (ctx.plan.stack !== undefined) meta.stack = ctx.plan.stack;
  return meta;
}

function liveInstance(ctx: Ctx, ic: InstanceChange): LiveInstance {
  const li = ic.live && ctx.instancesByDir.get(ic.live.pinDir);
  if (!li) throw new KfnError('PLAN_INVALID', `the plan names live instance "${ic.name}", which the live state does not hold`);
  return li;
}

/**
 * Loads `names` back to front, each pointing at the one after it (the last at `tail`);
 * returns the new directory of each. Instances that stay are loaded as copies sharing
 * their maps; `copyReason` says why (their successor changes, or the chain is rebuilt).
 */
function loadRun(ctx: Ctx, c: ChainChange, dir: string, names: string[], tail: string | null, copyReason: Reason = { code: 'successor-changed' }): Map<string, string> {
  const dirs = new Map<string, string>();
  let next = tail;
  for (const name of [...names].reverse()) {
    const ic = instance(c, name);
    const desired = ic.desired!;
    const isCopy = ic.action !== 'create' && ic.action !== 'replace';
    const instDir = newInstanceDir(dir, name);
    const op: LoadInstanceOp = { op: 'load-instance', dir: instDir, chainName: c.chainName, desired, successor: next };
    let kind: StepKind = 'load';
    let verb = 'load';
    if (isCopy) {
      const li = liveInstance(ctx, ic);
      op.share = { maps: mapPins(li, Object.keys(li.stateMaps ?? {})), appliedMaps: { ...li.appliedMaps } };
      const companions = (li.identity.companions ?? []).map((co) => ({ program: co.program, ...instancePins(li.pinDir).companion(co.program) }));
      if (companions.length) op.share.companions = companions;
      kind = 'load-copy';
      verb = 'load a copy of';
      if (ic.action === 'noop') {
        ic.action = 'reload';
        ic.reasons.push(copyReason);
      } else ic.reasons.push(copyReason.code === 'successor-changed' ? { code: 'copied' } : copyReason);
    } else {
      checkCompanions(c, desired);
      if (ic.action === 'replace') {
        const li = liveInstance(ctx, ic);
        op.carry = carriedState(li, desired, instancePins(li.pinDir).map);
        kind = 'load-replacement';
        verb = 'load replacement';
      }
    }
    const companions = (desired.identity.companions ?? []).map(companionText);
    const beside = companions.length ? `, ${isCopy ? 'taking over' : 'attaching'} companion${companions.length > 1 ? 's' : ''} ${companions.join(', ')}` : '';
    push(ctx, 'prepare', c, kind, `${verb} ${name} (${desired.identity.function}@${desired.identity.version}) for ${attachmentLabel(c.attachment)}${beside}`, op, [{ op: 'unpinTree', dir: instDir }], name);
    dirs.set(name, instDir);
    next = instancePins(instDir).prog;
  }
  return dirs;
}

/**
 * A companion's tracepoint must exist on this kernel (and tracefs be mounted): the plan
 * fails here, with the chain entry's position, rather than the apply half-way.
 */
function checkCompanions(c: ChainChange, desired: DesiredInstance): void {
  for (const co of desired.identity.companions ?? []) {
    try {
      tracepointId(co.attach.tracepoint);
    } catch (e) {
      if (!isKfnError(e)) throw e;
      throw new KfnError(e.code, `chain "${c.chainName}" function "${desired.name}": companion ${co.program}: ${e.message}`, {
        ...(e.hint ? { hint: e.hint } : {}),
        ...(desired.source ? { source: desired.source } : {}),
      });
    }
  }
}

function mapPins(li: LiveInstance, names: string[]): { name: string; pin: string }[] {
  return names.sort().map((name) => ({ name, pin: instancePins(li.pinDir).map(name) }));
}

function compileCreate(ctx: Ctx, c: ChainChange): void {
  const dir = chainDir(ctx.pinRoot, c.attachment);
  const label = attachmentLabel(c.attachment);
  const meta = chainMeta(ctx, c);
  push(ctx, 'prepare', c, 'load-root', `load chain root for ${label}`, { op: 'load-root', dir, hook: c.attachment.hook, meta }, [{ op: 'unpinTree', dir, stopAt: ctx.pinRoot }]);
  // Attached while its slot is still empty, the root passes every packet as if nothing
  // ran there; its chain goes live at the commit with one write of that slot. So the
  // attach, which waits in the kernel for XDP, overlaps the loads (attacher.ts).
  push(ctx, 'prepare', c, 'attach', `attach the root of ${label} (empty: it passes every packet until the chain goes live)`, { op: 'attach', dir, attachment: c.attachment, mode: c.mode, position: c.position, meta }, [
    { op: 'detachCreated', chainDir: dir },
  ]);
  const dirs = loadRun(ctx, c, dir, c.toOrder, null);
  const first = c.toOrder.length ? instancePins(dirs.get(c.toOrder[0]!)!).prog : null;
  const sw = stackWrite(ctx, c);
  // Undone by detaching the new root: the packets of that interface then meet no program, as before.
  push(ctx, 'commit', c, 'swap', `switch ${label} to chain "${c.chainName}"${first ? ` (its root at ${c.toOrder[0]})` : ''}`, { op: 'set-slot', slot: chainPins(dir).rootNext, prog: first, ...(sw.write ? { stack: sw.write } : {}) }, [
    { op: 'detachCreated', chainDir: dir },
    ...sw.undo,
  ]);
}

function compileDelete(ctx: Ctx, c: ChainChange): void {
  const dir = c.live?.pinDir ?? chainDir(ctx.pinRoot, c.attachment);
  const sw = stackWrite(ctx, c);
  push(ctx, 'release', c, 'detach-release', `detach and release chain "${c.chainName}" on ${attachmentLabel(c.attachment)}`, { op: 'release', dir, ...(sw.write ? { stack: sw.write } : {}) }, []);
}

const STAYS = new Set(['noop', 'update']);
function compileUpdate(ctx: Ctx, c: ChainChange): void {
  const from = c.live!.pinDir;
  const drift = ctx.driftByDir.get(from) ?? [];
  // The reader moved a renamed interface's chain to its new name; its pins are still under the old one.
  const renamed = drift.some((d) => d.code === 'interface-renamed' && !d.conflict);
  const to = renamed ? chainDir(ctx.pinRoot, c.attachment) : from;
  const label = attachmentLabel(c.attachment);
  const marks = { prepare: ctx.prepare.length, commit: ctx.commit.length, release: ctx.release.length };
  if (from !== to) {
    // The interface was renamed: the pins follow it first; every later step of this chain
    // is compiled for the old place and then moved with it (relocate).
    push(ctx, 'prepare', c, 'repin', `move the pins of ${label} from ${path.basename(path.dirname(from))} (renamed interface)`, { op: 'move-chain', from, to }, [{ op: 'moveChain', from: to, to: from }]);
    marks.prepare++;
  }
  const rootMissing = drift.some((d) => d.code === 'root-missing');
  const rebuild = rootMissing || breaksOrder(drift);
  repairBookkeeping(ctx, c, from, drift, rebuild, rootMissing);
  if (rebuild) compileRebuild(ctx, c, from, rootMissing);
  else compileSplice(ctx, c, from);
  compileAttachment(ctx, c, from);
  for (const d of ctx.chainDataByDir.get(from)?.damagedDirs ?? []) {
    push(ctx, 'release', c, 'release', `release ${path.basename(d)} (no metadata, or nothing of it runs)`, { op: 'release', dir: d }, []);
  }
  if (rootMissing) push(ctx, 'release', c, 'release', `release the slot of the old root of ${label}`, { op: 'unpin', pin: chainPins(from).rootNextAside }, []);
  if (from !== to) for (const phase of ['prepare', 'commit', 'release'] as const) relocate(ctx[phase].slice(marks[phase]), from, to);
}

/** Rewrites every path under `from` in the steps' operations and undo operations to lie under `to`. */
function relocate(steps: PlannedStep[], from: string, to: string): void {
  const move = (v: unknown): unknown => {
    if (typeof v === 'string') return v === from || v.startsWith(`${from}/`) ? to + v.slice(from.length) : v;
    if (Array.isArray(v)) return v.map(move);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, move(x)]));
    return v;
  };
  for (const s of steps) {
    // The move itself (and its undo) names both places on purpose.
    if ((s.op as TailcallOp).op === 'move-chain') continue;
    s.op = move(s.op);
    s.undo = s.undo.map(move);
  }
}

/** The live instance a drift entry names: the walked one of the chain (never an orphan). */
function walked(ctx: Ctx, c: ChainChange, name: string): LiveInstance | undefined {
  const ic = c.instances.find((i) => i.name === name && i.live && c.fromOrder.includes(i.name));
  return ic?.live ? ctx.instancesByDir.get(ic.live.pinDir) : undefined;
}

/**
 * Puts back pins whose objects still live, found by identity (the program behind kfn's
 * link, a program's own slot array, map ids kfn recorded), each undone by unpinning again.
 */
function repairBookkeeping(ctx: Ctx, c: ChainChange, dir: string, drift: readonly DriftKind[], rebuild: boolean, rootMissing: boolean): void {
  const pins = chainPins(dir);
  const label = attachmentLabel(c.attachment);
  for (const d of drift) {
    if (d.code === 'pin-missing' && d.pin === 'root' && d.instance === undefined && d.progId !== undefined) {
      push(ctx, 'prepare', c, 'repin', `re-pin the root of ${label} (prog ${d.progId}, still running through kfn's link)`, { op: 'pin-link-prog', link: pins.link, pin: pins.root, hook: c.attachment.hook }, [
        { op: 'unpin', pin: pins.root },
      ]);
    } else if (d.code === 'bypassed' && d.pin === 'root_next' && !rootMissing) {
      // The root's own array, emptied by the kernel: pinned again, the rebuild fills it.
      push(ctx, 'prepare', c, 'repin', `re-pin the root slot of ${label} (the kernel emptied it)`, { op: 'pin-prog-slot', prog: pins.root, slot: pins.rootNext }, [{ op: 'unpin', pin: pins.rootNext }]);
    } else if (d.code === 'pin-missing' && d.pin === 'prog' && d.instance !== undefined && d.progId !== undefined && !rebuild) {
      const li = walked(ctx, c, d.instance);
      if (!li) continue;
      const ip = instancePins(li.pinDir);
      push(ctx, 'prepare', c, 'repin', `re-pin the program of ${d.instance} (prog ${d.progId})`, { op: 'pin-instance-prog', pin: ip.prog, progId: d.progId, next: ip.next }, [{ op: 'unpin', pin: ip.prog }], d.instance);
    } else if (d.code === 'maps-missing' && d.recoverable) {
      const li = walked(ctx, c, d.instance);
      const ids = (li?.formData as InstanceMeta | undefined)?.mapIds;
      if (!li || !ids) continue;
      const maps = Object.fromEntries(d.maps.filter((m) => ids[m] !== undefined).map((m) => [m, ids[m]!]));
      const undo: UndoOp[] = Object.keys(maps).map((m) => ({ op: 'unpin', pin: instancePins(li.pinDir).map(m) }));
      push(ctx, 'prepare', c, 'repin', `re-pin the maps of ${d.instance} (${d.maps.join(', ')}) from its program`, { op: 'pin-instance-maps', dir: li.pinDir, progId: li.progId, maps }, undo, d.instance);
    }
  }
}

/** The undo of re-pointing a slot: exactly what it held (a foreign program by id, checked at undo time). */
function slotUndo(slot: string, was: SlotContent | undefined): UndoOp {
  if (was?.kind === 'kfn') return { op: 'setSlot', slot, prog: was.prog };
  if (was?.kind === 'foreign') return { op: 'setSlotId', slot, progId: was.progId, tag: was.tag, name: was.name };
  return { op: 'setSlot', slot, prog: null };
}

/**
 * Rebuilds the whole chain on fresh instances (copies sharing the old maps, replacements,
 * new ones) and swaps them in with one update of the root's slot; every old instance
 * directory is released after the commit point.
 */
function compileRebuild(ctx: Ctx, c: ChainChange, dir: string, rootMissing: boolean): void {
  const pins = chainPins(dir);
  const label = attachmentLabel(c.attachment);
  const data = ctx.chainDataByDir.get(dir);
  if (rootMissing) {
    const meta = chainMeta(ctx, c);
    const metaUndo: UndoOp = data?.meta ? { op: 'writeMeta', pin: pins.meta, meta: data.meta } : { op: 'unpin', pin: pins.meta };
    push(ctx, 'prepare', c, 'load-root', `load a new chain root for ${label} (the old one is gone)`, { op: 'load-root', dir, hook: c.attachment.hook, meta, aside: true }, [
      metaUndo,
      { op: 'restoreRoot', dir },
    ]);
  }
  const fresh = loadRun(ctx, c, dir, c.toOrder, null, { code: 'chain-rebuilt' });
  updateAllMaps(ctx, c, fresh);
  const first = c.toOrder.length ? instancePins(fresh.get(c.toOrder[0]!)!).prog : null;
  // A new root's slot goes with its restoreRoot undo.
  push(ctx, 'commit', c, 'swap', `rebuild ${label}: point the root at the fresh [${c.toOrder.join(', ')}]`, { op: 'set-slot', slot: pins.rootNext, prog: first }, rootMissing ? [] : [slotUndo(pins.rootNext, data?.rootSlot)]);
  const released = new Set<string>();
  for (const ic of c.instances) {
    if (!ic.live || released.has(ic.live.pinDir)) continue;
    released.add(ic.live.pinDir);
    push(ctx, 'release', c, 'release', `release the old ${ic.name} (prog ${ic.live.progId})`, { op: 'release', dir: ic.live.pinDir }, [], ic.name);
  }
}

/**
 * The new order shares a prefix and a suffix with the old one; only the middle is
 * rebuilt, on new instances, and spliced in with one slot update.
 */
function compileSplice(ctx: Ctx, c: ChainChange, dir: string): void {
  const pins = chainPins(dir);
  const label = attachmentLabel(c.attachment);
  const from = c.fromOrder;
  const to = c.toOrder;
  const stays = (name: string): boolean => STAYS.has(instance(c, name).action);
  let p = 0;
  while (p < from.length && p < to.length && from[p] === to[p] && stays(to[p]!)) p++;
  let s = 0;
  while (s < from.length - p && s < to.length - p && from[from.length - 1 - s] === to[to.length - 1 - s] && stays(to[to.length - 1 - s]!)) s++;
  const middle = to.slice(p, to.length - s);
  const oldMiddle = from.slice(p, from.length - s);
  const liveProg = (name: string): string => instancePins(instance(c, name).live!.pinDir).prog;
  const suffixHead = s > 0 ? liveProg(to[to.length - s]!) : null;

  const fresh = loadRun(ctx, c, dir, middle, suffixHead);
  updateAllMaps(ctx, c, fresh);
  if (middle.length || oldMiddle.length) {
    const slot = p === 0 ? pins.rootNext : instancePins(instance(c, from[p - 1]!).live!.pinDir).next;
    const target = middle.length ? instancePins(fresh.get(middle[0]!)!).prog : suffixHead;
    const before = oldMiddle.length ? liveProg(oldMiddle[0]!) : suffixHead;
    push(ctx, 'commit', c, 'swap', `switch ${label} to [${to.join(', ')}]`, { op: 'set-slot', slot, prog: target }, [{ op: 'setSlot', slot, prog: before }]);
  }
  for (const name of oldMiddle) {
    const ic = instance(c, name);
    push(ctx, 'release', c, 'release', `release ${name} (prog ${ic.live!.progId})`, { op: 'release', dir: ic.live!.pinDir }, [], name);
  }
  for (const ic of c.instances) {
    if (ic.action === 'delete' && !oldMiddle.includes(ic.name)) {
      push(ctx, 'release', c, 'release', `release ${ic.name}`, { op: 'release', dir: ic.live!.pinDir }, [], ic.name);
    }
  }
}

function updateAllMaps(ctx: Ctx, c: ChainChange, fresh: Map<string, string>): void {
  for (const ic of c.instances) {
    if (!ic.live || ic.action === 'replace' || ic.action === 'create' || ic.action === 'delete') continue;
    if (ic.mapChanges.length) updateMapsInPlace(ctx, c, ic, fresh.get(ic.name));
    // A copy is loaded with the desired proceed-on already.
    if (ic.proceedOnChange && !fresh.has(ic.name)) updateProceedOnInPlace(ctx, c, ic);
  }
}

/** The attach, re-attach or metadata record that ends a chain's commit. */
function compileAttachment(ctx: Ctx, c: ChainChange, dir: string): void {
  const pins = chainPins(dir);
  const label = attachmentLabel(c.attachment);
  const oldMeta = ctx.chainDataByDir.get(dir)?.meta;
  // Metadata that was missing is created by the step; its undo removes it again.
  const restore: UndoOp[] = oldMeta ? [{ op: 'writeMeta', pin: pins.meta, meta: oldMeta }] : [{ op: 'unpin', pin: pins.meta }];
  const meta = chainMeta(ctx, c);
  const sw = stackWrite(ctx, c);
  const attach = { dir, attachment: c.attachment, mode: c.mode, position: c.position, meta, ...(sw.write ? { stack: sw.write } : {}) };
  restore.push(...sw.undo);
  if (!c.live!.attached) {
    push(ctx, 'commit', c, 'reattach', `re-attach chain "${c.chainName}" to ${label}`, { op: 'reattach', ...attach }, [{ op: 'detachRoot', chainDir: dir }, ...restore]);
  } else if (c.reattach) {
    const was: UndoOp = { op: 'attachRoot', chainDir: dir, attachment: c.attachment, mode: c.live!.mode ?? c.mode, position: c.live!.position ?? c.position };
    const how = c.attachment.hook === 'xdp' ? `mode ${c.mode}` : `position ${c.position}`;
    push(ctx, 'commit', c, 'reattach', `re-attach chain "${c.chainName}" to ${label} (${how})`, { op: 'reattach', ...attach }, [{ op: 'detachRoot', chainDir: dir }, was, ...restore]);
  } else {
    const recorded: RecordedChainMeta = { ...meta };
    if (oldMeta?.attachedMode) recorded.attachedMode = oldMeta.attachedMode;
    if (oldMeta?.ifindex !== undefined) recorded.ifindex = oldMeta.ifindex;
    else if (c.live!.ifindex) recorded.ifindex = c.live!.ifindex;
    push(ctx, 'commit', c, 'record', `record manifest digest on ${label}`, { op: 'write-chain-meta', pin: pins.meta, meta: recorded, ...(sw.write ? { stack: sw.write } : {}) }, restore);
  }
}

/** Writes the changed entries of a live instance's maps (shared with its copy, if any). */
function updateMapsInPlace(ctx: Ctx, c: ChainChange, ic: InstanceChange, copyDir: string | undefined): void {
  const li = liveInstance(ctx, ic);
  for (const mc of ic.mapChanges) {
    const pin = instancePins(li.pinDir).map(mc.map);
    // Additions and changes land before removals: while the update runs, a packet sees
    // the old entries plus the new ones, never a set smaller than both (docs/parameters.md).
    const ordered = [...mc.entries.filter((e) => e.op !== 'remove'), ...mc.entries.filter((e) => e.op === 'remove')];
    const entries = ordered.map((e) => ({ key: e.key, value: e.op === 'remove' ? null : e.value! }));
    const previous = ordered.map((e) => ({ key: e.key, value: e.previous ?? null }));
    push(ctx, 'commit', c, 'update-maps', `update ${mc.map} of ${ic.name} on ${attachmentLabel(c.attachment)} (${entries.length} entries)`, { op: 'write-entries', map: pin, entries }, [
      { op: 'writeEntries', map: pin, entries: previous },
    ], ic.name);
  }
  const metaPin = instancePins(copyDir ?? li.pinDir).meta;
  const before = li.formData as InstanceMeta | undefined;
  const appliedMaps = { ...li.appliedMaps };
  for (const mc of ic.mapChanges) appliedMaps[mc.map] = digestEntries(ic.desired!.maps[mc.map]?.entries ?? []);
  // A copy's metadata is created at its load with the live digests; undoing its load removes it.
  const undo: UndoOp[] = copyDir || !before ? [] : [{ op: 'writeMeta', pin: metaPin, meta: before }];
  push(ctx, 'commit', c, 'record', `record map digests of ${ic.name}`, { op: 'patch-applied-maps', pin: metaPin, appliedMaps }, undo, ic.name);
}

/** Writes the instance's proceed-on word: the next packet it sees follows the new set. */
function updateProceedOnInPlace(ctx: Ctx, c: ChainChange, ic: InstanceChange): void {
  const li = liveInstance(ctx, ic);
  const pins = instancePins(li.pinDir);
  const { from, to } = ic.proceedOnChange!;
  push(ctx, 'commit', c, 'update-proceed-on', `set proceed-on of ${ic.name} on ${attachmentLabel(c.attachment)} to [${to.join(', ')}] (in place)`, { op: 'write-proceed-on', pin: pins.proceed, proceedOn: to }, [
    { op: 'writeProceedOn', pin: pins.proceed, proceedOn: from },
  ], ic.name);
  const before = li.formData as InstanceMeta | undefined;
  push(ctx, 'commit', c, 'record', `record proceed-on of ${ic.name}`, { op: 'patch-proceed-on', pin: pins.meta, proceedOn: to }, before ? [{ op: 'writeMeta', pin: pins.meta, meta: before }] : [], ic.name);
}

function instance(c: ChainChange, name: string): InstanceChange {
  const ic = c.instances.find((i) => i.name === name);
  if (!ic) throw new KfnError('PLAN_INVALID', `plan for ${attachmentLabel(c.attachment)} has no instance "${name}"`);
  return ic;
}
