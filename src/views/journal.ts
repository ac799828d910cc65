/** `kfn journal show`: the apply journal as recovery would judge it, in words or as JSON. */
import type { JournalSummary } from '../core/types.js';
import { kfnVersion } from '../core/version.js';
import { colors } from './format.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';

const STATE_TEXT: Record<JournalSummary['state'], string> = {
  none: 'no journal: no apply was interrupted',
  invalid: 'not a journal kfn will run',
  live: 'its apply is still running (kfn leaves it alone)',
  'other-pin-root': 'left by an interrupted apply on another pin root',
  pending: 'left by an interrupted apply: the next kfn command recovers it',
};

export function renderJournal(j: JournalSummary, opts: { color: boolean }): string {
  const c = colors(opts.color);
  const lines = [c.bold(`Journal ${j.file}: ${STATE_TEXT[j.state]}`)];
  if (j.reason) lines.push(`  reason: ${j.reason}`);
  if (j.writer) {
    lines.push(`  written by pid ${j.writer.pid} (${j.writer.command}), started ${j.writer.startedAt}${j.writer.running ? ', still running' : ''}`);
    lines.push(`  pin root ${j.pinRoot}, phase ${j.phase === 'apply' ? 'apply (steps are undone on recovery)' : 'release (committed: cleanup is finished on recovery)'}`);
  }
  j.steps.forEach((s, i) => {
    lines.push(`  ${i + 1}. ${s.done ? 'done' : 'started'}: ${s.description}`);
    for (const u of s.undo) lines.push(`       undo: ${c.dim(u)}`);
  });
  for (const r of j.release) lines.push(`  release: ${r}`);
  if (j.kept.length) {
    lines.push('', 'Journals kept for inspection (kfn journal clear removes them):');
    for (const k of j.kept) lines.push(`  ${k}`);
  }
  return lines.join('\n');
}

export function renderJournalJson(j: JournalSummary): string {
  return renderJson({
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    file: j.file,
    state: j.state,
    reason: j.reason ?? null,
    writer: j.writer ? { pid: j.writer.pid, command: j.writer.command, started_at: j.writer.startedAt, running: j.writer.running } : null,
    pin_root: j.pinRoot ?? null,
    phase: j.phase ?? null,
    steps: j.steps.map((s, i) => ({ index: i + 1, description: s.description, done: s.done, undo: s.undo })),
    release: j.release,
    kept: j.kept,
  });
}
