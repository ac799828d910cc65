/** Human report of `kfn test`: one line per case (per step for sequences), what failed and where, a summary. */
import { formatSource, oneLine } from '../core/errors.js';
import type { CaseResult, PacketTestReport, StepResult } from '../engine/packets.js';
import { colors, type Colors } from './format.js';
import { expectationText, runsText } from './packets-format.js';

type Status = 'PASS' | 'FAIL' | 'ERROR';

const status = (c: CaseResult): Status => (c.error ? 'ERROR' : c.passed ? 'PASS' : 'FAIL');

function paint(c: Colors, s: Status): string {
  const text = s.padEnd(5);
  return s === 'PASS' ? c.green(text) : s === 'FAIL' ? c.red(text) : c.bold(c.red(text));
}

function stepSummary(s: StepResult, knowsDecider: boolean): string {
  return `${runsText(s.got, knowsDecider)}; expected ${expectationText(s.expect, s.packets)}`;
}

function mismatchLines(c: Colors, s: StepResult, indent: string): string[] {
  const lines = s.mismatches.map((m) => {
    const which = m.index === undefined ? 'totals' : `packet ${m.index + 1}${m.label ? ` (${oneLine(m.label)})` : ''}`;
    return `${indent}${which}: expected ${m.expected}, got ${c.bold(m.got)}`;
  });
  if (s.mismatchCount > s.mismatches.length) lines.push(`${indent}... ${s.mismatchCount - s.mismatches.length} more packets differ`);
  return lines;
}

function caseLines(c: Colors, r: CaseResult, knowsDecider: boolean): string[] {
  const st = status(r);
  const head = `${paint(c, st)} ${oneLine(r.test)} / ${oneLine(r.case)}`;
  const indent = '        ';
  if (r.error) {
    return [head, `${indent}${c.red(`error[${r.error.code}]`)}: ${r.error.message}`, ...(r.error.hint ? [`${indent}hint: ${r.error.hint}`] : [])];
  }
  const lines: string[] = [];
  if (r.steps.length === 1) {
    lines.push(`${head}: ${stepSummary(r.steps[0]!, knowsDecider)}`);
    lines.push(...mismatchLines(c, r.steps[0]!, indent));
  } else {
    lines.push(head);
    r.steps.forEach((s, i) => {
      lines.push(`${indent}step ${i + 1}: ${stepSummary(s, knowsDecider)}`);
      lines.push(...mismatchLines(c, s, `${indent}  `));
    });
  }
  if (!r.passed) lines.push(c.dim(`${indent}at ${formatSource(r.source)}`));
  return lines;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The text of `kfn test`, without a trailing newline. */
export function renderTestReport(r: PacketTestReport, opts: { color: boolean }): string {
  const c = colors(opts.color);
  const knows = new Map(r.chains.map((ch) => [ch.name, ch.knowsDecider]));
  const sections: string[] = [];
  if (r.chains.length) {
    sections.push(
      ['Shadow chains (private copies: fresh maps, attached nowhere):', ...r.chains.map((ch) => `  ${ch.name} (${ch.hook}): ${ch.instances.join(' -> ') || 'no instances'}${ch.knowsDecider ? '' : ' (too long to tell which instance decides)'}`)].join('\n'),
    );
  }
  sections.push(r.cases.flatMap((x) => caseLines(c, x, knows.get(x.chain) ?? false)).join('\n'));
  const failed = r.cases.filter((x) => !x.passed && !x.error).length;
  const errors = r.cases.filter((x) => x.error).length;
  const passed = r.cases.length - failed - errors;
  const counts = `${plural(r.cases.length, 'case')}: ${passed} passed, ${failed} failed${errors ? `, ${errors} could not run` : ''} (${plural(r.packets, 'packet')})`;
  sections.push(failed || errors ? c.bold(c.red(`FAILED. ${counts}.`)) : c.bold(c.green(`OK. ${counts}.`)));
  return sections.filter((s) => s.length).join('\n\n');
}
