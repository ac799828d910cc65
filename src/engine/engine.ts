/**
 * The library every caller uses (CLI, benches, tests, the coming agents): plan = the
 * pure diff plus the chain form's compiled steps; apply = lock, crash recovery,
 * write-ahead journal, the plan's steps exactly, rollback checked against the pre-apply
 * snapshot, convergence check. No process-global state: one process may hold several
 * engines and call them repeatedly.
 */
import { KfnError } from '../core/errors.js';
import { ObjectFiles } from '../core/objects.js';
import type { KfnPaths } from '../core/config.js';
import { attachmentKey, probeKey, type Attachment, type DesiredState, type HostIdentity, type JournalSummary, type LiveChain, type LiveProbe, type LiveState, type Plan } from '../core/types.js';
import type { ChainForm } from '../forms/form.js';
import { tailcallForm } from '../forms/tailcall/index.js';
import { liveFingerprint, plan as diff } from '../plan/index.js';
import { netnsOf } from './desired.js';
import { ApplyOutcome, type EngineEvent, type EventSink } from './events.js';
import { ApplyFailedError, executeSteps, type FaultInjection } from './executor.js';
import { Journal, clearJournals, inspectJournal, journalPresent, recover, summarizeJournal } from './journal.js';
import { requirePinRootWritable } from './access.js';
import { hostId, hostMismatch, isHostId } from './provenance.js';
import { acquireLock, type Lock } from './lock.js';
import { previewPackets, runPacketTests, type PacketPreview, type PacketTestReport } from './packets.js';
import type { LoadedPacketTests } from '../packets/index.js';
import { readSample, type SampleOptions } from './sample.js';
import type { Sample } from '../visibility/sample.js';

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
  /** After apply, the plan of these manifests against the kernel must be empty... */
  converge?: DesiredState;
  /** ...on this host (the one the plan was made for). */
  host?: HostIdentity;
}

export interface PlanOptions {
  /** The host applying the plan, for the chains' host selectors (absent: every chain applies). */
  host?: HostIdentity;
}

/** What a destroy plan removes; an absent filter selects everything. */
export interface DestroyScope {
  chains?: (c: LiveChain) => boolean;
  stacks?: (stack: string) => boolean;
  probes?: (p: LiveProbe) => boolean;
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

/** The attachments whose chains the plan's steps change, and the keys of those and of the probes they change. */
function touchedBy(p: Pick<Plan, 'steps'>): { attachments: Attachment[]; scope: Set<string> } {
  const out = new Map<string, Attachment>();
  const scope = new Set<string>();
  for (const s of p.steps) {
    if (s.probe !== undefined) scope.add(probeKey(s.probe));
    else if (s.chain) out.set(attachmentKey(s.chain), s.chain);
  }
  for (const k of out.keys()) scope.add(k);
  return { attachments: [...out.values()], scope };
}

export class Engine {
  readonly paths: KfnPaths;
  readonly form: ChainForm;
  private readonly emit: EventSink;
  private readonly now: () => Date;
  /** Plans this engine compiled from its own reading: only a plan from elsewhere (a file) is an input to check. */
  private readonly ownPlans = new WeakSet<Plan>();

  constructor(private readonly opts: EngineOptions) {
    this.paths = opts.paths;
    this.form = opts.form ?? tailcallForm;
    this.emit = opts.onEvent ?? (() => {});
    this.now = opts.now ?? (() => new Date());
  }

  /** kfn's chains plus the interfaces and hooks of the given namespaces; with `only`, just those chains (ReadOptions). */
  readLive(netns: Iterable<string> = [], only?: readonly Attachment[]): LiveState {
    return this.form.read({ pinRoot: this.paths.pinRoot, netns: [...new Set(netns)], ...(only ? { only } : {}) });
  }

  /** Counters (and with `flows`, flow tables) of the selected live chains, read now (`kfn stats`, `kfn top`). */
  sample(opts: SampleOptions = {}): Sample {
    return readSample(this.form, this.readLive(), opts, (e) => this.emit({ type: 'warning', message: `an instance went away while its counters were read: ${e instanceof Error ? e.message : String(e)}` }));
  }

