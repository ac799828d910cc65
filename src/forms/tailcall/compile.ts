/**
 * Turns a plan into kernel operations in three phases:
 *
 *  1. prepare: load and pin every new instance (fresh, replacement, or a clone that
 *     shares the maps of the instance it stands in for) and wire its slot; nothing
 *     live can reach any of it yet.
 *  2. commit: per chain, in-place map updates, then ONE atomic pointer swap (a
 *     `kfn_next` slot or the root slot), an attach, or a detach.
 *  3. release: unpin what is no longer referenced.
 *
 * Every step of phases 1-2 records its undo operations; any failure runs them in
 * reverse, so the kernel ends exactly as it was. Phase 3 cannot break a chain.
 */
import { KfnError } from '../core/errors.js';
import { digestEntries } from '../core/digest.js';
import type { ChainChange, InstanceChange, MapEntry, Plan } from '../core/types.js';
import { attachmentLabel } from '../core/types.js';
import { MapHandle, mapInfoByFd, openPinned, withFd } from '../libbpf/index.js';
import { chainDir, chainPins, instancePins, newInstanceDir } from '../state/layout.js';
import { readMeta, writeMeta, type ChainMeta, type InstanceMeta } from '../state/meta.js';
import { attachRoot, detachRoot, loadInstance, loadRoot, releaseDir, setSlot, writeEntries } from './kernel.js';
import { describeUndo, runUndo, type UndoOp } from './undo.js';

/** Where steps are recorded before they run (the journal, in production). */
export interface StepRecorder {
  intend(description: string, undo: UndoOp[]): void;
  done(): void;
  releasing(dirs: string[]): void;
}

export interface ExecuteOptions {
  pinRoot: string;
  recorder?: StepRecorder;
  /** Called before each step with a one-line description. */
  onStep?: (description: string) => void;
  /** Test hook: throw before step N (1-based) to exercise rollback. */
  failAtStep?: number;
  /** Test hook: called after step N completed (crash tests kill the process here). */
  afterStep?: (n: number) => void;
}

export interface ExecuteResult {
  steps: string[];
  warnings: string[];
}

export class ApplyFailedError extends KfnError {
  constructor(
    override readonly cause: unknown,
    readonly applied: string[],
    readonly undone: string[],
    readonly rollbackErrors: string[],
  ) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(
      cause instanceof KfnError ? cause.code : 'APPLY_FAILED',
      rollbackErrors.length ? `${msg} (rollback incomplete: ${rollbackErrors.join('; ')})` : msg,
      { hint: cause instanceof KfnError ? cause.hint : undefined, cause },
    );
  }
}

interface Ctx {
  pinRoot: string;
  plan: Plan;
  steps: string[];
  undo: { description: string; ops: UndoOp[] }[];
  release: { description: string; dir: string }[];
  commits: (() => void)[];
  opts: ExecuteOptions;
}

/**
 * Runs one kernel change. Its undo operations are known before it runs and are
 * recorded first (write-ahead), so a failure or crash inside `fn` is undone too.
 */
function step(ctx: Ctx, description: string, undo: UndoOp[], fn: () => void): void {
  const n = ctx.steps.length + 1;
  if (ctx.opts.failAtStep === n) throw new KfnError('INJECTED_FAULT', `injected failure at step ${n} (${description})`);
  ctx.opts.recorder?.intend(description, undo);
  ctx.undo.push({ description, ops: undo });
  ctx.opts.onStep?.(description);
  fn();
  ctx.steps.push(description);
  ctx.opts.recorder?.done();
  ctx.opts.afterStep?.(n);
}

