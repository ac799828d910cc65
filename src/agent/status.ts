/**
 * The reconcile agent's per-stack status, in the state dir (<stateDir>/agent/): one JSON
 * file per stack, replaced atomically (write-file-atomic), so it survives agent restarts
 * and `kfn status` never reads half a file. Suspension is a file of its own, written by
 * `kfn suspend` and only read by the agent, so neither can overwrite the other's update.
 */
import fs from 'node:fs';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { KfnError } from '../core/errors.js';
import type { RoundRecord, StackStatus, Suspension } from '../core/types.js';
import { ensureStateDir } from '../engine/lock.js';

/** Applied and failed rounds kept per stack. */
export const STATUS_HISTORY = 20;

const enc = (stack: string): string => encodeURIComponent(stack).replace(/\./g, '%2E');

export const agentDir = (stateDir: string): string => path.join(stateDir, 'agent');
const statusFile = (stateDir: string, stack: string): string => path.join(agentDir(stateDir), `${enc(stack)}.json`);
const suspendFile = (stateDir: string, stack: string): string => path.join(agentDir(stateDir), `${enc(stack)}.suspended`);

function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KfnError('STATUS_INVALID', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the state directory (KFN_STATE_DIR)' });
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new KfnError('STATUS_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { hint: 'remove it: the agent writes a new one at its next round' });
  }
}

function write(file: string, value: unknown): void {
  ensureStateDir(path.dirname(path.dirname(file)));
  ensureStateDir(path.dirname(file));
  writeFileAtomic.sync(file, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
}

export function readStatus(stateDir: string, stack: string): StackStatus | undefined {
  const s = readJson<StackStatus>(statusFile(stateDir, stack));
  if (s && (s.version !== 1 || s.stack !== stack)) {
    throw new KfnError('STATUS_INVALID', `${statusFile(stateDir, stack)} was written by another version of kfn or for another stack`, { hint: 'remove it: the agent writes a new one at its next round' });
  }
  return s;
}

export function writeStatus(stateDir: string, status: StackStatus): void {
  write(statusFile(stateDir, status.stack), status);
}

/** Adds a round to the status: the last round always, the history when it applied or failed. */
export function withRound(status: StackStatus, round: RoundRecord): StackStatus {
  const history = round.outcome === 'applied' || round.outcome === 'failed' ? [...status.history, round].slice(-STATUS_HISTORY) : status.history;
  return { ...status, lastRound: round, history };
}

/** The records of one kind in the agents' directory, by file name. */
function listRecords<T>(stateDir: string, suffix: string, valid: (r: T | undefined) => r is T): T[] {
  let names: string[];
  try {
    names = fs.readdirSync(agentDir(stateDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(suffix))
    .sort()
    .map((n) => readJson<T>(path.join(agentDir(stateDir), n)))
    .filter(valid);
}

/** Every stack an agent recorded, by name. */
export function listStatuses(stateDir: string): StackStatus[] {
  return listRecords<StackStatus>(stateDir, '.json', (s): s is StackStatus => s?.version === 1);
}

export function listSuspensions(stateDir: string): Suspension[] {
  return listRecords<Suspension>(stateDir, '.suspended', (s): s is Suspension => typeof s?.stack === 'string');
}

export function readSuspension(stateDir: string, stack: string): Suspension | undefined {
  return readJson<Suspension>(suspendFile(stateDir, stack));
}

export function suspend(stateDir: string, s: Suspension): void {
  write(suspendFile(stateDir, s.stack), s);
}

/** Returns whether the stack was suspended. */
export function resume(stateDir: string, stack: string): boolean {
  const file = suspendFile(stateDir, stack);
  const was = fs.existsSync(file);
  fs.rmSync(file, { force: true });
  return was;
}
