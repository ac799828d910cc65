/** `kfn status`: a table of chains (stack, revision, apply time, drift), then each stack with its agent's rounds. */
import { driftText } from '../core/drift.js';
import type { RoundRecord, StatusReport } from '../core/types.js';
import { colors, quote, shortSha, whereText, type Colors } from './format.js';
import { tableLines } from './table.js';

/** A revision as people read it: 12 characters of the commit, `-dirty` kept. */
export function revisionText(rev: string | undefined): string {
  if (!rev) return 'unknown';
  const dirty = rev.endsWith('-dirty');
  return `${shortSha(dirty ? rev.slice(0, -'-dirty'.length) : rev)}${dirty ? '-dirty' : ''}`;
}

function roundText(c: Colors, r: RoundRecord): string {
  const what = r.outcome === 'failed' ? c.red(`failed${r.stage ? ` at ${r.stage}` : ''}`) : r.outcome;
  const err = r.error ? `: ${r.error.code}: ${r.error.message}` : '';
  const restored = r.restored === undefined ? '' : r.restored ? ' (kernel restored)' : ' (kernel NOT restored: run kfn plan)';
  return `${r.finishedAt}  ${revisionText(r.revision)}  ${what}${err}${restored}`;
}

/** One round for people (`kfn reconcile --once`). */
export function roundLine(r: RoundRecord): string {
  const head = `Reconcile round (${r.trigger}): ${r.outcome}${r.revision ? ` ${revisionText(r.revision)}` : ''}`;
  const held = r.fetched && r.revision && r.fetched !== r.revision ? `; ${revisionText(r.fetched)} is held back after failing` : '';
  if (r.outcome === 'failed') return `${head} at ${r.stage ?? 'fetch'}: error[${r.error?.code ?? '?'}]: ${r.error?.message ?? ''}${r.restored === true ? ' (the kernel is as it was)' : ''}${held}`;
  const s = r.summary;
  const counts = s && (s.add || s.change || s.replace || s.destroy) ? ` (${s.add} added, ${s.change} changed, ${s.replace} replaced, ${s.destroy} destroyed)` : '';
  return `${head}${counts}${held}`;
}

export const NO_STATUS = 'No chains, stacks or reconcile agents are recorded on this host.';

export function renderStatus(r: StatusReport, opts: { color: boolean }): string {
  const c = colors(opts.color);
  const sections: string[] = [];
  if (!r.chains.length && !r.stacks.length) return NO_STATUS;
  if (r.chains.length) {
    const rows = r.chains.map((ch) => [
      ch.chainName,
      whereText(ch.attachment),
      ch.stack ?? '(none)',
      revisionText(ch.revision),
      ch.appliedAt ?? 'unknown',
      ch.drift.length ? c.red(`${ch.drift.length} finding${ch.drift.length === 1 ? '' : 's'}`) : 'in sync',
    ]);
    const lines = tableLines(['CHAIN', 'WHERE', 'STACK', 'REVISION', 'APPLIED', 'DRIFT'], rows);
    for (const ch of r.chains) for (const d of ch.drift) lines.push(`  ${c.bold(c.red('!'))} ${ch.chainName} on ${whereText(ch.attachment)}: ${driftText(d)}`);
    sections.push(lines.join('\n'));
  }
  for (const s of r.stacks) {
    const lines = [c.bold(`stack ${quote(s.stack)}`)];
    if (s.suspended) lines.push(`  ${c.yellow('SUSPENDED')} since ${s.suspended.since} by ${s.suspended.by}${s.suspended.reason ? `: ${s.suspended.reason}` : ''} (kfn resume --stack ${quote(s.stack)})`);
    if (s.record) lines.push(`  applied revision ${revisionText(s.record.revision)} at ${s.record.appliedAt} (${s.record.chains.length} chain${s.record.chains.length === 1 ? '' : 's'})`);
    const a = s.agent;
    if (a) {
      const how = a.agent ? (a.agent.once ? `, last run once by pid ${a.agent.pid}` : `, pid ${a.agent.pid}, every ${Math.round(a.agent.intervalMs / 1000)}s`) : '';
      lines.push(`  agent: ${a.source.repo} ref ${a.source.ref} path ${a.source.path}${how}`);
      if (a.lastRound) lines.push(`  last round: ${roundText(c, a.lastRound)}`);
      if (a.lastApplied) lines.push(`  last applied: ${revisionText(a.lastApplied.revision)} at ${a.lastApplied.at}`);
      if (a.lastAttempt) lines.push(`  last attempted: ${revisionText(a.lastAttempt.revision)} at ${a.lastAttempt.at} (${a.lastAttempt.outcome})`);
      if (a.failing) {
        lines.push(`  ${c.yellow('held back')}: ${revisionText(a.failing.revision)} failed ${a.failing.failures} time${a.failing.failures === 1 ? '' : 's'} at ${a.failing.stage} (${a.failing.error.code}); next try at ${a.failing.nextRetryAt}`);
      }
      if (a.history.length) {
        lines.push('  history (oldest first):');
        for (const h of a.history) lines.push(`    ${roundText(c, h)}`);
      }
    }
    sections.push(lines.join('\n'));
  }
  return sections.join('\n\n');
}
