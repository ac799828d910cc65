/**
 * Every command that reads or changes kernel state first finishes what an
 * interrupted apply left behind (see apply/journal.ts); changes run under the lock.
 */
import fs from 'node:fs';
import { KfnError } from '../core/errors.js';
import { acquireLock, type Lock } from '../apply/lock.js';
import { journalPath, recover, type RecoveryReport } from '../apply/journal.js';
import type { Context } from './context.js';

function report(r: RecoveryReport): void {
  const what =
    r.phase === 'apply'
      ? `undid ${r.undone.length} step(s); the kernel is back to the state before that apply`
      : `finished its cleanup (${r.released.length} pin director${r.released.length === 1 ? 'y' : 'ies'} released)`;
  process.stderr.write(`kfn: recovered an interrupted apply (pid ${r.pid}, ${r.command}, started ${r.startedAt}): ${what}.\n`);
}

/** Runs recovery if a journal exists. Read-only commands skip it while an apply is running. */
export function recoverIfNeeded(ctx: Context, opts: { lock?: Lock } = {}): void {
  if (!fs.existsSync(journalPath(ctx.paths.stateDir))) return;
  let lock = opts.lock;
  if (!lock) {
    try {
      lock = acquireLock(ctx.paths.stateDir, 'recover');
    } catch (e) {
      if (e instanceof KfnError && e.code === 'LOCKED') {
        ctx.log.warn('an apply is in progress; the live state may be changing');
        return;
      }
      throw e;
    }
  }
  try {
    const r = recover(ctx.paths.stateDir);
    if (r) report(r);
  } finally {
    if (!opts.lock) lock.release();
  }
}

/** Runs `fn` holding the apply lock, after recovery. */
export async function withApplyLock<T>(ctx: Context, command: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = acquireLock(ctx.paths.stateDir, command, timeoutMs);
  try {
    recoverIfNeeded(ctx, { lock });
    return await fn();
  } finally {
    lock.release();
  }
}

/** "500ms", "30s", "2m" or a number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new KfnError('USAGE', `invalid duration "${text}" (examples: 500ms, 30s, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}
