/**
 * The tail-call form's steps and undo operations as plain data, expressed with pin
 * paths only (never fds), so that a plan can be saved and a journal replayed by a later
 * process after a crash. Undo operations are idempotent.
 *
 * Plans and journals come back from files: checkOp / checkUndo refuse any operation
 * whose paths are not kfn's own (inside `<pinRoot>/chains`, of the layout's shape for
 * that operand, no symlink on the way) before anything runs. Kernel objects met on the
 * way are checked again when used (a slot must be a program array, a meta pin kfn's
 * metadata map, a re-pinned program the one its pinned maps say).
 */
import fs from 'node:fs';
import { KfnError } from '../../core/errors.js';
import type { Attachment, Hook, PlannedStep, TcPosition, XdpMode } from '../../core/types.js';
import { HOOKS } from '../../core/types.js';
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
  type LoadInstanceArgs,
} from './kernel.js';
import { NEXT_MAP, chainDir, chainPins, pathProblem, type PinKind } from './layout.js';
import { putMeta, readMeta, writeMeta, type ChainMeta, type Meta } from './meta.js';

/** Chain metadata as compiled into a plan; apply stamps the time and the XDP mode in use. */
export type RecordedChainMeta = Omit<ChainMeta, 'updatedAt'> & { updatedAt?: string };

export type LoadInstanceOp = { op: 'load-instance' } & LoadInstanceArgs;

interface AttachFields {
  dir: string;
  attachment: Attachment;
  mode: XdpMode;
  position: TcPosition;
  meta: RecordedChainMeta;
}

export type TailcallOp =
  /** `aside`: the slot of a root that is gone is renamed root_next_old first (see loadRoot). */
  | { op: 'load-root'; dir: string; hook: Hook; meta: RecordedChainMeta; aside?: boolean }
  | LoadInstanceOp
  | { op: 'set-slot'; slot: string; prog: string | null }
  | { op: 'write-entries'; map: string; entries: { key: string; value: string | null }[] }
  | { op: 'patch-applied-maps'; pin: string; appliedMaps: Record<string, string> }
  | { op: 'write-chain-meta'; pin: string; meta: RecordedChainMeta }
  | ({ op: 'attach' } & AttachFields)
  /** Detach (if attached) and attach again, e.g. for a new XDP mode or tc position. */
  | ({ op: 'reattach' } & AttachFields)
  /** Re-pin the root that kfn's link runs (its pin was removed). */
  | { op: 'pin-link-prog'; link: string; pin: string; hook: Hook }
  /** Re-pin a program's own kfn_next array (its pin was removed, so the kernel emptied it). */
  | { op: 'pin-prog-slot'; prog: string; slot: string }
  /** Re-pin an instance's program by id, checked against the instance's pinned kfn_next. */
  | { op: 'pin-instance-prog'; pin: string; progId: number; next: string }
  /** Re-pin an instance's maps by the ids kfn recorded, checked against its program (identified by its pinned kfn_next). */
  | { op: 'pin-instance-maps'; dir: string; progId: number; maps: Record<string, number> }
  /** Move a chain's pins to the directory of its interface's new name. */
  | { op: 'move-chain'; from: string; to: string }
  | { op: 'release'; dir: string }
  /** Release phase: remove one pin (a dead root's slot set aside). */
  | { op: 'unpin'; pin: string };

export type UndoOp =
  /** Remove a pin directory (a freshly loaded instance or chain), and with `stopAt` the parents left empty. */
  | { op: 'unpinTree'; dir: string; stopAt?: string }
  /** Point a one-slot program array at a pinned program, or empty it. */
  | { op: 'setSlot'; slot: string; prog: string | null }
  /** Put a program kfn did not pin back into a slot, if that id is still that program. */
  | { op: 'setSlotId'; slot: string; progId: number; tag: string; name: string }
  /** Detach a chain's root link and remove the link pin. */
  | { op: 'detachRoot'; chainDir: string }
  /** Restore map entries: value null deletes the key (hex strings). */
  | { op: 'writeEntries'; map: string; entries: { key: string; value: string | null }[] }
  | { op: 'writeMeta'; pin: string; meta: Meta }
  /** Attach a chain's (still pinned) root again. */
  | { op: 'attachRoot'; chainDir: string; attachment: Attachment; mode: XdpMode; position: TcPosition }
  /** Remove a pin that a repair step made (the object stays with its other holders). */
  | { op: 'removePin'; pin: string }
  | { op: 'moveChain'; from: string; to: string }
  /** Undo load-root(aside): the new root's pins go, the old slot gets its name back. */
  | { op: 'restoreRoot'; dir: string };

