import type { Context } from '../context.js';
import { kernelEngine } from '../context.js';
import type { MapStats } from '../../forms/form.js';
import { isPlanFile, loadPlan } from '../../engine/index.js';
import { renderLive, renderLiveJson, renderPlan, renderPlanJson } from '../../views/index.js';

/** `kfn show`: the live state, or with PLANFILE the saved plan (no kernel needed). */
export async function showCommand(ctx: Context, planFile: string | undefined, flags: { json?: boolean; stats?: boolean }): Promise<number> {
  if (planFile !== undefined) {
    const p = loadPlan(planFile);
    process.stdout.write((flags.json ? renderPlanJson(p) : renderPlan(p, { color: ctx.color })) + '\n');
    return 0;
  }
  const engine = kernelEngine(ctx);
  await engine.recover();
  const live = engine.readLive();
  const stats: Record<string, MapStats[]> = {};
  if (flags.stats) {
    for (const c of live.chains) for (const i of [...c.instances, ...c.orphans]) stats[i.pinDir] = engine.form.stats(i);
    for (const p of live.probes ?? []) stats[p.pinDir] = engine.form.probeStats?.(p) ?? [];
  }
  if (flags.json) process.stdout.write(renderLiveJson(live, flags.stats ? stats : undefined) + '\n');
  else process.stdout.write(renderLive(live, { color: ctx.color, stats }) + '\n');
  return 0;
}

export { isPlanFile };
