/** `kfn drift`: the kernel against what kfn last applied; exit 0 in sync, 2 drift, 1 error. */
import type { Context } from '../context.js';
import { kernelEngine } from '../context.js';
import { detectDrift } from '../../plan/index.js';
import { renderDrift, renderDriftJson } from '../../views/index.js';

export async function driftCommand(ctx: Context, flags: { json?: boolean; stack?: string }): Promise<number> {
  const engine = kernelEngine(ctx);
  await engine.recover();
  const report = detectDrift(engine.readLive(), flags.stack === undefined ? {} : { stack: flags.stack });
  process.stdout.write((flags.json ? renderDriftJson(report) : renderDrift(report, { color: ctx.color })) + '\n');
  return report.inSync ? 0 : 2;
}
