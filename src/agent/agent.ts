/**
 * The reconcile agent (docs/gitops.md): a library over the engine that, each round,
 * fetches the Git source into kfn's cache, checks out the exact commit, verifies it if
 * asked, validates, plans and applies it, and records the outcome per stack. A revision
 * that fails anywhere leaves the last good state running and is held back (exponential
 * backoff) while the agent keeps the last applied revision in place (drift correction);
 * the next revision is tried at once. Rounds never overlap; stop() lets the current
 * apply finish (it runs to its end or rolls back inside the engine) and starts no other.
 */
import path from 'node:path';
import { KfnError, isKfnError } from '../core/errors.js';
import type { FailingRevision, HostIdentity, RoundError, RoundRecord, RoundStage, RoundTrigger, StackStatus } from '../core/types.js';
import { ApplyFailedError, loadDesired, netnsOf, type Engine } from '../engine/index.js';
import type { GitSource } from '../git/source.js';
import { detectDrift, hasChanges } from '../plan/index.js';
import { readStatus, readSuspension, withRound, writeStatus } from './status.js';

/** What the agent logs to: structured records (pino's Logger and the CLI's logger both are one). */
export interface AgentLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  child(fields: Record<string, unknown>): AgentLog;
}

export interface AgentOptions {
  engine: Engine;
  source: GitSource;
  /** Directory of the manifests inside the repository (relative, inside it). */
  path: string;
  stack: string;
  host: HostIdentity;
  intervalMs: number;
  /** Repair drift of the applied revision (else only report it). */
  correctDrift: boolean;
  /** Verify commit signatures against this allowed-signers file. */
  allowedSigners?: string;
  lockTimeoutMs: number;
  /** Each round is one record on it, with the stack as a field. */
  log: AgentLog;
  /** Called after each recorded round (metrics). */
  onRound?: (round: RoundRecord, status: StackStatus) => void;
  /** One round per process (`--once`): recorded as such in the status. */
  once?: boolean;
  now?: () => Date;
  /** Longest a failing revision is held back (default: an hour, or the interval if longer). */
  maxBackoffMs?: number;
  /** Aborted by stop(); give the same one to the GitSource so that a fetch stops too. */
  abort?: AbortController;
}

class Interrupted extends Error {}

/** The manifests directory stays inside the checkout: an absolute path or `..` is refused. */
export function checkManifestPath(p: string): string {
  const norm = path.posix.normalize(p.replace(/\\/g, '/'));
  if (path.isAbsolute(p) || norm === '..' || norm.startsWith('../') || p.includes('\0')) {
    throw new KfnError('USAGE', `--path ${JSON.stringify(p)} must be a directory inside the repository`, { hint: 'give it relative to the repository root, e.g. manifests/edge' });
  }
  return norm === '' ? '.' : norm;
}

/**
 * How long a revision that failed `failures` times in a row is held back: the interval,
 * doubled at each further failure, at most `maxMs` (default an hour, or the interval if longer).
 */
export function backoffDelay(intervalMs: number, failures: number, maxMs?: number): number {
  const max = maxMs ?? Math.max(intervalMs, 3_600_000);
  return Math.min(intervalMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30), max);
}

const errorOf = (e: unknown): RoundError => {
  if (isKfnError(e)) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
};

export class ReconcileAgent {
  private readonly opts: AgentOptions;
  private readonly log: AgentLog;
  private readonly now: () => Date;
  private readonly startedAt: string;
  private stopping = false;
  private busy = false;
  private pending: RoundTrigger | undefined;
  private wake: ((t: RoundTrigger) => void) | undefined;
  readonly abort: AbortController;

