/**
 * The apply journal: <stateDir>/journal.json, rewritten atomically and fsynced before
 * every kernel change. Each step is recorded with its undo operations BEFORE it runs
 * (write-ahead), so a process killed at any instant leaves enough to restore the
 * pre-apply state. Undo operations are idempotent; replaying one that never took
 * effect is harmless.
 *
 * The journal is an input like any other file: before recovery runs anything from it,
 * it must be a regular file owned by this user, pass its checksum and shape checks, name
 * this kfn's pin root and form, have a writer that is no longer running, and every
 * operation in it must pass the chain form's checks (paths inside the pin root, no
 * symlinks). A journal failing any of these is refused and left for a human (`kfn
 * journal show`, `kfn journal clear`), never executed.
 * Recovery never wedges the host: an undo operation the changed world refuses is
 * recorded with its reason and recovery goes on with the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import { InputFileError, errnoOf, readRegularFile } from '../core/files.js';
import type { JournalSummary, PlannedStep } from '../core/types.js';
import type { ChainForm } from '../forms/form.js';
import { isProcessRef, isRunning, selfRef, type ProcessRef } from './host.js';
import { ensureStateDir, stateDirError } from './lock.js';

export interface JournalStep {
  description: string;
  /** The chain form's undo operations (plain data). */
  undo: unknown[];
  done: boolean;
}

export interface JournalBody {
  version: 2;
  /** The chain form whose operations the journal holds. */
  form: string;
  pid: number;
  /** The writing process (pid + start time): a running writer's journal is never recovered. */
  writer?: ProcessRef;
  command: string;
  startedAt: string;
  pinRoot: string;
  /** Namespaces the plan touches and the live fingerprint before it: recovery checks what it restored. */
  netns?: string[];
  before?: string;
  /** `apply`: steps may need undoing. `release`: committed, only cleanup is left. */
  phase: 'apply' | 'release';
  steps: JournalStep[];
  /** Release steps still to run after the commit point (idempotent). */
  release: PlannedStep[];
}

interface JournalFile {
  checksum: string;
  body: JournalBody;
}

export const JOURNAL_FILE = 'journal.json';
export const journalPath = (stateDir: string): string => path.join(stateDir, JOURNAL_FILE);
/** Journals kept for inspection (`kfn journal show`): those recovery could not fully undo. */
const KEPT = /^journal\.failed-[0-9TZ.-]+\.json$/;
const MAX_JOURNAL_BYTES = 256 * 1024 * 1024;
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW;

function writeDurably(file: string, body: JournalBody): void {
  const doc: JournalFile = { checksum: sha256Hex(canonicalJson(body)), body };
  const tmp = `${file}.tmp`;
  try {
    fs.rmSync(tmp, { force: true });
    const fd = fs.openSync(tmp, WRITE_FLAGS, 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(doc));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dirFd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw stateDirError('write the journal', file, e);
  }
}

export interface JournalStart {
  command: string;
  pinRoot: string;
  form: string;
  netns: string[];
  /** Live fingerprint before the apply. */
  before: string;
}

export class Journal {
  private constructor(
    private readonly file: string,
    private readonly body: JournalBody,
  ) {}

  static begin(stateDir: string, start: JournalStart): Journal {
    ensureStateDir(stateDir);
    const file = journalPath(stateDir);
    if (fs.existsSync(file)) throw new KfnError('JOURNAL_EXISTS', `an unfinished journal exists at ${file}`, { hint: 'run kfn journal show to see whose it is; kfn plan recovers it' });
    const writer = selfRef();
    const j = new Journal(file, {
      version: 2,
      form: start.form,
      pid: writer.pid,
      writer,
      command: start.command,
      startedAt: new Date().toISOString(),
      pinRoot: start.pinRoot,
      netns: start.netns,
      before: start.before,
      phase: 'apply',
      steps: [],
      release: [],
    });
    j.flush();
    return j;
  }

  private flush(): void {
    writeDurably(this.file, this.body);
  }

