/**
 * One apply at a time per host: an exclusive flock(2) on <stateDir>/lock. The kernel
 * releases it when the holder dies, so a crash never leaves a stale lock. The holder
 * writes its pid, command and start time into the file so others can name it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KfnError } from '../core/errors.js';
import { tryLockExclusive } from '../libbpf/index.js';

export interface LockHolder {
  pid: number;
  command: string;
  startedAt: string;
}

export interface Lock {
  release(): void;
}

export function ensureStateDir(stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(stateDir, 0o700);
}

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

const POLL_MS = 100;

/**
 * Takes the lock, waiting up to `timeoutMs` without blocking the event loop; fails naming
 * the holder. An aborted `signal` ends the wait (INTERRUPTED).
 */
export async function acquireLock(stateDir: string, command: string, timeoutMs = 0, signal?: AbortSignal): Promise<Lock> {
  ensureStateDir(stateDir);
  const file = path.join(stateDir, 'lock');
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const deadline = Date.now() + timeoutMs;
  while (!tryLockExclusive(fd)) {
    if (signal?.aborted) {
      fs.closeSync(fd);
      throw new KfnError('INTERRUPTED', 'stopped while waiting for the apply lock', { hint: 'nothing was changed' });
    }
    if (Date.now() >= deadline) {
      fs.closeSync(fd);
      const h = readHolder(file);
      const who = h ? `pid ${h.pid} (${h.command}, started ${h.startedAt})` : 'another kfn process';
      throw new KfnError('LOCKED', `another kfn apply holds the lock: ${who}`, {
        hint: 'wait for it to finish, or pass --lock-timeout 60s to wait',
      });
    }
    await delay(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
  const holder: LockHolder = { pid: process.pid, command, startedAt: new Date().toISOString() };
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, JSON.stringify(holder) + '\n', 0);
  fs.fsyncSync(fd);
  return {
    release: () => {
      fs.ftruncateSync(fd, 0);
      fs.closeSync(fd);
    },
  };
}