function stamped(meta: RecordedChainMeta, ctx: RunContext, attachedMode?: 'native' | 'generic'): ChainMeta {
  const m: ChainMeta = { ...meta, updatedAt: ctx.now().toISOString() };
  if (attachedMode) m.attachedMode = attachedMode;
  return m;
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
    case 'patch-applied-maps': {
      const meta = readMeta(op.pin);
      if (!meta || meta.kind !== 'instance') throw new KfnError('STATE_CORRUPT', `metadata ${op.pin} is missing or unreadable`, { hint: 'run kfn plan: it reports the damage' });
      return writeMeta(op.pin, { ...meta, appliedMaps: op.appliedMaps });
    }
    case 'write-chain-meta':
      return putMeta(op.pin, stamped(op.meta, ctx, (op.meta as ChainMeta).attachedMode));
    case 'attach': {
      const mode = attachRoot(op.dir, op.attachment, op.mode, op.position);
      return putMeta(chainPins(op.dir).meta, stamped(op.meta, ctx, mode));
    }
    case 'reattach': {
      detachRoot(op.dir);
      const mode = attachRoot(op.dir, op.attachment, op.mode, op.position);
      return putMeta(chainPins(op.dir).meta, stamped(op.meta, ctx, mode));
    }
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
    case 'release':
      return releaseDir(op.dir, ctx.pinRoot);
    case 'unpin':
      return unpin(op.pin);
  }
}

export function runUndo(op: UndoOp, ctx: RunContext): void {
  switch (op.op) {
    case 'unpinTree':
      return op.stopAt ? unpinTreeAndEmptyParents(op.dir, op.stopAt) : unpinTree(op.dir);
    case 'setSlot':
      return setSlot(op.slot, op.prog);
    case 'setSlotId':
      return setSlotById(op.slot, op.progId, op.tag, op.name);
    case 'detachRoot':
      return detachRoot(op.chainDir);
    case 'writeEntries':
      return writeEntries(op.map, op.entries);
    case 'writeMeta':
      return writeMeta(op.pin, op.meta);
    case 'attachRoot':
      // Idempotent: a root whose link is still pinned is still attached.
      if (!fs.existsSync(chainPins(op.chainDir).link)) attachRoot(op.chainDir, op.attachment, op.mode, op.position);
      return;
    case 'removePin':
      return unpin(op.pin);
    case 'moveChain':
      return moveChainDir(op.from, op.to, ctx.pinRoot);
    case 'restoreRoot':
      return restoreRoot(op.dir);
  }
}

export function describeUndo(op: UndoOp): string {
  switch (op.op) {
    case 'unpinTree':
      return `remove ${op.dir}`;
    case 'setSlot':
      return `point ${op.slot} at ${op.prog ?? 'nothing'}`;
    case 'setSlotId':
      return `point ${op.slot} at program ${op.progId} (${op.name}) again`;
    case 'detachRoot':
      return `detach ${op.chainDir}`;
    case 'writeEntries':
      return `restore ${op.entries.length} entries of ${op.map}`;
    case 'writeMeta':
      return `restore ${op.pin}`;
    case 'attachRoot':
      return `attach ${op.chainDir} again`;
    case 'removePin':
      return `unpin ${op.pin}`;
    case 'moveChain':
      return `move ${op.from} back to ${op.to}`;
    case 'restoreRoot':
      return `remove the new root of ${op.dir}`;
  }
}

// ---------------------------------------------------------------- checks

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHex = (v: unknown): boolean => typeof v === 'string' && /^(?:[0-9a-f]{2})*$/.test(v);
const isId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;

type Check = string | undefined;

function first(...checks: (() => Check)[]): Check {
  for (const c of checks) {
    const bad = c();
    if (bad) return bad;
  }
  return undefined;
}

function entriesProblem(v: unknown): Check {
  if (!Array.isArray(v) || !v.every((e) => isObj(e) && isHex(e.key) && (e.value === null || isHex(e.value)))) return 'its entries are not hex key/value pairs';
  return undefined;
}

function attachmentProblem(pinRoot: string, dir: unknown, a: unknown): Check {
  if (!isObj(a) || typeof a.netns !== 'string' || typeof a.ifname !== 'string' || !(HOOKS as readonly unknown[]).includes(a.hook)) return 'its attachment is malformed';
  // The directory is derived from the attachment, never taken on trust.
  if (dir !== chainDir(pinRoot, a as unknown as Attachment)) return `${String(dir)} is not the pin directory of ${a.netns}/${a.ifname}/${String(a.hook)}`;
  return undefined;
}

const PROG_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['instance-pin'], 'prog');
const SLOT_PIN = (pinRoot: string, p: unknown): Check =>
  pathProblem(pinRoot, p, ['chain-pin', 'instance-pin']) ?? (typeof p === 'string' && (p.endsWith('/root_next') || p.endsWith(`/${NEXT_MAP}`)) ? undefined : `${String(p)} is not a slot`);
const META_PIN = (pinRoot: string, p: unknown): Check => pathProblem(pinRoot, p, ['chain-pin', 'instance-pin'], 'meta');
const DIRS: PinKind[] = ['chain-dir', 'instance-dir'];

