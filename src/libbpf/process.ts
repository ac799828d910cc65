import { libcFns } from './ffi.js';

export function isRoot(): boolean {
  return libcFns.geteuid() === 0;
}
