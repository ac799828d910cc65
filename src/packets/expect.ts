/**
 * What an expectation means, packet by packet: the verdict (and deciding instance) each
 * packet of a step must have, and the comparison of what a run of the step produced.
 */
import type { Verdict } from '../libbpf/verdict.js';
import { EXPECTED_VERDICTS, type Expectation, type Packet, type Step } from './types.js';

/** What one packet did, as a runner observed it. */
export interface Outcome {
  verdict: Verdict;
  /** The instance that returned the verdict, when the runner knows it. */
  decidedBy?: string;
}

export interface Mismatch {
  /** 0-based index among the step's packets in send order; absent for totals. */
  index?: number;
  expected: string;
  got: string;
}

/** Packets a step sends. */
export function packetCount(step: Step): number {
  return step.packets.length * step.repeat;
}

/** The step's packets in send order. */
export function* sendOrder(step: Step): Generator<Packet> {
  for (let r = 0; r < step.repeat; r++) yield* step.packets;
}

/** The verdict (and decider) packet `index` must have, or undefined for totals (no per-packet claim). */
export function expectedAt(expect: Expectation, index: number): { verdict: Verdict; decidedBy?: string } | undefined {
  if (expect.form === 'each') return expect;
  if (expect.form === 'totals') return undefined;
  let i = index;
  for (const run of expect.runs) {
    if (i < run.count) return run;
    i -= run.count;
  }
  return undefined;
}

function show(verdict: Verdict, decidedBy: string | undefined): string {
  return decidedBy === undefined ? verdict : `${verdict} by ${decidedBy}`;
}

export interface JudgeOptions {
  /**
   * What an outcome without a decider means, for a packet whose decider is expected:
   * `end-of-chain` when the runner always knows (the packet ran off the end), `unknown`
   * (the default) when it may not.
   */
  undecided?: 'unknown' | 'end-of-chain';
}

/** Every way `outcomes` (one per packet, in send order) differ from `expect`; [] when they match. */
export function judge(expect: Expectation, outcomes: readonly Outcome[], opts: JudgeOptions = {}): Mismatch[] {
  const undecided = (verdict: Verdict): string => (opts.undecided === 'end-of-chain' ? `${verdict} at the end of the chain` : show(verdict, 'an unknown instance'));
  if (expect.form === 'totals') {
    const got = new Map<Verdict, number>();
    for (const o of outcomes) got.set(o.verdict, (got.get(o.verdict) ?? 0) + 1);
    const out: Mismatch[] = [];
    for (const v of EXPECTED_VERDICTS) {
      if ((got.get(v) ?? 0) !== expect.counts[v]) out.push({ expected: `${v} x${expect.counts[v]}`, got: `${v} x${got.get(v) ?? 0}` });
    }
    for (const [v, n] of got) if (!(EXPECTED_VERDICTS as readonly Verdict[]).includes(v)) out.push({ expected: `${v} x0`, got: `${v} x${n}` });
    return out;
  }
  const out: Mismatch[] = [];
  outcomes.forEach((o, index) => {
    const want = expectedAt(expect, index);
    if (!want) {
      out.push({ index, expected: 'no packet', got: show(o.verdict, o.decidedBy) });
      return;
    }
    const deciderWrong = want.decidedBy !== undefined && o.decidedBy !== want.decidedBy;
    if (o.verdict !== want.verdict || deciderWrong) {
      const got = want.decidedBy === undefined ? o.verdict : o.decidedBy === undefined ? undecided(o.verdict) : show(o.verdict, o.decidedBy);
      out.push({ index, expected: show(want.verdict, want.decidedBy), got });
    }
  });
  const wanted = expect.form === 'each' ? outcomes.length : expect.runs.reduce((n, r) => n + r.count, 0);
  for (let index = outcomes.length; index < wanted; index++) {
    const w = expectedAt(expect, index)!;
    out.push({ index, expected: show(w.verdict, w.decidedBy), got: 'no packet' });
  }
  return out;
}

/** `count` consecutive packets with the same outcome. */
export interface OutcomeRun extends Outcome {
  count: number;
}

/** Outcomes in send order, consecutive equal ones as one run. */
export function outcomeRuns(outcomes: Iterable<Outcome>): OutcomeRun[] {
  const runs: OutcomeRun[] = [];
  for (const o of outcomes) {
    const last = runs.at(-1);
    if (last && sameOutcome(last, o)) last.count++;
    else runs.push(o.decidedBy === undefined ? { verdict: o.verdict, count: 1 } : { verdict: o.verdict, decidedBy: o.decidedBy, count: 1 });
  }
  return runs;
}

export const sameOutcome = (x: Outcome | undefined, y: Outcome | undefined): boolean => x?.verdict === y?.verdict && x?.decidedBy === y?.decidedBy;

/**
 * Where two runs of the same packets differ: runs of consecutive packets (0-based
 * `index`) that differ in the same way (one outcome before, one after). A packet only
 * one side has differs too.
 */
export function differences(before: readonly Outcome[], after: readonly Outcome[]): { index: number; count: number }[] {
  const out: { index: number; count: number }[] = [];
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    if (sameOutcome(before[i], after[i])) continue;
    const last = out.at(-1);
    if (last && last.index + last.count === i && sameOutcome(before[last.index], before[i]) && sameOutcome(after[last.index], after[i])) last.count++;
    else out.push({ index: i, count: 1 });
  }
  return out;
}
