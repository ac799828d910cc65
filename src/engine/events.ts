/** What the engine reports while it works; views turn these into progress and logs. */
import type { PlannedStep } from '../core/types.js';
import type { RecoveryReport } from './journal.js';

export type EngineEvent =
  | { type: 'recovered'; report: RecoveryReport }
  /** A read-only command found a journal while an apply holds the lock (or the journal's writer still runs). */
  | { type: 'apply-in-progress'; pid?: number; command?: string }
  /** A read-only command found the journal of an interrupted apply on another pin root: left alone. */
  | { type: 'journal-elsewhere'; pinRoot: string }
  | { type: 'step'; n: number; total: number; step: PlannedStep }
  | { type: 'step-done'; n: number; total: number; step: PlannedStep }
  | { type: 'undo'; step: PlannedStep }
  | { type: 'warning'; message: string }
  | { type: 'verified'; what: 'converged' | 'restored' };

export type EventSink = (event: EngineEvent) => void;
