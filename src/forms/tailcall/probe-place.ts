/**
 * Where a uprobe goes: the file offset of its symbol, and which file that is (the kernel
 * places a uprobe in an inode: a file replaced later is another file). Found when planning.
 */
import fs from 'node:fs';
import { KfnError } from '../../core/errors.js';
import type { ProbeTarget } from '../../core/types.js';
import { elfFunctionOffset } from '../../libbpf/elf.js';

export interface UprobePlace {
  offset: number;
  dev: number;
  ino: number;
}

/** The file's device and inode, or undefined when it does not exist. */
export function fileIdentity(path: string): { dev: number; ino: number } | undefined {
  try {
    const st = fs.statSync(path);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Where a uprobe goes in its file now: the file offset, and which file (device and inode). */
export function uprobePlace(name: string, t: Extract<ProbeTarget, { hook: 'uprobe' }>): UprobePlace {
  const id = fileIdentity(t.path);
  if (!id || !fs.statSync(t.path).isFile()) {
    throw new KfnError('PROBE_TARGET_NOT_FOUND', `probe "${name}": ${t.path} does not exist or is not a file`, { hint: 'a uprobe path names an executable or shared library on this host' });
  }
  let offset = t.offset;
  if (t.symbol !== undefined) {
    const at = elfFunctionOffset(t.path, t.symbol);
    if (at === undefined) {
      throw new KfnError('PROBE_TARGET_NOT_FOUND', `probe "${name}": ${t.path} has no function ${t.symbol}`, {
        hint: `list its functions with: nm -D --defined-only ${t.path} (or nm for a file with a symbol table)`,
      });
    }
    offset += at;
  }
  return { offset, ...id };
}
