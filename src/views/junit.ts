/**
 * `kfn test --junit FILE`: JUnit XML as CI systems read it (GitLab, Jenkins, GitHub
 * test-report actions): one <testsuite> per PacketTest, one <testcase> per case, a
 * <failure> for a wrong verdict and an <error> for a case that could not run. No
 * timing attributes: kfn does not time cases.
 */
import { formatSource } from '../core/errors.js';
import type { CaseResult, PacketTestReport } from '../engine/packets.js';
import { expectationText, runsText } from './packets-format.js';

/** Text and attribute values; characters XML 1.0 cannot hold at all become U+FFFD. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const attrs = (a: Record<string, string | number | undefined>): string =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');

function details(c: CaseResult, knowsDecider: boolean): string {
  const lines: string[] = [];
  c.steps.forEach((s, i) => {
    const step = c.steps.length > 1 ? `step ${i + 1}: ` : '';
    lines.push(`${step}got ${runsText(s.got, knowsDecider)}; expected ${expectationText(s.expect, s.packets)}`);
    for (const m of s.mismatches) lines.push(`  ${m.index === undefined ? 'totals' : `packet ${m.index + 1}${m.label ? ` (${m.label})` : ''}`}: expected ${m.expected}, got ${m.got}`);
    if (s.mismatchCount > s.mismatches.length) lines.push(`  ... ${s.mismatchCount - s.mismatches.length} more packets differ`);
  });
  lines.push(`at ${formatSource(c.source)}`);
  return lines.join('\n');
}

function firstMismatch(c: CaseResult): string {
  for (const [i, s] of c.steps.entries()) {
    const m = s.mismatches[0];
    if (!m) continue;
    const where = `${c.steps.length > 1 ? `step ${i + 1}, ` : ''}${m.index === undefined ? 'totals' : `packet ${m.index + 1}`}`;
    return `${where}: expected ${m.expected}, got ${m.got}`;
  }
  return 'wrong verdict';
}

function testcase(c: CaseResult, knowsDecider: boolean): string {
  const head = `    <testcase${attrs({ classname: c.test, name: c.case, file: c.file, line: c.source.line })}`;
  if (c.error) {
    return `${head}>\n      <error${attrs({ type: c.error.code, message: c.error.message })}>${xmlEscape([c.error.message, c.error.hint && `hint: ${c.error.hint}`, `at ${formatSource(c.source)}`].filter(Boolean).join('\n'))}</error>\n    </testcase>`;
  }
  if (c.passed) return `${head}/>`;
  return `${head}>\n      <failure${attrs({ type: 'verdict', message: firstMismatch(c) })}>${xmlEscape(details(c, knowsDecider))}</failure>\n    </testcase>`;
}

export function renderJunit(r: PacketTestReport): string {
  const knows = new Map(r.chains.map((c) => [c.name, c.knowsDecider]));
  const suites = new Map<string, CaseResult[]>();
  for (const c of r.cases) suites.set(c.test, [...(suites.get(c.test) ?? []), c]);
  const count = (cs: CaseResult[]) => ({ tests: cs.length, failures: cs.filter((c) => !c.passed && !c.error).length, errors: cs.filter((c) => c.error).length });
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites${attrs({ name: 'kfn test', ...count(r.cases) })}>`];
  for (const [name, cases] of suites) {
    lines.push(`  <testsuite${attrs({ name, ...count(cases), file: cases[0]!.file })}>`);
    for (const c of cases) lines.push(testcase(c, knows.get(c.chain) ?? false));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}
