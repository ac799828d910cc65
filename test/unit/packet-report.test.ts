/**
 * The reports of packet cases, without a kernel: `kfn test` as text, as JSON (checked
 * against schemas/test-output.schema.json) and as JUnit XML (parsed back), and the plan's
 * packet preview (text section, `packet_changes`). Plus the pure outcome helpers the
 * runner uses (runs, differences), with a property test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import type { PacketChange, PacketPreview, PacketTestReport } from '../../src/engine/packets.js';
import { differences, outcomeRuns, sameOutcome, type Outcome } from '../../src/packets/index.js';
import { plan } from '../../src/plan/index.js';
import { changeText, groupPacketChanges, planJson, renderJunit, renderPlan, renderTestJson, renderTestReport, testJson } from '../../src/views/index.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { NOW, dChain, dInst, desired, ident, ifaces, lChain, lInst, liveState } from './plan-fixtures.js';

const src = (line: number) => ({ file: 'tests/edge.yaml', line, column: 7 });

/** Three cases: a pass, a wrong expectation, a sequence against a rate limit; and one that could not run. */
function report(): PacketTestReport {
  return {
    chains: [{ name: 'edge', hook: 'xdp', instances: ['drop-bad', 'limit'], knowsDecider: true }],
    packets: 10,
    cases: [
      {
        test: 'edge-demo',
        case: 'allowed source passes',
        chain: 'edge',
        file: 'tests/edge.yaml',
        source: src(8),
        passed: true,
        steps: [{ packets: 1, expect: { form: 'each', verdict: 'pass' }, got: [{ verdict: 'pass', count: 1 }], mismatches: [], mismatchCount: 0, source: src(9) }],
      },
      {
        test: 'edge-demo',
        case: 'blocked <source> & "quoted" \u0001',
        chain: 'edge',
        file: 'tests/edge.yaml',
        source: src(14),
        passed: false,
        steps: [
          {
            packets: 1,
            expect: { form: 'each', verdict: 'pass' },
            got: [{ verdict: 'drop', decidedBy: 'drop-bad', count: 1 }],
            mismatches: [{ index: 0, label: 'icmp 198.18.0.3 > 198.18.0.1 type 8 code 0, 42 bytes', expected: 'pass', got: 'drop' }],
            mismatchCount: 1,
            source: src(15),
          },
        ],
      },
      {
        test: 'flood',
        case: 'syn flood',
        chain: 'edge',
        file: 'tests/flood.yaml',
        source: { file: 'tests/flood.yaml', line: 5, column: 7 },
        passed: true,
        steps: [
          { packets: 2, expect: { form: 'each', verdict: 'pass' }, got: [{ verdict: 'pass', count: 2 }], mismatches: [], mismatchCount: 0, source: src(6) },
          {
            packets: 6,
            expect: { form: 'ordered', runs: [{ verdict: 'pass', count: 3 }, { verdict: 'drop', count: 3, decidedBy: 'limit' }] },
            got: [{ verdict: 'pass', count: 3 }, { verdict: 'drop', decidedBy: 'limit', count: 3 }],
            mismatches: [],
            mismatchCount: 0,
            source: src(9),
          },
        ],
      },
      {
        test: 'flood',
        case: 'jumbo',
        chain: 'edge',
        file: 'tests/flood.yaml',
        source: { file: 'tests/flood.yaml', line: 20, column: 7 },
        passed: false,
        steps: [],
        error: { code: 'SHADOW_RUN_FAILED', message: 'the kernel refused to run a 9042-byte frame', hint: 'make the payload smaller' },
      },
    ],
  };
}

