/**
 * The tail-call form's steps and undo operations as plain data, expressed with pin
 * paths only (never fds), so that a plan can be saved and a journal replayed by a later
 * process after a crash. Undo operations are idempotent.
 */
import fs from 'node:fs';
import { KfnError } from '../../core/errors.js';
import type { Attachment, Hook, ProceedVerdict, TcPosition, XdpMode } from '../../core/types.js';
import { HOOKS, PROCEED_MAP, PROCEED_VERDICTS } from '../../core/types.js';
import { unpin, unpinTree, unpinTreeAndEmptyParents } from '../../libbpf/index.js';
import type { RunContext } from '../form.js';
import {
  detachRoot,
  loadInstance,
  loadRoot,
  moveChainDir,
  pinInstanceMaps,
  pinInstanceProgram,
  pinLinkProgram,
  pinProgramSlot,
  releaseDir,
  restoreRoot,
  setSlot,
  setSlotById,
  writeEntries,
  type LoadInstanceArgs,
} from './kernel.js';
import { NEXT_MAP, chainDir, chainPins, pathProblem } from './layout.js';
import { putMeta, readMeta, writeMeta, type ChainMeta, type InstanceMeta, type Meta, type ProbeMeta, type StackMeta } from './meta.js';
import { attachRoot, type Attached } from './attach.js';
import { attacherOf } from './attacher.js';
import { attachProbe, detachProbe, loadProbe, releaseProbe, type AttachProbeArgs, type LoadProbeArgs } from './probe-kernel.js';
import { writeProceedOn } from './proceed.js';

/** Chain metadata as compiled into a plan; apply stamps the time, the XDP mode and the interface in use. */
export type RecordedChainMeta = Omit<ChainMeta, 'updatedAt'> & { updatedAt?: string };
export type RecordedStackMeta = Omit<StackMeta, 'appliedAt'>;

/** A stack's record as it is after the plan (null: the stack has no chain left, the record goes). */
export interface StackWrite {
  pin: string;
  meta: RecordedStackMeta | null;
}

export type LoadInstanceOp = { op: 'load-instance' } & LoadInstanceArgs;

interface AttachFields {
  dir: string;
  attachment: Attachment;
  mode: XdpMode;
  position: TcPosition;
  meta: RecordedChainMeta;
  stack?: StackWrite;
}

export type TailcallOp =
  /** `aside`: the chain's root is gone; its slot is renamed root_next_old first (see loadRoot). */
  | { op: 'load-root'; dir: string; hook: Hook; meta: RecordedChainMeta; aside?: boolean }
  | LoadInstanceOp
  /** With `stack`: the write that puts a new chain live, and its stack's record. */
  | { op: 'set-slot'; slot: string; prog: string | null; stack?: StackWrite }
  | { op: 'write-entries'; map: string; entries: { key: string; value: string | null }[] }
  | { op: 'patch-applied-maps'; pin: string; appliedMaps: Record<string, string> }
  /** Write an instance's proceed-on word (`pin`: its kfn_proceed). */
  | { op: 'write-proceed-on'; pin: string; proceedOn: ProceedVerdict[] }
  /** Record the proceed-on written in the instance's metadata (`pin`: its meta). */
  | { op: 'patch-proceed-on'; pin: string; proceedOn: ProceedVerdict[] }
  | { op: 'write-chain-meta'; pin: string; meta: RecordedChainMeta; stack?: StackWrite }
  | ({ op: 'attach' } & AttachFields)
  /** Detach (if attached) and attach again, e.g. for a new XDP mode or tc position. */
  | ({ op: 'reattach' } & AttachFields)
  /** Release a chain (its root detached) or an instance directory. */
  | { op: 'release'; dir: string; stack?: StackWrite }
  /** Record the stack that owns a probe in its metadata (`pin`: its meta). */
  | { op: 'patch-probe-stack'; pin: string; stack: string }
  /** Load a probe's program and maps (nothing attached). */
  | ({ op: 'probe-load' } & LoadProbeArgs)
  /** Make a probe's perf-event link and pin it. */
  | ({ op: 'probe-attach' } & AttachProbeArgs)
  /** Detach a probe and remove its directory (release phase). */
  | { op: 'probe-release'; dir: string }
  /** Re-pin the root that kfn's link runs (its pin was removed). */
  | { op: 'pin-link-prog'; link: string; pin: string; hook: Hook }
  /** Re-pin a program's own slot array (its pin was removed, so the kernel emptied it). */
  | { op: 'pin-prog-slot'; prog: string; slot: string }
  /** Re-pin an instance's program by id, checked against the instance's pinned kfn_next. */
  | { op: 'pin-instance-prog'; pin: string; progId: number; next: string }
  /** Re-pin an instance's maps by the ids kfn recorded, checked against its program (identified by its pinned kfn_next). */
  | { op: 'pin-instance-maps'; dir: string; progId: number; maps: Record<string, number> }
  /** Move a chain's pins to the directory of its interface's new name. */
  | { op: 'move-chain'; from: string; to: string }
  /** Release phase: remove one pin (a dead root's slot set aside). */
  | { op: 'unpin'; pin: string };

