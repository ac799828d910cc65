/**
 * One apply at a time per host: an exclusive flock(2) on <stateDir>/lock. The kernel
 * releases it when the holder dies, so a crash never leaves a stale lock. The holder
 * writes its pid, start time, command and start date into the file so others can name it.
 *
 * A lock is only as good as the inode it is taken on: after flock, the path must still
 * name the locked inode (someone may have removed or replaced the file in between);
 * otherwise the lock is retaken on what the path names now. The lock file is opened
 * without following symlinks and without blocking, and must be a regular file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KfnError } from '../core/errors.js';
import { errnoOf, fileKind, readRegularFile } from '../core/files.js';
import { tryLockExclusive } from '../libbpf/index.js';
import { selfRef, type ProcessRef } from './provenance.js';

export interface LockHolder extends ProcessRef {
  command: string;
  startedAt: string;
}

export interface Lock {
  release(): void;
}

const STATE_HINT = 'KFN_STATE_DIR must be a writable directory owned by root (default /run/kfn, a tmpfs)';

/** A state-directory operation refused by the system (EROFS, ENOSPC, EACCES...), as a one-line error. */
export function stateDirError(what: string, file: string, e: unknown): KfnError {
  const errno = errnoOf(e);
  const why: Record<string, string> = {
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'a component of the path is not a directory',
    ENOENT: 'a directory on its path does not exist (a dangling symbolic link?)',
    ELOOP: 'too many symbolic links on its path',
  };
  const text = (errno && why[errno]) ?? (e as Error).message;
  return new KfnError('STATE_DIR_UNUSABLE', `cannot ${what} ${file}: ${text}${errno ? ` (${errno})` : ''}`, { hint: STATE_HINT, cause: e });
}

export function ensureStateDir(stateDir: string): void {
  try {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // Something that is not a directory holds the path (mkdir -p says only EEXIST): name what it is.
    if (errnoOf(e) !== 'EEXIST') throw stateDirError('create the state directory', stateDir, e);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(stateDir);
  } catch (e) {
    throw stateDirError('read the state directory', stateDir, e);
  }
  if (!st.isDirectory()) throw new KfnError('STATE_DIR_UNUSABLE', `state directory ${stateDir} is ${fileKind(st)}, not a directory`, { hint: STATE_HINT });
  const euid = process.geteuid?.() ?? st.uid;
  if (st.uid !== euid) {
    throw new KfnError('STATE_DIR_UNUSABLE', `state directory ${stateDir} belongs to uid ${st.uid}, not to this user (uid ${euid})`, {
      hint: `${STATE_HINT}: another user could plant a journal there`,
    });
  }
  if ((st.mode & 0o777) !== 0o700) {
    try {
      fs.chmodSync(stateDir, 0o700);
    } catch (e) {
      throw stateDirError('restrict the permissions of', stateDir, e);
    }
  }
}

function lockFileInvalid(file: string, what: string): KfnError {
  return new KfnError('LOCK_FILE_INVALID', `lock file ${file} ${what}`, {
    hint: `kfn keeps a regular file there; remove what is there (rm -r ${file}) when no kfn runs`,
  });
}

const LOCK_OPEN = fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function openLockFile(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, LOCK_OPEN, 0o600);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'ELOOP') throw lockFileInvalid(file, 'is a symbolic link');
    if (errno === 'EISDIR') throw lockFileInvalid(file, 'is a directory');
    if (errno === 'ENXIO' || errno === 'ENODEV') throw lockFileInvalid(file, 'is a device or socket');
    throw stateDirError('open the lock file', file, e);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw lockFileInvalid(file, `is ${fileKind(st)}, not a regular file`);
  }
  return fd;
}

/** The path still names the inode `fd` refers to. */
function stillNamed(fd: number, file: string): boolean {
  try {
    const a = fs.fstatSync(fd);
    const b = fs.lstatSync(file);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

export function readHolder(stateDir: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readRegularFile(path.join(stateDir, 'lock'), { maxBytes: 64 * 1024, noFollow: true }).toString('utf8')) as LockHolder | null;
    return h && typeof h === 'object' && Number.isSafeInteger(h.pid) ? h : undefined;
  } catch {
    return undefined;
  }
}

const POLL_MS = 100;
/** Bound on retaking the lock because the path was replaced under us (a pathological race). */
const MAX_RELOCKS = 50;

/** Test-only: runs between flock and the check that the path still names the locked inode. */
export interface LockTestHooks {
  afterFlock?: (file: string) => void;
}

/**
 * Takes the lock, waiting up to `timeoutMs` without blocking the event loop; fails naming
 * the holder. An aborted `signal` ends the wait (INTERRUPTED).
 */
export async function acquireLock(stateDir: string, command: string, timeoutMs = 0, signal?: AbortSignal, hooks: LockTestHooks = {}): Promise<Lock> {
  ensureStateDir(stateDir);
  const file = path.join(stateDir, 'lock');
  const deadline = Date.now() + timeoutMs;
  let fd = openLockFile(file);
  for (let relocks = 0; ; ) {
    if (tryLockExclusive(fd)) {
      hooks.afterFlock?.(file);
      if (stillNamed(fd, file)) return writeHolder(fd, file, command);
      // The file was removed or replaced while we waited: lock what the path names now.
      fs.closeSync(fd);
      if (++relocks > MAX_RELOCKS) throw lockFileInvalid(file, 'keeps being replaced while kfn locks it');
      fd = openLockFile(file);
      continue;
    }
    if (signal?.aborted) {
      fs.closeSync(fd);
      throw new KfnError('INTERRUPTED', 'stopped while waiting for the apply lock', { hint: 'nothing was changed' });
    }
    if (Date.now() >= deadline) {
      fs.closeSync(fd);
      const h = readHolder(stateDir);
      const who = h ? `pid ${h.pid} (${h.command}, started ${h.startedAt})` : 'another kfn process';
      throw new KfnError('LOCKED', `another kfn apply holds the lock: ${who}`, {
        hint: 'wait for it to finish, or pass --lock-timeout 60s to wait',
      });
    }
    await delay(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
}

function writeHolder(fd: number, file: string, command: string): Lock {
  const holder: LockHolder = { ...selfRef(), command, startedAt: new Date().toISOString() };
  try {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, JSON.stringify(holder) + '\n', 0);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw stateDirError('write the lock file', file, e);
  }
  return {
    release: () => {
      try {
        fs.ftruncateSync(fd, 0);
      } catch {
        /* the lock goes with the descriptor; the holder text is only informative */
      }
      fs.closeSync(fd);
    },
  };
}
