/** What every command needs: paths, logger, colors, and an engine wired to them. */
import path from 'node:path';
import ms from 'ms';
import { kfnPaths, type KfnPaths } from '../core/config.js';
import { KfnError } from '../core/errors.js';
import { Engine, requireKernelAccess, type EngineEvent, type FaultInjection, type RecoveryReport } from '../engine/index.js';
import { setLibbpfSink, type LibbpfLevel } from '../libbpf/index.js';
import type { Plan, PlannedStep } from '../core/types.js';
import { createLogger, type Log, type LogFormat } from './logger.js';
import type { GlobalOptions } from './program.js';

export type { GlobalOptions };

export interface Context {
  paths: KfnPaths;
  log: Log;
  color: boolean;
  logFormat: LogFormat;
}

/** Colors only on a terminal, never with NO_COLOR (set and not empty, as no-color.org says) or --no-color. */
export function colorWanted(opts: Pick<GlobalOptions, 'color'>, stream: { isTTY?: boolean } = process.stdout): boolean {
  return opts.color !== false && !process.env.NO_COLOR && Boolean(stream.isTTY);
}

/** `defaultLevel`: the command's own log level when --log-level is not given (reconcile logs its rounds at info). */
export function createContext(opts: GlobalOptions, defaultLevel?: string): Context {
  // --no-color is NO_COLOR for everything this process starts or loads too.
  if (opts.color === false) process.env.NO_COLOR = '1';
  const log = createLogger(opts.logLevelGiven || !defaultLevel ? opts.logLevel : defaultLevel, opts.logFormat, colorWanted(opts, process.stderr));
  const levelOf = (l: LibbpfLevel): 'debug' | 'trace' => (l === 'warn' ? 'debug' : 'trace');
  setLibbpfSink(
    (level, msg) => log[levelOf(level)]({ libbpf: true }, msg),
    (level) => log.isLevelEnabled(levelOf(level)),
  );
  return { paths: kfnPaths(), log, color: colorWanted(opts), logFormat: opts.logFormat };
}

export const DEFAULT_MANIFESTS = 'manifests';

export function manifestTarget(arg: string | undefined): string {
  return path.resolve(arg ?? DEFAULT_MANIFESTS);
}

export function recoveredText(r: RecoveryReport): string {
  const what =
    r.phase === 'apply'
      ? `undid ${r.undone.length} step(s)${r.restored === false ? '; the kernel differs from the state before that apply: run kfn plan' : r.errors.length ? '' : '; the kernel is back to the state before that apply'}`
      : `finished its cleanup (${r.released.length} release step${r.released.length === 1 ? '' : 's'})`;
  const problems = r.errors.length
    ? `\nkfn: ${r.errors.length} operation(s) could not run because the kernel changed since (recovery went on with the rest): ${r.errors.join('; ')}` +
      (r.keptAt ? `\nkfn: the journal is kept at ${r.keptAt} (kfn journal show); run kfn plan to see what is left.` : '')
    : '';
  return `kfn: recovered an interrupted apply (pid ${r.pid}, ${r.command}, started ${r.startedAt}): ${what}.${problems}\n`;
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

/** What a step acts on, as log fields: the chain (name and attachment) and the instance, or the probe. */
export function stepFields(s: PlannedStep): Record<string, string> {
  if (s.probe !== undefined || !s.chain || s.chainName === undefined) return { probe: s.probe ?? '?' };
  return { chain: s.chainName, netns: s.chain.netns, interface: s.chain.ifname, hook: s.chain.hook, ...(s.instance ? { instance: s.instance } : {}) };
}

/** The same context, its log lines carrying `fields` (revision, manifest digest, ...) from now on. */
export function withLogFields(ctx: Context, fields: Record<string, string | undefined>): Context {
  const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  return { ...ctx, log: ctx.log.child(set) };
}

/** The log fields of a desired state or plan: where its manifests come from. */
export function sourceFields(x: { revision?: string; manifestDigest: string }): Record<string, string | undefined> {
  return { revision: x.revision, manifest_digest: x.manifestDigest || undefined };
}

/** A plan's size as log fields. */
export function planFields(p: Plan): Record<string, number | boolean> {
  const s = p.summary;
  return { steps: p.steps.length, add: s.add, change: s.change, replace: s.replace, destroy: s.destroy, drift: p.changes.some((c) => c.drift.length > 0) };
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
          ctx.log.info({ step: e.n, of: e.total, kind: e.step.kind, ...stepFields(e.step) }, e.step.description);
          break;
        case 'undo':
          ctx.log.info({ undo: true, kind: e.step.kind, ...stepFields(e.step) }, `undo: ${e.step.description}`);
          break;
        case 'recovered':
          if (ctx.logFormat === 'json') ctx.log.warn({ recovered: e.report }, recoveredText(e.report).trim());
          else process.stderr.write(recoveredText(e.report));
          break;
        case 'apply-in-progress':
          ctx.log.warn(e.pid ? `an apply (pid ${e.pid}, ${e.command}) is in progress; the live state may be changing` : 'an apply is in progress; the live state may be changing');
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

/** `30s`, `2m`, `1h`, `500ms`, or a bare number of seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  // ms() throws on an empty string instead of returning NaN.
  const value = /^\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : t ? ms(t as ms.StringValue) : NaN;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new KfnError('USAGE', `invalid duration "${text}" (examples: 500ms, 30s, 2m, 1h)`, { hint: 'a number with a unit: ms, s, m, h' });
  }
  return value;
}

/** A whole number of at least 1 (`--limit`). */
export function parseCount(text: string, flag: string): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new KfnError('USAGE', `invalid ${flag} "${text}"`, { hint: 'a whole number of at least 1' });
  return n;
}

/** A duration above zero (`--interval`): the time between two readings. */
export function parseInterval(text: string, flag = '--interval'): number {
  const v = parseDuration(text);
  if (v <= 0) throw new KfnError('USAGE', `invalid ${flag} "${text}": it must be more than 0`, { hint: 'a duration such as 500ms, 1s, 5s' });
  return v;
}