export type UndoOp =
  /** Remove a pin directory (a freshly loaded instance or chain), and with `stopAt` the parents left empty. */
  | { op: 'unpinTree'; dir: string; stopAt?: string }
  /** Remove one pin (a freshly made record). */
  | { op: 'unpin'; pin: string }
  /** Point a one-slot program array at a pinned program, or empty it. */
  | { op: 'setSlot'; slot: string; prog: string | null }
  /** Put a program kfn did not pin back into a slot, if that id is still that program. */
  | { op: 'setSlotId'; slot: string; progId: number; tag: string; name: string }
  | { op: 'moveChain'; from: string; to: string }
  /** Undo load-root(aside): the new root's pins go, the old slot gets its name back. */
  | { op: 'restoreRoot'; dir: string }
  /** Detach a chain's root link and remove the link pin. */
  | { op: 'detachRoot'; chainDir: string }
  /**
   * The same for a chain this apply creates: its directory is new, so no link is pinned
   * there unless its own attach ran, and the detach is harmless when it did not.
   */
  | { op: 'detachCreated'; chainDir: string }
  /** Restore map entries: value null deletes the key (hex strings). */
  | { op: 'writeEntries'; map: string; entries: { key: string; value: string | null }[] }
  | { op: 'writeMeta'; pin: string; meta: Meta }
  | { op: 'writeProceedOn'; pin: string; proceedOn: ProceedVerdict[] }
  /** Attach a chain's (still pinned) root again. */
  | { op: 'attachRoot'; chainDir: string; attachment: Attachment; mode: XdpMode; position: TcPosition }
  /** Remove a probe's link (it is released with its pin). */
  | { op: 'probeDetach'; dir: string };

function stamped(meta: RecordedChainMeta, ctx: RunContext, attached?: Attached): ChainMeta {
  const m: ChainMeta = { ...meta, updatedAt: ctx.now().toISOString() };
  if (attached?.mode) m.attachedMode = attached.mode;
  if (attached) m.ifindex = attached.ifindex;
  return m;
}

/** A chain's step also leaves its stack's record as the plan says (stamped with the apply time). */
function writeStack(w: StackWrite | undefined, ctx: RunContext): void {
  if (!w) return;
  if (w.meta === null) unpin(w.pin);
  else putMeta(w.pin, { ...w.meta, appliedAt: ctx.now().toISOString() });
}

function instanceMeta(pin: string): InstanceMeta | ProbeMeta {
  const meta = readMeta(pin);
  if (!meta || (meta.kind !== 'instance' && meta.kind !== 'probe')) throw new KfnError('STATE_CORRUPT', `metadata ${pin} is missing or unreadable`, { hint: 'run kfn plan: it reports the damage' });
  return meta;
}

