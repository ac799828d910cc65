/**
 * Human rendering of a plan, after Terraform's habits: a legend of the symbols used,
 * one commented block per chain that changes, per-entry map diffs, then the summary.
 */
import type { ChainChange, FunctionIdentity, InstanceAction, InstanceChange, MapChange, MapEntryChange, PlannedChanges, PlannedStep, ProbeAction, ProbeChange, Reason, ValueChange } from '../core/types.js';
import { hasChanges } from '../plan/plan.js';
import { targetText } from '../plan/probes.js';
import { noteText, reasonText } from './reasons.js';
import { colors, fnText, padEnd, quote, shortSha, whereText } from './format.js';
import { proceedOnEffect, proceedOnMeaning, setText } from './proceed.js';
import type { Colors } from './format.js';
import type { PacketPreview } from '../engine/packets.js';
import { oneLine } from '../core/errors.js';
import { groupPacketChanges, packetRange } from './packets-format.js';

type Sym = '+' | '-' | '~' | '-/+' | '!';

const LEGEND: [Sym, string][] = [
  ['+', 'create'],
  ['-', 'destroy'],
  ['~', 'update in place'],
  ['-/+', 'replace (the new instance is built before the old one is released)'],
  ['!', 'drift (changed outside kfn)'],
];

function paint(c: Colors, sym: Sym | '', text: string = sym): string {
  switch (sym) {
    case '+':
      return c.green(text);
    case '-':
      return c.red(text);
    case '~':
      return c.yellow(text);
    case '-/+':
      return c.magenta(text);
    case '!':
      return c.bold(c.red(text));
    default:
      return text;
  }
}

const INSTANCE_SYM: Record<InstanceAction, Sym | ''> = {
  create: '+',
  delete: '-',
  replace: '-/+',
  update: '~',
  move: '~',
  reload: '~',
  noop: '',
};

const CHAIN_SYM: Record<ChainChange['action'], Sym | ''> = { create: '+', delete: '-', update: '~', noop: '' };
const PROBE_SYM: Record<ProbeAction, Sym | ''> = { create: '+', delete: '-', replace: '-/+', update: '~', noop: '' };

function chainVerb(ch: ChainChange): string {
  switch (ch.action) {
    case 'create':
      return 'will be created';
    case 'delete':
      return ch.reasons[0]?.code === 'chain-gone' ? 'is already gone from the kernel and will be forgotten' : 'will be destroyed';
    case 'update': {
      // A rebuild reloads instances that themselves stay the same: still only a repair.
      const same = (i: InstanceChange): boolean => i.action === 'noop' || (i.action === 'reload' && i.reasons.some((r) => r.code === 'chain-rebuilt'));
      const onlyDrift = ch.reasons.length === 1 && ch.drift.length > 0 && ch.instances.every(same);
      return onlyDrift ? 'has drifted and will be repaired' : 'will be updated in place';
    }
    default:
      return 'is up to date';
  }
}

function symbolsUsed(p: PlannedChanges): Set<Sym> {
  const used = new Set<Sym>();
  for (const ch of p.changes) {
    if (ch.action === 'noop') continue;
    const s = CHAIN_SYM[ch.action];
    if (s) used.add(s);
    if (ch.drift.length > 0) used.add('!');
    for (const i of ch.instances) {
      const is = INSTANCE_SYM[i.action];
      if (is) used.add(is);
      for (const m of i.mapChanges) {
        if (m.drift) used.add('!');
        for (const e of m.entries) used.add(e.op === 'add' ? '+' : e.op === 'remove' ? '-' : '~');
      }
      if (i.proceedOnChange) used.add(i.proceedOnChange.drift ? '!' : i.action === 'create' ? '+' : '~');
    }
  }
  for (const pc of p.probes ?? []) {
    const s = PROBE_SYM[pc.action];
    if (s) used.add(s);
    if (pc.drift.length || pc.mapChanges.some((m) => m.drift)) used.add('!');
    for (const m of pc.mapChanges) for (const e of m.entries) used.add(e.op === 'add' ? '+' : e.op === 'remove' ? '-' : '~');
    if (pc.targetChange || pc.identityChanges.length) used.add('~');
  }
  return used;
}

/** The symbol column: three wide, right-aligned (`  +`, `-/+`). */
function symCol(c: Colors, sym: Sym | ''): string {
  return ' '.repeat(3 - sym.length) + paint(c, sym);
}

function comment(c: Colors, reasons: readonly Reason[]): string {
  return reasons.length ? ' ' + c.dim(`# ${reasons.map(reasonText).join('; ')}`) : '';
}

function entryLine(c: Colors, map: string, e: MapEntryChange): [Sym, string] {
  const ref = `${map}[${quote(e.keyText)}]`;
  if (e.op === 'add') return ['+', `${ref} = ${e.toText ?? ''}`];
  if (e.op === 'remove') return ['-', ref];
  return ['~', `${ref}: ${e.fromText ?? ''} ${c.dim('->')} ${e.toText ?? ''}`];
}

