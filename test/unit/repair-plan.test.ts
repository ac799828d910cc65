/**
 * The planner and the tail-call form's compile on damaged live chains (typed DriftKind
 * as the reader reports it), without a kernel: which instances are kept, which steps
 * repair what, and what each step's undo restores. Every step compiled here must also
 * pass the form's own checks for plans read back from files (checkStep / checkUndo),
 * or a saved repair plan could never be applied.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DriftKind, LiveChain, LiveInstance, Plan, PlannedStep } from '../../src/core/types.js';
import { driftText } from '../../src/core/drift.js';
import { Engine } from '../../src/engine/index.js';
import type { TailcallChainData } from '../../src/forms/tailcall/read.js';
import { FN, NOW, at, dChain, dInst, desired, lChain, lInst, liveState } from './plan-fixtures.js';

const PIN_ROOT = '/nonexistent-kfn-test/pins';
const chainDir = (ifname = 'eth0'): string => `${PIN_ROOT}/chains/default/${ifname}/xdp`;
const engine = new Engine({ paths: { pinRoot: PIN_ROOT, stateDir: '/nonexistent-kfn-test/state' }, now: () => NOW });

/** A live instance pinned where the layout puts it, with kfn's recorded map ids. */
function inst(name: string, progId: number, ifname = 'eth0'): LiveInstance {
  const li = lInst(name, FN.flowstats, progId);
  li.pinDir = `${chainDir(ifname)}/fn/${name}@t${progId}`;
  li.stateMaps = { counts: 'layout-1' };
  li.formData = { kind: 'instance', name, chainName: 'edge', identity: FN.flowstats, objectPath: '/objs/x.bpf.o', parameters: [], appliedMaps: {}, mapIds: { counts: progId * 10 }, createdAt: NOW.toISOString() };
  return li;
}

function chain(instances: LiveInstance[], drift: DriftKind[], o: { orphans?: LiveInstance[]; attached?: boolean; ifname?: string; pinIf?: string; data?: Partial<TailcallChainData> } = {}): LiveChain {
  const c = lChain('edge', at(o.ifname ?? 'eth0'), instances, { orphans: o.orphans ?? [], attached: o.attached ?? true });
  c.pinDir = chainDir(o.pinIf ?? o.ifname ?? 'eth0');
  c.driftKinds = drift;
  c.drift = drift.map(driftText);
  const data: TailcallChainData = {
    meta: { kind: 'chain', chainName: 'edge', netns: 'default', ifname: o.pinIf ?? o.ifname ?? 'eth0', hook: 'xdp', mode: 'auto', position: 'last', manifestDigest: 'd', order: ['a', 'b', 'c'], updatedAt: NOW.toISOString() },
    rootSlot: instances[0] ? { kind: 'kfn', prog: `${instances[0].pinDir}/prog` } : { kind: 'empty' },
    damagedDirs: [],
    ...o.data,
  };
  c.formData = data;
  return c;
}

const want = (ifname = 'eth0') => desired(dChain('edge', [ifname], [dInst('a', FN.flowstats), dInst('b', FN.flowstats), dInst('c', FN.flowstats)]));

function planFor(c: LiveChain, d = want()): Plan {
  const live = liveState({ chains: [c], interfaces: [{ netns: 'default', ifname: c.attachment.ifname, ifindex: 2 }] });
  return engine.plan(d, live);
}

const ops = (p: Plan): string[] => p.steps.map((s) => `${s.phase}:${(s.op as { op: string }).op}`);
const stepOf = (p: Plan, op: string): PlannedStep => {
  const s = p.steps.find((x) => (x.op as { op: string }).op === op);
  assert.ok(s, `a ${op} step in ${ops(p).join(' ')}`);
  return s;
};

/** The form accepts every step and undo it compiled itself, as it would read back from a plan file or the journal. */
function assertAllChecked(p: Plan): void {
  assert.ok(p.steps.length > 0, 'a repair has steps');
  for (const s of p.steps) {
    assert.equal(engine.form.checkStep(s, PIN_ROOT), undefined, `the form accepts its own step: ${s.description}`);
    for (const u of s.undo) assert.equal(engine.form.checkUndo(u, PIN_ROOT), undefined, `the form accepts its own undo of ${s.description}: ${JSON.stringify(u)}`);
  }
}

