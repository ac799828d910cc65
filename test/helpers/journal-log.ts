/**
 * Journals written the way src/engine/journal.ts writes them (an append-only log of
 * `<sha256(previous checksum \n json)> <json>` lines), so a test can hand kfn a journal
 * edited with its checksums recomputed, as an attacker who can write files would: only
 * the content checks can refuse it. One definition for the unit and the CLI tests.
 */
import fs from 'node:fs';
import { sha256Hex } from '../../src/core/digest.js';
import { JOURNAL_VERSION, journalPath } from '../../src/engine/journal.js';

/** The lines of a journal holding `records`, each checksum chained to the one before. */
export function logText(records: unknown[]): string {
  let checksum = '';
  return records
    .map((r) => {
      const json = JSON.stringify(r);
      checksum = sha256Hex(`${checksum}\n${json}`);
      return `${checksum} ${json}\n`;
    })
    .join('');
}

/** The records of a journal as kfn reads it: `text` split into lines, checksums dropped. */
export function logRecords(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)) as Record<string, unknown>);
}

/** A journal's first record, of a writer that is gone (a pid no process has). */
export function beginRecord(pinRoot: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    t: 'begin',
    version: JOURNAL_VERSION,
    form: 'tailcall',
    pid: 999_999_99,
    writer: { pid: 999_999_99, startTime: '1', bootId: null },
    command: 'kfn apply (test)',
    startedAt: new Date(0).toISOString(),
    pinRoot,
    ...extra,
  };
}

/** Writes `records` as the journal of `stateDir`, mode `mode` (0600 as kfn writes it). */
export function writeJournalLog(stateDir: string, records: unknown[], mode = 0o600): string {
  const file = journalPath(stateDir);
  fs.writeFileSync(file, logText(records), { mode });
  fs.chmodSync(file, mode);
  return file;
}