function mapLines(c: Colors, m: MapChange): string[] {
  return m.entries.map((e) => {
    const [sym, text] = entryLine(c, m.map, e);
    if (!m.drift) return `          ${paint(c, sym)} ${text}`;
    return `        ${paint(c, '!')} ${paint(c, sym)} ${text} ${c.dim('(changed outside kfn)')}`;
  });
}

function identityLine(c: Colors, v: ValueChange): string {
  const isText = !v.field.startsWith('globals.');
  const show = (s: string) => (v.field === 'sha256' ? quote(`${shortSha(s)}…`) : isText ? quote(s) : s);
  const note = ' ' + c.dim('# forces replacement');
  if (v.from === undefined) return `          ${paint(c, '+')} ${v.field} = ${show(v.to ?? '')}${note}`;
  if (v.to === undefined) return `          ${paint(c, '-')} ${v.field} = ${show(v.from)}${note}`;
  return `          ${paint(c, '~')} ${v.field}: ${show(v.from)} ${c.dim('->')} ${show(v.to)}${note}`;
}

/** The proceed-on line of an instance whose proceed-on is set or changes. */
function proceedOnLine(c: Colors, i: InstanceChange): string | undefined {
  const pc = i.proceedOnChange;
  if (!pc) return undefined;
  if (i.action === 'create') return `          ${paint(c, '+')} proceed_on = ${setText(pc.to)} ${c.dim(`# ${proceedOnMeaning(pc.to)}`)}`;
  const inPlace = i.action === 'update' && !i.reasons.some((r) => r.code === 'copied');
  const how = inPlace ? 'in place, nothing is reloaded: ' : '';
  const line = `${paint(c, '~')} proceed_on: ${setText(pc.from)} ${c.dim('->')} ${setText(pc.to)} ${c.dim(`# ${how}${proceedOnEffect(pc.from, pc.to)}`)}`;
  return pc.drift ? `        ${paint(c, '!')} ${line} ${c.dim('(changed outside kfn)')}` : `          ${line}`;
}

function instanceIdentity(i: InstanceChange): FunctionIdentity {
  // The planner always sets one of the two: desired for every action but delete.
  return (i.desired?.identity ?? i.live?.identity)!;
}

function chainBlock(c: Colors, ch: ChainChange): string[] {
  const lines: string[] = [];
  lines.push(c.bold(`  # chain ${quote(ch.chainName)} on ${whereText(ch.attachment)} ${chainVerb(ch)}`));
  // Rename / XDP mode notes; reorder and drift have their own lines below.
  const chainNotes = ch.action === 'update' ? ch.reasons.filter((r) => r.code !== 'drift' && r.code !== 'reordered') : [];
  lines.push(`${symCol(c, CHAIN_SYM[ch.action])} chain ${quote(ch.chainName)} {${comment(c, chainNotes)}`);

  const nameW = Math.max(0, ...ch.instances.map((i) => i.name.length));
  const fnW = Math.max(0, ...ch.instances.map((i) => fnText(instanceIdentity(i)).length));
  for (const i of ch.instances) {
    const sym = INSTANCE_SYM[i.action];
    const id = instanceIdentity(i);
    const ident = `${padEnd(fnText(id), fnW)}  ${shortSha(id.sha256)}`;
    // Reasons implied by the chain header, or shown by the diff lines below, are not repeated.
    const implied = (ch.action === 'create' && i.action === 'create') || (ch.action === 'delete' && i.reasons[0]?.code === 'chain-unwanted');
    const shownBelow = new Set(['maps-differ', 'map-drift', 'proceed-on-changed', 'proceed-on-drift']);
    const reasons = implied ? [] : i.reasons.filter((r) => !shownBelow.has(r.code));
    const body = `${padEnd(i.name, nameW)}  ${ident}`.trimEnd();
    lines.push(`    ${symCol(c, sym)} ${i.action === 'noop' ? c.dim(body) : body}${comment(c, reasons)}`);
    for (const v of i.identityChanges) lines.push(identityLine(c, v));
    for (const name of i.stateReset ?? []) {
      lines.push(`          ${c.yellow('~')} ${name}: state will be reset ${c.dim('# map layout changed, the new version starts it empty')}`);
    }
    for (const m of i.mapChanges) lines.push(...mapLines(c, m));
    const po = proceedOnLine(c, i);
    if (po) lines.push(po);
  }
  if (ch.reordered) lines.push(`        order: [${ch.fromOrder.join(', ')}] ${c.dim('->')} [${ch.toOrder.join(', ')}]`);
  for (const d of ch.drift) lines.push(`      ${paint(c, '!')} ${d} ${c.dim('(changed outside kfn)')}`);
  lines.push('    }');
  return lines;
}

const PROBE_VERB: Record<ProbeAction, string> = {
  create: 'will be created',
  delete: 'will be destroyed',
  replace: 'must be replaced',
  update: 'will be updated in place',
  noop: 'is up to date',
};

