/**
 * Drift without manifests (plan/drift.ts) on hand-made live states, the words and the
 * repair of every kind, and the drift and status JSON documents against their schemas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { driftText } from '../../src/core/drift.js';
import type { DriftCode, DriftKind, LiveState, StackStatus, StackRecord } from '../../src/core/types.js';
import { detectDrift } from '../../src/plan/index.js';
import { statusReport } from '../../src/agent/report.js';
import { driftJson, renderDrift, renderStatus, repairText, statusJson } from '../../src/views/index.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { digestEntries } from '../../src/core/digest.js';
import { FN, NOW, at, entries, lChain, lInst, liveState } from './plan-fixtures.js';

/** One of each kind: a code added to DriftKind without a sample here does not compile. */
const EVERY: Record<DriftCode, DriftKind> = {
  'metadata-missing': { code: 'metadata-missing' },
  'pin-missing': { code: 'pin-missing', pin: 'kfn_next', instance: 'count' },
  'netns-missing': { code: 'netns-missing', netns: 'kfn-a' },
  'interface-missing': { code: 'interface-missing', ifname: 'eth9' },
  'interface-recreated': { code: 'interface-recreated', ifname: 'eth0' },
  'root-detached': { code: 'root-detached' },
  'link-defunct': { code: 'link-defunct', ifname: 'eth0' },
  'root-not-attached': { code: 'root-not-attached', running: 77 },
  'foreign-in-chain': { code: 'foreign-in-chain', progId: 88, progName: 'sneaky', after: 'count' },
  loop: { code: 'loop', to: 'count', after: 'drop' },
  bypassed: { code: 'bypassed', after: 'count', unreached: ['drop', 'limit'] },
  'position-lost': { code: 'position-lost', position: 'first', progId: 99, progName: 'tenant' },
  'map-edited': { code: 'map-edited', instance: 'drop', map: 'blocked_v4' },
  'proceed-on-edited': { code: 'proceed-on-edited', instance: 'count', applied: ['pass', 'drop'], live: ['pass'] },
  'foreign-on-hook': { code: 'foreign-on-hook', progId: 66, progName: 'other_xdp' },
  'chain-removed': { code: 'chain-removed' },
  'instance-drift': { code: 'instance-drift', instance: 'count', text: 'companion count_tp link is missing' },
  other: { code: 'other', text: 'something else' },
};

const STACK = 'netops/manifests';

