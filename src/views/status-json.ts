/** `kfn status --json` (schemas/status-output.schema.json). */
import type { RoundRecord, StackStatus, StatusReport } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import { chainAddress } from './address.js';
import { chainDriftJson } from './drift-json.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';

const outcome = (o: string): string => o.replace(/-/g, '_');

function roundJson(r: RoundRecord) {
  return {
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    trigger: r.trigger,
    outcome: outcome(r.outcome),
    revision: r.revision ?? null,
    fetched: r.fetched ?? null,
    stage: r.stage ?? null,
    error: r.error ? { code: r.error.code, message: r.error.message, hint: r.error.hint ?? null } : null,
    restored: r.restored ?? null,
    summary: r.summary ?? null,
    drift: r.drift ?? null,
  };
}

function agentJson(a: StackStatus) {
  return {
    repo: a.source.repo,
    ref: a.source.ref,
    path: a.source.path,
    pid: a.agent?.pid ?? null,
    started_at: a.agent?.startedAt ?? null,
    interval_ms: a.agent?.intervalMs ?? null,
    once: a.agent?.once ?? null,
    hostname: a.agent?.hostname ?? null,
    labels: a.agent?.labels ?? {},
    last_round: a.lastRound ? roundJson(a.lastRound) : null,
    last_attempt: a.lastAttempt
      ? { revision: a.lastAttempt.revision, at: a.lastAttempt.at, outcome: outcome(a.lastAttempt.outcome), error: a.lastAttempt.error ? { code: a.lastAttempt.error.code, message: a.lastAttempt.error.message, hint: a.lastAttempt.error.hint ?? null } : null }
      : null,
    last_applied: a.lastApplied ?? null,
    failing: a.failing
      ? {
          revision: a.failing.revision,
          failures: a.failing.failures,
          since: a.failing.since,
          next_retry_at: a.failing.nextRetryAt,
          stage: a.failing.stage,
          error: { code: a.failing.error.code, message: a.failing.error.message, hint: a.failing.error.hint ?? null },
        }
      : null,
    history: a.history.map(roundJson),
  };
}

export function statusJson(r: StatusReport) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    chains: r.chains.map(chainDriftJson),
    stacks: r.stacks.map((s) => ({
      stack: s.stack,
      revision: s.record?.revision ?? null,
      manifest_digest: s.record?.manifestDigest ?? null,
      applied_at: s.record?.appliedAt ?? null,
      chains: (s.record?.chains ?? []).map((c) => chainAddress(c.chainName, c.attachment)),
      suspended: s.suspended ? { since: s.suspended.since, reason: s.suspended.reason ?? null, by: s.suspended.by } : null,
      agent: s.agent ? agentJson(s.agent) : null,
    })),
  };
}

export function renderStatusJson(r: StatusReport): string {
  return renderJson(statusJson(r));
}
