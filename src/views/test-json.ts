/** `kfn test --json`: the documented contract (schemas/test-output.schema.json). */
import type { CaseResult, PacketTestReport, StepResult } from '../engine/packets.js';
import type { OutcomeRun } from '../packets/expect.js';
import type { Expectation } from '../packets/types.js';
import { kfnVersion } from '../core/version.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';
import { expectationText, runsText } from './packets-format.js';

const runJson = (r: { verdict: string; decidedBy?: string; count: number }) => ({ verdict: r.verdict, decided_by: r.decidedBy ?? null, count: r.count });

function expectJson(e: Expectation) {
  switch (e.form) {
    case 'each':
      return { form: e.form, verdict: e.verdict, decided_by: e.decidedBy ?? null };
    case 'ordered':
      return { form: e.form, runs: e.runs.map(runJson) };
    case 'totals':
      return { form: e.form, counts: { ...e.counts } };
  }
}

function stepJson(s: StepResult, knowsDecider: boolean) {
  return {
    packets: s.packets,
    expected: expectationText(s.expect, s.packets),
    got: runsText(s.got, knowsDecider),
    expect: expectJson(s.expect),
    outcomes: s.got.map((r: OutcomeRun) => runJson(r)),
    mismatch_count: s.mismatchCount,
    mismatches: s.mismatches.map((m) => ({ packet: m.index === undefined ? null : m.index + 1, label: m.label ?? null, expected: m.expected, got: m.got })),
    file: s.source.file,
    line: s.source.line ?? null,
  };
}

const result = (c: CaseResult): 'pass' | 'fail' | 'error' => (c.error ? 'error' : c.passed ? 'pass' : 'fail');

export function testJson(r: PacketTestReport) {
  const knows = new Map(r.chains.map((c) => [c.name, c.knowsDecider]));
  const count = (what: 'pass' | 'fail' | 'error') => r.cases.filter((c) => result(c) === what).length;
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfnVersion(),
    passed: r.cases.every((c) => c.passed),
    summary: { cases: r.cases.length, passed: count('pass'), failed: count('fail'), errors: count('error'), packets: r.packets },
    chains: r.chains.map((c) => ({ name: c.name, hook: c.hook, instances: c.instances, knows_decider: c.knowsDecider })),
    cases: r.cases.map((c) => ({
      test: c.test,
      case: c.case,
      chain: c.chain,
      result: result(c),
      file: c.source.file,
      line: c.source.line ?? null,
      column: c.source.column ?? null,
      steps: c.steps.map((s) => stepJson(s, knows.get(c.chain) ?? false)),
      error: c.error ? { code: c.error.code, message: c.error.message, hint: c.error.hint ?? null } : null,
    })),
  };
}

export function renderTestJson(r: PacketTestReport): string {
  return renderJson(testJson(r));
}
