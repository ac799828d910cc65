/**
 * The library every caller uses (CLI, benches, tests, the coming agents): plan = the
 * pure diff plus the chain form's compiled steps; apply = lock, crash recovery,
 * write-ahead journal, the plan's steps exactly, rollback checked against the pre-apply
 * snapshot, convergence check. No process-global state: one process may hold several
 * engines and call them repeatedly.
 */
import { KfnError } from '../core/errors.js';
import type { KfnPaths } from '../core/config.js';
import type { DesiredState, JournalSummary, LiveChain, LiveState, Plan } from '../core/types.js';
import type { ChainForm } from '../forms/form.js';
import { tailcallForm } from '../forms/tailcall/index.js';
import { hasChanges, liveFingerprint, plan as diff } from '../plan/index.js';
import { netnsOf } from './desired.js';
import type { EngineEvent, EventSink } from './events.js';
import { ApplyFailedError, executeSteps, type FaultInjection } from './executor.js';
import { Journal, clearJournals, inspectJournal, journalPath, recover, summarizeJournal, type JournalState } from './journal.js';
import { acquireLock, type Lock } from './lock.js';
import { requirePinRootWritable } from './access.js';
import { hostId, hostMismatch, isHostId } from './host.js';
import { previewPackets, runPacketTests, type PacketPreview, type PacketTestReport } from './packets.js';
import type { LoadedPacketTests } from '../packets/index.js';
import fs from 'node:fs';

export interface EngineOptions {
  paths: KfnPaths;
  form?: ChainForm;
  onEvent?: EventSink;
  /** Clock for plan timestamps and metadata (tests pin it). */
  now?: () => Date;
  /** Test-only (docs/testing.md). */
  faults?: FaultInjection;
  /** How the lock and the journal name this caller (pid, command line). */
  command?: string;
}

export interface ApplyOptions {
  /** The live state the plan was made from in this transaction (saves a re-read). */
  live?: LiveState;
  /** After apply, the plan of these manifests against the kernel must be empty. */
  converge?: DesiredState;
}

export interface ApplyResult {
  executed: string[];
  warnings: string[];
}

export interface Transaction {
  readLive(netns?: Iterable<string>): LiveState;
  apply(plan: Plan, opts?: ApplyOptions): ApplyResult;
}

export const planNetns = (p: Pick<Plan, 'changes'>): string[] => [...new Set(p.changes.map((c) => c.attachment.netns))];

export class Engine {
  readonly paths: KfnPaths;
  readonly form: ChainForm;
  private readonly emit: EventSink;
  private readonly now: () => Date;

  constructor(private readonly opts: EngineOptions) {
    this.paths = opts.paths;
    this.form = opts.form ?? tailcallForm;
    this.emit = opts.onEvent ?? (() => {});
    this.now = opts.now ?? (() => new Date());
  }

  /** kfn's chains plus the interfaces and hooks of the given namespaces. */
  readLive(netns: Iterable<string> = []): LiveState {
    return this.form.read({ pinRoot: this.paths.pinRoot, netns: [...new Set(netns)] });
  }

  /** The whole instruction: what differs and why, and every step apply will run. */
  plan(desired: DesiredState, live: LiveState): Plan {
    const planned = diff(desired, live, { now: this.now() });
    const { changes, steps } = this.form.compile(planned, { pinRoot: this.paths.pinRoot, live });
    return { ...planned, changes, formatVersion: 2, form: this.form.name, pinRoot: this.paths.pinRoot, host: hostId(), steps };
  }

  /**
   * Every case through a private shadow of the desired chain it names (`kfn test`).
   * Touches no live chain, map or counter, and needs no interface.
   */
  testPackets(desired: DesiredState, tests: LoadedPacketTests): PacketTestReport {
    return runPacketTests(this.form, desired, tests);
  }

  /** The cases through shadows of the live and of the planned chains: which packets change verdict (`kfn plan --packets`). */
  previewPackets(p: Pick<Plan, 'changes'>, live: LiveState, desired: DesiredState, tests: LoadedPacketTests): PacketPreview {
    return previewPackets(this.form, p, live, desired, tests);
  }

