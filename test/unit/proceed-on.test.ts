/**
 * Proceed-on, kernel-free: the planner's diff (in place, drift, with other changes), the
 * tail-call form's compiled steps (one word write and a metadata record, nothing loaded;
 * a copy when the word's pin is gone), the word encoding, the views, and manifests
 * resolving proceedOn (canonical order, the default left out, objects without the word).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { ObjectInfo } from '../../src/libbpf/object-info.js';
import { loadDesiredState } from '../../src/manifest/index.js';
import { plan } from '../../src/plan/index.js';
import type { ChainChange, InstanceChange, LiveInstance, LiveState, ProceedVerdict } from '../../src/core/types.js';
import { PROCEED_VERDICTS } from '../../src/core/types.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { proceedSet, proceedWord } from '../../src/forms/tailcall/proceed-word.js';
import { planJson, renderLive, renderPlan } from '../../src/views/index.js';
import { FN, NOW, at, dChain, dInst, desired, lChain, lInst, liveState } from './plan-fixtures.js';

const withProceed = <T extends { proceedOn?: ProceedVerdict[] }>(x: T, set: ProceedVerdict[]): T => ({ ...x, proceedOn: set });
const liveWith = (i: LiveInstance, kernel: ProceedVerdict[], applied = kernel): LiveInstance => ({ ...i, proceedOn: kernel, appliedProceedOn: applied });

function chainPlan(dInsts: ReturnType<typeof dInst>[], lInsts: LiveInstance[]): { live: LiveState; c: ChainChange; p: ReturnType<typeof plan> } {
  const live = liveState({ chains: [lChain('edge', at('eth0'), lInsts)] });
  const p = plan(desired(dChain('edge', ['eth0'], dInsts)), live, { now: NOW });
  assert.equal(p.changes.length, 1);
  return { live, c: p.changes[0]!, p };
}

const inst = (c: ChainChange, name: string): InstanceChange => c.instances.find((i) => i.name === name)!;

describe('proceed-on: planner', () => {
  test('a changed set is an in-place update with a typed reason', () => {
    const { c, p } = chainPlan(
      [withProceed(dInst('filter', FN.blocklist), ['pass', 'drop']), dInst('count', FN.flowstats)],
      [liveWith(lInst('filter', FN.blocklist, 11), ['pass']), liveWith(lInst('count', FN.flowstats, 12), ['pass'])],
    );
    const f = inst(c, 'filter');
    assert.equal(f.action, 'update');
    assert.deepEqual(f.reasons, [{ code: 'proceed-on-changed', from: ['pass'], to: ['pass', 'drop'] }]);
    assert.deepEqual(f.proceedOnChange, { from: ['pass'], to: ['pass', 'drop'], drift: false });
    assert.equal(inst(c, 'count').action, 'noop');
    assert.deepEqual(p.summary, { add: 0, change: 1, replace: 0, destroy: 0 });
  });

  test('the default equals an absent set on both sides; an instance without a word is the default', () => {
    const { c } = chainPlan([withProceed(dInst('filter', FN.blocklist), ['pass'])], [lInst('filter', FN.blocklist, 11)]);
    assert.equal(c.action, 'noop');
  });

  test('the kernel word differing from what kfn wrote is drift, repaired in place', () => {
    const { c } = chainPlan([dInst('filter', FN.blocklist)], [liveWith(lInst('filter', FN.blocklist, 11), ['drop'], ['pass'])]);
    const f = inst(c, 'filter');
    assert.equal(f.action, 'update');
    assert.deepEqual(f.proceedOnChange, { from: ['drop'], to: ['pass'], drift: true });
    assert.deepEqual(
      f.reasons.map((r) => r.code),
      ['proceed-on-changed', 'proceed-on-drift'],
    );
  });

  test('with a replacement the new instance is loaded with the set; a create shows it when not the default', () => {
    const newer = { ...FN.blocklist, version: '1.3.0', sha256: 'f'.repeat(64) };
    const { c } = chainPlan(
      [withProceed(dInst('filter', newer), ['drop']), withProceed(dInst('extra', FN.flowstats), [])],
      [liveWith(lInst('filter', FN.blocklist, 11), ['pass'])],
    );
    assert.equal(inst(c, 'filter').action, 'replace');
    assert.deepEqual(inst(c, 'filter').proceedOnChange, { from: ['pass'], to: ['drop'], drift: false });
    assert.equal(inst(c, 'extra').action, 'create');
    assert.deepEqual(inst(c, 'extra').proceedOnChange, { from: ['pass'], to: [], drift: false });
  });
});

describe('proceed-on: tail-call form compile', () => {
  const PIN_ROOT = '/sys/fs/bpf/kfn';

  test('an in-place change writes the word and records it; nothing is loaded or swapped', () => {
    const { live, p } = chainPlan(
      [withProceed(dInst('filter', FN.blocklist), ['pass', 'drop']), dInst('count', FN.flowstats)],
      [liveWith(lInst('filter', FN.blocklist, 11), ['pass']), liveWith(lInst('count', FN.flowstats, 12), ['pass'])],
    );
    const { steps } = compile(p, { pinRoot: PIN_ROOT, live });
    const kinds = steps.map((s) => s.kind);
    assert.ok(!kinds.some((k) => k.startsWith('load') || k === 'swap'), `no load or swap: ${kinds.join(', ')}`);
    const write = steps.find((s) => s.kind === 'update-proceed-on');
    assert.ok(write, 'an update-proceed-on step');
    assert.equal(write.instance, 'filter');
    assert.deepEqual(write.op, { op: 'write-proceed-on', pin: '/sys/fs/bpf/kfn/x/filter/kfn_proceed', proceedOn: ['pass', 'drop'] });
    assert.deepEqual(write.undo, [{ op: 'writeProceedOn', pin: '/sys/fs/bpf/kfn/x/filter/kfn_proceed', proceedOn: ['pass'] }]);
    assert.ok(steps.some((s) => s.kind === 'record' && (s.op as { op: string }).op === 'patch-proceed-on'), 'the metadata records it');
  });
});

describe('proceed-on: the kernel word', () => {
  test('the zero word is the default; bit i flips PROCEED_VERDICTS[i]', () => {
    assert.deepEqual(proceedSet(0), ['pass']);
    assert.equal(proceedWord(['pass']), 0);
    assert.equal(proceedWord(['pass', 'drop']), 0b10);
    assert.equal(proceedWord([]), 0b01);
    assert.equal(proceedWord(['drop']), 0b11);
  });

  test('round trip over every set', () => {
    fc.assert(
      fc.property(fc.subarray([...PROCEED_VERDICTS]), (set) => {
        assert.deepEqual(proceedSet(proceedWord(set)), set);
      }),
    );
  });
});

describe('proceed-on: views', () => {
  test('plan text says what changes and that it is in place', () => {
    const { p } = chainPlan([withProceed(dInst('filter', FN.blocklist), ['pass', 'drop'])], [liveWith(lInst('filter', FN.blocklist, 11), ['pass'])]);
    const text = renderPlan(p, { color: false });
    assert.match(text, /~ proceed_on: \[pass\] -> \[pass, drop\] # in place, nothing is reloaded: drop now goes on to the next function/);
    assert.match(text, /Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy\./);
  });

  test('plan text shows drift with ! and a new instance with its meaning', () => {
    const a = chainPlan([dInst('filter', FN.blocklist)], [liveWith(lInst('filter', FN.blocklist, 11), ['drop'], ['pass'])]);
    assert.match(renderPlan(a.p, { color: false }), /! ~ proceed_on: \[drop\] -> \[pass\] # in place, nothing is reloaded: pass now goes on to the next function, drop now ends the chain \(changed outside kfn\)/);
    const b = chainPlan([dInst('filter', FN.blocklist), withProceed(dInst('allow', FN.flowstats), [])], [liveWith(lInst('filter', FN.blocklist, 11), ['pass'])]);
    assert.match(renderPlan(b.p, { color: false }), /\+ proceed_on = \[\] # pass ends the chain, drop ends the chain/);
  });

  test('plan JSON carries before/after sets and the change', () => {
    const { p } = chainPlan([withProceed(dInst('filter', FN.blocklist), ['pass', 'drop'])], [liveWith(lInst('filter', FN.blocklist, 11), ['pass'])]);
    const rc = planJson(p).resource_changes.find((r) => r.type === 'kfn_function_instance')!;
    const change = rc.change as unknown as { before: { proceed_on: string[] }; after: { proceed_on: string[] }; proceed_on_change: Record<string, unknown> };
    assert.deepEqual(change.before.proceed_on, ['pass']);
    assert.deepEqual(change.after.proceed_on, ['pass', 'drop']);
    assert.deepEqual(change.proceed_on_change, { before: ['pass'], after: ['pass', 'drop'], drift: false, in_place: true, effect: 'drop now goes on to the next function' });
  });

  test('show lists a set that is not the default, in words', () => {
    const live = liveState({ chains: [lChain('edge', at('eth0'), [liveWith(lInst('filter', FN.blocklist, 11), ['pass', 'drop']), liveWith(lInst('count', FN.flowstats, 12), ['pass'])])] });
    const text = renderLive(live, { color: false });
    assert.match(text, /proceed-on: \[pass, drop\] \(pass goes on to the next function, drop goes on to the next function\)/);
    assert.equal(text.match(/proceed-on:/g)?.length, 1, 'the default is not shown');
  });
});

describe('proceed-on: manifests', () => {
  const word = { name: 'kfn_proceed', type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 };
  const next = { name: 'kfn_next', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 };
  const objects: Record<string, Omit<ObjectInfo, 'path'>> = {
    'new.bpf.o': { sha256: 'a'.repeat(64), programs: [{ name: 'f_xdp', section: 'xdp', kind: 'xdp' }], maps: [next, word], globals: [] },
    'old.bpf.o': { sha256: 'b'.repeat(64), programs: [{ name: 'f_xdp', section: 'xdp', kind: 'xdp' }], maps: [next], globals: [] },
  };

  function resolve(proceedOn: string, object = 'new.bpf.o') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-proceed-'));
    try {
      for (const f of Object.keys(objects)) fs.writeFileSync(path.join(dir, f), 'x');
      fs.writeFileSync(
        path.join(dir, 'm.yaml'),
        `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: f }
spec: { version: 1.0.0, object: ${object}, hooks: [xdp] }
---
apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  interfaces: [eth0]
  functions:
    - function: f
${proceedOn ? `      proceedOn: ${proceedOn}\n` : ''}`,
      );
      return loadDesiredState(dir, { root: dir, readObjectInfo: (p) => ({ path: p, ...objects[path.basename(p)]! }) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('canonical order; the default and an absent field are the same desired state', () => {
    assert.deepEqual(resolve('[drop, pass]').chains[0]!.instances[0]!.proceedOn, ['pass', 'drop']);
    assert.deepEqual(resolve('[]').chains[0]!.instances[0]!.proceedOn, []);
    const dflt = resolve('[pass]');
    assert.equal(dflt.chains[0]!.instances[0]!.proceedOn, undefined);
    assert.equal(dflt.manifestDigest, resolve('').manifestDigest, 'writing the default does not change the digest');
  });

  test('an object without the word cannot take another set: one error naming the function', () => {
    assert.equal(resolve('[pass]', 'old.bpf.o').chains[0]!.instances[0]!.proceedOn, undefined);
    assert.throws(
      () => resolve('[pass, drop]', 'old.bpf.o'),
      (e: unknown) => {
        const list = e instanceof KfnErrors ? e.errors : [e as KfnError];
        assert.equal(list.length, 1);
        assert.equal(list[0]!.code, 'PROCEED_ON_UNSUPPORTED');
        assert.match(list[0]!.message, /function "f": f@1\.0\.0 cannot take proceedOn \[pass, drop\]: its object has no kfn_proceed word/);
        assert.match(list[0]!.source?.file ?? '', /m\.yaml$/);
        return true;
      },
    );
  });

  test('unknown verdicts and duplicates are schema errors', () => {
    assert.throws(() => resolve('[pass, tx]'), (e: unknown) => String((e as Error).message).includes('"tx" is not one of pass, drop'));
    assert.throws(() => resolve('[drop, drop]'), (e: unknown) => /duplicate/.test(String((e as Error).message)));
  });
});
