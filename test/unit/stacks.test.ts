/**
 * Ownership and host selection in the pure planner, and the stack records the tail-call
 * form compiles: a plan prunes only its own stack, notes the rest (typed, in text and
 * JSON), adopts chains applied before stacks when it declares them, refuses a hook of
 * another stack; host selectors skip chains with a note.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KfnError } from '../../src/core/errors.js';
import type { DesiredState, LiveChain, LiveState, PlannedChanges, StackRecord } from '../../src/core/types.js';
import { hasChanges, liveFingerprint, plan, selectsHost } from '../../src/plan/index.js';
import { tailcallForm } from '../../src/forms/tailcall/index.js';
import { planJson, renderPlan } from '../../src/views/index.js';
import { FN, NOW, at, dChain, dInst, desired, lChain, lInst, liveState } from './plan-fixtures.js';

const HOST = { hostname: 'edge-07.example', labels: { role: 'edge', zone: 'eu-1' } };

const owned = (c: LiveChain, stack?: string): LiveChain => (stack === undefined ? c : { ...c, stack });
const forStack = (d: DesiredState, stack: string): DesiredState => ({ ...d, stack });
const run = (d: DesiredState, l: LiveState, host?: typeof HOST): PlannedChanges => plan(d, l, { now: NOW, ...(host ? { host } : {}) });

const mine = () => owned(lChain('edge', at('eth0'), [lInst('a', FN.blocklist, 11)], { rootProgId: 1 }), 'netops/manifests');
const theirs = () => owned(lChain('flows', at('eth1', 'tc-ingress'), [lInst('f', FN.flowstats, 21)], { rootProgId: 2 }), 'observability/obs');
const legacy = () => lChain('old', at('veth-a'), [lInst('o', FN.flowstats, 31)], { rootProgId: 3 });

describe('stacks: a plan owns its stack only', () => {
  test('pruning: only the own stack\'s chains are deleted; other stacks\' and unowned chains are noted', () => {
    const p = run(forStack(desired(), 'netops/manifests'), liveState({ chains: [mine(), theirs(), legacy()] }));
    assert.deepEqual(
      p.changes.map((c) => [c.chainName, c.action]),
      [['edge', 'delete']],
    );
    assert.deepEqual(p.notes, [
      { code: 'owned-by-stack', attachment: at('eth1', 'tc-ingress'), chainName: 'flows', stack: 'observability/obs' },
      { code: 'unowned', attachment: at('veth-a'), chainName: 'old' },
    ]);
    assert.equal(p.stack, 'netops/manifests');
    const j = planJson(p);
    assert.equal(j.stack, 'netops/manifests');
    assert.deepEqual(
      j.notes.map((n) => [n.code, n.name, 'stack' in n ? n.stack : undefined]),
      [
        ['owned_by_stack', 'flows', 'observability/obs'],
        ['unowned', 'old', null],
      ],
    );
    const text = renderPlan(p, { color: false });
    assert.ok(text.includes('  # chain "flows" on eth1/tc-ingress is owned by stack "observability/obs" and left alone'), text);
    assert.ok(text.includes('  # chain "old" on veth-a/xdp was applied before stacks and is owned by none'), text);
  });

  test('without a stack (destroy\'s scoped plans, hand-made states) every live chain is in scope', () => {
    const p = run(desired(), liveState({ chains: [mine(), theirs(), legacy()] }));
    assert.deepEqual(
      p.changes.map((c) => c.action),
      ['delete', 'delete', 'delete'],
    );
    assert.deepEqual(p.notes, []);
  });

  test('a chain applied before stacks is adopted by the stack that declares it', () => {
    const d = forStack(desired(dChain('old', ['veth-a'], [dInst('o', FN.flowstats)])), 'netops/manifests');
    const live = liveState({ chains: [legacy()] });
    const p = run(d, live);
    const c = p.changes[0]!;
    assert.equal(c.action, 'update');
    assert.deepEqual(c.reasons, [{ code: 'adopted', stack: 'netops/manifests' }]);
    assert.ok(hasChanges(p));
    const { steps } = tailcallForm.compile(p, { pinRoot: '/sys/fs/bpf/kfn', live });
    const record = steps.find((s) => s.kind === 'record' && s.chain);
    assert.equal((record?.op as { meta: { stack?: string } }).meta.stack, 'netops/manifests', 'the chain metadata now names its stack');
  });

  test('a hook owned by another stack is a conflict at plan, naming both stacks', () => {
    const d = forStack(desired(dChain('grab', ['eth1'], [dInst('x', FN.blocklist)], { hook: 'tc-ingress' })), 'netops/manifests');
    assert.throws(
      () => run(d, liveState({ chains: [theirs()] })),
      (e: unknown) =>
        e instanceof KfnError &&
        e.code === 'CHAIN_CONFLICT' &&
        e.message.includes('chain "grab" of stack "netops/manifests" claims eth1/tc-ingress in the default netns, which chain "flows" of stack "observability/obs" owns') &&
        (e.hint ?? '').includes('kfn destroy --stack "observability/obs"'),
    );
  });

  test('the owning stack is part of the live fingerprint (a saved plan goes stale when ownership moves)', () => {
    const a = liveState({ chains: [mine()] });
    const b = liveState({ chains: [owned(mine(), 'someone/else')] });
    assert.notEqual(liveFingerprint(a), liveFingerprint(b));
  });
});

describe('stacks: the record of what a stack applied', () => {
  const record = (over: Partial<StackRecord> = {}): StackRecord => ({
    stack: 'netops/manifests',
    manifestDigest: 'd'.repeat(64),
    revision: 'abc1234',
    appliedAt: NOW.toISOString(),
    chains: [{ attachment: at('eth0'), chainName: 'edge' }],
    ...over,
  });
  const compileFor = (d: DesiredState, live: LiveState) => tailcallForm.compile(run(d, live), { pinRoot: '/sys/fs/bpf/kfn', live });
  const d = () => forStack(desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist)])), 'netops/manifests');
  type Op = { op: string; stack?: { pin: string; meta: { stack: string; revision?: string; chains: { ifname: string; chainName: string }[] } | null } };
  const writes = (steps: { op: unknown }[]) => steps.map((s) => s.op as Op).filter((o) => o.stack).map((o) => [o.op, o.stack!.meta === null ? null : o.stack!.meta.chains.map((c) => `${c.ifname}=${c.chainName}`)]);

  test('unchanged chains: no step, whatever the revision (the record keeps the revision that last changed the stack)', () => {
    assert.deepEqual(compileFor(d(), { ...liveState({ chains: [mine()] }), stacks: [record()] }).steps, []);
    assert.deepEqual(compileFor(d(), { ...liveState({ chains: [mine()] }), stacks: [record({ revision: 'old0000' })] }).steps, []);
  });

  test("a chain's own step writes its stack's record (no step of its own), and its undo puts the old record back", () => {
    const live = { ...liveState({ chains: [mine()] }), stacks: [record({ revision: 'old0000' })] };
    const more = forStack(desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist)]), dChain('more', ['eth1'], [dInst('b', FN.flowstats)])), 'netops/manifests');
    const { steps } = compileFor(more, live);
    assert.ok(steps.every((s) => s.chain !== undefined), 'every step is a chain\'s');
    // A new chain's record goes with the write that switches it on.
    const attach = steps.find((s) => s.phase === 'commit' && s.kind === 'swap')!;
    const op = attach.op as Op;
    assert.equal(op.stack?.pin, '/sys/fs/bpf/kfn/stacks/netops%2Fmanifests');
    assert.deepEqual(
      op.stack?.meta?.chains.map((c) => c.chainName),
      ['edge', 'more'],
    );
    assert.equal(op.stack?.meta?.revision, 'abc1234');
    assert.deepEqual(attach.undo.at(-1), { op: 'writeMeta', pin: '/sys/fs/bpf/kfn/stacks/netops%2Fmanifests', meta: { kind: 'stack', stack: 'netops/manifests', manifestDigest: 'd'.repeat(64), revision: 'old0000', appliedAt: NOW.toISOString(), chains: [{ netns: 'default', ifname: 'eth0', hook: 'xdp', chainName: 'edge' }] } });
    const fresh = compileFor(more, liveState()).steps.filter((s) => s.phase === 'commit' && s.kind === 'swap');
    assert.deepEqual(fresh[0]!.undo.at(-1), { op: 'unpin', pin: '/sys/fs/bpf/kfn/stacks/netops%2Fmanifests' }, 'a first record is removed by the undo');
  });

  test('a stack left with no chains loses its record; destroy of one stack touches only its record', () => {
    const obs = record({ stack: 'observability/obs', chains: [{ attachment: at('eth1', 'tc-ingress'), chainName: 'flows' }] });
    const live = { ...liveState({ chains: [mine(), theirs()] }), stacks: [record(), obs] };
    assert.deepEqual(writes(compileFor(forStack(desired(), 'netops/manifests'), live).steps), [['release', null]]);
    // destroy of one stack: the plan has no stack, and the live state it is given is scoped.
    const scoped = { ...live, chains: [mine()], stacks: [record()] };
    const destroy = compileFor(desired(), scoped).steps;
    assert.deepEqual(writes(destroy), [['release', null]]);
    assert.ok(destroy.every((s) => (s.op as Op).stack?.pin !== '/sys/fs/bpf/kfn/stacks/observability%2Fobs'));
  });

  test('a recorded chain of which nothing is left, and that no manifest wants, is forgotten', () => {
    const live = { ...liveState({ chains: [mine()] }), stacks: [record({ chains: [{ attachment: at('eth0'), chainName: 'edge' }, { attachment: at('veth-b', 'tc-egress'), chainName: 'gone' }] })] };
    const p = run(d(), live);
    assert.deepEqual(
      p.changes.map((c) => [c.chainName, c.action, c.reasons.map((r) => r.code)]),
      [
        ['edge', 'noop', []],
        ['gone', 'delete', ['chain-gone']],
      ],
    );
    const { steps } = tailcallForm.compile(p, { pinRoot: '/sys/fs/bpf/kfn', live });
    assert.deepEqual(writes(steps), [['release', ['eth0=edge']]]);
    assert.ok(renderPlan({ ...p, steps }, { color: false }).includes('# chain "gone" on veth-b/tc-egress is already gone from the kernel and will be forgotten'));
    // Another stack's chain at that attachment is never forgotten by this stack.
    const taken = { ...live, chains: [mine(), owned(lChain('x', at('veth-b', 'tc-egress'), []), 'observability/obs')] };
    assert.deepEqual(
      run(d(), taken).changes.map((c) => [c.chainName, c.action]),
      [['edge', 'noop']],
    );
  });
});

describe('host selection', () => {
  test('hostname globs (any) and labels (all)', () => {
    assert.equal(selectsHost({}, HOST), true);
    assert.equal(selectsHost({ hostnames: ['edge-*'] }, HOST), true);
    assert.equal(selectsHost({ hostnames: ['core-*', 'edge-0?.example'] }, HOST), true);
    assert.equal(selectsHost({ hostnames: ['edge-0?'] }, HOST), false, 'a glob matches the whole name');
    assert.equal(selectsHost({ labels: { role: 'edge' } }, HOST), true);
    assert.equal(selectsHost({ labels: { role: 'edge', zone: 'us-2' } }, HOST), false);
    assert.equal(selectsHost({ hostnames: ['edge-*'], labels: { rack: '4' } }, HOST), false, 'a label the host lacks');
  });

  test('a chain that does not select the host is skipped with a note; without a host identity every chain applies', () => {
    const d = forStack(
      desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist)]), { ...dChain('core', ['eth1'], [dInst('b', FN.blocklist)]), hosts: { hostnames: ['core-*'], labels: { role: 'core' } } }),
      'netops/manifests',
    );
    const p = run(d, liveState(), HOST);
    assert.deepEqual(
      p.changes.map((c) => c.chainName),
      ['edge'],
    );
    assert.deepEqual(p.notes, [{ code: 'host-not-selected', chainName: 'core', selector: { hostnames: ['core-*'], labels: { role: 'core' } } }]);
    assert.ok(renderPlan(p, { color: false }).includes('  # chain "core" is skipped: this host is not selected (hostnames core-*; labels role=core)'));
    assert.deepEqual(planJson(p).notes[0], {
      code: 'host_not_selected',
      text: 'chain "core" is skipped: this host is not selected (hostnames core-*; labels role=core)',
      name: 'core',
      selector: { hostnames: ['core-*'], labels: { role: 'core' } },
    });
    assert.deepEqual(
      run(d, liveState()).changes.map((c) => c.chainName),
      ['edge', 'core'],
    );
  });

  test('a host that stops being selected prunes the chain it ran', () => {
    const d = forStack(desired({ ...dChain('edge', ['eth0'], [dInst('a', FN.blocklist)]), hosts: { labels: { role: 'core' } } }), 'netops/manifests');
    const p = run(d, liveState({ chains: [mine()] }), HOST);
    assert.deepEqual(
      p.changes.map((c) => [c.chainName, c.action]),
      [['edge', 'delete']],
    );
  });
});