/** Why a step (from a saved plan or a journal) may not run under `pinRoot`, or undefined. */
export function checkOp(v: unknown, pinRoot: string): Check {
  if (!isObj(v)) return 'its operation is not an object';
  const op = v as Record<string, unknown>;
  switch (op.op) {
    case 'load-root':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir']),
        () => ((HOOKS as readonly unknown[]).includes(op.hook) && isObj(op.meta) ? undefined : 'its hook or metadata is malformed'),
      );
    case 'load-instance': {
      const d = op.desired as Record<string, unknown> | undefined;
      const share = op.share as { maps?: unknown } | undefined;
      const carry = op.carry as { maps?: unknown; keep?: unknown } | undefined;
      const maps = [...(Array.isArray(share?.maps) ? share.maps : share ? [null] : []), ...(Array.isArray(carry?.maps) ? carry.maps : carry ? [null] : [])];
      return first(
        () => pathProblem(pinRoot, op.dir, ['instance-dir']),
        () => (op.successor === null ? undefined : PROG_PIN(pinRoot, op.successor)),
        () => (isObj(d) && typeof d.objectPath === 'string' && d.objectPath.startsWith('/') && isObj(d.identity) && isObj(d.maps) ? undefined : 'its desired instance is malformed'),
        () => maps.map((m) => (isObj(m) && typeof m.name === 'string' ? pathProblem(pinRoot, m.pin, ['map-pin']) : 'a shared map is malformed')).find(Boolean),
      );
    }
    case 'set-slot':
      return first(
        () => SLOT_PIN(pinRoot, op.slot),
        () => (op.prog === null ? undefined : PROG_PIN(pinRoot, op.prog)),
      );
    case 'write-entries':
      return first(
        () => pathProblem(pinRoot, op.map, ['map-pin']),
        () => entriesProblem(op.entries),
      );
    case 'patch-applied-maps':
      return pathProblem(pinRoot, op.pin, ['instance-pin'], 'meta');
    case 'write-chain-meta':
      return first(
        () => pathProblem(pinRoot, op.pin, ['chain-pin'], 'meta'),
        () => (isObj(op.meta) && op.meta.kind === 'chain' ? undefined : 'its metadata is malformed'),
      );
    case 'attach':
    case 'reattach':
      return first(
        () => pathProblem(pinRoot, op.dir, ['chain-dir']),
        () => attachmentProblem(pinRoot, op.dir, op.attachment),
        () => (isObj(op.meta) ? undefined : 'its metadata is malformed'),
      );
    case 'pin-link-prog':
      return first(
        () => pathProblem(pinRoot, op.link, ['chain-pin'], 'link'),
        () => pathProblem(pinRoot, op.pin, ['chain-pin'], 'root'),
        () => ((HOOKS as readonly unknown[]).includes(op.hook) ? undefined : 'its hook is malformed'),
      );
    case 'pin-prog-slot':
      return first(
        () => pathProblem(pinRoot, op.prog, ['chain-pin', 'instance-pin']),
        () => SLOT_PIN(pinRoot, op.slot),
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
    case 'release':
      return pathProblem(pinRoot, op.dir, DIRS);
    case 'unpin':
      return pathProblem(pinRoot, op.pin, ['chain-pin'], 'root_next_old');
    default:
      return `${JSON.stringify(op.op)} is not an operation of the tailcall form`;
  }
}

/** Why an undo operation (from a saved plan or a journal) may not run under `pinRoot`, or undefined. */
export function checkUndo(v: unknown, pinRoot: string): Check {
  if (!isObj(v)) return 'an undo operation is not an object';
  const op = v as Record<string, unknown>;
  switch (op.op) {
    case 'unpinTree':
      return first(
        () => pathProblem(pinRoot, op.dir, DIRS),
        () => (op.stopAt === undefined || op.stopAt === pinRoot ? undefined : `it stops at ${String(op.stopAt)}, not at the pin root`),
      );
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
      return pathProblem(pinRoot, op.chainDir, ['chain-dir']);
    case 'writeEntries':
      return first(
        () => pathProblem(pinRoot, op.map, ['map-pin']),
        () => entriesProblem(op.entries),
      );
    case 'writeMeta':
      return first(
        () => META_PIN(pinRoot, op.pin),
        () => (isObj(op.meta) && (op.meta.kind === 'chain' || op.meta.kind === 'instance') ? undefined : 'its metadata is malformed'),
      );
    case 'attachRoot':
      return first(
        () => pathProblem(pinRoot, op.chainDir, ['chain-dir']),
        () => attachmentProblem(pinRoot, op.chainDir, op.attachment),
      );
    case 'removePin':
      return pathProblem(pinRoot, op.pin, ['chain-pin', 'instance-pin', 'map-pin']);
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

/** A whole planned step: its phase and kind, its operation, and each of its undo operations. */
export function checkStep(step: PlannedStep, pinRoot: string): Check {
  if (!isObj(step) || !['prepare', 'commit', 'release'].includes(step.phase as string) || typeof step.description !== 'string') return 'the step is malformed';
  if (!Array.isArray(step.undo)) return 'its undo operations are not a list';
  return checkOp(step.op, pinRoot) ?? step.undo.map((u) => checkUndo(u, pinRoot)).find(Boolean);
}