  /**
   * The whole instruction: what differs and why, and every step apply will run. What the
   * kernel lacks for the desired state (a probe kind, tracefs...) fails here, first.
   */
  plan(desired: DesiredState, live: LiveState, opts: PlanOptions = {}): Plan {
    if (!this.form.preflight && desired.probes?.length) {
      throw new KfnError('PROBE_KIND_UNSUPPORTED', `the ${this.form.name} chain form builds no probes (the manifests have ${desired.probes.length})`, { hint: 'use the tail-call form' });
    }
    this.form.preflight?.(desired);
    const t0 = performance.now();
    const planned = diff(desired, live, { now: this.now(), ...(opts.host ? { host: opts.host } : {}) });
    const { changes, steps } = this.form.compile(planned, { pinRoot: this.paths.pinRoot, live });
    const p: Plan = { ...planned, changes, formatVersion: 2, form: this.form.name, pinRoot: this.paths.pinRoot, host: hostId(), steps };
    this.emit({ type: 'planned', seconds: (performance.now() - t0) / 1000, summary: p.summary, steps: steps.length });
    this.ownPlans.add(p);
    return p;
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

  /**
   * A plan that removes what `scope` selects (everything by default): live chains, the
   * stack records of the stacks it empties, and probes.
   */
  planDestroy(live: LiveState, scope: DestroyScope = {}, manifestDigest = ''): Plan {
    const { chains = () => true, stacks = () => true, probes = () => true } = scope;
    const scoped: LiveState = {
      ...live,
      chains: live.chains.filter(chains),
      stacks: (live.stacks ?? []).filter((r) => stacks(r.stack)),
      probes: (live.probes ?? []).filter(probes),
      foreign: [],
    };
    // Stale is judged on the whole host, not only on the chains in scope.
    return { ...this.plan({ chains: [], manifestDigest }, scoped), liveFingerprint: liveFingerprint(live) };
  }

  /**
   * Finishes what an interrupted apply left, if anything. Without the lock (an apply
   * is running), read-only callers go on and are told the state may be changing. A
   * journal kfn may not run is refused (JOURNAL_INVALID) and left for a human, never
   * executed; one whose writer still runs is left alone (a transaction fails LOCKED).
   */
  async recover(lock?: Lock): Promise<void> {
    if (!journalPresent(this.paths.stateDir)) return;
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
      const s = inspectJournal(this.paths.stateDir, this.form, this.paths.pinRoot);
      if (s.state === 'live' && !lock) return this.emit({ type: 'apply-in-progress', pid: s.body.pid, command: s.body.command });
      const report = recover(this.paths.stateDir, this.form, this.paths.pinRoot);
      if (!report) return;
      if (report.phase === 'apply' && s.state === 'pending' && s.body.before !== undefined && s.body.netns !== undefined) report.restored = this.restoredTo(s.body.netns, s.body.before);
      this.emit({ type: 'recovered', report });
    } finally {
      if (!lock) held.release();
    }
  }

  /**
   * Whether the live state is again what the fingerprint taken before an apply says.
   * Never fails the command: a namespace gone since leaves it unknown.
   */
  private restoredTo(netns: string[], before: string): boolean | undefined {
    try {
      return liveFingerprint(this.readLive(netns)) === before;
    } catch {
      return undefined;
    }
  }

  /** The journal as recovery would judge it (nothing runs): `kfn journal show`. */
  journalStatus(): JournalSummary {
    return summarizeJournal(this.paths.stateDir, this.form, this.paths.pinRoot);
  }