export function runOp(op: TailcallOp, ctx: RunContext): void {
  switch (op.op) {
    case 'load-root':
      return loadRoot(op.dir, op.hook, stamped(op.meta, ctx), ctx.objects, op.aside === true);
    case 'load-instance':
      return void loadInstance(op, ctx);
    case 'set-slot':
      setSlot(op.slot, op.prog);
      return writeStack(op.stack, ctx);
    case 'write-entries':
      return writeEntries(op.map, op.entries);
    case 'patch-applied-maps':
      return writeMeta(op.pin, { ...instanceMeta(op.pin), appliedMaps: op.appliedMaps });
    case 'write-proceed-on':
      return writeProceedOn(op.pin, op.proceedOn);
    case 'patch-proceed-on': {
      const meta = instanceMeta(op.pin);
      if (meta.kind !== 'instance') throw new KfnError('STATE_CORRUPT', `metadata ${op.pin} is not a function instance's`, { hint: 'run kfn plan: it reports the damage' });
      return writeMeta(op.pin, { ...meta, proceedOn: op.proceedOn });
    }
    case 'write-chain-meta':
      putMeta(op.pin, stamped(op.meta, ctx));
      return writeStack(op.stack, ctx);
    case 'attach': {
      const recorded = (attached: Attached): void => {
        writeMeta(chainPins(op.dir).meta, stamped(op.meta, ctx, attached));
        writeStack(op.stack, ctx);
      };
      const { dir, attachment, mode, position } = op;
      // tcx attaches do not wait in the kernel; XDP ones do (attacher.ts).
      if (ctx.background && attachment.hook === 'xdp') return attacherOf(ctx).attach({ dir, attachment, mode, position }, recorded);
      return recorded(attachRoot(dir, attachment, mode, position));
    }
    case 'reattach': {
      detachRoot(op.dir);
      const attached = attachRoot(op.dir, op.attachment, op.mode, op.position);
      putMeta(chainPins(op.dir).meta, stamped(op.meta, ctx, attached));
      return writeStack(op.stack, ctx);
    }
    case 'release':
      releaseDir(op.dir, ctx.pinRoot);
      return writeStack(op.stack, ctx);
    case 'patch-probe-stack': {
      const meta = instanceMeta(op.pin);
      if (meta.kind !== 'probe') throw new KfnError('STATE_CORRUPT', `metadata ${op.pin} is not a probe's`, { hint: 'run kfn plan: it reports the damage' });
      return writeMeta(op.pin, { ...meta, stack: op.stack });
    }
    case 'probe-load':
      return loadProbe(op, ctx);
    case 'probe-attach':
      return attachProbe(op, ctx.now());
    case 'probe-release':
      return releaseProbe(op.dir, ctx.pinRoot);
    case 'pin-link-prog':
      return pinLinkProgram(op.link, op.pin, op.hook);
    case 'pin-prog-slot':
      return pinProgramSlot(op.prog, op.slot);
    case 'pin-instance-prog':
      return pinInstanceProgram(op.pin, op.progId, op.next);
    case 'pin-instance-maps':
      return pinInstanceMaps(op.dir, op.progId, op.maps);
    case 'move-chain':
      return moveChainDir(op.from, op.to, ctx.pinRoot);
    case 'unpin':
      return unpin(op.pin);
  }
}

export function runUndo(op: UndoOp, ctx: RunContext): void {
  switch (op.op) {
    case 'unpinTree':
      return op.stopAt ? unpinTreeAndEmptyParents(op.dir, op.stopAt) : unpinTree(op.dir);
    case 'unpin':
      return unpin(op.pin);
    case 'setSlot':
      return setSlot(op.slot, op.prog);
    case 'setSlotId':
      return setSlotById(op.slot, op.progId, op.tag, op.name);
    case 'moveChain':
      return moveChainDir(op.from, op.to, ctx.pinRoot);
    case 'restoreRoot':
      return restoreRoot(op.dir);
    case 'detachRoot':
    case 'detachCreated':
      return detachRoot(op.chainDir);
    case 'writeEntries':
      return writeEntries(op.map, op.entries);
    case 'writeMeta':
      return putMeta(op.pin, op.meta);
    case 'writeProceedOn':
      return writeProceedOn(op.pin, op.proceedOn);
    case 'attachRoot':
      // Idempotent: a root whose link is still pinned is still attached.
      if (!fs.existsSync(chainPins(op.chainDir).link)) attachRoot(op.chainDir, op.attachment, op.mode, op.position);
      return;
    case 'probeDetach':
      return detachProbe(op.dir);
  }
}

/**
 * The compiler makes removals (unpinTree, unpin, detachCreated) the undo only of what a
 * step creates where nothing was: a fresh directory, a record or pin that is missing, the
 * link of a new chain. Every other undo puts something back as it was, which is only
 * right once its step ran.
 */
export function independentUndo(op: UndoOp): boolean {
  return op.op === 'unpinTree' || op.op === 'unpin' || op.op === 'detachCreated';
}

