/**
 * Saved plans (`kfn plan -out=FILE`, `kfn apply FILE`): the whole plan as JSON with a
 * checksum, mode 0600. A plan file is an instruction that comes back from disk: it is
 * read only as a regular file owned by this user and writable by nobody else, and its
 * shape is checked. The checksum only catches accidents.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { KfnError } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import { InputFileError, errnoOf, readHead, readRegularFile } from '../core/files.js';
import type { Plan } from '../core/types.js';

interface PlanFile {
  kind: 'kfn-plan';
  checksum: string;
  plan: Plan;
}

const require = createRequire(import.meta.url);
const MAX_PLAN_BYTES = 256 * 1024 * 1024;
const HINT = 'make a new plan with kfn plan -o FILE';

/** Refuses, before any planning, an output path kfn could not write (missing directory, not a directory, read-only). */
export function checkPlanOutput(file: string): void {
  const dir = path.dirname(path.resolve(file));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw new KfnError('PLAN_FILE_WRITE', `cannot save the plan to ${file}: directory ${dir} ${errnoOf(e) === 'ENOENT' ? 'does not exist' : `cannot be read (${errnoOf(e)})`}`, {
      hint: 'create the directory first, or give another -o path',
    });
  }
  if (!st.isDirectory()) throw new KfnError('PLAN_FILE_WRITE', `cannot save the plan to ${file}: ${dir} is not a directory`, { hint: 'give another -o path' });
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(file);
  } catch {
    /* a new file */
  }
  if (existing && !existing.isFile()) throw new KfnError('PLAN_FILE_WRITE', `cannot save the plan to ${file}: it exists and is not a regular file`, { hint: 'give another -o path' });
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new KfnError('PLAN_FILE_WRITE', `cannot save the plan to ${file}: ${dir} is not writable (${errnoOf(e)})`, { hint: 'give another -o path' });
  }
}

export function savePlan(file: string, plan: Plan): void {
  checkPlanOutput(file);
  const doc: PlanFile = { kind: 'kfn-plan', checksum: sha256Hex(canonicalJson(plan)), plan };
  // Loaded here: only `plan -o` needs it.
  const writeFileAtomic = require('write-file-atomic') as typeof import('write-file-atomic');
  try {
    writeFileAtomic.sync(file, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  } catch (e) {
    throw new KfnError('PLAN_FILE_WRITE', `cannot save the plan to ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'give -out a path in a directory that exists and that kfn can write',
      cause: e,
    });
  }
}

export function isPlanFile(file: string): boolean {
  const head = readHead(file, 64);
  return head !== undefined && head.toString('utf8').includes('"kind": "kfn-plan"');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `p` does not have the shape of a plan, or undefined. */
function shapeProblem(p: Record<string, unknown>): string | undefined {
  for (const f of ['createdAt', 'liveFingerprint', 'manifestDigest', 'form', 'pinRoot'] as const) if (typeof p[f] !== 'string') return `its ${f} is missing`;
  for (const f of ['changes', 'steps', 'foreign', 'warnings'] as const) if (!Array.isArray(p[f])) return `its ${f} is not a list`;
  if (!isObj(p.summary)) return 'its summary is missing';
  if (!(p.steps as unknown[]).every((s) => isObj(s) && typeof s.description === 'string' && isObj(s.op) && Array.isArray(s.undo))) return 'its steps are malformed';
  return undefined;
}

export function loadPlan(file: string): Plan {
  let doc: unknown;
  try {
    doc = JSON.parse(readRegularFile(file, { maxBytes: MAX_PLAN_BYTES, owner: process.geteuid?.() ?? 0 }).toString('utf8'));
  } catch (e) {
    const why = e instanceof InputFileError ? e.detail : (e as Error).message;
    throw new KfnError('PLAN_FILE_INVALID', `${file} is not a readable kfn plan: ${why}`, { hint: HINT });
  }
  if (!isObj(doc) || doc.kind !== 'kfn-plan' || !isObj(doc.plan) || doc.checksum !== sha256Hex(canonicalJson(doc.plan))) {
    throw new KfnError('PLAN_FILE_INVALID', `${file} failed its checksum: the plan was modified or truncated`, { hint: HINT });
  }
  if (doc.plan.formatVersion !== 2) {
    throw new KfnError('PLAN_FILE_INVALID', `${file} was made by another version of kfn (plan format ${String(doc.plan.formatVersion)})`, { hint: HINT });
  }
  const bad = shapeProblem(doc.plan);
  if (bad) throw new KfnError('PLAN_FILE_INVALID', `${file} is not a plan this kfn can read: ${bad}`, { hint: HINT });
  return doc.plan as unknown as Plan;
}
