/**
 * The apply journal: <stateDir>/journal.json, an append-only log with one record per
 * line, each line `<checksum> <json>` where the checksum is the sha256 of the previous
 * line's checksum and this line's JSON (a chain: an edited, removed or reordered line
 * fails it). Each step is appended with its undo operations BEFORE it runs
 * (write-ahead), so a process killed at any instant leaves enough to restore the
 * pre-apply state. Undo operations are idempotent; replaying one that never took
 * effect is harmless. Appending costs the same for every step, however long the plan.
 *
 * The records a recovery depends on (the beginning, each step's undo operations before
 * the step runs, the commit point) are fdatasync'ed before the caller goes on, so the
 * journal is write-ahead on disk as well as in the page cache; a step's `done` is
 * written with the next record, never alone, and never synced (undoing a step that
 * completed is the same as undoing one that did not finish: `done` only tells a person
 * reading the journal how far it got). That is at most one fdatasync per step, the
 * same for every step however long the plan; on the default state dir (/run, tmpfs) it
 * costs next to nothing.
 * Steps whose undo operations are harmless when the step never ran (see
 * ChainForm.independentUndo: a deploy's loads) are announced together, several intend
 * records in one write and one fdatasync, before the first of them runs; `done`
 * records then mark the announced steps in order.
 *
 * A last line without its newline is an append the process did not finish: the call
 * that wrote it never returned, so the step it announces never ran, and it is ignored.
 * Any other damage makes the journal invalid.
 *
 * The journal is an input, never trusted: it is read only as a regular file (no symbolic
 * link, no FIFO, bounded) owned by this user and writable by nobody else, every record
 * is shape-checked, a journal of another pin root is left to the kfn that manages it,
 * and a journal whose writer still runs (pid, start time and boot) is never recovered:
 * with its lock file removed by hand, a second apply would undo a live one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import { ObjectFiles } from '../core/objects.js';
import { sha256Hex } from '../core/digest.js';
import type { JournalSummary, PlannedStep } from '../core/types.js';
import type { ChainForm } from '../forms/form.js';
import { InputFileError, readRegularFile } from '../core/files.js';
import { isProcessRef, isRunning, selfRef, type ProcessRef } from './provenance.js';
import { ensureStateDir } from './lock.js';
import type { StepIntent } from './executor.js';
import type { RecoveryReport } from './events.js';

export const JOURNAL_VERSION = 3;

export interface JournalStep {
  description: string;
  /** The chain form's undo operations (plain data). */
  undo: unknown[];
  done: boolean;
}

/** What the log says, replayed: the header, the steps so far and, after the commit point, what is left to release. */
interface JournalBody {
  version: number;
  /** The chain form whose operations the journal holds. */
  form: string;
  pid: number;
  /** The writing process (pid, start time, boot): a journal whose writer still runs is live. */
  writer?: ProcessRef;
  command: string;
  startedAt: string;
  pinRoot: string;
  /** Namespaces the apply read, and the fingerprint of the live state before it: what recovery checks it restored. */
  netns?: string[];
  before?: string;
  /** `apply`: steps may need undoing. `release`: committed, only cleanup is left. */
  phase: 'apply' | 'release';
  steps: JournalStep[];
  /** Release steps still to run after the commit point (idempotent). */
  release: PlannedStep[];
}

type Header = Omit<JournalBody, 'phase' | 'steps' | 'release'>;

type JournalRecord =
  | ({ t: 'begin' } & Header)
  | { t: 'intend'; description: string; undo: unknown[] }
  | { t: 'done' }
  /** The commit point. */
  | { t: 'release'; steps: PlannedStep[] };

export const journalPath = (stateDir: string): string => path.join(stateDir, 'journal.json');

/** Something is at the journal's path (a symbolic link too, even a dangling one: it is judged, not skipped). */
export function journalPresent(stateDir: string): boolean {
  try {
    fs.lstatSync(journalPath(stateDir));
    return true;
  } catch {
    return false;
  }
}

const CHECKSUM_LENGTH = 64;
const nextChecksum = (previous: string, json: string): string => sha256Hex(`${previous}\n${json}`);

export class Journal {
  private checksum = '';
  private closed = false;
  /** `done` records not yet written: they go out with the next record (nothing depends on them). */
  private pendingDone = 0;

  private constructor(
    private readonly file: string,
    private readonly fd: number,
  ) {}

