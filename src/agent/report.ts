/** Assembles `kfn status`: the kernel's chains and drift, each stack's record, its agent's status. */
import type { LiveState, StackStatus, StatusReport, Suspension } from '../core/types.js';
import { detectDrift } from '../plan/index.js';

export function statusReport(live: LiveState, agents: StackStatus[], suspensions: Suspension[], opts: { stack?: string } = {}): StatusReport {
  const drift = detectDrift(live, opts.stack === undefined ? {} : { stack: opts.stack });
  const names = new Set<string>();
  for (const c of drift.chains) if (c.stack !== undefined) names.add(c.stack);
  for (const r of live.stacks ?? []) names.add(r.stack);
  for (const a of agents) names.add(a.stack);
  for (const s of suspensions) names.add(s.stack);
  const stacks = [...names]
    .filter((s) => opts.stack === undefined || s === opts.stack)
    .sort()
    .map((stack) => {
      const out: StatusReport['stacks'][number] = { stack };
      const record = (live.stacks ?? []).find((r) => r.stack === stack);
      const agent = agents.find((a) => a.stack === stack);
      const suspended = suspensions.find((s) => s.stack === stack);
      if (record) out.record = record;
      if (agent) out.agent = agent;
      if (suspended) out.suspended = suspended;
      return out;
    });
  return { chains: drift.chains, stacks };
}
