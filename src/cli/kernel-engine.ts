/** The engine of a kernel command (plan, apply, destroy, show): access checks, events to logs and stderr. */
import { Engine, requireKernelAccess, type EngineEvent, type FaultInjection, type RecoveryReport } from '../engine/index.js';
import type { Context } from './context.js';

function recoveredText(r: RecoveryReport): string {
  const what =
    r.phase === 'apply'
      ? `undid ${r.undone.length} step(s); the kernel is back to the state before that apply`
      : `finished its cleanup (${r.released.length} release step${r.released.length === 1 ? '' : 's'})`;
  return `kfn: recovered an interrupted apply (pid ${r.pid}, ${r.command}, started ${r.startedAt}): ${what}.\n`;
}

/**
 * Test-only fault injection (docs/testing.md): KFN_TEST_FAIL_AT_STEP=N fails before
 * step N; KFN_TEST_KILL_AFTER_STEP=N kills the process with SIGKILL right after step N.
 */
function faultInjection(): FaultInjection | undefined {
  const fail = Number(process.env.KFN_TEST_FAIL_AT_STEP ?? 0);
  const kill = Number(process.env.KFN_TEST_KILL_AFTER_STEP ?? 0);
  if (!(fail > 0) && !(kill > 0)) return undefined;
  return {
    ...(fail > 0 ? { failAtStep: fail } : {}),
    ...(kill > 0 ? { afterStep: (n: number) => void (n === kill && process.kill(process.pid, 'SIGKILL')) } : {}),
  };
}

/** The engine for a kernel command, after the access checks; `extra` sees every event too (progress). */
export function kernelEngine(ctx: Context, extra?: (e: EngineEvent) => void, access: Parameters<typeof requireKernelAccess>[1] = {}): Engine {
  requireKernelAccess(ctx.paths, access);
  const faults = faultInjection();
  return new Engine({
    paths: ctx.paths,
    ...(faults ? { faults } : {}),
    onEvent: (e) => {
      switch (e.type) {
        case 'step':
          ctx.log.info({ step: e.n, of: e.total, kind: e.step.kind }, e.step.description);
          break;
        case 'undo':
          ctx.log.info({ undo: true }, `undo: ${e.step.description}`);
          break;
        case 'recovered':
          process.stderr.write(recoveredText(e.report));
          break;
        case 'apply-in-progress':
          ctx.log.warn('an apply is in progress; the live state may be changing');
          break;
        case 'warning':
          ctx.log.warn(e.message);
          break;
        case 'verified':
          ctx.log.debug(`verified: ${e.what === 'converged' ? 'live state matches the manifests' : 'the kernel is back to the state before apply'}`);
          break;
        default:
          break;
      }
      extra?.(e);
    },
  });
}