  /** Records a step and how to undo it, before it touches the kernel. */
  intend(description: string, undo: unknown[]): void {
    this.body.steps.push({ description, undo, done: false });
    this.flush();
  }

  done(): void {
    const last = this.body.steps.at(-1);
    if (last) last.done = true;
    this.flush();
  }

  /** The commit point: from here on only cleanup remains. */
  releasing(steps: PlannedStep[]): void {
    this.body.phase = 'release';
    this.body.release = steps;
    this.flush();
  }

  finish(): void {
    fs.rmSync(this.file, { force: true });
  }
}

export interface RecoveryReport {
  pid: number;
  command: string;
  startedAt: string;
  phase: 'apply' | 'release';
  undone: string[];
  released: string[];
  /** Operations the changed world refused, each with its reason; recovery went on with the rest. */
  errors: string[];
  /** Apply phase: the live state equals the one recorded before that apply (undefined: not checked). */
  restored?: boolean;
  /** Where the journal was kept for inspection when there were errors. */
  keptAt?: string;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `v` is not a journal body of this kfn, or undefined. */
function shapeProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'the body is not an object';
  if (v.version !== 2) return `it has format version ${JSON.stringify(v.version)}, this kfn writes 2`;
  if (!isStr(v.form) || !isStr(v.command) || !isStr(v.startedAt) || !isStr(v.pinRoot)) return 'form, command, startedAt or pinRoot is missing';
  if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return 'its pid is not a process id';
  if (v.writer !== undefined && !isProcessRef(v.writer)) return 'its writer is not a process reference';
  if (v.netns !== undefined && !(Array.isArray(v.netns) && v.netns.every(isStr))) return 'netns is not a list of names';
  if (v.before !== undefined && !isStr(v.before)) return 'before is not a fingerprint';
  if (v.phase !== 'apply' && v.phase !== 'release') return `phase ${JSON.stringify(v.phase)} is neither apply nor release`;
  if (!Array.isArray(v.steps) || !v.steps.every((s) => isObj(s) && isStr(s.description) && Array.isArray(s.undo) && typeof s.done === 'boolean')) return 'its steps are malformed';
  if (!Array.isArray(v.release) || !v.release.every((s) => isObj(s) && isStr(s.description) && s.phase === 'release' && isObj(s.op))) return 'its release steps are malformed';
  return undefined;
}

export type JournalState =
  | { state: 'none' }
  /** Not a journal this kfn may run (unreadable, modified, another format, an operation outside the pin root...). */
  | { state: 'invalid'; reason: string }
  /** Its writer still runs: never touched. */
  | { state: 'live'; body: JournalBody }
  /** Written for another pin root (KFN_PIN_ROOT): that kfn recovers it. */
  | { state: 'other-pin-root'; body: JournalBody }
  /** Left by an apply that died: ready to recover. */
  | { state: 'pending'; body: JournalBody };

