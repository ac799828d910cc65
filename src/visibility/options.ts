/**
 * The choices and defaults of the visibility commands' flags. Imports nothing: the command
 * tree (src/cli/program.ts) is loaded at every start and needs only these.
 */
export enum SortBy {
  Packets = 'packets',
  Bytes = 'bytes',
}

export const SORT_BYS: readonly SortBy[] = [SortBy.Packets, SortBy.Bytes];

/** Flows `kfn top` shows by default. */
export const DEFAULT_TOP_LIMIT = 20;

/** Entries of a state map `kfn show --stats` shows by default; `--limit N` or `--all` show more. */
export const DEFAULT_STATS_LIMIT = 10;