export function describeUndo(op: UndoOp): string {
  switch (op.op) {
    case 'unpinTree':
      return `remove ${op.dir}`;
    case 'unpin':
      return `remove ${op.pin}`;
    case 'setSlot':
      return `point ${op.slot} at ${op.prog ?? 'nothing'}`;
    case 'setSlotId':
      return `point ${op.slot} at program ${op.progId} (${op.name}) again`;
    case 'moveChain':
      return `move ${op.from} back to ${op.to}`;
    case 'restoreRoot':
      return `remove the new root of ${op.dir}`;
    case 'detachRoot':
    case 'detachCreated':
      return `detach ${op.chainDir}`;
    case 'writeEntries':
      return `restore ${op.entries.length} entries of ${op.map}`;
    case 'writeMeta':
      return `restore ${op.pin}`;
    case 'writeProceedOn':
      return `set ${op.pin} to [${op.proceedOn.join(', ')}]`;
    case 'attachRoot':
      return `attach ${op.chainDir} again`;
    case 'probeDetach':
      return `detach probe ${op.dir}`;
  }
}

// ---------------------------------------------------------------- checks
//
// Plans and journals come back from files: checkOp / checkUndo refuse any operation
// whose paths are not kfn's own (under the pin root, of the layout's shape for that
// operand, no symlink on the way) before anything runs. Kernel objects met on the way
// are checked again when used (a slot must be a program array, a re-pinned program the
// one its pinned maps say, a foreign program put back the one that sat there).

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHex = (v: unknown): boolean => typeof v === 'string' && /^(?:[0-9a-f]{2})*$/.test(v);
const isId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
const isHook = (v: unknown): boolean => (HOOKS as readonly unknown[]).includes(v);
const isVerdicts = (v: unknown): boolean => Array.isArray(v) && v.every((x) => (PROCEED_VERDICTS as readonly unknown[]).includes(x));

type Check = string | undefined;

function first(...checks: (() => Check)[]): Check {
  for (const c of checks) {
    const bad = c();
    if (bad) return bad;
  }
  return undefined;
}

const entriesProblem = (v: unknown): Check =>
  Array.isArray(v) && v.every((e) => isObj(e) && isHex(e.key) && (e.value === null || isHex(e.value))) ? undefined : 'its entries are not hex key/value pairs';

function attachmentProblem(pinRoot: string, dir: unknown, a: unknown): Check {
  if (!isObj(a) || typeof a.netns !== 'string' || typeof a.ifname !== 'string' || !isHook(a.hook)) return 'its attachment is malformed';
  // The directory is derived from the attachment, never taken on trust.
  if (dir !== chainDir(pinRoot, a as unknown as Attachment)) return `${String(dir)} is not the pin directory of ${a.netns}/${a.ifname}/${String(a.hook)}`;
  return undefined;
}

function stackProblem(pinRoot: string, w: unknown): Check {
  if (w === undefined) return undefined;
  if (!isObj(w)) return 'its stack record is malformed';
  return first(
    () => pathProblem(pinRoot, w.pin, ['stack-pin']),
    () => (w.meta === null || (isObj(w.meta) && w.meta.kind === 'stack') ? undefined : 'its stack record is malformed'),
  );
}

const PROG_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['instance-pin'], 'prog');
const SLOT_PIN = (pinRoot: string, p: unknown): Check =>
  pathProblem(pinRoot, p, ['chain-pin', 'instance-pin']) ?? (typeof p === 'string' && (p.endsWith('/root_next') || p.endsWith(`/${NEXT_MAP}`)) ? undefined : `${String(p)} is not a slot`);
const META_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['chain-pin', 'instance-pin', 'probe-pin', 'stack-pin']) ?? (typeof p === 'string' && (p.endsWith('/meta') || p.includes('/stacks/')) ? undefined : `${String(p)} is not a metadata pin`);
const PROCEED_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['instance-pin'], PROCEED_MAP);
const MAP_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['map-pin', 'probe-map-pin']);
const mapsProblem = (pinRoot: string, v: unknown): Check =>
  v === undefined ? undefined : Array.isArray(v) ? v.map((m) => (isObj(m) && typeof m.name === 'string' ? MAP_PIN(pinRoot, m.pin) : 'a shared map is malformed')).find(Boolean) : 'its shared maps are not a list';

