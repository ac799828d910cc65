import { bpf, libcFns } from './ffi.js';
import { check } from './errors.js';

export function closeFd(fd: number): void {
  if (fd >= 0) libcFns.close(fd);
}

/** Runs `fn` with an fd that is always closed afterwards. */
export function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeFd(fd);
  }
}

export type BpfObjKind = 'prog' | 'map' | 'link';

export function fdById(kind: BpfObjKind, id: number): number {
  const ret =
    kind === 'prog' ? bpf.prog_get_fd_by_id(id) : kind === 'map' ? bpf.map_get_fd_by_id(id) : bpf.link_get_fd_by_id(id);
  return check(ret, `open ${kind} by id`, `${kind} ${id}`);
}