export function executePlan(plan: Plan, opts: ExecuteOptions): ExecuteResult {
  const ctx: Ctx = { pinRoot: opts.pinRoot, plan, steps: [], undo: [], release: [], commits: [], opts };
  try {
    for (const change of plan.changes) prepareChain(ctx, change);
    for (const commit of ctx.commits) commit();
  } catch (e) {
    throw rollback(ctx, e);
  }
  const warnings: string[] = [];
  opts.recorder?.releasing(ctx.release.map((r) => r.dir));
  for (const r of ctx.release) {
    try {
      opts.onStep?.(r.description);
      releaseDir(r.dir, ctx.pinRoot);
    } catch (e) {
      warnings.push(`${r.description}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { steps: ctx.steps, warnings };
}

function rollback(ctx: Ctx, cause: unknown): ApplyFailedError {
  const undone: string[] = [];
  const errors: string[] = [];
  for (const s of [...ctx.undo].reverse()) {
    for (const op of s.ops) {
      try {
        runUndo(op);
      } catch (e) {
        errors.push(`${describeUndo(op)}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    undone.push(s.description);
  }
  return new ApplyFailedError(cause, ctx.steps, undone, errors);
}

function chainMeta(ctx: Ctx, c: ChainChange, attachedMode?: 'native' | 'generic'): ChainMeta {
  const meta: ChainMeta = {
    kind: 'chain',
    chainName: c.chainName,
    netns: c.attachment.netns,
    ifname: c.attachment.ifname,
    hook: c.attachment.hook,
    mode: c.mode,
    position: c.position,
    manifestDigest: ctx.plan.manifestDigest,
    updatedAt: new Date().toISOString(),
  };
  if (attachedMode) meta.attachedMode = attachedMode;
  if (ctx.plan.revision) meta.revision = ctx.plan.revision;
  return meta;
}

function prepareChain(ctx: Ctx, c: ChainChange): void {
  if (c.action === 'noop') return;
  if (c.action === 'create') return prepareCreate(ctx, c);
  if (c.action === 'delete') return prepareDelete(ctx, c);
  return prepareUpdate(ctx, c);
}

/** Loads `names` back to front, each pointing at the one after it; returns their dirs. */
function loadRun(ctx: Ctx, c: ChainChange, dir: string, names: string[], tail: string | null): Map<string, string> {
  const dirs = new Map<string, string>();
  let next = tail;
  for (const name of [...names].reverse()) {
    const ic = instance(c, name);
    const desired = ic.desired!;
    const clone = ic.action !== 'create' && ic.action !== 'replace' && ic.live;
    const verb = clone ? 'load a copy of' : ic.action === 'replace' ? 'load replacement' : 'load';
    const instDir = newInstanceDir(dir, name);
    const successor = next;
    step(ctx, `${verb} ${name} (${desired.identity.function}@${desired.identity.version}) for ${attachmentLabel(c.attachment)}`, [{ op: 'unpinTree', dir: instDir }], () => {
      const shareMapsWith = clone ? { pinDir: ic.live!.pinDir, appliedMaps: instanceMeta(ic.live!.pinDir).appliedMaps } : undefined;
      const carry = ic.action === 'replace' && ic.live ? { carryStateFrom: ic.live.pinDir } : {};
      loadInstance({ dir: instDir, chainName: c.chainName, desired, ...(shareMapsWith ? { shareMapsWith } : {}), ...carry });
      if (successor) setSlot(instancePins(instDir).next, successor);
    });
    dirs.set(name, instDir);
    next = instancePins(dirs.get(name)!).prog;
  }
  return dirs;
}

function prepareCreate(ctx: Ctx, c: ChainChange): void {
  const dir = chainDir(ctx.pinRoot, c.attachment);
  const label = attachmentLabel(c.attachment);
  step(ctx, `load chain root for ${label}`, [{ op: 'unpinTree', dir, stopAt: ctx.pinRoot }], () => loadRoot(dir, c.attachment.hook, chainMeta(ctx, c)));
  const dirs = loadRun(ctx, c, dir, c.toOrder, null);
  if (c.toOrder.length) setSlot(chainPins(dir).rootNext, instancePins(dirs.get(c.toOrder[0]!)!).prog);
  ctx.commits.push(() =>
    step(ctx, `attach chain "${c.chainName}" to ${label}`, [{ op: 'detachRoot', chainDir: dir }], () => {
      const mode = attachRoot(dir, c.attachment, c.mode, c.position);
      if (mode) writeMeta(chainPins(dir).meta, chainMeta(ctx, c, mode));
    }),
  );
}

/**
 * A deleted chain is detached after the commit point, in the release phase: a detach
 * cannot be undone exactly (attaching again makes a new link, and on tcx may change the
 * root's place among other programs), so it must never be rolled back.
 */
function prepareDelete(ctx: Ctx, c: ChainChange): void {
  const dir = c.live?.pinDir ?? chainDir(ctx.pinRoot, c.attachment);
  ctx.release.push({ description: `detach and release chain "${c.chainName}" on ${attachmentLabel(c.attachment)}`, dir });
}

const STAYS = new Set(['noop', 'update']);

/**
 * The new order shares a prefix and a suffix with the old one; only the middle is
 * rebuilt, on new instances, and spliced in with one slot update.
 */
function prepareUpdate(ctx: Ctx, c: ChainChange): void {
  const dir = c.live!.pinDir;
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

  ctx.commits.push(() => {
    for (const ic of c.instances) {
      if (!ic.mapChanges.length || !ic.live || ic.action === 'replace' || ic.action === 'create' || ic.action === 'delete') continue;
      updateMapsInPlace(ctx, c, ic, fresh.get(ic.name));
    }
    if (middle.length || oldMiddle.length) {
      const slot = p === 0 ? pins.rootNext : instancePins(instance(c, from[p - 1]!).live!.pinDir).next;
      const target = middle.length ? instancePins(fresh.get(middle[0]!)!).prog : suffixHead;
      const before = oldMiddle.length ? liveProg(oldMiddle[0]!) : suffixHead;
      step(ctx, `switch ${label} to [${to.join(', ')}]`, [{ op: 'setSlot', slot, prog: before }], () => setSlot(slot, target));
    }
    const oldMeta = readMeta(pins.meta) as ChainMeta | undefined;
    let attachedMode = oldMeta?.attachedMode;
    if (!c.live!.attached) {
      step(ctx, `re-attach chain "${c.chainName}" to ${label}`, [{ op: 'detachRoot', chainDir: dir }], () => {
        detachRoot(dir);
        attachedMode = attachRoot(dir, c.attachment, c.mode, c.position);
      });
    } else if (c.reattach) {
      const was: UndoOp = { op: 'attachRoot', chainDir: dir, attachment: c.attachment, mode: c.live!.mode ?? c.mode, position: c.live!.position ?? c.position };
      step(ctx, `re-attach chain "${c.chainName}" to ${label} (${c.attachment.hook === 'xdp' ? `mode ${c.mode}` : `position ${c.position}`})`, [{ op: 'detachRoot', chainDir: dir }, was], () => {
        detachRoot(dir);
        attachedMode = attachRoot(dir, c.attachment, c.mode, c.position);
      });
    }
    step(ctx, `record manifest digest on ${label}`, oldMeta ? [{ op: 'writeMeta', pin: pins.meta, meta: oldMeta }] : [], () =>
      writeMeta(pins.meta, { ...chainMeta(ctx, c), ...(attachedMode ? { attachedMode } : {}) }),
    );
  });
  for (const name of oldMiddle) {
    ctx.release.push({ description: `release ${name} (prog ${instance(c, name).live!.progId})`, dir: instance(c, name).live!.pinDir });
  }
  for (const ic of c.instances) {
    if (ic.action === 'delete' && !oldMiddle.includes(ic.name)) {
      ctx.release.push({ description: `release ${ic.name}`, dir: ic.live!.pinDir });
    }
  }
}

/** Writes the changed entries of a live instance's maps (shared with its clone, if any). */
function updateMapsInPlace(ctx: Ctx, c: ChainChange, ic: InstanceChange, cloneDir: string | undefined): void {
  const metaDir = cloneDir ?? ic.live!.pinDir;
  const metaPin = instancePins(metaDir).meta;
  for (const mc of ic.mapChanges) {
    const pin = instancePins(ic.live!.pinDir).map(mc.map);
    // Additions and changes land before removals: while the update runs, a packet sees
    // the old entries plus the new ones, never a set smaller than both (docs/parameters.md).
    const changes = [...mc.entries.filter((e) => e.op !== 'remove'), ...mc.entries.filter((e) => e.op === 'remove')].map((e) => ({
      key: e.key,
      value: e.op === 'remove' ? null : e.value!,
    }));
    const previous = currentValues(pin, changes.map((x) => x.key));
    step(ctx, `update ${mc.map} of ${ic.name} on ${attachmentLabel(c.attachment)} (${changes.length} entries)`, [{ op: 'writeEntries', map: pin, entries: previous }], () =>
      writeEntries(pin, changes),
    );
  }
  const meta = instanceMeta(metaDir);
  const appliedMaps = { ...meta.appliedMaps };
  for (const mc of ic.mapChanges) appliedMaps[mc.map] = digestEntries(ic.desired!.maps[mc.map]?.entries ?? ([] as MapEntry[]));
  step(ctx, `record map digests of ${ic.name}`, [{ op: 'writeMeta', pin: metaPin, meta }], () => writeMeta(metaPin, { ...meta, appliedMaps }));
}

function currentValues(pin: string, keys: string[]): { key: string; value: string | null }[] {
  return withFd(openPinned(pin), (fd) => {
    const h = new MapHandle(fd, mapInfoByFd(fd), pin);
    return keys.map((key) => ({ key, value: h.lookup(Buffer.from(key, 'hex'))?.toString('hex') ?? null }));
  });
}

function instance(c: ChainChange, name: string): InstanceChange {
  const ic = c.instances.find((i) => i.name === name);
  if (!ic) throw new KfnError('PLAN_INVALID', `plan for ${attachmentLabel(c.attachment)} has no instance "${name}"`);
  return ic;
}

function instanceMeta(instancePinDir: string): InstanceMeta {
  const pin = instancePins(instancePinDir).meta;
  const meta = readMeta(pin);
  if (!meta || meta.kind !== 'instance') throw new KfnError('STATE_CORRUPT', `metadata ${pin} is missing or unreadable`);
  return meta;
}