describe('kfn test report', () => {
  test('text: one line per case, the mismatch and where the case is, steps of a sequence, the totals', () => {
    const t = renderTestReport(report(), { color: false });
    assert.match(t, /^ {2}edge \(xdp\): drop-bad -> limit$/m);
    assert.match(t, /^PASS {2}edge-demo \/ allowed source passes: pass \(end of chain\); expected pass$/m);
    assert.match(t, /^FAIL {2}edge-demo \/ blocked <source> & "quoted" \\u0001: drop by drop-bad; expected pass$/m);
    assert.match(t, /^ {8}packet 1 \(icmp 198\.18\.0\.3 > 198\.18\.0\.1 type 8 code 0, 42 bytes\): expected pass, got drop$/m);
    assert.match(t, /^ {8}at tests\/edge\.yaml:14:7$/m);
    assert.match(t, /^PASS {2}flood \/ syn flood\n {8}step 1: pass x2 \(end of chain\); expected pass x2\n {8}step 2: pass x3, drop x3 by limit; expected pass x3, drop x3 by limit$/m);
    assert.match(t, /^ERROR flood \/ jumbo\n {8}error\[SHADOW_RUN_FAILED\]: the kernel refused to run a 9042-byte frame\n {8}hint: make the payload smaller$/m);
    assert.match(t, /FAILED\. 4 cases: 2 passed, 1 failed, 1 could not run \(10 packets\)\.$/);
    assert.doesNotMatch(t, /\x1b\[/, 'no color unless asked');
  });

  test('text: all passing ends with OK', () => {
    const r = report();
    r.cases = r.cases.filter((c) => c.passed);
    assert.match(renderTestReport(r, { color: false }), /\nOK\. 2 cases: 2 passed, 0 failed \(10 packets\)\.$/);
  });

  test('json: valid against schemas/test-output.schema.json, versioned, the same facts as the text', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', 'test-output.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    const j = JSON.parse(renderTestJson(report())) as ReturnType<typeof testJson>;
    assert.ok(validate(j), JSON.stringify(validate.errors, null, 2));
    assert.equal(j.format_version, '1.0');
    assert.equal(j.passed, false);
    assert.deepEqual(j.summary, { cases: 4, passed: 2, failed: 1, errors: 1, packets: 10 });
    assert.deepEqual(
      j.cases.map((c) => [c.case, c.result]),
      [
        ['allowed source passes', 'pass'],
        ['blocked <source> & "quoted" \u0001', 'fail'],
        ['syn flood', 'pass'],
        ['jumbo', 'error'],
      ],
    );
    assert.deepEqual(j.cases[1]!.steps[0]!.outcomes, [{ verdict: 'drop', decided_by: 'drop-bad', count: 1 }]);
    assert.deepEqual(j.cases[1]!.steps[0]!.mismatches, [{ packet: 1, label: 'icmp 198.18.0.3 > 198.18.0.1 type 8 code 0, 42 bytes', expected: 'pass', got: 'drop' }]);
    assert.deepEqual(j.cases[2]!.steps[1]!.expect, { form: 'ordered', runs: [{ verdict: 'pass', decided_by: null, count: 3 }, { verdict: 'drop', decided_by: 'limit', count: 3 }] });
    assert.equal(j.cases[3]!.error?.code, 'SHADOW_RUN_FAILED');
    // The schema refuses what the contract does not allow.
    assert.ok(!validate({ ...j, cases: [{ ...j.cases[0], result: 'maybe' }] }));
  });

  test('junit: well-formed XML, one suite per PacketTest, failures and errors counted, text escaped', () => {
    const xml = renderJunit(report());
    assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="kfn test" tests="4" failures="1" errors="1">/);
    assert.match(xml, /<testsuite name="edge-demo" tests="2" failures="1" errors="0" file="tests\/edge\.yaml">/);
    assert.match(xml, /<testsuite name="flood" tests="2" failures="0" errors="1" file="tests\/flood\.yaml">/);
    assert.match(xml, /<testcase classname="edge-demo" name="allowed source passes" file="tests\/edge\.yaml" line="8"\/>/);
    assert.match(xml, /name="blocked &lt;source&gt; &amp; &quot;quoted&quot; \ufffd"/);
    assert.match(xml, /<failure type="verdict" message="packet 1: expected pass, got drop">got drop by drop-bad; expected pass\n {2}packet 1 \(icmp 198\.18\.0\.3 &gt; 198\.18\.0\.1/);
    assert.match(xml, /<error type="SHADOW_RUN_FAILED" message="the kernel refused to run a 9042-byte frame">/);
    // An XML parser reads it back (Python's, an independent implementation).
    const py = spawnSync(
      'python3',
      ['-c', 'import sys, xml.etree.ElementTree as ET; r = ET.fromstring(sys.stdin.read()); print(len(r.findall(".//testcase")), len(r.findall(".//failure")), len(r.findall(".//error")), r.find(".//failure").text.splitlines()[0])'],
      { input: xml, encoding: 'utf8' },
    );
    assert.equal(py.status, 0, py.stderr);
    assert.equal(py.stdout.trim(), '4 1 1 got drop by drop-bad; expected pass');
  });
});

