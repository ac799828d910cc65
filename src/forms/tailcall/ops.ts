/**
 * Undo operations as plain data. Every kernel change the executor makes records the
 * operations that take it back, expressed with pin paths only (never fds), so they
 * can be written to the journal and replayed by a later process after a crash.
 */
import fs from 'node:fs';
import { unpinTree, unpinTreeAndEmptyParents } from '../libbpf/index.js';
import { chainPins } from '../state/layout.js';
import { writeMeta, type Meta } from '../state/meta.js';
import type { Attachment, TcPosition, XdpMode } from '../core/types.js';
import { attachRoot, detachRoot, setSlot, writeEntries } from './kernel.js';

export type UndoOp =
  /** Remove a pin directory (a freshly loaded instance or chain), and with `stopAt` the parents left empty. */
  | { op: 'unpinTree'; dir: string; stopAt?: string }
  /** Point a one-slot program array at a pinned program, or empty it. */
  | { op: 'setSlot'; slot: string; prog: string | null }
  /** Detach a chain's root link and remove the link pin. */
  | { op: 'detachRoot'; chainDir: string }
  /** Restore map entries: value null deletes the key (hex strings). */
  | { op: 'writeEntries'; map: string; entries: { key: string; value: string | null }[] }
  | { op: 'writeMeta'; pin: string; meta: Meta }
  /** Attach a chain's (still pinned) root again. */
  | { op: 'attachRoot'; chainDir: string; attachment: Attachment; mode: XdpMode; position: TcPosition };

export function runUndo(op: UndoOp): void {
  switch (op.op) {
    case 'unpinTree':
      return op.stopAt ? unpinTreeAndEmptyParents(op.dir, op.stopAt) : unpinTree(op.dir);
    case 'setSlot':
      return setSlot(op.slot, op.prog);
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
  }
}

export function describeUndo(op: UndoOp): string {
  switch (op.op) {
    case 'unpinTree':
      return `remove ${op.dir}`;
    case 'setSlot':
      return `point ${op.slot} at ${op.prog ?? 'nothing'}`;
    case 'detachRoot':
      return `detach ${op.chainDir}`;
    case 'writeEntries':
      return `restore ${op.entries.length} entries of ${op.map}`;
    case 'writeMeta':
      return `restore ${op.pin}`;
    case 'attachRoot':
      return `attach ${op.chainDir} again`;
  }
}
