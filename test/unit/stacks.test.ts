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

  test('unchanged chains and record: no step at all', () => {
    const live = { ...liveState({ chains: [mine()] }), stacks: [record()] };
    assert.deepEqual(compileFor(d(), live).steps, []);
  });

  test('a new revision with the same kernel state: one bookkeeping step, and no change to show', () => {
    const live = { ...liveState({ chains: [mine()] }), stacks: [record({ revision: 'old0000' })] };
    const p = run(d(), live);
    assert.equal(hasChanges(p), false);
    const { steps } = tailcallForm.compile(p, { pinRoot: '/sys/fs/bpf/kfn', live });
    assert.deepEqual(
      steps.map((s) => [s.kind, s.phase, s.stack]),
      [['record', 'commit', 'netops/manifests']],
    );
    const op = steps[0]!.op as { op: string; meta: { revision?: string; chains: unknown[] } };
    assert.equal(op.op, 'write-stack-meta');
    assert.equal(op.meta.revision, 'abc1234');
    assert.equal(planJson({ ...p, steps }).planned_steps[0]!.address, 'stack["netops/manifests"]');
  });

  test('a stack left with no chains releases its record; destroy releases the records of the stacks it empties', () => {
    const live = { ...liveState({ chains: [mine(), theirs()] }), stacks: [record(), record({ stack: 'observability/obs', chains: [{ attachment: at('eth1', 'tc-ingress'), chainName: 'flows' }] })] };
    const own = compileFor(forStack(desired(), 'netops/manifests'), live).steps.filter((s) => s.stack !== undefined);
    assert.deepEqual(
      own.map((s) => [s.kind, s.phase, s.stack]),
      [['release', 'release', 'netops/manifests']],
    );
    // destroy of one stack: the plan has no stack, and the live state it is given is scoped.
    const scoped = { ...live, chains: [mine()], stacks: [record()] };
    const destroy = compileFor(desired(), scoped).steps.filter((s) => s.stack !== undefined);
    assert.deepEqual(
      destroy.map((s) => s.stack),
      ['netops/manifests'],
    );
    // a plan without a stack that leaves a stack's chain in place keeps its record
    const keep = compileFor(desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist)])), scoped).steps.filter((s) => s.stack !== undefined);
    assert.deepEqual(keep, []);
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
