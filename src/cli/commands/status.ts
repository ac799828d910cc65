/** `kfn status`: chains with stack, revision, apply time and drift; stacks with their agent's rounds. */
import type { Context } from '../context.js';
import { kernelEngine } from '../context.js';
import { listStatuses, listSuspensions } from '../../agent/status.js';
import { statusReport } from '../../agent/report.js';
import { renderStatus, renderStatusJson } from '../../views/index.js';

export async function statusCommand(ctx: Context, flags: { json?: boolean; stack?: string }): Promise<number> {
  const engine = kernelEngine(ctx);
  await engine.recover();
  const report = statusReport(engine.readLive(), listStatuses(ctx.paths.stateDir), listSuspensions(ctx.paths.stateDir), flags.stack === undefined ? {} : { stack: flags.stack });
  process.stdout.write((flags.json ? renderStatusJson(report) : renderStatus(report, { color: ctx.color })) + '\n');
  return 0;
}
