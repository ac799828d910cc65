/** Saved plans (`kfn plan -out=FILE`, `kfn apply FILE`): the whole plan as JSON with a checksum, mode 0600. */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { KfnError } from '../core/errors.js';
import { canonicalJson, sha256Hex } from '../core/digest.js';
import type { Plan } from '../core/types.js';

interface PlanFile {
  kind: 'kfn-plan';
  checksum: string;
  plan: Plan;
}

const require = createRequire(import.meta.url);

export function savePlan(file: string, plan: Plan): void {
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
  try {
    if (!fs.statSync(file).isFile()) return false;
    const head = fs.readFileSync(file, 'utf8').slice(0, 64);
    return head.includes('"kind": "kfn-plan"');
  } catch {
    return false; // missing or unreadable: reported as such by the manifest loader
  }
}

export function loadPlan(file: string): Plan {
  let doc: PlanFile;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as PlanFile;
  } catch (e) {
    throw new KfnError('PLAN_FILE_INVALID', `${file} is not a readable kfn plan: ${(e as Error).message}`, { hint: 'make a new plan with kfn plan -o FILE' });
  }
  if (doc.kind !== 'kfn-plan' || !doc.plan || doc.checksum !== sha256Hex(canonicalJson(doc.plan))) {
    throw new KfnError('PLAN_FILE_INVALID', `${file} failed its checksum: the plan was modified or truncated`, { hint: 'make a new plan with kfn plan -o FILE' });
  }
  if (doc.plan.formatVersion !== 2 || !Array.isArray(doc.plan.steps)) {
    throw new KfnError('PLAN_FILE_INVALID', `${file} was made by another version of kfn (plan format ${String(doc.plan.formatVersion)})`, { hint: 'make a new plan with kfn plan -o FILE' });
  }
  return doc.plan;
}
