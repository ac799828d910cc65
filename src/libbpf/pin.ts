/** bpffs pins: the only place kfn keeps bookkeeping, next to the objects it owns. */
import fs from 'node:fs';
import path from 'node:path';
import { bpf } from './ffi.js';
import { BpfError, check, ENOENT } from './errors.js';

/**
 * Pins `fd` at `pinPath`, making its directory first when it is missing. The pin is tried
 * before the directory is: most pins go where an earlier one made it, and a deploy of
 * 100 chains made 3,500 pins.
 */
export function pinFd(fd: number, pinPath: string): void {
  let ret = bpf.obj_pin(fd, pinPath) as number;
  if (ret === -ENOENT) {
    fs.mkdirSync(path.dirname(pinPath), { recursive: true, mode: 0o700 });
    ret = bpf.obj_pin(fd, pinPath) as number;
  }
  check(ret, 'pin', pinPath);
}

/** Opens a pinned object; throws BpfError (ENOENT) if the pin does not exist. */
export function openPinned(pinPath: string): number {
  return check(bpf.obj_get(pinPath), 'open pin', pinPath);
}

export function tryOpenPinned(pinPath: string): number | undefined {
  try {
    return openPinned(pinPath);
  } catch (e) {
    if (e instanceof BpfError && e.errno === ENOENT) return undefined;
    throw e;
  }
}

export function unpin(pinPath: string): void {
  fs.rmSync(pinPath, { force: true });
}

/** Removes a pin directory and everything pinned below it. */
export function unpinTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Removes `dir` and then each parent left empty, up to (not including) `stopAt`. */
export function unpinTreeAndEmptyParents(dir: string, stopAt: string): void {
  unpinTree(dir);
  for (let d = path.dirname(dir); d.startsWith(stopAt + path.sep); d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
  }
}

/** Subdirectories of a bpffs directory (empty when it does not exist). */
export function listPinDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

export function bpffsMounted(dir = '/sys/fs/bpf'): boolean {
  try {
    // BPF_FS_MAGIC
    return fs.statfsSync(dir).type === 0xcafe4a11;
  } catch {
    return false;
  }
}