describe('drift detection without manifests', () => {
  test('an edited parameter map is drift; a merge-mode map holds others\' entries and is not judged', () => {
    const drop = lInst('drop', FN.blocklist, 11, { blocked_v4: { '198.18.0.3/32': '1', '198.18.0.9/32': '1' } }, { blocked_v4: { '198.18.0.3/32': '1' } });
    const shared = { ...lInst('share', FN.blocklist, 12, { blocked_v4: { '10.0.0.1/32': '1' } }, { blocked_v4: { '10.0.0.2/32': '1' } }), mergeMaps: ['blocked_v4'] };
    const live = liveState({ chains: [{ ...lChain('edge', at('eth0'), [drop, shared]), stack: STACK, driftKinds: [] }] });
    const r = detectDrift(live);
    assert.deepEqual(r.chains[0]!.drift, [{ code: 'map-edited', instance: 'drop', map: 'blocked_v4' }]);
    assert.equal(r.inSync, false);
  });

  test('the chain form\'s typed drift is kept; words only become `other`', () => {
    const typed = { ...lChain('edge', at('eth0'), []), driftKinds: [EVERY['root-detached']], drift: [driftText(EVERY['root-detached'])] };
    const words = lChain('old', at('eth1'), [], { drift: ['something odd'] });
    const r = detectDrift(liveState({ chains: [typed, words] }));
    assert.deepEqual(
      r.chains.map((c) => c.drift),
      [[EVERY['root-detached']], [{ code: 'other', text: 'something odd' }]],
    );
  });

  test('a foreign program on the XDP hook of a chain is drift; on tcx it is a tenant (the form reports a lost position)', () => {
    const live = liveState({
      chains: [{ ...lChain('edge', at('eth0'), []), driftKinds: [] }, { ...lChain('in', at('eth0', 'tc-ingress'), []), driftKinds: [] }],
      foreign: [
        { attachment: at('eth0'), progId: 66, progName: 'other_xdp' },
        { attachment: at('eth0', 'tc-ingress'), progId: 67, progName: 'cilium' },
      ],
    });
    assert.deepEqual(
      detectDrift(live).chains.map((c) => [c.chainName, c.drift]),
      [
        ['edge', [{ code: 'foreign-on-hook', progId: 66, progName: 'other_xdp' }]],
        ['in', []],
      ],
    );
  });

  test('a chain in a stack record with nothing left in the kernel is a removed chain; --stack narrows the report', () => {
    const rec: StackRecord = { stack: STACK, manifestDigest: 'd'.repeat(64), revision: 'abc1234', appliedAt: NOW.toISOString(), chains: [{ attachment: at('eth0'), chainName: 'edge' }, { attachment: at('eth1'), chainName: 'gone' }] };
    const other = { ...lChain('flows', at('veth-a', 'tc-ingress'), []), stack: 'observability/obs', driftKinds: [EVERY['root-detached']] };
    const live: LiveState = { ...liveState({ chains: [{ ...lChain('edge', at('eth0'), []), stack: STACK, driftKinds: [] }, other] }), stacks: [rec] };
    const all = detectDrift(live);
    assert.deepEqual(
      all.chains.map((c) => [c.chainName, c.stack, c.drift.map((d) => d.code)]),
      [
        ['edge', STACK, []],
        ['gone', STACK, ['chain-removed']],
        ['flows', 'observability/obs', ['root-detached']],
      ],
    );
    const mine = detectDrift(live, { stack: STACK });
    assert.deepEqual(
      mine.chains.map((c) => c.chainName),
      ['edge', 'gone'],
    );
    assert.equal(mine.chains[1]!.revision, 'abc1234');
    assert.equal(detectDrift(live, { stack: 'nobody' }).inSync, true);
  });

  test("a proceed-on word changed behind kfn's back is drift; one that holds what kfn wrote, or an object without the word, is not", () => {
    const edited = { ...lInst('count', FN.flowstats, 1), proceedOn: ['pass' as const], appliedProceedOn: ['pass' as const, 'drop' as const] };
    const same = { ...lInst('same', FN.flowstats, 2), proceedOn: ['pass' as const, 'drop' as const], appliedProceedOn: ['pass' as const, 'drop' as const] };
    const none = lInst('none', FN.flowstats, 3);
    const r = detectDrift(liveState({ chains: [{ ...lChain('edge', at('eth0'), [edited, same, none]), driftKinds: [] }] }));
    assert.deepEqual(r.chains[0]!.drift, [EVERY['proceed-on-edited']]);
    assert.equal(driftText(EVERY['proceed-on-edited']), 'proceed-on of count was changed outside kfn: it continues on pass, kfn wrote pass, drop');
  });

  test("probes: the reader's words and edited maps are drift, --stack narrows them, and they count in the text and the JSON", () => {
    const probe = (name: string, stack: string | undefined, drift: string[], edited = false) => ({
      name,
      target: { hook: 'tracepoint' as const, tracepoint: 'tcp/tcp_retransmit_skb' },
      identity: FN.flowstats,
      progId: 5,
      linkId: drift.length ? 0 : 6,
      attached: drift.length === 0,
      pinDir: `/sys/fs/bpf/kfn/probes/${name}@a`,
      maps: { ports: entries({ '443': '1' }) },
      // What kfn wrote digests to something else than what the map holds when it was edited.
      appliedMaps: { ports: edited ? 'x'.repeat(64) : digestEntries(entries({ '443': '1' })) },
      drift,
      ...(stack ? { stack } : {}),
    });
    const live: LiveState = {
      ...liveState({ chains: [{ ...lChain('edge', at('eth0'), []), stack: STACK, driftKinds: [] }] }),
      probes: [probe('retrans', STACK, ['its link is gone: the probe is detached'], true), probe('theirs', 'observability/obs', [])],
    };
    const r = detectDrift(live, { stack: STACK });
    assert.deepEqual(
      r.probes.map((p) => [p.name, p.drift]),
      [['retrans', [{ code: 'other', text: 'its link is gone: the probe is detached' }, { code: 'map-edited', instance: 'retrans', map: 'ports' }]]],
    );
    assert.equal(r.inSync, false);
    const doc = driftJson(r);
    assertMatchesSchema('drift', doc, 'a drift report with a probe');
    assert.equal(doc.drift_count, 2);
    assert.equal(doc.probes[0]!.address, 'probe.retrans');
    const text = renderDrift(r, { color: false });
    assert.match(text, /^probe "retrans" on tracepoint tcp\/tcp_retransmit_skb \(stack "netops\/manifests"\)$/m);
    assert.match(text, /Drift: 2 findings on 1 of 1 probe of stack "netops\/manifests"\./);
    const clean = detectDrift({ ...live, probes: [probe('theirs', 'observability/obs', [])] }, { stack: 'observability/obs' });
    assert.equal(renderDrift(clean, { color: false }), 'No drift. The kernel matches what kfn last applied. (0 chains and 1 probe of stack "observability/obs" checked)');
  });

  test('in sync: exit-0 words, every chain counted', () => {
    const live = liveState({ chains: [{ ...lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 1)]), driftKinds: [] }] });
    const r = detectDrift(live);
    assert.equal(r.inSync, true);
    assert.equal(renderDrift(r, { color: false }), 'No drift. The kernel matches what kfn last applied. (1 chain checked)');
  });
});

