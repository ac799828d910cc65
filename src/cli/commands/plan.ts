import type { Context } from '../context.js';
import { kernelEngine, manifestTarget, planFields, sourceFields, withLogFields } from '../context.js';
import { hostIdentity } from '../../core/host.js';
import { checkPlanOutput, loadDesired, netnsOf, savePlan } from '../../engine/index.js';
import { loadPacketTests } from '../../packets/index.js';
import { hasChanges } from '../../plan/index.js';
import { renderPlan, renderPlanJson } from '../../views/index.js';

export interface PlanFlags {
  detailedExitcode?: boolean;
  json?: boolean;
  out?: string;
  stack?: string;
  hostLabels?: string;
  hostLabelsFile?: string;
  packets?: string;
}

export async function planCommand(base: Context, target: string | undefined, flags: PlanFlags): Promise<number> {
  const desired = loadDesired(manifestTarget(target), flags.stack === undefined ? {} : { stack: flags.stack });
  const host = hostIdentity(flags);
  const ctx = withLogFields(base, { ...sourceFields(desired), stack: desired.stack });
  const tests = flags.packets ? loadPacketTests(flags.packets) : undefined;
  const engine = kernelEngine(ctx);
  if (flags.out) checkPlanOutput(flags.out);
  await engine.recover();
  const live = engine.readLive(netnsOf(desired));
  const p = engine.plan(desired, live, { host });
  ctx.log.info(planFields(p), 'plan made');
  const packets = tests ? engine.previewPackets(p, live, desired, tests) : undefined;
  if (flags.out) savePlan(flags.out, p);
  process.stdout.write(flags.json ? renderPlanJson(p, packets) + '\n' : renderPlan(p, { color: ctx.color, ...(packets ? { packets } : {}) }) + '\n');
  if (flags.out && !flags.json) process.stdout.write(`\nSaved the plan to: ${flags.out}\nTo perform exactly these actions, run: kfn apply ${flags.out}\n`);
  return flags.detailedExitcode && hasChanges(p) ? 2 : 0;
}