  constructor(opts: AgentOptions) {
    this.opts = { ...opts, path: checkManifestPath(opts.path) };
    this.abort = opts.abort ?? new AbortController();
    this.log = opts.log.child({ stack: opts.stack });
    this.now = opts.now ?? (() => new Date());
    this.startedAt = this.now().toISOString();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** Rounds until stop(): one at start, then one per interval or per request. */
  async run(): Promise<void> {
    let trigger: RoundTrigger = 'start';
    while (!this.stopping) {
      await this.round(trigger);
      if (this.stopping) break;
      trigger = this.pending ?? (await this.sleep());
      this.pending = undefined;
    }
  }

  /** A round now (webhook, SIGHUP), or right after the one running. */
  requestRound(trigger: RoundTrigger): void {
    if (this.stopping) return;
    if (this.busy || !this.wake) this.pending = trigger;
    else this.wake(trigger);
  }

  /** Starts no new round; a fetch or a wait for the lock is abandoned, an apply runs to its end. */
  stop(): void {
    this.stopping = true;
    this.abort.abort();
    this.wake?.('interval');
  }

  private sleep(): Promise<RoundTrigger> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done('interval'), this.opts.intervalMs);
      const done = (t: RoundTrigger): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(t);
      };
      this.wake = done;
    });
  }

  private freshStatus(): StackStatus {
    return { version: 1, stack: this.opts.stack, source: { repo: this.opts.source.repo, ref: this.opts.source.ref, path: this.opts.path }, history: [] };
  }

  /** One round; resolves with what it did (also recorded in the status and logged). */
  async round(trigger: RoundTrigger): Promise<RoundRecord> {
    this.busy = true;
    try {
      return await this.doRound(trigger);
    } finally {
      this.busy = false;
    }
  }

  private async doRound(trigger: RoundTrigger): Promise<RoundRecord> {
    const o = this.opts;
    const startedAt = this.now().toISOString();
    const status: StackStatus = { ...(readStatus(o.engine.paths.stateDir, o.stack) ?? this.freshStatus()) };
    status.source = { repo: o.source.repo, ref: o.source.ref, path: o.path };
    status.agent = { pid: process.pid, startedAt: this.startedAt, intervalMs: o.intervalMs, once: o.once === true, hostname: o.host.hostname, labels: o.host.labels };
    const finish = (r: Omit<RoundRecord, 'startedAt' | 'finishedAt' | 'trigger'>, next: StackStatus = status, heldBack = false): RoundRecord => {
      const round: RoundRecord = { startedAt, finishedAt: this.now().toISOString(), trigger, ...r };
      const recorded = heldBack ? { ...next, lastRound: round } : withRound(next, round);
      writeStatus(o.engine.paths.stateDir, recorded);
      this.logRound(round, recorded);
      o.onRound?.(round, recorded);
      return round;
    };

    if (readSuspension(o.engine.paths.stateDir, o.stack)) return finish({ outcome: 'suspended' });

    let fetched: string;
    try {
      fetched = await o.source.fetch();
    } catch (e) {
      if (this.stopping) return this.abandoned(startedAt, trigger, 'fetch', e);
      return finish({ outcome: 'failed', stage: 'fetch', error: errorOf(e) });
    }

    // A revision that failed is held back until its retry time; meanwhile the last
    // applied one stays in place (its drift is corrected).
    const failing = status.failing;
    const heldBack = failing !== undefined && failing.revision === fetched && this.now().getTime() < Date.parse(failing.nextRetryAt);
    if (heldBack && !status.lastApplied) {
      return finish({ outcome: 'failed', revision: fetched, fetched, stage: failing.stage, error: failing.error }, status, true);
    }
    const target = heldBack ? status.lastApplied!.revision : fetched;
    const isNew = target !== status.lastApplied?.revision;

    let stage: RoundStage = 'fetch';
    let drift: number | undefined;
    try {
      const tree = await o.source.checkout(target);
      if (o.allowedSigners) {
        stage = 'verify';
        await o.source.verify(target, o.allowedSigners);
      }
      stage = 'validate';
      const desired = loadDesired(path.join(tree, o.path), { stack: o.stack, revision: target });
      stage = 'plan';
      const done = await o.engine.transaction(
        'kfn reconcile',
        o.lockTimeoutMs,
        async (tx) => {
          if (this.stopping) throw new Interrupted();
          const live = tx.readLive(netnsOf(desired));
          drift = detectDrift(live, { stack: o.stack }).chains.reduce((n, c) => n + c.drift.length, 0);
          const p = o.engine.plan(desired, live, { host: o.host });
          if (!hasChanges(p)) return { outcome: isNew ? ('applied' as const) : ('in-sync' as const), summary: p.summary };
          if (!isNew && !o.correctDrift) return { outcome: 'drift-reported' as const, summary: p.summary };
          stage = 'apply';
          tx.apply(p, { live, converge: desired, host: o.host });
          return { outcome: isNew ? ('applied' as const) : ('drift-corrected' as const), summary: p.summary };
        },
        this.abort.signal,
      );
      const at = this.now().toISOString();
      const next: StackStatus = { ...status };
      if (isNew) {
        next.lastApplied = { revision: target, at };
        next.lastAttempt = { revision: target, at, outcome: done.outcome };
        delete next.failing;
      }
      return finish({ outcome: done.outcome, revision: target, fetched, summary: done.summary, ...(drift !== undefined ? { drift } : {}) }, next, heldBack);
    } catch (e) {
      if (e instanceof Interrupted || (isKfnError(e) && e.code === 'INTERRUPTED' && this.stopping)) return this.abandoned(startedAt, trigger, stage, e, target);
      const error = errorOf(e);
      const restored = e instanceof ApplyFailedError ? e.restored : undefined;
      const next: StackStatus = { ...status };
      if (isNew) {
        const at = this.now();
        const failures = failing?.revision === target ? failing.failures + 1 : 1;
        const f: FailingRevision = {
          revision: target,
          failures,
          since: failing?.revision === target ? failing.since : at.toISOString(),
          nextRetryAt: new Date(at.getTime() + backoffDelay(o.intervalMs, failures, o.maxBackoffMs)).toISOString(),
          stage,
          error,
        };
        next.failing = f;
        next.lastAttempt = { revision: target, at: at.toISOString(), outcome: 'failed', error };
      }
      return finish({ outcome: 'failed', revision: target, fetched, stage, error, ...(restored !== undefined ? { restored } : {}), ...(drift !== undefined ? { drift } : {}) }, next, heldBack);
    }
  }

  /** A round cut short by stop() before it changed anything: logged, not recorded. */
  private abandoned(startedAt: string, trigger: RoundTrigger, stage: RoundStage, e: unknown, revision?: string): RoundRecord {
    this.log.info({ revision: revision ?? null, stage }, 'stopping: round abandoned before it changed anything');
    const error = e instanceof Interrupted ? { code: 'INTERRUPTED', message: 'stopped before applying' } : errorOf(e);
    return { startedAt, finishedAt: this.now().toISOString(), trigger, outcome: 'failed', stage, error, ...(revision ? { revision } : {}) };
  }

  private logRound(r: RoundRecord, s: StackStatus): void {
    const fields = {
      startedAt: r.startedAt,
      revision: r.revision ?? null,
      fetched: r.fetched ?? null,
      trigger: r.trigger,
      outcome: r.outcome,
      ...(r.stage && r.outcome === 'failed' ? { stage: r.stage } : {}),
      ...(r.error ? { error: r.error } : {}),
      ...(r.summary ? { summary: r.summary } : {}),
      ...(r.drift !== undefined ? { drift: r.drift } : {}),
      ...(r.restored !== undefined ? { restored: r.restored } : {}),
      ...(s.failing ? { heldBack: { revision: s.failing.revision, failures: s.failing.failures, nextRetryAt: s.failing.nextRetryAt } } : {}),
      durationMs: Date.parse(r.finishedAt) - Date.parse(r.startedAt),
    };
    const msg = `reconcile round: ${r.outcome}${r.revision ? ` ${r.revision.slice(0, 12)}` : ''}`;
    if (r.outcome === 'failed') this.log.error(fields, msg);
    else if (r.outcome === 'drift-reported') this.log.warn(fields, msg);
    else this.log.info(fields, msg);
  }
}
