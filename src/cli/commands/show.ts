import type { Context } from '../context.js';
import { parseCount } from '../context.js';
import { kernelEngine } from '../context.js';
import type { MapStats } from '../../forms/form.js';
import { isPlanFile, loadPlan } from '../../engine/index.js';
import { DEFAULT_STATS_LIMIT, limitStats, renderLive, renderLiveJson, renderPlan, renderPlanJson } from '../../views/index.js';

/** `kfn show`: the live state, or with PLANFILE the saved plan (no kernel needed). */
export async function showCommand(ctx: Context, planFile: string | undefined, flags: { json?: boolean; stats?: boolean; limit?: string; all?: boolean }): Promise<number> {
  if (planFile !== undefined) {
    const p = loadPlan(planFile);
    process.stdout.write((flags.json ? renderPlanJson(p) : renderPlan(p, { color: ctx.color })) + '\n');
    return 0;
  }
  const limit = flags.all ? Infinity : flags.limit !== undefined ? parseCount(flags.limit, '--limit') : DEFAULT_STATS_LIMIT;
  const engine = kernelEngine(ctx);
  await engine.recover();
  const live = engine.readLive();
  // Every entry is read: the busiest are only known once all are (the views order and cut them).
  const stats: Record<string, MapStats[]> = {};
  if (flags.stats) {
    for (const c of live.chains) for (const i of [...c.instances, ...c.orphans]) stats[i.pinDir] = engine.form.stats(i, Infinity);
    for (const p of live.probes ?? []) stats[p.pinDir] = engine.form.probeStats?.(p, Infinity) ?? [];
  }
  if (flags.json) process.stdout.write(renderLiveJson(live, flags.stats ? Object.fromEntries(Object.entries(stats).map(([k, s]) => [k, limitStats(s, limit)])) : undefined) + '\n');
  else process.stdout.write(renderLive(live, { color: ctx.color, stats, statsLimit: limit }) + '\n');
  return 0;
}

export { isPlanFile };