  /**
   * Drops the journal without running it, and the journals kept for inspection, holding
   * the lock. Never the journal of a running apply; one recovery would still run only
   * with `force` (recovering it is almost always what is wanted: kfn plan does).
   */
  async clearJournal(force: boolean, lockTimeoutMs = 0): Promise<string[]> {
    const lock = await acquireLock(this.paths.stateDir, 'kfn journal clear', lockTimeoutMs);
    try {
      const s = inspectJournal(this.paths.stateDir, this.form, this.paths.pinRoot);
      if (s.state === 'live') throw s.error;
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

  /** Runs `fn` holding the apply lock, after recovery; an aborted `signal` stops the wait for the lock. */
  async transaction<T>(command: string, lockTimeoutMs: number, fn: (tx: Transaction) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const lock = await acquireLock(this.paths.stateDir, command, lockTimeoutMs, signal);
    try {
      await this.recover(lock);
      return await fn({ readLive: (netns) => this.readLive(netns), apply: (p, o) => this.applyTimed(p, o ?? {}) });
    } finally {
      lock.release();
    }
  }

  private applyTimed(p: Plan, opts: ApplyOptions): ApplyResult {
    const t0 = performance.now();
    const done = (outcome: ApplyOutcome): void => this.emit({ type: 'applied', seconds: (performance.now() - t0) / 1000, outcome, steps: p.steps.length });
    let result: ApplyResult;
    try {
      result = this.applyLocked(p, opts);
    } catch (e) {
      done(e instanceof ApplyFailedError && e.restored ? ApplyOutcome.RolledBack : ApplyOutcome.Failed);
      throw e;
    }
    done(p.steps.length === 0 ? ApplyOutcome.NoOp : ApplyOutcome.Applied);
    return result;
  }

  /**
   * A plan is an instruction that may come from a file: for this host, pin root and form,
   * and every step kfn's own. Apply checks it again; a caller checks a saved plan before
   * showing it too, so that no forged step is ever printed as what kfn will do.
   */
  checkPlan(p: Plan): void {
    if (p.pinRoot !== this.paths.pinRoot || p.form !== this.form.name) {
      throw new KfnError('PLAN_MISMATCH', `the plan was made for pin root ${p.pinRoot} (${p.form} form), this kfn manages ${this.paths.pinRoot} (${this.form.name} form)`, {
        hint: 'make the plan with the same KFN_PIN_ROOT on this host',
      });
    }
    const other = isHostId(p.host) ? hostMismatch(p.host) : 'it records no host';
    if (other) throw new KfnError('PLAN_MISMATCH', `the plan is for another kernel: ${other}`, { hint: 'make the plan on this host: kfn plan -o FILE' });
    for (const [i, step] of p.steps.entries()) {
      const bad = this.form.checkStep(step, this.paths.pinRoot);
      if (bad) throw new KfnError('PLAN_INVALID', `step ${i + 1} of the plan (${String(step.description)}) is refused: ${bad}`, { hint: 'make a new plan with kfn plan; a plan file is an instruction: keep it where only root can write' });
    }
  }

  private applyLocked(p: Plan, opts: ApplyOptions): ApplyResult {
    if (!this.ownPlans.has(p)) this.checkPlan(p);
    const live = opts.live ?? this.readLive(planNetns(p));
    const before = liveFingerprint(live);
    if (before !== p.liveFingerprint) {
      throw new KfnError('PLAN_STALE', 'the plan is stale: the live kernel state changed since it was made', { hint: 'run kfn plan again' });
    }
    if (p.steps.length === 0) return { executed: [], warnings: [] };
    // The checks after the steps read again only what the steps change: every other chain
    // was just found as planned (the fingerprint), the lock keeps every other kfn out, and
    // no step touches it.
    const { attachments: touched, scope } = touchedBy(p);
    const beforeTouched = liveFingerprint(live, scope);
    requirePinRootWritable(this.paths.pinRoot);
    const journal = Journal.begin(this.paths.stateDir, this.opts.command ?? process.argv.slice(1).join(' '), this.paths.pinRoot, this.form.name, { netns: planNetns(p), fingerprint: before });
    let result;
    try {
      result = executeSteps(p, {
        form: this.form,
        run: { pinRoot: this.paths.pinRoot, now: this.now, objects: new ObjectFiles(), background: true },
        recorder: journal,
        emit: this.emit,
        ...(this.opts.faults ? { faults: this.opts.faults } : {}),
      });
      journal.finish();
    } catch (e) {
      if (!(e instanceof ApplyFailedError)) throw e;
      if (e.rollbackErrors.length) journal.close();
      else journal.finish();
      e.restored = liveFingerprint(this.readLive(planNetns(p), touched), scope) === beforeTouched;
      if (e.restored) this.emit({ type: 'verified', what: 'restored' });
      throw e;
    }
    for (const w of result.warnings) this.emit({ type: 'warning', message: w });
    if (opts.converge) this.verifyConverged(opts.converge, touched, scope, opts.host);
    return result;
  }

  /** After apply the plan of the chains it changed must be empty; anything else is a bug worth reporting loudly. */
  private verifyConverged(desired: DesiredState, touched: readonly Attachment[], scope: ReadonlySet<string>, host: HostIdentity | undefined): void {
    const again = diff(desired, this.readLive(netnsOf(desired), touched), { now: this.now(), ...(host ? { host } : {}) });
    // The chains outside `touched` were not read again (the diff sees them missing): only the touched ones count.
    if (again.changes.some((c) => scope.has(attachmentKey(c.attachment)) && c.action !== 'noop') || (again.probes ?? []).some((c) => scope.has(probeKey(c.name)) && c.action !== 'noop')) {
      throw new KfnError('APPLY_NOT_CONVERGED', 'apply finished but the live state still differs from the manifests', {
        hint: 'run kfn plan to see the difference; please report it',
      });
    }
    this.emit({ type: 'verified', what: 'converged' });
  }
}

export type { EngineEvent };
