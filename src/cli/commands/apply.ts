/** `kfn apply` and `kfn destroy`: plan, confirm, execute, verify. */
import type { Context } from '../context.js';
import { loadDesired, manifestTarget, netnsOf, readLive, requireKernelAccess } from '../context.js';
import { KfnError } from '../../core/errors.js';
import type { DesiredState, LiveState, Plan } from '../../core/types.js';
import { hasChanges, liveFingerprint, plan } from '../../plan/index.js';
import { renderPlan } from '../../render/index.js';
import { executePlan, ApplyFailedError } from '../../apply/executor.js';
import { isPlanFile, loadPlan } from '../plan-file.js';
import { confirm } from '../confirm.js';
import { parseDuration, withApplyLock } from '../session.js';
import { Journal } from '../../apply/journal.js';

export interface ApplyFlags {
  autoApprove?: boolean;
  lockTimeout?: string;
}

/**
 * Test-only fault injection (docs/testing.md): KFN_TEST_FAIL_AT_STEP=N fails before
 * executor step N; KFN_TEST_KILL_AFTER_STEP=N kills the process with SIGKILL right
 * after step N. Never set them outside tests.
 */
function faultInjection(): { failAtStep?: number; afterStep?: (n: number) => void } {
  const fail = Number(process.env.KFN_TEST_FAIL_AT_STEP ?? 0);
  const kill = Number(process.env.KFN_TEST_KILL_AFTER_STEP ?? 0);
  return {
    ...(fail > 0 ? { failAtStep: fail } : {}),
    ...(kill > 0 ? { afterStep: (n: number) => void (n === kill && process.kill(process.pid, 'SIGKILL')) } : {}),
  };
}

const lockTimeoutMs = (flags: ApplyFlags): number => (flags.lockTimeout ? parseDuration(flags.lockTimeout) : 0);

export async function applyCommand(ctx: Context, target: string | undefined, flags: ApplyFlags): Promise<number> {
  if (target && isPlanFile(target)) {
    requireKernelAccess(ctx);
    return withApplyLock(ctx, 'kfn apply (saved plan)', lockTimeoutMs(flags), async () => applySavedPlan(ctx, target));
  }
  const desired = loadDesired(manifestTarget(target));
  requireKernelAccess(ctx);
  return withApplyLock(ctx, 'kfn apply', lockTimeoutMs(flags), () => {
    const live = readLive(ctx, netnsOf(desired));
    return runPlan(ctx, plan(desired, live), live, desired, flags, 'apply');
  });
}

export async function destroyCommand(ctx: Context, target: string | undefined, flags: ApplyFlags & { all?: boolean }): Promise<number> {
  requireKernelAccess(ctx);
  let scope: Set<string> | undefined;
  let desired: DesiredState | undefined;
  if (!flags.all) {
    desired = loadDesired(manifestTarget(target));
    scope = new Set(desired.chains.map((c) => c.name));
  }
  return withApplyLock(ctx, 'kfn destroy', lockTimeoutMs(flags), () => {
    const live = readLive(ctx, netnsOf(desired));
    const inScope: LiveState = { ...live, chains: live.chains.filter((c) => !scope || scope.has(c.chainName)), foreign: [] };
    const empty: DesiredState = { chains: [], manifestDigest: desired?.manifestDigest ?? '' };
    return runPlan(ctx, plan(empty, inScope), inScope, empty, flags, 'destroy');
  });
}

async function runPlan(ctx: Context, p: Plan, live: LiveState, desired: DesiredState, flags: ApplyFlags, verb: 'apply' | 'destroy'): Promise<number> {
  process.stdout.write(renderPlan(p, { color: ctx.color }) + '\n');
  if (!hasChanges(p)) return 0;
  const question = verb === 'destroy' ? '\nDo you really want to destroy these kernel functions?' : '\nDo you want to perform these actions?';
  if (!(await confirm(question, Boolean(flags.autoApprove)))) {
    process.stdout.write(`\n${verb === 'destroy' ? 'Destroy' : 'Apply'} cancelled.\n`);
    return 1;
  }
  execute(ctx, p, live);
  if (verb === 'apply') verifyConverged(ctx, desired);
  return 0;
}

function applySavedPlan(ctx: Context, file: string): number {
  const p = loadPlan(file);
  const live = readLive(ctx, planNetns(p));
  if (liveFingerprint(live) !== p.liveFingerprint) {
    throw new KfnError('PLAN_STALE', `saved plan ${file} is stale: the live kernel state changed since it was made`, { hint: 'run kfn plan again' });
  }
  process.stdout.write(renderPlan(p, { color: ctx.color }) + '\n');
  execute(ctx, p, live);
  return 0;
}

const planNetns = (p: Plan): string[] => p.changes.map((c) => c.attachment.netns);

function execute(ctx: Context, p: Plan, live: LiveState): void {
  const before = liveFingerprint(live);
  const journal = Journal.begin(ctx.paths.stateDir, process.argv.slice(1).join(' '), ctx.paths.pinRoot);
  try {
    const result = executePlan(p, { pinRoot: ctx.paths.pinRoot, recorder: journal, onStep: (s) => ctx.log.info(s), ...faultInjection() });
    journal.finish();
    for (const w of result.warnings) ctx.log.warn(w);
    const s = p.summary;
    process.stdout.write(`\nApply complete! Resources: ${s.add} added, ${s.change} changed, ${s.replace} replaced, ${s.destroy} destroyed.\n`);
  } catch (e) {
    if (!(e instanceof ApplyFailedError)) throw e;
    if (!e.rollbackErrors.length) journal.finish();
    const after = liveFingerprint(readLive(ctx, planNetns(p)));
    process.stderr.write(
      `\nApply failed after ${e.applied.length} completed step(s); rolled back ${e.undone.length} step(s) in reverse order:\n` +
        e.undone.map((s) => `  undone: ${s}${e.applied.includes(s) ? '' : ' (the step that failed)'}\n`).join('') +
        (after === before ? 'The kernel is back to the state before apply.\n' : 'WARNING: the kernel state differs from before apply; run kfn plan.\n'),
    );
    throw e;
  }
}

/** After apply, the plan must be empty; anything else is a bug worth reporting loudly. */
function verifyConverged(ctx: Context, desired: DesiredState): void {
  const again = plan(desired, readLive(ctx, netnsOf(desired)));
  if (hasChanges(again)) {
    throw new KfnError('APPLY_NOT_CONVERGED', 'apply finished but the live state still differs from the manifests', {
      hint: 'run kfn plan to see the difference; please report it',
    });
  }
  ctx.log.debug('verified: live state matches the manifests');
}
