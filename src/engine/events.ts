/** What the engine reports while it works; views turn these into progress and logs. */
import type { PlanSummary, PlannedStep } from '../core/types.js';
import type { RecoveryReport } from './journal.js';

/** How an apply ended, for metrics and logs. */
export enum ApplyOutcome {
  Applied = 'applied',
  /** The plan had no steps. */
  NoOp = 'no-op',
  /** A step failed; every completed step was undone and the kernel is as before. */
  RolledBack = 'rolled-back',
  /** A step failed and the kernel could not be verified as restored, or apply failed before its steps. */
  Failed = 'failed',
}

export type EngineEvent =
  /** A plan was made (diff + compile), in `seconds`. */
  | { type: 'planned'; seconds: number; summary: PlanSummary; steps: number }
  /** An apply ended, in `seconds` from the lock being held to the verification. */
  | { type: 'applied'; seconds: number; outcome: ApplyOutcome; steps: number }
  | { type: 'recovered'; report: RecoveryReport }
  /** A read-only command found a journal while an apply holds the lock (or the journal's writer still runs). */
  | { type: 'apply-in-progress'; pid?: number; command?: string }
  | { type: 'step'; n: number; total: number; step: PlannedStep }
  | { type: 'step-done'; n: number; total: number; step: PlannedStep }
  | { type: 'undo'; step: PlannedStep }
  | { type: 'warning'; message: string }
  | { type: 'verified'; what: 'converged' | 'restored' };

export type EventSink = (event: EngineEvent) => void;
