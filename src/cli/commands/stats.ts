/** `kfn stats`: what each function of the live chains counted, summed over CPUs. */
import type { Context } from '../context.js';
import { kernelEngine } from '../context.js';
import { renderStats, renderStatsJson } from '../../views/index.js';

export interface StatsFlags {
  json?: boolean;
  chain?: string[];
  interface?: string[];
}

export async function statsCommand(ctx: Context, flags: StatsFlags): Promise<number> {
  const engine = kernelEngine(ctx);
  await engine.recover();
  const sample = engine.sample({ ...(flags.chain ? { chains: flags.chain } : {}), ...(flags.interface ? { interfaces: flags.interface } : {}) });
  process.stdout.write((flags.json ? renderStatsJson(sample) : renderStats(sample, { color: ctx.color })) + '\n');
  return 0;
}