describe('drift words, repairs and JSON', () => {
  test('every kind has its words and what apply does about it, and validates against the drift schema', () => {
    for (const d of Object.values(EVERY)) {
      assert.ok(driftText(d).length > 10, d.code);
      assert.ok(/apply|kfn plan/.test(repairText(d)), `${d.code}: ${repairText(d)}`);
    }
    const chains = Object.values(EVERY).map((d, i) => ({ attachment: at(`eth${i}`), chainName: `c${i}`, stack: STACK, revision: 'abc1234-dirty', appliedAt: NOW.toISOString(), drift: [d] }));
    const doc = driftJson({ chains, probes: [], inSync: false });
    assertMatchesSchema('drift', doc, 'a drift report with every kind');
    assert.equal(doc.drift_count, Object.keys(EVERY).length);
    assert.deepEqual(doc.chains.find((c) => c.name === 'c10')?.drift[0], {
      code: 'bypassed',
      text: 'chain bypassed after count: its slot is empty, drop, limit no longer reached',
      repair: 'apply rebuilds the chain after count',
      after: 'count',
      unreached: ['drop', 'limit'],
    });
  });

  test('a detached root reads as such, never as a recreated interface', () => {
    assert.equal(driftText(EVERY['root-detached']), "root detached: kfn's link was detached from the hook outside kfn");
    assert.doesNotMatch(driftText(EVERY['root-detached']), /recreated/);
    const text = renderDrift({ chains: [{ attachment: at('eth0', 'xdp', 'kfn-a'), chainName: 'edge', stack: STACK, revision: 'abcdef0123456789', drift: [EVERY['root-detached'], EVERY['map-edited']] }], probes: [], inSync: false }, { color: false });
    assert.equal(
      text,
      [
        'chain "edge" on eth0/xdp (netns kfn-a) (stack "netops/manifests", revision abcdef012345)',
        "  ! root detached: kfn's link was detached from the hook outside kfn",
        '      -> apply attaches the root again',
        '  ! map blocked_v4 of drop was edited outside kfn',
        '      -> apply writes back the entries kfn last wrote',
        '',
        'Drift: 2 findings on 1 of 1 chain.',
        'Run kfn apply with the manifests that were applied (or let kfn reconcile repair it); kfn plan shows the exact steps.',
      ].join('\n'),
    );
  });
});

describe('status', () => {
  const agent: StackStatus = {
    version: 1,
    stack: STACK,
    source: { repo: '/srv/git/netops.git', ref: 'main', path: 'manifests' },
    agent: { pid: 42, startedAt: NOW.toISOString(), intervalMs: 60_000, once: false, hostname: 'edge-07', labels: { role: 'edge' } },
    lastRound: { startedAt: NOW.toISOString(), finishedAt: NOW.toISOString(), trigger: 'interval', outcome: 'in-sync', revision: 'aaa', fetched: 'bbb', drift: 0 },
    lastAttempt: { revision: 'bbb', at: NOW.toISOString(), outcome: 'failed', error: { code: 'MANIFEST_SCHEMA', message: 'm' } },
    lastApplied: { revision: 'aaa', at: NOW.toISOString() },
    failing: { revision: 'bbb', failures: 2, since: NOW.toISOString(), nextRetryAt: NOW.toISOString(), stage: 'validate', error: { code: 'MANIFEST_SCHEMA', message: 'm', hint: 'h' } },
    history: [
      { startedAt: NOW.toISOString(), finishedAt: NOW.toISOString(), trigger: 'start', outcome: 'applied', revision: 'aaa', fetched: 'aaa', summary: { add: 2, change: 0, replace: 0, destroy: 0 } },
      { startedAt: NOW.toISOString(), finishedAt: NOW.toISOString(), trigger: 'interval', outcome: 'failed', revision: 'bbb', fetched: 'bbb', stage: 'validate', error: { code: 'MANIFEST_SCHEMA', message: 'm' } },
    ],
  };

  test('chains, stack records, the agent and a suspension together; the JSON matches its schema', () => {
    const rec: StackRecord = { stack: STACK, manifestDigest: 'd'.repeat(64), revision: 'aaa', appliedAt: NOW.toISOString(), chains: [{ attachment: at('eth0'), chainName: 'edge' }] };
    const live: LiveState = { ...liveState({ chains: [{ ...lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 1)]), stack: STACK, revision: 'aaa', driftKinds: [] }] }), stacks: [rec] };
    const report = statusReport(live, [agent], [{ stack: STACK, since: NOW.toISOString(), reason: 'change freeze', by: 'ops@edge-07' }]);
    const doc = statusJson(report);
    assertMatchesSchema('status', doc, 'status with chains, records, an agent and a suspension');
    assert.equal(doc.stacks[0]!.agent!.failing!.failures, 2);
    assert.equal(doc.stacks[0]!.suspended!.reason, 'change freeze');
    const text = renderStatus(report, { color: false });
    for (const want of ['SUSPENDED since', 'held back: bbb failed 2 times at validate (MANIFEST_SCHEMA)', 'history (oldest first):', 'edge   eth0/xdp  netops/manifests  aaa']) {
      assert.ok(text.includes(want), `${want} in:\n${text}`);
    }
  });
});
