/** What the engine reports while it works; views turn these into progress and logs. */
import type { PlanSummary, PlannedStep } from '../core/types.js';

/** What recovery of an interrupted apply did, from its journal. */
export interface RecoveryReport {
  pid: number;
  command: string;
  startedAt: string;
  phase: 'apply' | 'release';
  undone: string[];
  released: string[];
  /** Operations the kernel refused because it changed since (each with why); recovery went on with the rest. */
  errors: string[];
  /** Where the journal was kept for inspection when `errors` is not empty. */
  keptAt?: string;
  /** Whether the kernel is as the fingerprint taken before the apply says (undefined: not checked). */
  restored?: boolean;
}

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
