/** `kfn apply` and `kfn destroy`: plan, confirm, then the engine executes and verifies. */
import type { Context } from '../context.js';
import { kernelEngine, manifestTarget, parseDuration, planFields, sourceFields, withLogFields } from '../context.js';
import type { DesiredState, Plan } from '../../core/types.js';
import { hostIdentity, type HostLabelFlags } from '../../core/host.js';
import { ApplyFailedError, isPlanFile, loadDesired, loadPlan, netnsOf, type Engine, type Transaction } from '../../engine/index.js';
import { hasChanges, ownedBy } from '../../plan/index.js';
import { renderPlan } from '../../views/index.js';
import { progressView } from '../../views/progress.js';
import { confirm } from '../confirm.js';

export interface ApplyFlags {
  autoApprove?: boolean;
  lockTimeout?: string;
  stack?: string;
}

export interface ApplyManifestFlags extends ApplyFlags, HostLabelFlags {}

const lockTimeoutMs = (flags: ApplyFlags): number => (flags.lockTimeout === undefined ? 0 : parseDuration(flags.lockTimeout));

function engineWithProgress(ctx: Context): { engine: Engine; end: () => void } {
  // Under --log-format json the step log lines are the record; a second copy on stdout would only be noise.
  const progress = ctx.logFormat === 'json' ? undefined : progressView({ write: (t) => void process.stdout.write(t), tty: Boolean(process.stdout.isTTY), columns: process.stdout.columns });
  return { engine: kernelEngine(ctx, progress?.onEvent), end: () => progress?.end() };
}

export async function applyCommand(base: Context, target: string | undefined, flags: ApplyManifestFlags): Promise<number> {
  const timeout = lockTimeoutMs(flags);
  if (target && isPlanFile(target)) {
    const saved = loadPlan(target);
    const ctx = withLogFields(base, sourceFields(saved));
    const { engine, end } = engineWithProgress(ctx);
    engine.checkPlan(saved);
    return engine.transaction('kfn apply (saved plan)', timeout, async (tx) => {
      process.stdout.write(renderPlan(saved, { color: ctx.color }) + '\n');
      return execute(ctx, tx, saved, 'apply', {}, end);
    });
  }
  const desired = loadDesired(manifestTarget(target), flags.stack === undefined ? {} : { stack: flags.stack });
  const host = hostIdentity(flags);
  const ctx = withLogFields(base, { ...sourceFields(desired), stack: desired.stack });
  const { engine, end } = engineWithProgress(ctx);
  return engine.transaction('kfn apply', timeout, async (tx) => {
    const live = tx.readLive(netnsOf(desired));
    return confirmAndRun(ctx, tx, engine.plan(desired, live, { host }), flags, 'apply', { live, converge: desired, host }, end);
  });
}

/**
 * Destroys the chains of one stack (`--stack`, or the manifests' stack) and the chains
 * applied before stacks that the manifests name; `--all` destroys every chain of every stack.
 */
export async function destroyCommand(base: Context, target: string | undefined, flags: ApplyFlags & { all?: boolean }): Promise<number> {
  const timeout = lockTimeoutMs(flags);
  let desired: DesiredState | undefined;
  if (!flags.all && (flags.stack === undefined || target !== undefined)) desired = loadDesired(manifestTarget(target), flags.stack === undefined ? {} : { stack: flags.stack });
  const ctx = desired ? withLogFields(base, sourceFields(desired)) : base;
  const stack = flags.all ? undefined : (flags.stack ?? desired?.stack);
  // A stack owns its chains and probes; those applied before stacks are its own when its manifests name them.
  const chainNames = new Set((desired?.chains ?? []).map((c) => c.name));
  const probeNames = new Set((desired?.probes ?? []).map((p) => p.name));
  const { engine, end } = engineWithProgress(ctx);
  return engine.transaction('kfn destroy', timeout, async (tx) => {
    const live = tx.readLive(netnsOf(desired));
    const p = engine.planDestroy(
      live,
      { chains: (c) => ownedBy(stack, c.stack, chainNames.has(c.chainName)), stacks: (s) => stack === undefined || s === stack, probes: (pr) => ownedBy(stack, pr.stack, probeNames.has(pr.name)) },
      desired?.manifestDigest,
    );
    return confirmAndRun(ctx, tx, p, flags, 'destroy', { live }, end);
  });
}

async function confirmAndRun(
  ctx: Context,
  tx: Transaction,
  p: Plan,
  flags: ApplyFlags,
  verb: 'apply' | 'destroy',
  opts: Parameters<Transaction['apply']>[1],
  end: () => void,
): Promise<number> {
  ctx.log.info(planFields(p), 'plan made');
  process.stdout.write(renderPlan(p, { color: ctx.color }) + '\n');
  if (!hasChanges(p)) return 0;
  const question = verb === 'destroy' ? '\nDo you really want to destroy these kernel functions?' : '\nDo you want to perform these actions?';
  if (!(await confirm(question, Boolean(flags.autoApprove)))) {
    process.stdout.write(`\n${verb === 'destroy' ? 'Destroy' : 'Apply'} cancelled.\n`);
    return 1;
  }
  return execute(ctx, tx, p, verb, opts, end);
}

function execute(ctx: Context, tx: Transaction, p: Plan, verb: 'apply' | 'destroy', opts: Parameters<Transaction['apply']>[1], end: () => void): number {
  process.stdout.write('\n');
  try {
    tx.apply(p, opts);
  } catch (e) {
    end();
    if (e instanceof ApplyFailedError) {
      ctx.log.error({ verb, completed: e.applied.length, undone: e.undone, restored: e.restored }, `${verb} failed; rolled back`);
      // Under --log-format json that record is the report; stderr stays one JSON record per line.
      if (ctx.logFormat !== 'json') {
        process.stderr.write(
          `\nApply failed after ${e.applied.length} completed step(s); rolled back ${e.undone.length} step(s) in reverse order:\n` +
            e.undone.map((s) => `  undone: ${s}${e.applied.includes(s) ? '' : ' (the step that failed)'}\n`).join('') +
            (e.restored ? 'The kernel is back to the state before apply.\n' : 'WARNING: the kernel state differs from before apply; run kfn plan.\n'),
        );
      }
    }
    throw e;
  }
  end();
  const s = p.summary;
  ctx.log.info({ verb, ...planFields(p) }, `${verb} complete`);
  const counts = `Resources: ${s.add} added, ${s.change} changed, ${s.replace} replaced, ${s.destroy} destroyed.`;
  process.stdout.write(`\n${verb === 'destroy' ? 'Destroy' : 'Apply'} complete! ${counts}\n`);
  return 0;
}
