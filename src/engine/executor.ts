/**
 * Runs a plan's compiled steps exactly as they are written: prepare and commit steps
 * each journaled with their undo operations before they run (write-ahead), then the
 * commit point, then the release steps. Any failure before the commit point runs the
 * undo operations of the completed steps (and of the failing one) in reverse.
 *
 * A run of consecutive steps whose undo operations are all independent (the form says
 * so: harmless when their step never ran) is journaled in one record write before the
 * first of them runs; a deploy's loads, all of them building beside what runs, are one.
 *
 * A prepare step may leave a wait in the kernel to another thread (RunContext.background);
 * the form's settle collects it before the first step that is not a prepare step, at the
 * end, and before a rollback.
 */
import { KfnError } from '../core/errors.js';
import type { Plan, PlannedStep } from '../core/types.js';
import type { ChainForm, RunContext } from '../forms/form.js';
import type { EventSink } from './events.js';

export interface StepIntent {
  description: string;
  undo: unknown[];
}

/** Where steps are recorded before they run (the journal, in production). */
export interface StepRecorder {
  /** Records steps and how to undo them, in order, before the first of them runs. */
  intend(steps: readonly StepIntent[]): void;
  done(): void;
  releasing(steps: PlannedStep[]): void;
}

/**
 * Test-only fault injection (docs/testing.md): fail before transactional step N, or
 * call `afterStep` (crash tests kill the process there) after step N, 1-based.
 */
export interface FaultInjection {
  failAtStep?: number;
  afterStep?: (n: number) => void;
}

export interface ExecuteOptions {
  form: ChainForm;
  run: RunContext;
  recorder: StepRecorder;
  emit: EventSink;
  faults?: FaultInjection;
}

export interface ExecuteResult {
  /** Descriptions of the steps run, in order (release steps included). */
  executed: string[];
  warnings: string[];
}

export class ApplyFailedError extends KfnError {
  constructor(
    override readonly cause: unknown,
    readonly applied: string[],
    readonly undone: string[],
    readonly rollbackErrors: string[],
    /** Set by the engine after it re-read the kernel: the live state equals the one before apply. */
    public restored = false,
  ) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(
      cause instanceof KfnError ? cause.code : 'APPLY_FAILED',
      rollbackErrors.length ? `${msg} (rollback incomplete: ${rollbackErrors.join('; ')})` : msg,
      { hint: cause instanceof KfnError ? cause.hint : undefined, cause },
    );
  }
}

export function executeSteps(plan: Plan, opts: ExecuteOptions): ExecuteResult {
  const transactional = plan.steps.filter((s) => s.phase !== 'release');
  const release = plan.steps.filter((s) => s.phase === 'release');
  const total = plan.steps.length;
  const applied: PlannedStep[] = [];
  const started: PlannedStep[] = [];
  let announced = 0;
  try {
    transactional.forEach((step, i) => {
      const n = i + 1;
      if (opts.faults?.failAtStep === n) throw new KfnError('INJECTED_FAULT', `injected failure at step ${n} (${step.description})`);
      if (i >= announced) {
        announced = i + 1;
        if (independent(opts.form, step)) while (announced < transactional.length && independent(opts.form, transactional[announced]!)) announced++;
        opts.recorder.intend(transactional.slice(i, announced));
      }
      if (step.phase !== 'prepare') opts.form.settle?.(opts.run);
      started.push(step);
      opts.emit({ type: 'step', n, total, step });
      opts.form.run(step, opts.run);
      applied.push(step);
      opts.recorder.done();
      opts.emit({ type: 'step-done', n, total, step });
      opts.faults?.afterStep?.(n);
    });
    opts.form.settle?.(opts.run);
  } catch (e) {
    // What is still attaching is waited for first: its undo must find it done.
    try {
      opts.form.settle?.(opts.run);
    } catch {
      // Its failure is the apply's too, and its step is undone with the others.
    }
    throw rollback(opts, started, applied, e);
  }
  const warnings: string[] = [];
  opts.recorder.releasing(release);
  release.forEach((step, i) => {
    const n = transactional.length + i + 1;
    opts.emit({ type: 'step', n, total, step });
    try {
      opts.form.run(step, opts.run);
      opts.emit({ type: 'step-done', n, total, step });
    } catch (e) {
      warnings.push(`${step.description}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return { executed: plan.steps.map((s) => s.description), warnings };
}

const independent = (form: ChainForm, step: PlannedStep): boolean => step.undo.every((op) => form.independentUndo(op));

function rollback(opts: ExecuteOptions, started: PlannedStep[], applied: PlannedStep[], cause: unknown): ApplyFailedError {
  const undone: string[] = [];
  const errors: string[] = [];
  for (const step of [...started].reverse()) {
    opts.emit({ type: 'undo', step });
    for (const op of step.undo) {
      try {
        opts.form.undo(op, opts.run);
      } catch (e) {
        errors.push(`${opts.form.describeUndo(op)}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    undone.push(step.description);
  }
  return new ApplyFailedError(
    cause,
    applied.map((s) => s.description),
    undone,
    errors,
  );
}
