/** `kfn show`: what kfn finds in the kernel, chain by chain, in packet order. */
import type { LiveChain, LiveInstance, LiveProbe, LiveState } from '../core/types.js';
import { targetText } from '../plan/probes.js';
import type { MapStats } from '../forms/form.js';
import { compareAttachments } from '../plan/expand.js';
import { isDefaultProceedOn, proceedOnOf } from '../plan/diff.js';
import { proceedOnMeaning, setText } from './proceed.js';
import { colors, fnText, padEnd, quote, shortSha, whereText } from './format.js';
import type { Colors } from './format.js';

export interface RenderLiveOptions {
  color: boolean;
  /** State maps per instance, keyed by the instance's pinDir (counters read from its maps). */
  stats?: Record<string, MapStats[]>;
}

export const NOTHING_MANAGED = 'No kernel functions are managed by kfn on this host.';

function mapAndStatLines(c: Colors, ind: string, maps: LiveInstance['maps'], stats: MapStats[]): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(maps).sort()) {
    const entries = maps[name]!;
    if (entries.length === 0) {
      lines.push(`${ind}${name} ${c.dim('(empty)')}`);
      continue;
    }
    for (const e of entries) lines.push(`${ind}${name}[${quote(e.keyText)}] = ${e.valueText}`);
  }
  for (const s of stats) {
    for (const text of statTexts(s)) {
      const [first = '', ...rest] = text.split('\n');
      lines.push(`${ind}${c.cyan(`${s.map}:`)} ${first}`);
      for (const r of rest) lines.push(`${ind}  ${r}`);
    }
  }
  return lines;
}

function probeLines(c: Colors, p: LiveProbe, opts: RenderLiveOptions): string[] {
  const lines = [c.bold(`probe ${quote(p.name)} on ${targetText(p.target)}`)];
  lines.push(`  ${fnText(p.identity)}  ${p.identity.program}  prog ${p.progId}  ${p.attached ? `link ${p.linkId}` : c.red('not attached')}  sha256 ${shortSha(p.identity.sha256)}`);
  const globals = Object.keys(p.identity.globals).sort();
  if (globals.length) lines.push(`  ${c.dim('globals:')} ${globals.map((g) => `${g} = ${p.identity.globals[g]!.valueText}`).join(', ')}`);
  lines.push(...mapAndStatLines(c, '  ', p.maps, opts.stats?.[p.pinDir] ?? []));
  for (const d of p.drift) lines.push(`  ${c.bold(c.red('!'))} ${d} ${c.dim('(changed outside kfn)')}`);
  return lines;
}

/** `label` is plain text; `paintLabel` colors it without changing its width. */
function instanceLines(c: Colors, i: LiveInstance, label: string, paintLabel: (s: string) => string, widths: { name: number; fn: number }, opts: RenderLiveOptions): string[] {
  const lines = [
    `${paintLabel(label)} ${c.bold(padEnd(i.name, widths.name))}  ${padEnd(fnText(i.identity), widths.fn)}  prog ${i.progId}  sha256 ${shortSha(i.identity.sha256)}`,
  ];
  const ind = ' '.repeat(label.length + 1);
  if (!isDefaultProceedOn(i.proceedOn)) lines.push(`${ind}${c.dim('proceed-on:')} ${setText(proceedOnOf(i.proceedOn))} ${c.dim(`(${proceedOnMeaning(proceedOnOf(i.proceedOn))})`)}`);
  const globals = Object.keys(i.identity.globals).sort();
  if (globals.length) lines.push(`${ind}${c.dim('globals:')} ${globals.map((g) => `${g} = ${i.identity.globals[g]!.valueText}`).join(', ')}`);
  lines.push(...mapAndStatLines(c, ind, i.maps, opts.stats?.[i.pinDir] ?? []));
  return lines;
}

/** One line per entry: the value of a single-value map, else `[key] value`; then what was cut. */
export function statTexts(s: MapStats): string[] {
  const out = s.entries.map((e) => (e.keyText === undefined ? e.valueText : `[${e.keyText}] ${e.valueText}`));
  if (s.count > s.entries.length) out.push(`... ${s.count - s.entries.length} more entries`);
  return out;
}

function chainLines(c: Colors, ch: LiveChain, opts: RenderLiveOptions): string[] {
  const lines = [c.bold(`chain ${quote(ch.chainName)} on ${whereText(ch.attachment)}`)];
  const facts = [`ifindex ${ch.ifindex}`];
  if (ch.attachment.hook === 'xdp') facts.push(`XDP mode ${ch.mode ?? 'unknown'}`);
  facts.push(`root prog ${ch.rootProgId}`, `link ${ch.linkId}`);
  facts.push(`revision ${ch.revision ?? 'unknown'}`);
  if (ch.manifestDigest) facts.push(`manifests ${shortSha(ch.manifestDigest)}`);
  lines.push(`  ${c.dim(facts.join(', '))}`);
  const all = [...ch.instances, ...ch.orphans];
  const widths = {
    name: Math.max(0, ...all.map((i) => i.name.length)),
    fn: Math.max(0, ...all.map((i) => fnText(i.identity).length)),
  };
  if (ch.instances.length === 0) lines.push(`  ${c.dim('(no functions: packets pass straight through)')}`);
  const numW = String(ch.instances.length).length;
  ch.instances.forEach((i, n) => {
    lines.push(...instanceLines(c, i, `  ${String(n + 1).padStart(numW)}.`, (s) => s, widths, opts));
  });
  if (ch.orphans.length) {
    lines.push(`  ${c.yellow('orphans')} ${c.dim('(pinned by kfn, not reachable from the root; the next apply deletes them):')}`);
    for (const o of ch.orphans) lines.push(...instanceLines(c, o, `  ${'?'.padStart(numW)} `, (s) => c.yellow(s), widths, opts));
  }
  for (const d of ch.drift) lines.push(`  ${c.bold(c.red('!'))} ${d} ${c.dim('(changed outside kfn)')}`);
  return lines;
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