/** Why a step's operation (from a saved plan or a journal) may not run under `pinRoot`, or undefined. */
export function checkOp(v: unknown, pinRoot: string): Check {
  if (!isObj(v)) return 'its operation is not an object';
  const op = v;
  switch (op.op) {
    case 'load-root':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir']),
        () => (isHook(op.hook) && isObj(op.meta) ? undefined : 'its hook or metadata is malformed'),
      );
    case 'load-instance': {
      const d = op.desired as Record<string, unknown> | undefined;
      const share = op.share as Record<string, unknown> | undefined;
      const carry = op.carry as Record<string, unknown> | undefined;
      return first(
        () => pathProblem(pinRoot, op.dir, ['instance-dir']),
        () => (op.successor === null ? undefined : PROG_PIN(pinRoot, op.successor)),
        () => (isObj(d) && typeof d.objectPath === 'string' && d.objectPath.startsWith('/') && isObj(d.identity) && isObj(d.maps) ? undefined : 'its desired instance is malformed'),
        () => (share === undefined || isObj(share) ? mapsProblem(pinRoot, share?.maps) : 'its shared maps are malformed'),
        () => (carry === undefined || isObj(carry) ? mapsProblem(pinRoot, carry?.maps) : 'its carried maps are malformed'),
        () =>
          share?.companions === undefined
            ? undefined
            : Array.isArray(share.companions)
              ? share.companions.map((c) => (isObj(c) ? (pathProblem(pinRoot, c.prog, ['companion-pin'], 'prog') ?? pathProblem(pinRoot, c.link, ['companion-pin'], 'link')) : 'a companion is malformed')).find(Boolean)
              : 'its companions are not a list',
      );
    }
    case 'set-slot':
      return first(
        () => SLOT_PIN(pinRoot, op.slot),
        () => (op.prog === null ? undefined : PROG_PIN(pinRoot, op.prog)),
        () => stackProblem(pinRoot, op.stack),
      );
    case 'write-entries':
      return first(
        () => MAP_PIN(pinRoot, op.map),
        () => entriesProblem(op.entries),
      );
    case 'patch-applied-maps':
      return pathProblem(pinRoot, op.pin, ['instance-pin', 'probe-pin'], 'meta');
    case 'write-proceed-on':
      return first(
        () => PROCEED_PIN(pinRoot, op.pin),
        () => (isVerdicts(op.proceedOn) ? undefined : 'its proceed-on is malformed'),
      );
    case 'patch-proceed-on':
      return first(
        () => pathProblem(pinRoot, op.pin, ['instance-pin'], 'meta'),
        () => (isVerdicts(op.proceedOn) ? undefined : 'its proceed-on is malformed'),
      );
    case 'write-chain-meta':
      return first(
        () => pathProblem(pinRoot, op.pin, ['chain-pin'], 'meta'),
        () => (isObj(op.meta) && op.meta.kind === 'chain' ? undefined : 'its metadata is malformed'),
        () => stackProblem(pinRoot, op.stack),
      );
    case 'attach':
    case 'reattach':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir']),
        () => attachmentProblem(pinRoot, op.dir, op.attachment),
        () => (isObj(op.meta) ? undefined : 'its metadata is malformed'),
        () => stackProblem(pinRoot, op.stack),
      );
    case 'release':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir', 'instance-dir']),
        () => stackProblem(pinRoot, op.stack),
      );
    case 'patch-probe-stack':
      return first(
        () => pathProblem(pinRoot, op.pin, ['probe-pin'], 'meta'),
        () => (typeof op.stack === 'string' ? undefined : 'its stack is malformed'),
      );
    case 'probe-load':
      return first(
        () => pathProblem(pinRoot, op.dir, ['probe-dir']),
        () => (isObj(op.desired) && typeof op.desired.objectPath === 'string' && op.desired.objectPath.startsWith('/') ? undefined : 'its desired probe is malformed'),
        () => (op.carry === undefined || isObj(op.carry) ? mapsProblem(pinRoot, (op.carry as Record<string, unknown> | undefined)?.maps) : 'its carried maps are malformed'),
      );
    case 'probe-attach':
      return first(
        () => pathProblem(pinRoot, op.dir, ['probe-dir']),
        () => (typeof op.name === 'string' && isObj(op.target) ? undefined : 'its probe is malformed'),
      );
    case 'probe-release':
      return pathProblem(pinRoot, op.dir, ['probe-dir']);
    case 'pin-link-prog':
      return first(
        () => pathProblem(pinRoot, op.link, ['chain-pin'], 'link'),
        () => pathProblem(pinRoot, op.pin, ['chain-pin'], 'root'),
        () => (isHook(op.hook) ? undefined : 'its hook is malformed'),
      );
    case 'pin-prog-slot':
      return first(
        () => pathProblem(pinRoot, op.prog, ['chain-pin'], 'root'),
        () => pathProblem(pinRoot, op.slot, ['chain-pin'], 'root_next'),
      );
    case 'pin-instance-prog':
      return first(
        () => PROG_PIN(pinRoot, op.pin),
        () => pathProblem(pinRoot, op.next, ['instance-pin'], NEXT_MAP),
        () => (isId(op.progId) ? undefined : 'its program id is malformed'),
      );
    case 'pin-instance-maps':
      return first(
        () => pathProblem(pinRoot, op.dir, ['instance-dir']),
        () => (isId(op.progId) ? undefined : 'its program id is malformed'),
        () => (isObj(op.maps) && Object.entries(op.maps).every(([n, id]) => n !== '' && isId(id)) ? undefined : 'its map ids are malformed'),
      );
    case 'move-chain':
      return first(
        () => pathProblem(pinRoot, op.from, ['chain-dir']),
        () => pathProblem(pinRoot, op.to, ['chain-dir']),
      );
    case 'unpin':
      return pathProblem(pinRoot, op.pin, ['chain-pin'], 'root_next_old');
    default:
      return `${JSON.stringify(op.op)} is not an operation of the tailcall form`;
  }
}

