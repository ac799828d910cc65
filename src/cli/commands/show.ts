import type { Context } from '../context.js';
import { recoverIfNeeded } from '../session.js';
import { readLive, requireKernelAccess } from '../context.js';
import { renderJson, renderLive } from '../../render/index.js';
import { readInstanceStats, type StatLine } from '../../state/stats.js';

export function showCommand(ctx: Context, flags: { json?: boolean; stats?: boolean }): number {
  requireKernelAccess(ctx);
  recoverIfNeeded(ctx);
  const live = readLive(ctx);
  const stats: Record<string, StatLine[]> = {};
  if (flags.stats) for (const c of live.chains) for (const i of c.instances) stats[i.pinDir] = readInstanceStats(i.pinDir);
  if (flags.json) process.stdout.write(renderJson(flags.stats ? { ...live, stats } : live) + '\n');
  else process.stdout.write(renderLive(live, { color: ctx.color, stats }) + '\n');
  return 0;
}
