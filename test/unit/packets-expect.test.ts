/** What expectations mean packet by packet, and how a step's outcomes are judged. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { expectedAt, judge, packetCount, sendOrder, type Expectation, type Outcome, type Packet, type Step } from '../../src/packets/index.js';

const o = (verdict: Outcome['verdict'], decidedBy?: string): Outcome => (decidedBy === undefined ? { verdict } : { verdict, decidedBy });
const pkt = (label: string): Packet => ({ frame: new Uint8Array(14), label, source: { file: 'f.yaml', line: 1 } });

describe('expectations', () => {
  test('each: every packet; decidedBy checked when expected', () => {
    const e: Expectation = { form: 'each', verdict: 'drop', decidedBy: 'drop-bad' };
    assert.deepEqual(judge(e, [o('drop', 'drop-bad'), o('drop', 'drop-bad')]), []);
    assert.deepEqual(judge(e, [o('drop', 'drop-bad'), o('pass', 'visibility'), o('drop', 'limit'), o('drop')]), [
      { index: 1, expected: 'drop by drop-bad', got: 'pass by visibility' },
      { index: 2, expected: 'drop by drop-bad', got: 'drop by limit' },
      { index: 3, expected: 'drop by drop-bad', got: 'drop by an unknown instance' },
    ]);
    // without decidedBy the decider does not matter and is not shown
    assert.deepEqual(judge({ form: 'each', verdict: 'pass' }, [o('pass', 'x'), o('aborted', 'y')]), [{ index: 1, expected: 'pass', got: 'aborted' }]);
  });

  test('ordered: runs in packet order; missing and extra packets', () => {
    const e: Expectation = { form: 'ordered', runs: [{ verdict: 'pass', count: 2 }, { verdict: 'drop', count: 1, decidedBy: 'limit' }] };
    assert.deepEqual([0, 1, 2, 3].map((i) => expectedAt(e, i)?.verdict), ['pass', 'pass', 'drop', undefined]);
    assert.deepEqual(judge(e, [o('pass'), o('pass'), o('drop', 'limit')]), []);
    assert.deepEqual(judge(e, [o('pass'), o('drop', 'limit'), o('drop', 'limit')]), [{ index: 1, expected: 'pass', got: 'drop' }]);
    assert.deepEqual(judge(e, [o('pass')]), [
      { index: 1, expected: 'pass', got: 'no packet' },
      { index: 2, expected: 'drop by limit', got: 'no packet' },
    ]);
    assert.deepEqual(judge(e, [o('pass'), o('pass'), o('drop', 'limit'), o('tx')]), [{ index: 3, expected: 'no packet', got: 'tx' }]);
  });

  test('totals: counts in any order; verdicts outside pass/drop are mismatches', () => {
    const e: Expectation = { form: 'totals', counts: { pass: 2, drop: 1 } };
    assert.equal(expectedAt(e, 0), undefined);
    assert.deepEqual(judge(e, [o('drop'), o('pass'), o('pass')]), []);
    assert.deepEqual(judge(e, [o('drop'), o('drop'), o('aborted')]), [
      { expected: 'pass x2', got: 'pass x0' },
      { expected: 'drop x1', got: 'drop x2' },
      { expected: 'aborted x0', got: 'aborted x1' },
    ]);
  });

  test('ordered: outcomes that follow the runs match; changing one verdict is one mismatch there', () => {
    const arbRuns = fc.array(fc.record({ verdict: fc.constantFrom('pass' as const, 'drop' as const), count: fc.integer({ min: 1, max: 20 }) }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(arbRuns, fc.nat(), (runs, pick) => {
        const e: Expectation = { form: 'ordered', runs };
        const outcomes = runs.flatMap((r) => new Array<Outcome>(r.count).fill(o(r.verdict)));
        assert.deepEqual(judge(e, outcomes), []);
        const i = pick % outcomes.length;
        const flipped = outcomes.map((x, j) => (j === i ? o(x.verdict === 'pass' ? 'drop' : 'pass') : x));
        assert.deepEqual(judge(e, flipped).map((m) => m.index), [i]);
      }),
    );
  });

  test('a step sends its packets in order, repeat times', () => {
    const step: Step = { packets: [pkt('a'), pkt('b')], repeat: 3, expect: { form: 'each', verdict: 'pass' }, source: { file: 'f.yaml' } };
    assert.equal(packetCount(step), 6);
    assert.deepEqual([...sendOrder(step)].map((p) => p.label), ['a', 'b', 'a', 'b', 'a', 'b']);
  });
});