  static begin(stateDir: string, command: string, pinRoot: string, form: string, before?: { netns: string[]; fingerprint: string }): Journal {
    ensureStateDir(stateDir);
    const file = journalPath(stateDir);
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      throw new KfnError('JOURNAL_EXISTS', `an unfinished journal exists at ${file}`, { hint: 'run kfn plan to recover first' });
    }
    const j = new Journal(file, fd);
    j.append({
      t: 'begin',
      version: JOURNAL_VERSION,
      form,
      pid: process.pid,
      writer: selfRef(),
      command,
      startedAt: new Date().toISOString(),
      pinRoot,
      ...(before ? { netns: before.netns, before: before.fingerprint } : {}),
    });
    // The new file's name is durable too: a journal that vanished on disk could not be recovered.
    const dirFd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
    return j;
  }

  /** One line per record, all written before the caller goes on; `durable`: on disk too. */
  private append(records: JournalRecord | readonly JournalRecord[], durable = true): void {
    let text = '';
    const line = (record: JournalRecord): void => {
      const json = JSON.stringify(record);
      this.checksum = nextChecksum(this.checksum, json);
      text += `${this.checksum} ${json}\n`;
    };
    for (; this.pendingDone > 0; this.pendingDone--) line({ t: 'done' });
    for (const record of Array.isArray(records) ? records : [records]) line(record);
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(this.fd, bytes, off);
    if (durable) fs.fdatasyncSync(this.fd);
  }

  /** Records steps and how to undo them, before the first of them touches the kernel: one write, one fdatasync. */
  intend(steps: readonly StepIntent[]): void {
    this.append(steps.map((s): JournalRecord => ({ t: 'intend', description: s.description, undo: s.undo })));
  }

  /** The step announced first and not yet done is done: written with the next record, or on close. */
  done(): void {
    this.pendingDone++;
  }

  /** The commit point: from here on only cleanup remains. */
  releasing(steps: PlannedStep[]): void {
    this.append({ t: 'release', steps });
  }

  /** The apply is over (done, or rolled back completely): nothing is left to recover. */
  finish(): void {
    this.pendingDone = 0;
    this.close();
    fs.rmSync(this.file, { force: true });
  }

  /** Stops writing and leaves the journal for recovery (a rollback that did not complete). */
  close(): void {
    if (this.closed) return;
    if (this.pendingDone) this.append([], false);
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

const INVALID_HINT = 'nothing of it was run; inspect it with kfn journal show, check the kernel (kfn show, bpftool), then remove it with kfn journal clear';

function invalid(file: string, why: string): KfnError {
  return new KfnError('JOURNAL_INVALID', `journal ${file} ${why}`, { hint: INVALID_HINT });
}

/** Far more than the longest plan journals (a line per step). */
const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why one record is not of the journal's shape, or undefined. */
function recordProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'is not a record';
  switch (r.t) {
    case 'begin':
      for (const f of ['form', 'command', 'startedAt', 'pinRoot'] as const) if (typeof r[f] !== 'string') return `has no ${f}`;
      if (!Number.isSafeInteger(r.pid)) return 'has no pid';
      if (r.writer !== undefined && !isProcessRef(r.writer)) return 'names its writer wrongly';
      if (r.netns !== undefined && !(Array.isArray(r.netns) && r.netns.every((n) => typeof n === 'string'))) return 'names its namespaces wrongly';
      if (r.before !== undefined && typeof r.before !== 'string') return 'has a malformed fingerprint';
      return undefined;
    case 'intend':
      return typeof r.description === 'string' && Array.isArray(r.undo) ? undefined : 'is a malformed step';
    case 'done':
      return undefined;
    case 'release':
      return Array.isArray(r.steps) && r.steps.every((st) => isObj(st) && typeof st.description === 'string' && isObj(st.op)) ? undefined : 'is a malformed commit point';
    default:
      return 'is of no known kind';
  }
}