const at = (ifname: string) => ({ netns: 'default', ifname, hook: 'xdp' as const });
const change = (c: Partial<PacketChange> & Pick<PacketChange, 'case' | 'before' | 'after'>): PacketChange => ({
  attachment: at('eth0'),
  chainName: 'edge',
  test: 'edge-demo',
  source: src(3),
  packet: 1,
  count: 1,
  label: 'udp 198.18.2.7:40000 > 198.18.0.1:53, 42 bytes',
  ...c,
});
const PASS: Outcome = { verdict: 'pass' };
const DROP_BAD: Outcome = { verdict: 'drop', decidedBy: 'drop-bad' };
const DROP_LIMIT: Outcome = { verdict: 'drop', decidedBy: 'limit' };

describe('packet preview of a plan', () => {
  const preview: PacketPreview = {
    cases: 5,
    packets: 9,
    changes: [
      change({ case: 'new prefix, first host', before: PASS, after: DROP_BAD }),
      change({ case: 'new prefix, a burst', packet: 2, count: 2, before: PASS, after: DROP_BAD }),
      change({ case: 'limited now', before: DROP_LIMIT, after: DROP_BAD }),
      change({ case: 'unblocked', before: DROP_BAD, after: PASS, attachment: at('eth1') }),
    ],
    notes: ['chain "other" runs on no interface of this host: the cases of PacketTest "o" were not compared'],
  };

  test('changes are grouped per chain attachment and per way of changing, with the words of the issue', () => {
    const groups = groupPacketChanges(preview.changes);
    assert.deepEqual(
      groups.map((g) => [g.address, g.text, g.changes.map((c) => c.case)]),
      [
        ['chain.edge["eth0/xdp"]', '3 packets change verdict PASS -> DROP at drop-bad', ['new prefix, first host', 'new prefix, a burst']],
        ['chain.edge["eth0/xdp"]', '1 packet keeps verdict DROP but is now decided at drop-bad (was limit)', ['limited now']],
        ['chain.edge["eth1/xdp"]', '1 packet changes verdict DROP -> PASS (no longer decided at drop-bad)', ['unblocked']],
      ],
    );
    assert.equal(changeText(PASS, { verdict: 'pass', decidedBy: 'allow' }, 2), '2 packets keep verdict PASS but are now decided at allow (was the end of the chain)');
  });

  const d = desired(dChain('edge', ['eth0', 'eth1'], [dInst('drop-bad', ident('blocklist'), { blocked_v4: { '198.18.2.0/24': '1' } })]));
  const l = liveState({
    interfaces: ifaces({ default: ['eth0', 'eth1'] }),
    chains: ['eth0', 'eth1'].map((i, n) => lChain('edge', at(i), [lInst('drop-bad', ident('blocklist'), 10 + n, { blocked_v4: {} })])),
  });
  const p = plan(d, l, { now: NOW });

  test('text: a section after the plan, each group with its packets; no preview without --packets', () => {
    const t = renderPlan(p, { color: false, packets: preview });
    assert.match(
      t,
      /\nPacket tests \(5 cases, 9 packets through shadows of the live and the planned chains\):\n {2}! 3 packets change verdict PASS -> DROP at drop-bad on eth0\/xdp:\n {6}edge-demo \/ new prefix, first host: packet 1 \(udp 198\.18\.2\.7:40000 > 198\.18\.0\.1:53, 42 bytes\)\n {6}edge-demo \/ new prefix, a burst: packets 2-3 \(udp/,
    );
    assert.match(t, /^ {2}# chain "other" runs on no interface of this host/m);
    assert.doesNotMatch(renderPlan(p, { color: false }), /Packet tests/);
    assert.match(renderPlan(p, { color: false, packets: { cases: 2, packets: 2, changes: [], notes: [] } }), /\nPacket tests: no packet changes verdict \(2 cases, 2 packets through shadows of the live and the planned chains\)\.\n/);
  });

  test('json: packet_changes is additive (format 1.0, null without --packets) and carries every change', () => {
    const j = planJson(p, preview);
    assert.equal(j.format_version, '1.0');
    assert.equal(planJson(p).packet_changes, null);
    const pc = j.packet_changes!;
    assert.equal(pc.changed, 5);
    assert.deepEqual(pc.summary[0], { address: 'chain.edge["eth0/xdp"]', before: { verdict: 'pass', decided_by: null }, after: { verdict: 'drop', decided_by: 'drop-bad' }, count: 3, text: '3 packets change verdict PASS -> DROP at drop-bad' });
    assert.deepEqual(pc.changes[1], {
      address: 'chain.edge["eth0/xdp"]',
      chain: 'edge',
      test: 'edge-demo',
      case: 'new prefix, a burst',
      packet: 2,
      count: 2,
      label: 'udp 198.18.2.7:40000 > 198.18.0.1:53, 42 bytes',
      file: 'tests/edge.yaml',
      line: 3,
      before: { verdict: 'pass', decided_by: null },
      after: { verdict: 'drop', decided_by: 'drop-bad' },
    });
    assert.deepEqual(pc.notes, preview.notes);
  });
});

describe('outcome helpers', () => {
  const outcome = fc.constantFrom<Outcome>(PASS, DROP_BAD, DROP_LIMIT, { verdict: 'aborted', decidedBy: 'limit' });

  test('outcomeRuns: consecutive equal outcomes as one run, counts adding up', () => {
    assert.deepEqual(outcomeRuns([PASS, PASS, DROP_BAD, DROP_BAD, DROP_BAD, PASS]), [
      { verdict: 'pass', count: 2 },
      { verdict: 'drop', decidedBy: 'drop-bad', count: 3 },
      { verdict: 'pass', count: 1 },
    ]);
    fc.assert(
      fc.property(fc.array(outcome), (os) => {
        const runs = outcomeRuns(os);
        assert.deepEqual(
          runs.flatMap((r) => Array.from({ length: r.count }, () => ({ verdict: r.verdict, decidedBy: r.decidedBy }))),
          os.map((o) => ({ verdict: o.verdict, decidedBy: o.decidedBy })),
        );
        runs.slice(1).forEach((r, i) => assert.ok(!sameOutcome(r, runs[i]), 'neighbouring runs differ'));
      }),
    );
  });

  test('differences: exactly the packets whose outcome differs, in runs that change one way', () => {
    assert.deepEqual(differences([PASS, PASS, PASS, PASS], [PASS, DROP_BAD, DROP_BAD, DROP_LIMIT]), [
      { index: 1, count: 2 },
      { index: 3, count: 1 },
    ]);
    fc.assert(
      fc.property(fc.array(fc.tuple(outcome, outcome)), (pairs) => {
        const before = pairs.map(([b]) => b);
        const after = pairs.map(([, a]) => a);
        const covered = differences(before, after).flatMap((d) => {
          for (let i = d.index; i < d.index + d.count; i++) {
            assert.ok(sameOutcome(before[i], before[d.index]) && sameOutcome(after[i], after[d.index]), 'one way of changing per run');
          }
          return Array.from({ length: d.count }, (_, k) => d.index + k);
        });
        assert.deepEqual(
          covered,
          pairs.flatMap(([b, a], i) => (sameOutcome(b, a) ? [] : [i])),
        );
      }),
    );
  });
});