/** Why an undo operation (from a saved plan or a journal) may not run under `pinRoot`, or undefined. */
export function checkUndo(v: unknown, pinRoot: string): Check {
  if (!isObj(v)) return 'an undo operation is not an object';
  const op = v;
  switch (op.op) {
    case 'unpinTree':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir', 'instance-dir', 'probe-dir']),
        () => (op.stopAt === undefined || op.stopAt === pinRoot ? undefined : `it stops at ${String(op.stopAt)}, not at the pin root`),
      );
    case 'unpin':
      return pathProblem(pinRoot, op.pin, ['chain-pin', 'instance-pin', 'map-pin', 'stack-pin']);
    case 'setSlot':
      return first(
        () => SLOT_PIN(pinRoot, op.slot),
        () => (op.prog === null ? undefined : PROG_PIN(pinRoot, op.prog)),
      );
    case 'setSlotId':
      return first(
        () => SLOT_PIN(pinRoot, op.slot),
        () => (isId(op.progId) && typeof op.tag === 'string' && typeof op.name === 'string' ? undefined : 'its program is malformed'),
      );
    case 'detachRoot':
    case 'detachCreated':
      return pathProblem(pinRoot, op.chainDir, ['chain-dir']);
    case 'writeEntries':
      return first(
        () => MAP_PIN(pinRoot, op.map),
        () => entriesProblem(op.entries),
      );
    case 'writeMeta':
      return first(
        () => META_PIN(pinRoot, op.pin),
        () => (isObj(op.meta) && ['chain', 'instance', 'stack', 'probe'].includes(op.meta.kind as string) ? undefined : 'its metadata is malformed'),
      );
    case 'writeProceedOn':
      return first(
        () => PROCEED_PIN(pinRoot, op.pin),
        () => (isVerdicts(op.proceedOn) ? undefined : 'its proceed-on is malformed'),
      );
    case 'attachRoot':
      return first(
        () => pathProblem(pinRoot, op.chainDir, ['chain-dir']),
        () => attachmentProblem(pinRoot, op.chainDir, op.attachment),
      );
    case 'probeDetach':
      return pathProblem(pinRoot, op.dir, ['probe-dir']);
    case 'moveChain':
      return first(
        () => pathProblem(pinRoot, op.from, ['chain-dir']),
        () => pathProblem(pinRoot, op.to, ['chain-dir']),
      );
    case 'restoreRoot':
      return pathProblem(pinRoot, op.dir, ['chain-dir']);
    default:
      return `${JSON.stringify(op.op)} is not an undo operation of the tailcall form`;
  }
}

/** A whole planned step: its phase, its operation, and each of its undo operations. */
export function checkStep(step: unknown, pinRoot: string): Check {
  if (!isObj(step) || !['prepare', 'commit', 'release'].includes(step.phase as string) || typeof step.description !== 'string') return 'the step is malformed';
  if (!Array.isArray(step.undo)) return 'its undo operations are not a list';
  return checkOp(step.op, pinRoot) ?? step.undo.map((u) => checkUndo(u, pinRoot)).find(Boolean);
}