/** The records of a journal file, checksums verified; a last line cut short is dropped. */
function readRecords(file: string): JournalRecord[] {
  let text: string;
  try {
    text = readRegularFile(file, { maxBytes: MAX_JOURNAL_BYTES, noFollow: true, owner: process.geteuid?.() ?? 0 }).toString('utf8');
  } catch (e) {
    throw invalid(file, e instanceof InputFileError ? e.detail : `is unreadable: ${(e as Error).message}`);
  }
  if (text.startsWith('{')) throw invalid(file, 'was written by an older kfn (one JSON document, not a log): recover it with that kfn');
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or an append that never finished
  let checksum = '';
  return lines.map((line, i) => {
    const json = line.slice(CHECKSUM_LENGTH + 1);
    checksum = nextChecksum(checksum, json);
    if (line.slice(0, CHECKSUM_LENGTH) !== checksum || line[CHECKSUM_LENGTH] !== ' ') {
      throw invalid(file, `failed its checksum at line ${i + 1} (modified or truncated)`);
    }
    let r: unknown;
    try {
      r = JSON.parse(json);
    } catch (e) {
      throw invalid(file, `line ${i + 1} is not JSON: ${(e as Error).message}`);
    }
    const bad = recordProblem(r);
    if (bad) throw invalid(file, `line ${i + 1} ${bad}`);
    return r as JournalRecord;
  });
}

/** Replays the log into the state it describes. */
function readJournal(file: string): JournalBody {
  const records = readRecords(file);
  const head = records[0];
  if (!head || head.t !== 'begin') throw invalid(file, 'has no complete header (modified or truncated)');
  const { t: _t, ...header } = head;
  const body: JournalBody = { ...header, phase: 'apply', steps: [], release: [] };
  // Steps are announced ahead (several before the first runs) and done in order.
  let doneSoFar = 0;
  for (const [i, r] of records.slice(1).entries()) {
    const where = `line ${i + 2}`;
    if (body.phase === 'release') throw invalid(file, `has a record after its commit point (${where})`);
    if (r.t === 'intend') body.steps.push({ description: r.description, undo: r.undo, done: false });
    else if (r.t === 'done') {
      const next = body.steps[doneSoFar];
      if (!next) throw invalid(file, `marks a step done that was not announced (${where})`);
      next.done = true;
      doneSoFar++;
    } else if (r.t === 'release') {
      body.phase = 'release';
      body.release = r.steps;
    } else throw invalid(file, `has an unknown record (${where})`);
  }
  return body;
}

/** The journal as recovery judges it, before anything of it runs. */
export type JournalState =
  | { state: 'none' }
  /** Nothing of it may run: `error` says why (JOURNAL_INVALID). */
  | { state: 'invalid'; reason: string; error: KfnError }
  /** Its writer still runs (the lock file was removed?): never recovered. */
  | { state: 'live'; body: JournalBody; error: KfnError }
  /** Of another pin root: only the kfn managing that one may run it. */
  | { state: 'other-pin-root'; body: JournalBody; error: KfnError }
  | { state: 'pending'; body: JournalBody };

/**
 * Judges the journal without running any of it: readable and well-formed, of this form,
 * its writer gone, of this pin root, and every undo operation and release step one of
 * the form's own on kfn's pins under the pin root (form.checkUndo / checkStep).
 */
export function inspectJournal(stateDir: string, form: ChainForm, pinRoot: string): JournalState {
  const file = journalPath(stateDir);
  if (!journalPresent(stateDir)) return { state: 'none' };
  let body: JournalBody;
  try {
    body = readJournal(file);
  } catch (e) {
    if (e instanceof KfnError) return { state: 'invalid', reason: e.message, error: e };
    throw e;
  }
  if (body.version !== JOURNAL_VERSION || body.form !== form.name) {
    const error = new KfnError('JOURNAL_INVALID', `journal ${file} was written by another kfn (version ${String(body.version)}, form ${String(body.form)})`, {
      hint: 'recover it with the kfn that wrote it, or inspect it (kfn journal show) and remove it (kfn journal clear) once the kernel state is checked',
    });
    return { state: 'invalid', reason: error.message, error };
  }
  if (body.writer && body.writer.pid !== process.pid && isRunning(body.writer)) {
    const error = new KfnError('LOCKED', `journal ${file} belongs to an apply that still runs: pid ${body.writer.pid} (${body.command}, started ${body.startedAt})`, {
      hint: 'wait for it to finish; never remove the lock file of a running kfn',
    });
    return { state: 'live', body, error };
  }
  if (body.pinRoot !== pinRoot) {
    // Its undo operations name another pin root's objects: only the kfn managing that one may run them.
    const error = new KfnError('JOURNAL_EXISTS', `journal ${file} is for pin root ${body.pinRoot}, not ${pinRoot}`, {
      hint: `run kfn plan with KFN_PIN_ROOT=${body.pinRoot} to recover it`,
    });
    return { state: 'other-pin-root', body, error };
  }
  for (const [i, st] of body.steps.entries()) {
    for (const op of st.undo) {
      const bad = form.checkUndo(op, pinRoot);
      if (bad) return refuse(file, `step ${i + 1} (${st.description}) has an undo operation kfn will not run: ${bad}`);
    }
  }
  for (const st of body.release) {
    const bad = form.checkStep(st, pinRoot);
    if (bad) return refuse(file, `its release step "${st.description}" is one kfn will not run: ${bad}`);
  }
  return { state: 'pending', body };
}