function probeBlock(c: Colors, pc: ProbeChange): string[] {
  const id = (pc.desired?.identity ?? pc.live?.identity)!;
  const target = pc.desired?.target ?? pc.live!.target;
  const lines = [c.bold(`  # probe ${quote(pc.name)} on ${targetText(target)} ${PROBE_VERB[pc.action]}`)];
  const shown = new Set(['maps-differ', 'map-drift', 'probe-missing', 'probe-unwanted', 'target-changed', 'drift']);
  lines.push(`${symCol(c, PROBE_SYM[pc.action])} probe ${quote(pc.name)} {${comment(c, pc.reasons.filter((r) => !shown.has(r.code)))}`);
  lines.push(`        ${fnText(id)}  ${shortSha(id.sha256)}  ${id.program}`);
  for (const v of pc.identityChanges) lines.push(identityLine(c, v));
  if (pc.targetChange) lines.push(`          ${paint(c, '~')} attach: ${pc.targetChange.from} ${c.dim('->')} ${pc.targetChange.to} ${c.dim('# forces replacement')}`);
  for (const name of pc.stateReset ?? []) {
    lines.push(`          ${c.yellow('~')} ${name}: state will be reset ${c.dim('# map layout changed, the new version starts it empty')}`);
  }
  for (const m of pc.mapChanges) lines.push(...mapLines(c, m));
  for (const d of pc.drift) lines.push(`      ${paint(c, '!')} ${d} ${c.dim('(changed outside kfn)')}`);
  lines.push('    }');
  return lines;
}

export function summaryLine(p: Pick<PlannedChanges, 'summary'>): string {
  const s = p.summary;
  return `Plan: ${s.add} to add, ${s.change} to change, ${s.replace} to replace, ${s.destroy} to destroy.`;
}

export const NO_CHANGES = 'No changes. Live kernel state matches the manifests.';

/** Every step apply runs, numbered as apply reports them. */
function stepLines(c: Colors, steps: readonly PlannedStep[]): string[] {
  const w = String(steps.length).length;
  return [`Apply will run ${steps.length} step${steps.length === 1 ? '' : 's'}:`, ...steps.map((s, i) => `  ${String(i + 1).padStart(w)}. ${c.dim(s.description)}`)];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What the packet cases do before and after the change (`kfn plan --packets`). */
function packetLines(c: Colors, pp: PacketPreview): string[] {
  const ran = `${plural(pp.cases, 'case')}, ${plural(pp.packets, 'packet')} through shadows of the live and the planned chains`;
  const groups = groupPacketChanges(pp.changes);
  const lines = [groups.length ? `Packet tests (${ran}):` : `Packet tests: no packet changes verdict (${ran}).`];
  for (const g of groups) {
    const sym = g.after.verdict === 'drop' ? c.red('!') : g.before.verdict === 'drop' ? c.green('!') : c.yellow('!');
    lines.push(`  ${sym} ${c.bold(g.text)} on ${whereText(g.attachment)}:`);
    for (const ch of g.changes) lines.push(`      ${oneLine(ch.test)} / ${oneLine(ch.case)}: ${packetRange(ch)} ${c.dim(`(${oneLine(ch.label)})`)}`);
  }
  for (const n of pp.notes) lines.push(c.dim(`  # ${n}`));
  return lines;
}

/** The text of `kfn plan`, without a trailing newline; `steps` are listed when given, the packet preview when given. */
export function renderPlan(p: PlannedChanges & { steps?: readonly PlannedStep[] }, opts: { color: boolean; packets?: PacketPreview }): string {
  const c = colors(opts.color);
  const sections: string[][] = [];
  const changing = hasChanges(p);
  if (changing) {
    const used = symbolsUsed(p);
    sections.push([
      'Actions are indicated with the following symbols:',
      ...LEGEND.filter(([s]) => used.has(s)).map(([s, words]) => `${symCol(c, s)} ${words}`),
    ]);
    sections.push(['kfn will perform the following actions:']);
    for (const ch of p.changes) if (ch.action !== 'noop') sections.push(chainBlock(c, ch));
    for (const pc of p.probes ?? []) if (pc.action !== 'noop') sections.push(probeBlock(c, pc));
    if (p.steps?.length) sections.push(stepLines(c, p.steps));
  }
  if (opts.packets) sections.push(packetLines(c, opts.packets));
  if (p.notes?.length) sections.push(p.notes.map((n) => c.dim(`  # ${noteText(n)}`)));
  if (p.warnings.length) sections.push(p.warnings.map((w) => `${c.bold(c.yellow('Warning:'))} ${w}`));
  if (p.foreign.length) {
    sections.push(
      p.foreign.map((f) => c.dim(`  # foreign program '${f.progName}' (id ${f.progId}) on ${whereText(f.attachment)} is not managed by kfn`)),
    );
  }
  sections.push([changing ? c.bold(summaryLine(p)) : c.green(NO_CHANGES)]);
  return sections.map((s) => s.join('\n')).join('\n\n');
}
