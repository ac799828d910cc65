/** `kfn drift`: what changed behind kfn's back, chain by chain, and what apply would do about it. */
import { driftText } from '../core/drift.js';
import type { DriftKind } from '../core/types.js';
import type { DriftReport } from '../plan/drift.js';
import { targetText } from '../plan/probes.js';
import { colors, quote, shortSha, whereText } from './format.js';

/** What `kfn apply` (or a reconcile round) of the same manifests does about one finding. */
export function repairText(d: DriftKind): string {
  switch (d.code) {
    case 'metadata-missing':
      return 'apply writes the chain metadata again';
    case 'pin-missing':
      return d.pin === 'link' ? 'apply attaches the root again' : 'apply rebuilds what the pin held';
    case 'netns-missing':
      return 'apply fails until the namespace exists again; removing the chain from the manifests releases it';
    case 'interface-missing':
      return 'apply fails until the interface exists again; removing the chain from the manifests releases it';
    case 'interface-recreated':
    case 'root-detached':
    case 'link-defunct':
      return 'apply attaches the root again';
    case 'root-not-attached':
      return d.running ? `apply cannot attach the root until program ${d.running} is removed (kfn never detaches foreign programs)` : 'apply attaches the root again';
    case 'foreign-in-chain':
      return `apply rebuilds the chain after ${d.after ?? 'the root'} (the foreign program is only unlinked)`;
    case 'loop':
    case 'bypassed':
      return `apply rebuilds the chain after ${d.after ?? 'the root'}`;
    case 'position-lost':
      return `apply attaches the root again as ${d.position} (the other program stays)`;
    case 'map-edited':
      return 'apply writes back the entries kfn last wrote';
    case 'proceed-on-edited':
      return 'apply writes back the proceed-on of the manifests';
    case 'foreign-on-hook':
      return 'apply cannot attach until it is removed: kfn never touches foreign programs';
    case 'chain-removed':
      return 'apply creates it again';
    case 'instance-drift':
      return `apply replaces ${d.instance}`;
    case 'other':
      return 'kfn plan shows the repair';
  }
}

export const IN_SYNC = 'No drift. The kernel matches what kfn last applied.';

export function renderDrift(r: DriftReport, opts: { color: boolean }): string {
  const c = colors(opts.color);
  const drifted = r.chains.filter((ch) => ch.drift.length > 0);
  const driftedProbes = r.probes.filter((p) => p.drift.length > 0);
  const scope = r.stack === undefined ? '' : ` of stack ${quote(r.stack)}`;
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (drifted.length === 0 && driftedProbes.length === 0) {
    const n = r.chains.length;
    const probes = r.probes.length ? ` and ${plural(r.probes.length, 'probe')}` : '';
    return c.green(`${IN_SYNC}${n || probes ? ` (${plural(n, 'chain')}${probes}${scope} checked)` : ` (no chains${scope})`}`);
  }
  const sections: string[][] = [];
  for (const ch of drifted) {
    const facts = [ch.stack === undefined ? 'no stack' : `stack ${quote(ch.stack)}`, `revision ${ch.revision ? shortSha(ch.revision) : 'unknown'}`];
    if (ch.appliedAt) facts.push(`applied ${ch.appliedAt}`);
    const lines = [c.bold(`chain ${quote(ch.chainName)} on ${whereText(ch.attachment)}`) + ` ${c.dim(`(${facts.join(', ')})`)}`];
    for (const d of ch.drift) lines.push(`  ${c.bold(c.red('!'))} ${driftText(d)}`, `      ${c.dim('->')} ${repairText(d)}`);
    sections.push(lines);
  }
  for (const p of driftedProbes) {
    const lines = [c.bold(`probe ${quote(p.name)} on ${targetText(p.target)}`) + ` ${c.dim(`(${p.stack === undefined ? 'no stack' : `stack ${quote(p.stack)}`})`)}`];
    for (const d of p.drift) lines.push(`  ${c.bold(c.red('!'))} ${driftText(d)}`, `      ${c.dim('->')} ${repairText(d)}`);
    sections.push(lines);
  }
  const n = [...drifted, ...driftedProbes].reduce((k, x) => k + x.drift.length, 0);
  const on = [drifted.length || !driftedProbes.length ? `${drifted.length} of ${plural(r.chains.length, 'chain')}` : '', driftedProbes.length ? `${driftedProbes.length} of ${plural(r.probes.length, 'probe')}` : '']
    .filter(Boolean)
    .join(' and ');
  sections.push([
    c.bold(`Drift: ${plural(n, 'finding')} on ${on}${scope}.`),
    'Run kfn apply with the manifests that were applied (or let kfn reconcile repair it); kfn plan shows the exact steps.',
  ]);
  return sections.map((s) => s.join('\n')).join('\n\n');
}
