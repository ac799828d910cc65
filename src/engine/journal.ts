/**
 * The apply journal: <stateDir>/journal.json, rewritten atomically and fsynced before
 * every kernel change. Each step is recorded with its undo operations BEFORE it runs
 * (write-ahead), so a process killed at any instant leaves enough to restore the
 * pre-apply state. Undo operations are idempotent; replaying one that never took
 * effect is harmless.
 */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import type { PlannedStep } from '../core/types.js';
import type { ChainForm } from '../forms/form.js';
import { ensureStateDir } from './lock.js';

export interface JournalStep {
  description: string;
  /** The chain form's undo operations (plain data). */
  undo: unknown[];
  done: boolean;
}

interface JournalBody {
  version: 2;
  /** The chain form whose operations the journal holds. */
  form: string;
  pid: number;
  command: string;
  startedAt: string;
  pinRoot: string;
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

export const journalPath = (stateDir: string): string => path.join(stateDir, 'journal.json');

function writeDurably(file: string, body: JournalBody): void {
  const doc: JournalFile = { checksum: sha256Hex(canonicalJson(body)), body };
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
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
}

export class Journal {
  private constructor(
    private readonly file: string,
    private readonly body: JournalBody,
  ) {}

  static begin(stateDir: string, command: string, pinRoot: string, form: string): Journal {
    ensureStateDir(stateDir);
    const file = journalPath(stateDir);
    if (fs.existsSync(file)) throw new KfnError('JOURNAL_EXISTS', `an unfinished journal exists at ${file}`, { hint: 'run kfn plan to recover first' });
    const j = new Journal(file, { version: 2, form, pid: process.pid, command, startedAt: new Date().toISOString(), pinRoot, phase: 'apply', steps: [], release: [] });
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
  errors: string[];
}

function readJournal(file: string): JournalBody {
  let doc: JournalFile;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as JournalFile;
  } catch (e) {
    throw new KfnError('JOURNAL_INVALID', `journal ${file} is unreadable: ${(e as Error).message}`, { hint: 'inspect it, then remove it by hand once the kernel state is checked' });
  }
  if (!doc.body || doc.checksum !== sha256Hex(canonicalJson(doc.body))) {
    throw new KfnError('JOURNAL_INVALID', `journal ${file} failed its checksum (modified or truncated)`, { hint: 'inspect it, then remove it by hand once the kernel state is checked' });
  }
  return doc.body;
}

/**
 * Finishes what an interrupted apply left: undoes its steps in reverse (before the
 * commit point) or completes its cleanup (after). Caller must hold the lock.
 */
export function recover(stateDir: string, form: ChainForm): RecoveryReport | undefined {
  const file = journalPath(stateDir);
  if (!fs.existsSync(file)) return undefined;
  const body = readJournal(file);
  if (body.version !== 2 || body.form !== form.name) {
    throw new KfnError('JOURNAL_INVALID', `journal ${file} was written by another kfn (version ${String(body.version)}, form ${String(body.form)})`, {
      hint: 'recover it with the kfn that wrote it, or inspect it and remove it by hand once the kernel state is checked',
    });
  }
  const ctx = { pinRoot: body.pinRoot, now: () => new Date() };
  const report: RecoveryReport = { pid: body.pid, command: body.command, startedAt: body.startedAt, phase: body.phase, undone: [], released: [], errors: [] };
  if (body.phase === 'apply') {
    for (const s of [...body.steps].reverse()) {
      for (const op of s.undo) {
        try {
          form.undo(op, ctx);
        } catch (e) {
          report.errors.push(`${form.describeUndo(op)}: ${(e as Error).message}`);
        }
      }
      report.undone.push(s.description);
    }
  } else {
    for (const step of body.release) {
      form.run(step, ctx);
      report.released.push(step.description);
    }
  }
  if (report.errors.length) {
    throw new KfnError('RECOVERY_FAILED', `could not fully undo the interrupted apply of pid ${body.pid}: ${report.errors.join('; ')}`, {
      hint: `the journal is kept at ${file}; check kfn show and bpftool, then remove it`,
    });
  }
  fs.rmSync(file, { force: true });
  return report;
}
