/** An instance's proceed-on word in the kernel: read and written through its pin. */
import type { ProceedVerdict } from '../../core/types.js';
import { MapHandle, mapInfoByFd, openPinned, tryOpenPinned, withFd } from '../../libbpf/index.js';
import { proceedSet, proceedWord } from './proceed-word.js';

const ZERO_KEY = new Uint8Array(4);

export function writeProceedOn(pin: string, set: readonly ProceedVerdict[]): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(proceedWord(set));
  withFd(openPinned(pin), (fd) => new MapHandle(fd, mapInfoByFd(fd), pin).update(ZERO_KEY, v));
}

/** The proceed-on an instance's pinned word says; undefined when there is no such pin. */
export function readProceedOn(pin: string): ProceedVerdict[] | undefined {
  const fd = tryOpenPinned(pin);
  if (fd === undefined) return undefined;
  return withFd(fd, (f) => {
    const raw = new MapHandle(f, mapInfoByFd(f), pin).lookup(ZERO_KEY);
    return proceedSet(raw ? raw.readUInt32LE(0) : 0);
  });
}