function refuse(file: string, why: string): JournalState {
  const error = invalid(file, why);
  return { state: 'invalid', reason: error.message, error };
}

/** Journals recovery could not fully undo, kept for inspection (they block nothing). */
const KEPT = /^journal\.failed-[0-9TZ.-]+\.json$/;

export function keptJournals(stateDir: string): string[] {
  try {
    return fs
      .readdirSync(stateDir)
      .filter((f) => KEPT.test(f))
      .sort()
      .map((f) => path.join(stateDir, f));
  } catch {
    return [];
  }
}

/**
 * Finishes what an interrupted apply left: undoes its steps in reverse (before the
 * commit point) or completes its cleanup (after). An operation the kernel refuses
 * because the world changed since (a pin removed again, a program gone) is recorded with
 * why and recovery goes on with the rest: it never wedges the host. A journal not fully
 * carried out is then kept aside for inspection (kfn journal show, kfn journal clear),
 * blocking nothing. A journal kfn may not run throws (JOURNAL_INVALID, LOCKED,
 * JOURNAL_EXISTS) and nothing of it runs. Caller must hold the lock.
 */
export function recover(stateDir: string, form: ChainForm, pinRoot: string): RecoveryReport | undefined {
  const file = journalPath(stateDir);
  const s = inspectJournal(stateDir, form, pinRoot);
  if (s.state === 'none') return undefined;
  if (s.state !== 'pending') throw s.error;
  const { body } = s;
  const ctx = { pinRoot: body.pinRoot, now: () => new Date(), objects: new ObjectFiles() };
  const report: RecoveryReport = { pid: body.pid, command: body.command, startedAt: body.startedAt, phase: body.phase, undone: [], released: [], errors: [] };
  if (body.phase === 'apply') {
    for (const st of [...body.steps].reverse()) {
      for (const op of st.undo) {
        try {
          form.undo(op, ctx);
        } catch (e) {
          report.errors.push(`${form.describeUndo(op)}: ${(e as Error).message}`);
        }
      }
      report.undone.push(st.description);
    }
  } else {
    for (const step of body.release) {
      try {
        form.run(step, ctx);
        report.released.push(step.description);
      } catch (e) {
        report.errors.push(`${step.description}: ${(e as Error).message}`);
      }
    }
  }
  if (report.errors.length) {
    const kept = path.join(stateDir, `journal.failed-${new Date().toISOString().replace(/:/g, '-')}.json`);
    fs.renameSync(file, kept);
    report.keptAt = kept;
  } else fs.rmSync(file, { force: true });
  return report;
}

/** Removes the journal (without running it) and the journals kept for inspection; returns what it removed. */
export function clearJournals(stateDir: string): string[] {
  const files = [...(journalPresent(stateDir) ? [journalPath(stateDir)] : []), ...keptJournals(stateDir)];
  for (const f of files) fs.rmSync(f, { force: true });
  return files;
}

/** The journal as recovery would judge it, for people (`kfn journal show`): nothing runs. */
export function summarizeJournal(stateDir: string, form: ChainForm, pinRoot: string): JournalSummary {
  const s = inspectJournal(stateDir, form, pinRoot);
  const out: JournalSummary = { file: journalPath(stateDir), state: s.state, steps: [], release: [], kept: keptJournals(stateDir) };
  if (s.state === 'invalid') out.reason = s.reason;
  if (s.state === 'none' || s.state === 'invalid') return out;
  const b = s.body;
  out.writer = { pid: b.pid, command: b.command, startedAt: b.startedAt, running: s.state === 'live' };
  out.pinRoot = b.pinRoot;
  out.phase = b.phase;
  // Described, never run; an operation of another pin root's journal was not checked: its words are guarded.
  out.steps = b.steps.map((st) => ({ description: st.description, done: st.done, undo: st.undo.map((op) => safeDescribe(form, op)) }));
  out.release = b.release.map((r) => r.description);
  return out;
}

function safeDescribe(form: ChainForm, op: unknown): string {
  try {
    return form.describeUndo(op);
  } catch {
    return JSON.stringify(op);
  }
}