describe('repair plans on typed damage', () => {
  test("a slot emptied after a: the orphans b and c are still the chain's; all three are rebuilt as copies and swapped in at the root", () => {
    const a = inst('a', 11);
    const b = inst('b', 12);
    const c = inst('c', 13);
    const p = planFor(chain([a], [{ code: 'bypassed', after: 'a', unreached: ['b', 'c'], pin: 'kfn_next' }], { orphans: [b, c] }));
    const ch = p.changes[0]!;
    assert.equal(ch.action, 'update');
    assert.deepEqual(
      ch.instances.map((i) => [i.name, i.action, i.live?.progId, i.reasons.map((r) => r.code)]),
      [
        ['a', 'reload', 11, ['chain-rebuilt']],
        ['b', 'reload', 12, ['chain-rebuilt']],
        ['c', 'reload', 13, ['chain-rebuilt']],
      ],
      'no instance is created afresh: their maps (state) are shared by the copies',
    );
    assert.deepEqual(ops(p), ['prepare:load-instance', 'prepare:load-instance', 'prepare:load-instance', 'commit:set-slot', 'commit:write-chain-meta', 'release:release', 'release:release', 'release:release']);
    const swap = stepOf(p, 'set-slot');
    assert.match(swap.description, /rebuild .*eth0\/xdp: point the root at the fresh \[a, b, c\]/);
    assert.equal((swap.op as { slot: string }).slot, `${chainDir()}/root_next`);
    assert.deepEqual(swap.undo, [{ op: 'setSlot', slot: `${chainDir()}/root_next`, prog: `${a.pinDir}/prog` }], 'undo points the root back at what it ran');
    const shared = p.steps.filter((s) => s.kind === 'load-copy').map((s) => (s.op as { share: { maps: { pin: string }[] } }).share.maps[0]!.pin);
    assert.deepEqual(shared.sort(), [a, b, c].map((i) => `${i.pinDir}/maps/counts`).sort());
    assert.deepEqual(
      (stepOf(p, 'write-chain-meta').op as { meta: { order: string[] } }).meta.order,
      ['a', 'b', 'c'],
      'the order kfn built is recorded, so the next emptied slot is seen',
    );
    const released = p.steps.filter((s) => s.phase === 'release').map((s) => (s.op as { dir: string }).dir);
    assert.deepEqual(released.sort(), [a, b, c].map((i) => i.pinDir).sort(), 'the old instances go after the commit point');
    assertAllChecked(p);
  });

  test('without damage that breaks the order, orphans are deleted and missing instances created', () => {
    const p = planFor(chain([inst('a', 11)], [], { orphans: [inst('b', 12), inst('c', 13)] }));
    assert.deepEqual(
      p.changes[0]!.instances.map((i) => [i.name, i.action]),
      [
        ['a', 'noop'],
        ['b', 'create'],
        ['c', 'create'],
        ['b', 'delete'],
        ['c', 'delete'],
      ],
    );
    assertAllChecked(p);
  });

  test("a foreign program in the root slot: the swap's undo puts exactly that program back, by id and tag", () => {
    const p = planFor(
      chain([], [{ code: 'foreign-in-chain', progId: 77, progName: 'evil' }], {
        orphans: [inst('a', 11), inst('b', 12), inst('c', 13)],
        data: { rootSlot: { kind: 'foreign', progId: 77, tag: 'ab'.repeat(8), name: 'evil' } },
      }),
    );
    assert.deepEqual(stepOf(p, 'set-slot').undo, [{ op: 'setSlotId', slot: `${chainDir()}/root_next`, progId: 77, tag: 'ab'.repeat(8), name: 'evil' }]);
    assert.ok(!p.steps.some((s) => s.kind === 'reattach'), 'a working root is never detached');
    assertAllChecked(p);
  });

  test("root pin removed: re-pinned from kfn's link, nothing reloaded, never re-attached", () => {
    const p = planFor(chain([inst('a', 11), inst('b', 12), inst('c', 13)], [{ code: 'pin-missing', pin: 'root', progId: 100 }]));
    assert.deepEqual(ops(p), ['prepare:pin-link-prog', 'commit:write-chain-meta']);
    assert.deepEqual(stepOf(p, 'pin-link-prog').undo, [{ op: 'unpin', pin: `${chainDir()}/root` }]);
    assert.ok(p.changes[0]!.instances.every((i) => i.action === 'noop'));
    assertAllChecked(p);
  });

  test('the root slot pin removed (the kernel emptied it): pinned again from the root program, then the chain rebuilt into it', () => {
    const p = planFor(
      chain([], [{ code: 'bypassed', unreached: ['a', 'b', 'c'], pin: 'root_next' }], { orphans: [inst('a', 11), inst('b', 12), inst('c', 13)], data: { rootSlot: { kind: 'missing' } } }),
    );
    assert.equal(ops(p)[0], 'prepare:pin-prog-slot');
    assert.deepEqual(stepOf(p, 'pin-prog-slot').undo, [{ op: 'unpin', pin: `${chainDir()}/root_next` }]);
    assert.deepEqual(stepOf(p, 'set-slot').undo, [{ op: 'setSlot', slot: `${chainDir()}/root_next`, prog: null }], 'the kernel had emptied it');
    assertAllChecked(p);
  });

  test('no root left: a new root beside the old slot (set aside, restored on undo), re-attached, the old slot released', () => {
    const p = planFor(chain([inst('a', 11), inst('b', 12), inst('c', 13)], [{ code: 'root-missing' }], { attached: false }));
    const root = stepOf(p, 'load-root');
    assert.equal((root.op as { aside?: boolean }).aside, true);
    assert.deepEqual(
      root.undo.map((u) => (u as { op: string }).op),
      ['writeMeta', 'restoreRoot'],
    );
    assert.ok(p.steps.some((s) => s.kind === 'reattach'));
    const last = p.steps.at(-1)!;
    assert.deepEqual(last.op, { op: 'unpin', pin: `${chainDir()}/root_next_old` });
    assert.equal(last.phase, 'release');
    assertAllChecked(p);
  });

  test('chain metadata removed: not a rename; the record step creates it, its undo removes it again', () => {
    const c = chain([inst('a', 11), inst('b', 12), inst('c', 13)], [{ code: 'metadata-missing' }], { data: { meta: undefined } });
    c.chainName = '?';
    const p = planFor(c);
    assert.ok(!p.changes[0]!.reasons.some((r) => r.code === 'chain-renamed'));
    assert.deepEqual(stepOf(p, 'write-chain-meta').undo, [{ op: 'unpin', pin: `${chainDir()}/meta` }]);
    assertAllChecked(p);
  });

  test('maps unpinned while the program holds them: re-pinned by the recorded ids; lost for good: the instance is replaced, its state reset', () => {
    const b = inst('b', 12);
    const ok = planFor(chain([inst('a', 11), b, inst('c', 13)], [{ code: 'maps-missing', instance: 'b', maps: ['counts'], recoverable: true }]));
    const repin = stepOf(ok, 'pin-instance-maps');
    assert.deepEqual(repin.op, { op: 'pin-instance-maps', dir: b.pinDir, progId: 12, maps: { counts: 120 } });
    assert.deepEqual(repin.undo, [{ op: 'unpin', pin: `${b.pinDir}/maps/counts` }]);
    assert.ok(ok.changes[0]!.instances.every((i) => i.action === 'noop'));
    assertAllChecked(ok);

    const d = want();
    d.chains[0]!.instances[1]!.stateMaps = { counts: 'layout-1' };
    const lost = planFor(chain([inst('a', 11), inst('b', 12), inst('c', 13)], [{ code: 'maps-missing', instance: 'b', maps: ['counts'], recoverable: false }]), d);
    const ib = lost.changes[0]!.instances.find((i) => i.name === 'b')!;
    assert.equal(ib.action, 'replace');
    assert.deepEqual(ib.reasons[0], { code: 'damaged', what: 'its maps were unpinned and the kernel no longer holds them' });
    assert.deepEqual(ib.stateReset, ['counts']);
    assert.ok(!lost.steps.some((s) => (s.op as { op: string }).op === 'pin-instance-maps'), 'nothing to pin again');
    assertAllChecked(lost);
  });

  test('interface renamed: the pins move first, and every later step works under the new name', () => {
    const instances = [inst('a', 11), inst('b', 12), inst('c', 13)];
    const c = chain(instances, [{ code: 'interface-renamed', from: 'eth0', to: 'eth9' }, { code: 'pin-missing', pin: 'root', progId: 100 }], { ifname: 'eth9', pinIf: 'eth0' });
    const p = planFor(c, want('eth9'));
    assert.deepEqual(stepOf(p, 'move-chain').op, { op: 'move-chain', from: chainDir('eth0'), to: chainDir('eth9') });
    assert.deepEqual(stepOf(p, 'move-chain').undo, [{ op: 'moveChain', from: chainDir('eth9'), to: chainDir('eth0') }]);
    assert.equal(ops(p)[0], 'prepare:move-chain');
    const later = JSON.stringify(p.steps.slice(1).map((s) => [s.op, s.undo]));
    assert.ok(!later.includes(`${chainDir('eth0')}/`), `no later step names the old directory: ${later}`);
    assert.ok(later.includes(`${chainDir('eth9')}/root`));
    assert.equal((stepOf(p, 'write-chain-meta').op as { meta: { ifname: string } }).meta.ifname, 'eth9');
    assertAllChecked(p);
  });
});
