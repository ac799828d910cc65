/**
 * Borderless text tables (cli-table3): columns padded to their widest cell, two spaces
 * apart, no trailing blanks. cli-table3 measures cells without their escape codes, so
 * colored cells line up; its own coloring of heads and borders is off, so a table has
 * escape codes only where a cell was colored by the caller.
 */
import { createRequire } from 'node:module';

// Loaded by the first table: the views module is imported by commands that print none.
const require = createRequire(import.meta.url);

const NO_BORDER = Object.fromEntries(
  ['top', 'top-mid', 'top-left', 'top-right', 'bottom', 'bottom-mid', 'bottom-left', 'bottom-right', 'left', 'left-mid', 'mid', 'mid-mid', 'right', 'right-mid', 'middle'].map((c) => [c, '']),
);

export type Align = 'left' | 'right';

/** One line per row (the head first); `indent` is put before each line. */
export function tableLines(head: string[], rows: string[][], opts: { align?: Align[]; indent?: string } = {}): string[] {
  const Table = require('cli-table3') as typeof import('cli-table3');
  const t = new Table({
    head,
    chars: NO_BORDER,
    colAligns: opts.align ?? [],
    style: { 'padding-left': 0, 'padding-right': 2, head: [], border: [], compact: true },
  });
  t.push(...rows);
  return t
    .toString()
    .split('\n')
    .map((l) => `${opts.indent ?? ''}${l.trimEnd()}`);
}
