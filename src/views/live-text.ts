/**
 * `kfn show`: what kfn finds in the kernel, chain by chain: a table of the instances in
 * packet order (then the orphans), each row followed by its globals, maps and stats.
 */
import type { LiveChain, LiveInstance, LiveProbe, LiveState } from '../core/types.js';
import type { MapStats } from '../forms/form.js';
import { compareAttachments } from '../plan/expand.js';
import { isDefaultProceedOn, proceedOnOf } from '../plan/diff.js';
import { targetText } from '../plan/probes.js';
import { proceedOnMeaning, setText } from './proceed.js';
import { colors, fnText, quote, shortSha, whereText } from './format.js';
import { tableLines } from './table.js';
import { mapStatsLines } from './stats-text.js';
import { DEFAULT_STATS_LIMIT } from '../visibility/options.js';
import type { Colors } from './format.js';

export interface RenderLiveOptions {
  color: boolean;
  /** State maps per instance, keyed by the instance's pinDir (counters read from its maps). */
  stats?: Record<string, MapStats[]>;
  /** Entries shown per state map (Infinity: all); DEFAULT_STATS_LIMIT when absent. */
  statsLimit?: number;
}

export const NOTHING_MANAGED = 'No kernel functions are managed by kfn on this host.';

/** Chain slot, companions, proceed-on (when not the default), globals, parameter maps and stats of an instance or probe, each line starting with `ind`. */
function detailLines(c: Colors, i: Pick<LiveInstance, 'identity' | 'maps' | 'pinDir' | 'proceedOn' | 'companions'>, ind: string, opts: RenderLiveOptions): string[] {
  const lines: string[] = [];
  if (i.identity.nextMap) lines.push(`${ind}${c.dim('chain slot:')} ${i.identity.nextMap}`);
  for (const co of i.companions ?? []) {
    const state = co.attached ? `prog ${co.progId}, link ${co.linkId}` : c.red(co.linkId ? `prog ${co.progId}, link ${co.linkId} not running it` : 'not attached');
    lines.push(`${ind}${c.dim('companion:')} ${co.program} on ${co.attach.kind} ${co.attach.tracepoint}  ${state}`);
  }
  if (!isDefaultProceedOn(i.proceedOn)) lines.push(`${ind}${c.dim('proceed-on:')} ${setText(proceedOnOf(i.proceedOn))} ${c.dim(`(${proceedOnMeaning(proceedOnOf(i.proceedOn))})`)}`);
  const globals = Object.keys(i.identity.globals).sort();
  if (globals.length) lines.push(`${ind}${c.dim('globals:')} ${globals.map((g) => `${g} = ${i.identity.globals[g]!.valueText}`).join(', ')}`);
  for (const name of Object.keys(i.maps).sort()) {
    const entries = i.maps[name]!;
    if (entries.length === 0) {
      lines.push(`${ind}${name} ${c.dim('(empty)')}`);
      continue;
    }
    for (const e of entries) lines.push(`${ind}${name}[${quote(e.keyText)}] = ${e.valueText}`);
  }
  for (const s of opts.stats?.[i.pinDir] ?? []) lines.push(...mapStatsLines(c, i.identity.function, s, opts.statsLimit ?? DEFAULT_STATS_LIMIT).map((l) => `${ind}${l}`));
  return lines;
}

const INSTANCE_HEAD = ['#', 'name', 'function', 'prog', 'sha256'];

function instanceRow(c: Colors, i: LiveInstance, num: string, paint: (s: string) => string): string[] {
  return [paint(num), paint(c.bold(i.name)), fnText(i.identity), String(i.progId), shortSha(i.identity.sha256)];
}

function chainLines(c: Colors, ch: LiveChain, opts: RenderLiveOptions): string[] {
  const lines = [c.bold(`chain ${quote(ch.chainName)} on ${whereText(ch.attachment)}`)];
  const facts = [`ifindex ${ch.ifindex}`];
  if (ch.attachment.hook === 'xdp') facts.push(`XDP mode ${ch.mode ?? 'unknown'}`);
  facts.push(`root prog ${ch.rootProgId}`, `link ${ch.linkId}`);
  facts.push(`revision ${ch.revision ?? 'unknown'}`);
  if (ch.stack !== undefined) facts.push(`stack ${ch.stack}`);
  if (ch.manifestDigest) facts.push(`manifests ${shortSha(ch.manifestDigest)}`);
  lines.push(`  ${c.dim(facts.join(', '))}`);
  if (ch.instances.length === 0) lines.push(`  ${c.dim('(no functions: packets pass straight through)')}`);
  const orphan = (s: string): string => c.yellow(s);
  // One table for instances and orphans, so that both line up; each row is followed by
  // that instance's details, indented to the name column.
  const numW = String(ch.instances.length).length;
  const ind = ' '.repeat(2 + numW + 2);
  const [head = '', ...rows] = tableLines(
    INSTANCE_HEAD.map((h) => c.dim(h)),
    [...ch.instances.map((i, n) => instanceRow(c, i, String(n + 1), (s) => s)), ...ch.orphans.map((o) => instanceRow(c, o, '?', orphan))],
    { align: ['right', 'left', 'left', 'right', 'left'], indent: '  ' },
  );
  if (ch.instances.length || ch.orphans.length) lines.push(head);
  ch.instances.forEach((i, n) => lines.push(rows[n]!, ...detailLines(c, i, ind, opts)));
  if (ch.orphans.length) {
    lines.push(`  ${c.yellow('orphans')} ${c.dim('(pinned by kfn, not reachable from the root; the next apply deletes them):')}`);
    ch.orphans.forEach((o, n) => lines.push(rows[ch.instances.length + n]!, ...detailLines(c, o, ind, opts)));
  }
  for (const d of ch.drift) lines.push(`  ${c.bold(c.red('!'))} ${d} ${c.dim('(changed outside kfn)')}`);
  return lines;
}

function probeLines(c: Colors, p: LiveProbe, opts: RenderLiveOptions): string[] {
  return [
    c.bold(`probe ${quote(p.name)} on ${targetText(p.target)}`),
    `  ${fnText(p.identity)}  ${p.identity.program}  prog ${p.progId}  ${p.attached ? `link ${p.linkId}` : c.red('not attached')}  sha256 ${shortSha(p.identity.sha256)}`,
    ...detailLines(c, p, '  ', opts),
    ...p.drift.map((d) => `  ${c.bold(c.red('!'))} ${d} ${c.dim('(changed outside kfn)')}`),
  ];
}

export function renderLive(live: LiveState, opts: RenderLiveOptions): string {
  const c = colors(opts.color);
  const sections: string[][] = [];
  const chains = [...live.chains].sort((a, b) => compareAttachments(a.attachment, b.attachment));
  const probes = [...(live.probes ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (chains.length === 0 && probes.length === 0) sections.push([NOTHING_MANAGED]);
  for (const ch of chains) sections.push(chainLines(c, ch, opts));
  for (const p of probes) sections.push(probeLines(c, p, opts));
  if (live.foreign.length) {
    sections.push([
      c.bold('Foreign programs (not managed by kfn):'),
      ...[...live.foreign]
        .sort((a, b) => compareAttachments(a.attachment, b.attachment) || a.progId - b.progId)
        .map((f) => `  '${f.progName}' (id ${f.progId}) on ${whereText(f.attachment)}${f.linkId === undefined ? '' : `, link ${f.linkId}`}`),
    ]);
  }
  return sections.map((s) => s.join('\n')).join('\n\n');
}