  /** A plan that removes the live chains `inScope` selects (all of them by default). */
  planDestroy(live: LiveState, inScope: (c: LiveChain) => boolean = () => true, manifestDigest = ''): Plan {
    const scoped: LiveState = { ...live, chains: live.chains.filter(inScope), foreign: [] };
    // Stale is judged on the whole host, not only on the chains in scope.
    return { ...this.plan({ chains: [], manifestDigest }, scoped), liveFingerprint: liveFingerprint(live) };
  }

  /**
   * Finishes what an interrupted apply left, if anything. Without the lock (an apply
   * is running), read-only callers go on and are told the state may be changing. A
   * journal kfn may not run is refused (JOURNAL_INVALID) and left for a human, never
   * executed; one whose writer still runs is left alone (a transaction then fails LOCKED:
   * it must not race it).
   */
  async recover(lock?: Lock): Promise<void> {
    if (!lstatExists(journalPath(this.paths.stateDir))) return;
    let held = lock;
    if (!held) {
      try {
        held = await acquireLock(this.paths.stateDir, 'recover');
      } catch (e) {
        if (e instanceof KfnError && e.code === 'LOCKED') return this.emit({ type: 'apply-in-progress' });
        throw e;
      }
    }
    try {
      this.recoverLocked(inspectJournal(this.paths.stateDir, this.form, this.paths.pinRoot), lock !== undefined);
    } finally {
      if (!lock) held.release();
    }
  }

  private recoverLocked(s: JournalState, transaction: boolean): void {
    switch (s.state) {
      case 'none':
        return;
      case 'invalid':
        // Nothing of it runs, and nothing else either: a human looks first (kfn journal show / clear).
        throw new KfnError('JOURNAL_INVALID', `journal ${journalPath(this.paths.stateDir)} is not one kfn will run: ${s.reason}`, {
          hint: 'nothing of it was run; inspect it with kfn journal show, check the kernel (bpftool), then remove it with kfn journal clear',
        });
      case 'live': {
        if (!transaction) return this.emit({ type: 'apply-in-progress', pid: s.body.pid, command: s.body.command });
        throw new KfnError('LOCKED', `an apply is still running: pid ${s.body.pid} (${s.body.command}, started ${s.body.startedAt}) owns the journal ${journalPath(this.paths.stateDir)}`, {
          hint: 'wait for it to finish (was the lock file removed while it ran?); kfn never recovers a journal whose writer is alive',
        });
      }
      case 'other-pin-root': {
        if (!transaction) return this.emit({ type: 'journal-elsewhere', pinRoot: s.body.pinRoot });
        throw new KfnError('JOURNAL_EXISTS', `the journal ${journalPath(this.paths.stateDir)} belongs to an interrupted apply on pin root ${s.body.pinRoot}, not ${this.paths.pinRoot}`, {
          hint: `recover it with KFN_PIN_ROOT=${s.body.pinRoot} kfn plan, or inspect it with kfn journal show and drop it with kfn journal clear`,
        });
      }
      case 'pending': {
        const report = recover(this.paths.stateDir, this.form, s.body, this.paths.pinRoot);
        if (report.phase === 'apply' && s.body.before !== undefined && s.body.netns !== undefined) {
          try {
            report.restored = liveFingerprint(this.readLive(s.body.netns)) === s.body.before;
          } catch {
            // Verified only where it can be: a namespace gone since leaves `restored` unknown, not the command failed.
          }
        }
        return this.emit({ type: 'recovered', report });
      }
    }
  }

  /** The journal as recovery would judge it (nothing runs): `kfn journal show`. */
  journalStatus(): JournalSummary {
    return summarizeJournal(this.paths.stateDir, this.form, this.paths.pinRoot);
  }

  /**
   * Drops the journal without running it, and the journals kept for inspection, holding
   * the lock. Never the journal of a running apply; a journal recovery would still run
   * only with `force` (recovering it is almost always what is wanted: kfn plan does).
   */
  async clearJournal(force: boolean, lockTimeoutMs = 0): Promise<string[]> {
    const lock = await acquireLock(this.paths.stateDir, 'kfn journal clear', lockTimeoutMs);
    try {
      const s = inspectJournal(this.paths.stateDir, this.form, this.paths.pinRoot);
      if (s.state === 'live') {
        throw new KfnError('LOCKED', `the journal belongs to a running apply: pid ${s.body.pid} (${s.body.command}, started ${s.body.startedAt})`, { hint: 'wait for it to finish' });
      }
      if (s.state === 'pending' && !force) {
        throw new KfnError('JOURNAL_EXISTS', `the journal of the interrupted apply of pid ${s.body.pid} (${s.body.command}) can still be recovered`, {
          hint: 'run kfn plan to recover it (undoing its steps); kfn journal clear --force drops it without undoing anything',
        });
      }
      return clearJournals(this.paths.stateDir);
    } finally {
      lock.release();
    }
  }

