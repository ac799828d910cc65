import type { Context } from '../context.js';
import { recoverIfNeeded } from '../session.js';
import { loadDesired, manifestTarget, netnsOf, readLive, requireKernelAccess } from '../context.js';
import { plan, hasChanges } from '../../plan/index.js';
import { renderPlan, renderPlanJson } from '../../render/index.js';
import { savePlan } from '../plan-file.js';

export interface PlanFlags {
  detailedExitcode?: boolean;
  json?: boolean;
  out?: string;
}

export function planCommand(ctx: Context, target: string | undefined, flags: PlanFlags): number {
  const desired = loadDesired(manifestTarget(target));
  requireKernelAccess(ctx);
  recoverIfNeeded(ctx);
  const p = plan(desired, readLive(ctx, netnsOf(desired)));
  process.stdout.write(flags.json ? renderPlanJson(p) + '\n' : renderPlan(p, { color: ctx.color }) + '\n');
  if (flags.out) {
    savePlan(flags.out, p);
    if (!flags.json) process.stdout.write(`\nSaved the plan to: ${flags.out}\nTo perform exactly these actions, run: kfn apply ${flags.out}\n`);
  }
  return flags.detailedExitcode && hasChanges(p) ? 2 : 0;
}
