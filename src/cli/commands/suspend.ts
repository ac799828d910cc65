/** `kfn suspend` / `kfn resume`: hold a stack's reconcile agent (visible in kfn status). */
import os from 'node:os';
import type { Context } from '../context.js';
import { KfnError } from '../../core/errors.js';
import { listStatuses, listSuspensions, resume, suspend } from '../../agent/status.js';

/** The stack named, or the only one an agent recorded on this host. */
function whichStack(stack: string | undefined, known: string[]): string {
  if (stack !== undefined) return stack;
  if (known.length === 1) return known[0]!;
  throw new KfnError('USAGE', known.length ? `several stacks are reconciled on this host (${known.join(', ')}): say which` : 'no reconcile agent has recorded a stack on this host', {
    hint: 'pass --stack NAME (kfn status lists the stacks)',
  });
}

export function suspendCommand(ctx: Context, flags: { stack?: string; reason?: string }): number {
  const stack = whichStack(flags.stack, listStatuses(ctx.paths.stateDir).map((s) => s.stack));
  const by = `${os.userInfo().username}@${os.hostname()} (pid ${process.pid})`;
  suspend(ctx.paths.stateDir, { stack, since: new Date().toISOString(), by, ...(flags.reason ? { reason: flags.reason } : {}) });
  process.stdout.write(`Stack "${stack}" suspended: its reconcile agent changes nothing until kfn resume --stack ${JSON.stringify(stack)}.\n`);
  return 0;
}

export function resumeCommand(ctx: Context, flags: { stack?: string }): number {
  const stack = whichStack(flags.stack, [...new Set(listSuspensions(ctx.paths.stateDir).map((s) => s.stack))]);
  const was = resume(ctx.paths.stateDir, stack);
  process.stdout.write(was ? `Stack "${stack}" resumed: its agent reconciles again from its next round.\n` : `Stack "${stack}" was not suspended.\n`);
  return 0;
}
