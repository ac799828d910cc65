/**
 * The tail-call form's steps and undo operations as plain data, expressed with pin
 * paths only (never fds), so that a plan can be saved and a journal replayed by a later
 * process after a crash. Undo operations are idempotent.
 */
import fs from 'node:fs';
import { KfnError } from '../../core/errors.js';
import type { Attachment, Hook, ProceedVerdict, TcPosition, XdpMode } from '../../core/types.js';
import { unpin, unpinTree, unpinTreeAndEmptyParents } from '../../libbpf/index.js';
import type { RunContext } from '../form.js';
import {
  attachRoot,
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
  type Attached,
  type LoadInstanceArgs,
} from './kernel.js';
import { chainPins } from './layout.js';
import { putMeta, readMeta, writeMeta, type ChainMeta, type InstanceMeta, type Meta, type ProbeMeta, type StackMeta } from './meta.js';
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
  | { op: 'set-slot'; slot: string; prog: string | null }
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
      return loadRoot(op.dir, op.hook, stamped(op.meta, ctx), op.aside === true);
    case 'load-instance':
      return void loadInstance(op, ctx.now());
    case 'set-slot':
      return setSlot(op.slot, op.prog);
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
      const attached = attachRoot(op.dir, op.attachment, op.mode, op.position);
      writeMeta(chainPins(op.dir).meta, stamped(op.meta, ctx, attached));
      return writeStack(op.stack, ctx);
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
      return loadProbe(op, ctx.now());
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