  /** Runs `fn` holding the apply lock, after recovery. */
  async transaction<T>(command: string, lockTimeoutMs: number, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const lock = await acquireLock(this.paths.stateDir, command, lockTimeoutMs);
    try {
      await this.recover(lock);
      return await fn({ readLive: (netns) => this.readLive(netns), apply: (p, o) => this.applyLocked(p, o ?? {}) });
    } finally {
      lock.release();
    }
  }

  /** A plan is an instruction from a file: it must be for this host, pin root and form, and every step kfn's own. */
  private checkPlan(p: Plan): void {
    if (p.pinRoot !== this.paths.pinRoot || p.form !== this.form.name) {
      throw new KfnError('PLAN_MISMATCH', `the plan was made for pin root ${p.pinRoot} (${p.form} form), this kfn manages ${this.paths.pinRoot} (${this.form.name} form)`, {
        hint: 'make the plan with the same KFN_PIN_ROOT on this host',
      });
    }
    const other = isHostId(p.host) ? hostMismatch(p.host) : 'it records no host';
    if (other) throw new KfnError('PLAN_MISMATCH', `the plan is for another kernel: ${other}`, { hint: 'make the plan on this host: kfn plan -o FILE' });
    for (const [i, step] of p.steps.entries()) {
      const bad = this.form.checkStep(step, this.paths.pinRoot);
      if (bad) throw new KfnError('PLAN_INVALID', `step ${i + 1} of the plan (${step.description}) is refused: ${bad}`, { hint: 'make a new plan with kfn plan; a plan file is an instruction, keep it where only root can write' });
    }
  }

  private applyLocked(p: Plan, opts: ApplyOptions): ApplyResult {
    this.checkPlan(p);
    const live = opts.live ?? this.readLive(planNetns(p));
    const before = liveFingerprint(live);
    if (before !== p.liveFingerprint) {
      throw new KfnError('PLAN_STALE', 'the plan is stale: the live kernel state changed since it was made', { hint: 'run kfn plan again' });
    }
    if (p.steps.length === 0) return { executed: [], warnings: [] };
    requirePinRootWritable(this.paths.pinRoot);
    const journal = Journal.begin(this.paths.stateDir, {
      command: this.opts.command ?? process.argv.slice(1).join(' '),
      pinRoot: this.paths.pinRoot,
      form: this.form.name,
      netns: planNetns(p),
      before,
    });
    let result;
    try {
      result = executeSteps(p, {
        form: this.form,
        run: { pinRoot: this.paths.pinRoot, now: this.now },
        recorder: journal,
        emit: this.emit,
        ...(this.opts.faults ? { faults: this.opts.faults } : {}),
      });
      journal.finish();
    } catch (e) {
      if (!(e instanceof ApplyFailedError)) throw e;
      if (!e.rollbackErrors.length) journal.finish();
      e.restored = liveFingerprint(this.readLive(planNetns(p))) === before;
      if (e.restored) this.emit({ type: 'verified', what: 'restored' });
      throw e;
    }
    for (const w of result.warnings) this.emit({ type: 'warning', message: w });
    if (opts.converge) this.verifyConverged(opts.converge);
    return result;
  }

  /** After apply the plan must be empty; anything else is a bug worth reporting loudly. */
  private verifyConverged(desired: DesiredState): void {
    const again = diff(desired, this.readLive(netnsOf(desired)), { now: this.now() });
    if (hasChanges(again)) {
      throw new KfnError('APPLY_NOT_CONVERGED', 'apply finished but the live state still differs from the manifests', {
        hint: 'run kfn plan to see the difference; please report it',
      });
    }
    this.emit({ type: 'verified', what: 'converged' });
  }
}

function lstatExists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

export type { EngineEvent };
