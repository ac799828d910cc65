import { libcFns } from './ffi.js';

export function isRoot(): boolean {
  return libcFns.geteuid() === 0;
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** flock(2) LOCK_EX|LOCK_NB: true when taken. The kernel drops it when the process dies. */
export function tryLockExclusive(fd: number): boolean {
  return libcFns.flock(fd, LOCK_EX | LOCK_NB) === 0;
}