/** Everything kfn checks about a journal before it would run a single operation of it. */
export function inspectJournal(stateDir: string, form: ChainForm, pinRoot: string): JournalState {
  const file = journalPath(stateDir);
  let raw: string;
  try {
    raw = readRegularFile(file, { maxBytes: MAX_JOURNAL_BYTES, noFollow: true, owner: process.geteuid?.() ?? 0 }).toString('utf8');
  } catch (e) {
    if (e instanceof InputFileError && e.problem === 'missing') return { state: 'none' };
    if (e instanceof InputFileError) return { state: 'invalid', reason: `the file ${e.detail}` };
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    return { state: 'invalid', reason: `it is not JSON (${(e as Error).message})` };
  }
  if (!isObj(doc) || !isStr(doc.checksum) || !('body' in doc)) return { state: 'invalid', reason: 'it is not a kfn journal (no checksum and body)' };
  if (doc.checksum !== sha256Hex(canonicalJson(doc.body))) return { state: 'invalid', reason: 'it failed its checksum (modified or truncated)' };
  const shape = shapeProblem(doc.body);
  if (shape) return { state: 'invalid', reason: shape };
  const body = doc.body as JournalBody;
  if (body.form !== form.name) return { state: 'invalid', reason: `it holds operations of the ${body.form} form, this kfn runs ${form.name}` };
  const writer: ProcessRef = body.writer ?? { pid: body.pid, startTime: null, bootId: null };
  const self = selfRef();
  const isSelf = writer.pid === self.pid && writer.startTime === self.startTime;
  if (!isSelf && isRunning(writer)) return { state: 'live', body };
  if (body.pinRoot !== pinRoot) return { state: 'other-pin-root', body };
  for (const [i, s] of body.steps.entries()) {
    for (const op of s.undo) {
      const bad = form.checkUndo(op, pinRoot);
      if (bad) return { state: 'invalid', reason: `undo operation of step ${i + 1} (${s.description}): ${bad}` };
    }
  }
  for (const s of body.release) {
    const bad = form.checkStep(s, pinRoot);
    if (bad) return { state: 'invalid', reason: `release step "${s.description}": ${bad}` };
  }
  return { state: 'pending', body };
}

function stamp(): string {
  return new Date().toISOString().replace(/:/g, '-');
}

/** Renames the journal out of the way (`journal.<why>-<time>.json`), for `kfn journal show`; returns the new path. */
export function setAside(stateDir: string, why: 'failed'): string {
  const to = path.join(stateDir, `journal.${why}-${stamp()}.json`);
  try {
    fs.renameSync(journalPath(stateDir), to);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return to;
    throw stateDirError('set aside the journal', journalPath(stateDir), e);
  }
  return to;
}

/** Journals kept for inspection, oldest first. */
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
 * Finishes what an interrupted apply left (a `pending` journal): undoes its steps in
 * reverse (before the commit point) or completes its cleanup (after). An operation that
 * fails is recorded and the rest still runs; the journal is then removed, or kept aside
 * for inspection when something failed. Caller holds the lock.
 */
export function recover(stateDir: string, form: ChainForm, body: JournalBody, pinRoot: string): RecoveryReport {
  const ctx = { pinRoot, now: () => new Date() };
  const report: RecoveryReport = { pid: body.pid, command: body.command, startedAt: body.startedAt, phase: body.phase, undone: [], released: [], errors: [] };
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      report.errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (body.phase === 'apply') {
    for (const s of [...body.steps].reverse()) {
      for (const op of s.undo) attempt(form.describeUndo(op), () => form.undo(op, ctx));
      report.undone.push(s.description);
    }
  } else {
    for (const step of body.release) {
      attempt(step.description, () => form.run(step, ctx));
      report.released.push(step.description);
    }
  }
  if (report.errors.length) report.keptAt = setAside(stateDir, 'failed');
  else fs.rmSync(journalPath(stateDir), { force: true });
  return report;
}

/** Removes the journal without running it, and the kept ones; returns what was removed. */
export function clearJournals(stateDir: string): string[] {
  const files = [journalPath(stateDir), ...keptJournals(stateDir)].filter((f) => fs.existsSync(f));
  for (const f of files) {
    try {
      fs.rmSync(f, { force: true });
    } catch (e) {
      throw stateDirError('remove', f, e);
    }
  }
  return files;
}

export function summarizeJournal(stateDir: string, form: ChainForm, pinRoot: string): JournalSummary {
  const s = inspectJournal(stateDir, form, pinRoot);
  const out: JournalSummary = { file: journalPath(stateDir), state: s.state, steps: [], release: [], kept: keptJournals(stateDir) };
  if (s.state === 'invalid') out.reason = s.reason;
  if (s.state === 'none' || s.state === 'invalid') return out;
  const b = s.body;
  out.writer = { pid: b.pid, command: b.command, startedAt: b.startedAt, running: s.state === 'live' };
  out.pinRoot = b.pinRoot;
  out.phase = b.phase;
  // Undo operations of a journal for another pin root were not checked: describe, never trust.
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
