/**
 * Per-stack metrics of the reconcile agent, on a KfnMetrics registry. The agent calls
 * roundFinished() once per round; everything else follows from it.
 *
 *   kfn_reconcile_rounds_total{stack,outcome}               counter
 *   kfn_reconcile_last_success_timestamp_seconds{stack}     gauge, Unix time
 *   kfn_reconcile_applied_revision_info{stack,revision}     gauge, 1 for the revision applied now
 *   kfn_reconcile_drift{stack}                              gauge, 1 while drift is present
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** How a round ended; `outcome` label values. */
export enum RoundOutcome {
  /** The revision was applied (changes made). */
  Applied = 'applied',
  /** Nothing to change: the kernel already matched. */
  InSync = 'in-sync',
  /** Drift was found and corrected. */
  DriftCorrected = 'drift-corrected',
  /** Drift was found and only reported (--no-correct-drift). */
  DriftReported = 'drift-reported',
  /** The revision failed (invalid, missing object, verifier, signature, rollback); the last good state runs. */
  Failed = 'failed',
  /** Suspended, or a failed revision waiting out its backoff. */
  Skipped = 'skipped',
}

const SUCCESS = new Set([RoundOutcome.Applied, RoundOutcome.InSync, RoundOutcome.DriftCorrected, RoundOutcome.DriftReported]);

export interface RoundReport {
  stack: string;
  outcome: RoundOutcome;
  /** The revision running after the round (the last good one after a failure). */
  appliedRevision?: string;
  /** Drift present after the round (reported and not corrected, or not correctable). */
  drift: boolean;
  at: Date;
}

export class ReconcileMetrics {
  private readonly rounds: Counter<'stack' | 'outcome'>;
  private readonly lastSuccess: Gauge<'stack'>;
  private readonly revision: Gauge<'stack' | 'revision'>;
  private readonly drift: Gauge<'stack'>;
  private readonly revisions = new Map<string, string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.rounds = new Counter({ name: 'kfn_reconcile_rounds_total', help: 'Reconcile rounds per stack, by outcome.', labelNames: ['stack', 'outcome'], registers });
    this.lastSuccess = new Gauge({ name: 'kfn_reconcile_last_success_timestamp_seconds', help: 'Unix time of the last round that ended without failure, per stack.', labelNames: ['stack'], registers });
    this.revision = new Gauge({ name: 'kfn_reconcile_applied_revision_info', help: 'The Git revision applied now, per stack (always 1).', labelNames: ['stack', 'revision'], registers });
    this.drift = new Gauge({ name: 'kfn_reconcile_drift', help: '1 while the kernel differs from what the stack last applied, else 0.', labelNames: ['stack'], registers });
  }

  roundFinished(r: RoundReport): void {
    this.rounds.inc({ stack: r.stack, outcome: r.outcome });
    if (SUCCESS.has(r.outcome)) this.lastSuccess.set({ stack: r.stack }, r.at.getTime() / 1000);
    this.drift.set({ stack: r.stack }, r.drift ? 1 : 0);
    const before = this.revisions.get(r.stack);
    if (r.appliedRevision !== undefined && r.appliedRevision !== before) {
      // One series per stack: the old revision's goes away.
      if (before !== undefined) this.revision.remove({ stack: r.stack, revision: before });
      this.revision.set({ stack: r.stack, revision: r.appliedRevision }, 1);
      this.revisions.set(r.stack, r.appliedRevision);
    }
  }
}
