/**
 * Probes, kernel-free: manifests (the attach field, hooks, programs per probe hook, a
 * tracepoint program built for another tracepoint), the planner (create, delete, update
 * in place, reattach, replace on identity or attach point, extra copies), the tail-call
 * form's steps for each, the summary and the views.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KfnError, KfnErrors } from '../../src/core/errors.js';
import type { DesiredProbe, LiveProbe, ProbeTarget } from '../../src/core/types.js';
import type { ObjectInfo } from '../../src/libbpf/object-info.js';
import { loadDesiredState } from '../../src/manifest/index.js';
import { hasChanges, plan, planProbes, targetText } from '../../src/plan/index.js';
import { compile } from '../../src/forms/tailcall/compile.js';
import { planJson, renderLive, renderPlan } from '../../src/views/index.js';
import { NOW, desired, entries, ident, liveState } from './plan-fixtures.js';

const TP: ProbeTarget = { hook: 'tracepoint', tracepoint: 'tcp/tcp_retransmit_skb' };
const FN = ident('tcpretrans', '1.0.0', { program: 'tcpretrans_tp' });

function dProbe(name: string, opts: { target?: ProbeTarget; identity?: typeof FN; ports?: Record<string, string> } = {}): DesiredProbe {
  const maps: DesiredProbe['maps'] = opts.ports ? { ports: { name: 'ports', entries: entries(opts.ports) } } : {};
  return { name, target: opts.target ?? TP, identity: opts.identity ?? FN, objectPath: '/objs/tcpretrans.bpf.o', maps, stateMaps: { by_port: 'L1', ports: 'L2' } };
}

function lProbe(name: string, opts: { target?: ProbeTarget; identity?: typeof FN; ports?: Record<string, string>; attached?: boolean; progId?: number; drift?: string[]; dir?: string } = {}): LiveProbe {
  const maps: LiveProbe['maps'] = opts.ports ? { ports: entries(opts.ports) } : {};
  return {
    name,
    target: opts.target ?? TP,
    identity: opts.identity ?? FN,
    progId: opts.progId ?? 41,
    linkId: opts.attached === false ? 0 : 7,
    attached: opts.attached ?? true,
    pinDir: opts.dir ?? `/sys/fs/bpf/kfn/probes/${name}@a`,
    maps,
    appliedMaps: {},
    stateMaps: { by_port: 'L1', ports: 'L2' },
    drift: opts.drift ?? [],
    formData: { kind: 'probe', name },
  };
}

const one = (d: DesiredProbe[], l: LiveProbe[]) => {
  const out = planProbes(d, l);
  assert.equal(out.length, 1);
  return out[0]!;
};

describe('probes: planner', () => {
  test('create, delete, noop', () => {
    assert.equal(one([dProbe('r')], []).action, 'create');
    assert.deepEqual(one([], [lProbe('r')]).reasons, [{ code: 'probe-unwanted' }]);
    assert.equal(one([dProbe('r')], [lProbe('r')]).action, 'noop');
  });

  test('map entries differ: updated in place', () => {
    const c = one([dProbe('r', { ports: { '7200': '1' } })], [lProbe('r', { ports: { '7201': '1' } })]);
    assert.equal(c.action, 'update');
    assert.deepEqual(c.mapChanges[0]!.entries.map((e) => `${e.op} ${e.keyText}`), ['add 7200', 'remove 7201']);
  });

  test('a detached probe is attached again', () => {
    const c = one([dProbe('r')], [lProbe('r', { attached: false, drift: ['its link is gone: the probe is detached'] })]);
    assert.equal(c.action, 'update');
    assert.equal(c.reattach, true);
    assert.deepEqual(c.reasons.map((r) => r.code), ['detached', 'drift']);
  });

  test('a new version or attach point replaces; a lost program is loaded anew', () => {
    const v2 = { ...FN, version: '2.0.0', sha256: 'e'.repeat(64) };
    assert.equal(one([dProbe('r', { identity: v2 })], [lProbe('r')]).action, 'replace');
    const moved = one([dProbe('r', { target: { hook: 'tracepoint', tracepoint: 'tcp/tcp_retransmit_synack' } })], [lProbe('r')]);
    assert.equal(moved.action, 'replace');
    assert.deepEqual(moved.targetChange, { from: 'tracepoint tcp/tcp_retransmit_skb', to: 'tracepoint tcp/tcp_retransmit_synack' });
    assert.equal(one([dProbe('r')], [lProbe('r', { progId: 0, attached: false })]).action, 'replace');
  });

  test('of two live copies of a name the attached one is kept, the other deleted as orphaned', () => {
    const out = planProbes([dProbe('r')], [lProbe('r', { attached: false, dir: '/x/r@1' }), lProbe('r', { dir: '/x/r@2' })]);
    assert.deepEqual(out.map((c) => [c.action, c.live?.pinDir, c.reasons[0]?.code]), [
      ['noop', '/x/r@2', undefined],
      ['delete', '/x/r@1', 'orphaned'],
    ]);
  });

  test('plan(): probes count in the summary and in hasChanges; none desired or live leaves them out', () => {
    const p = plan({ ...desired(), probes: [dProbe('a'), dProbe('b', { ports: { '1': '1' } })] }, { ...liveState(), probes: [lProbe('b'), lProbe('c')] }, { now: NOW });
    assert.deepEqual(p.probes!.map((c) => `${c.name}:${c.action}`), ['a:create', 'b:update', 'c:delete']);
    assert.deepEqual(p.summary, { add: 1, change: 1, replace: 0, destroy: 1 });
    assert.equal(hasChanges(p), true);
    assert.equal(plan(desired(), liveState(), { now: NOW }).probes, undefined);
  });

  test('targets in words', () => {
    assert.equal(targetText({ hook: 'uprobe', path: '/bin/x', symbol: 'main', offset: 16, retprobe: true }), 'uretprobe /bin/x:main+0x10');
    assert.equal(targetText({ hook: 'uprobe', path: '/bin/x', offset: 4096, retprobe: false }), 'uprobe /bin/x:0x1000');
    assert.equal(targetText({ hook: 'kprobe', function: 'tcp_v4_connect', offset: 0, retprobe: false }), 'kprobe tcp_v4_connect');
  });
});

describe('probes: tail-call form compile', () => {
  const compiled = (d: DesiredProbe[], l: LiveProbe[]) => {
    const live = { ...liveState(), probes: l };
    const p = plan({ ...desired(), probes: d }, live, { now: NOW });
    return compile(p, { pinRoot: '/sys/fs/bpf/kfn', live }).steps;
  };

  test('create: load in prepare, attach in commit, each undone by removing it', () => {
    const steps = compiled([dProbe('r')], []);
    assert.deepEqual(steps.map((s) => `${s.phase}:${s.kind}:${s.probe}`), ['prepare:load-probe:r', 'commit:attach-probe:r']);
    const dir = (steps[0]!.op as { dir: string }).dir;
    assert.match(dir, /^\/sys\/fs\/bpf\/kfn\/probes\/r@[0-9a-z]+$/);
    assert.deepEqual(steps[0]!.undo, [{ op: 'unpinTree', dir }]);
    assert.deepEqual(steps[1]!.undo, [{ op: 'probeDetach', dir }]);
    assert.equal(steps[0]!.chain, undefined);
  });

  test('replace: the new link in commit, the old probe detached after the commit point; state maps carried', () => {
    const v2 = { ...FN, version: '2.0.0', sha256: 'e'.repeat(64) };
    const steps = compiled([dProbe('r', { identity: v2 })], [lProbe('r')]);
    assert.deepEqual(steps.map((s) => `${s.phase}:${s.kind}`), ['prepare:load-probe', 'commit:attach-probe', 'release:detach-probe']);
    assert.deepEqual((steps[0]!.op as { carry: { maps: { name: string }[] } }).carry.maps.map((m) => m.name), ['by_port', 'ports']);
    assert.deepEqual(steps[2]!.op, { op: 'probe-release', dir: '/sys/fs/bpf/kfn/probes/r@a' });
  });

  test('update: map entries written in place and recorded; a reattach; delete in release', () => {
    const steps = compiled([dProbe('r', { ports: { '7': '1' } })], [lProbe('r', { attached: false })]);
    assert.deepEqual(steps.map((s) => s.kind), ['update-maps', 'record', 'attach-probe']);
    assert.equal((steps[0]!.op as { map: string }).map, '/sys/fs/bpf/kfn/probes/r@a/maps/ports');
    assert.deepEqual(compiled([], [lProbe('r')]).map((s) => `${s.phase}:${s.kind}`), ['release:detach-probe']);
  });
});

describe('probes: stacks own them as they own chains', () => {
  const STACK = 'netops/edge';
  const planned = (d: DesiredProbe[], l: LiveProbe[]) => {
    const live = { ...liveState(), probes: l };
    const p = plan({ ...desired(), stack: STACK, probes: d }, live, { now: NOW });
    return { p, steps: compile(p, { pinRoot: '/sys/fs/bpf/kfn', live }).steps };
  };

  test("another stack's probes and unnamed unowned ones are neither deleted nor shown", () => {
    const { p, steps } = planned([], [{ ...lProbe('theirs'), stack: 'other' }, lProbe('old')]);
    assert.equal(p.probes, undefined);
    assert.deepEqual(steps, []);
  });

  test("the stack's own probe it no longer names is deleted", () => {
    const { p } = planned([], [{ ...lProbe('mine'), stack: STACK }]);
    assert.deepEqual(p.probes?.map((c) => `${c.name}:${c.action}`), ['mine:delete']);
  });

  test('an unowned probe the manifests name is adopted: its metadata records the stack, undone by the old metadata', () => {
    const { p, steps } = planned([dProbe('old')], [lProbe('old')]);
    const c = p.probes![0]!;
    assert.equal(c.action, 'update');
    assert.equal(c.adopt, STACK);
    assert.deepEqual(c.reasons, [{ code: 'adopted', stack: STACK }]);
    assert.deepEqual(steps.map((s) => s.op), [{ op: 'patch-probe-stack', pin: '/sys/fs/bpf/kfn/probes/old@a/meta', stack: STACK }]);
    assert.deepEqual(steps[0]!.undo, [{ op: 'writeMeta', pin: '/sys/fs/bpf/kfn/probes/old@a/meta', meta: { kind: 'probe', name: 'old' } }]);
  });

  test('a probe loaded for a stack is loaded as its own', () => {
    const { steps } = planned([dProbe('new')], []);
    assert.equal((steps[0]!.op as { stack?: string }).stack, STACK);
  });

  test("a probe of the same name owned by another stack is a conflict naming both stacks", () => {
    assert.throws(
      () => planned([dProbe('shared')], [{ ...lProbe('shared'), stack: 'other' }]),
      (e: unknown) => e instanceof KfnError && e.code === 'CHAIN_CONFLICT' && /stack "netops\/edge".*stack "other"/.test(e.message),
    );
  });
});

describe('probes: views', () => {
  const p = plan({ ...desired(), probes: [dProbe('r', { ports: { '7200': '1' } })] }, liveState(), { now: NOW });

  test('plan text: a block per probe with its attach point and map entries', () => {
    const text = renderPlan(p, { color: false });
    assert.match(text, /# probe "r" on tracepoint tcp\/tcp_retransmit_skb will be created\n  \+ probe "r" \{\n        tcpretrans@1\.0\.0  [0-9a-f]{12}  tcpretrans_tp\n          \+ ports\["7200"\] = 1\n    \}/);
    assert.match(text, /Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy\./);
  });

  test('plan JSON: a kfn_probe resource with its target; show text and JSON list probes', () => {
    const rc = planJson(p).resource_changes.find((r) => r.type === 'kfn_probe')! as unknown as { address: string; change: { actions: string[]; after: { target: { text: string } } } };
    assert.equal(rc.address, 'probe.r');
    assert.deepEqual(rc.change.actions, ['create']);
    assert.equal(rc.change.after.target.text, 'tracepoint tcp/tcp_retransmit_skb');
    const live = { ...liveState(), probes: [lProbe('r', { attached: false, drift: ['its link is gone: the probe is detached'] })] };
    const text = renderLive(live, { color: false });
    assert.match(text, /probe "r" on tracepoint tcp\/tcp_retransmit_skb\n  tcpretrans@1\.0\.0  tcpretrans_tp  prog 41  not attached/);
    assert.match(text, /! its link is gone: the probe is detached \(changed outside kfn\)/);
    assert.doesNotMatch(text, /No kernel functions are managed/);
  });
});

describe('probes: manifests', () => {
  const next = { name: 'kfn_next', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 };
  const objects: Record<string, Omit<ObjectInfo, 'path'>> = {
    'probe.bpf.o': {
      sha256: 'a'.repeat(64),
      programs: [
        { name: 'p_tp', section: 'tracepoint', kind: 'tracepoint' },
        { name: 'p_retrans', section: 'tracepoint/tcp/tcp_retransmit_skb', kind: 'tracepoint' },
        { name: 'p_up', section: 'uprobe', kind: 'kprobe' },
        { name: 'p_kp', section: 'kprobe', kind: 'kprobe' },
      ],
      maps: [{ name: 'counts', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 1 }],
      globals: [],
    },
    'chain.bpf.o': { sha256: 'b'.repeat(64), programs: [{ name: 'c_xdp', section: 'xdp', kind: 'xdp' }], maps: [next], globals: [] },
  };

  function resolve(probes: string, tpProgram = 'p_tp') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-probes-'));
    try {
      for (const f of Object.keys(objects)) fs.writeFileSync(path.join(dir, f), 'x');
      fs.writeFileSync(
        path.join(dir, 'm.yaml'),
        `apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: pc }
spec: { version: 1.0.0, object: probe.bpf.o, hooks: [uprobe, kprobe] }
---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: tp }
spec: { version: 1.0.0, object: probe.bpf.o, hooks: [tracepoint], program: ${tpProgram} }
---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: fw }
spec: { version: 1.0.0, object: chain.bpf.o, hooks: [xdp] }
---
${probes}`,
      );
      return loadDesiredState(dir, { root: dir, readObjectInfo: (p) => ({ path: p, ...objects[path.basename(p)]! }) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const probeDoc = (spec: string) => `apiVersion: kfn.dev/v1alpha1\nkind: Probe\nmetadata: { name: x }\nspec:\n  ${spec.split('\n').join('\n  ')}\n`;
  const codes = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (e) {
      return (e instanceof KfnErrors ? e.errors : [e as KfnError]).map((x) => `${x.code}: ${x.message.replace(/^.*?m\.yaml:\d+:\d+: /, '')}`);
    }
    return [];
  };

  test('a probe resolves to its hook program and target; the section says which probe hook', () => {
    const d = resolve(probeDoc('function: pc\nuprobe: { path: /bin/true, symbol: main }') + '---\n' + probeDoc('function: tp\ntracepoint: sched/sched_switch').replace('name: x', 'name: y'));
    assert.deepEqual(
      d.probes!.map((p) => [p.name, p.identity.program, p.target]),
      [
        ['x', 'p_up', { hook: 'uprobe', path: '/bin/true', symbol: 'main', offset: 0, retprobe: false }],
        ['y', 'p_tp', { hook: 'tracepoint', tracepoint: 'sched/sched_switch' }],
      ],
    );
    assert.equal(d.chains.length, 0);
  });

  test('exactly one attach field; a uprobe needs a symbol or an offset', () => {
    assert.deepEqual(codes(() => resolve(probeDoc('function: pc'))), ['PROBE_ATTACH_INVALID: spec: a Probe attaches to exactly one of tracepoint, uprobe, kprobe, fentry, fexit, freplace; none is given']);
    assert.deepEqual(codes(() => resolve(probeDoc('function: pc\ntracepoint: a/b\nkprobe: { function: f }'))), [
      'PROBE_ATTACH_INVALID: spec: a Probe attaches to exactly one of tracepoint, uprobe, kprobe, fentry, fexit, freplace; found tracepoint and kprobe',
    ]);
    assert.deepEqual(codes(() => resolve(probeDoc('function: pc\nuprobe: { path: /bin/true }'))), ['PROBE_ATTACH_INVALID: spec.uprobe: needs a symbol (a function of the file) or an offset in the file']);
  });

  test('the function must support the probe hook; a chain cannot use a probe function', () => {
    assert.deepEqual(codes(() => resolve(probeDoc('function: pc\ntracepoint: a/b'))), ['HOOK_NOT_SUPPORTED_BY_FUNCTION: probe "x": pc@1.0.0 does not support hook tracepoint (hooks: uprobe, kprobe)']);
    assert.deepEqual(codes(() => resolve(probeDoc('function: fw\nkprobe: { function: f }'))), ['HOOK_NOT_SUPPORTED_BY_FUNCTION: probe "x": fw@1.0.0 does not support hook kprobe (hooks: xdp)']);
  });

  test('a tracepoint program built for one tracepoint attaches there only', () => {
    assert.deepEqual(codes(() => resolve(probeDoc('function: tp\ntracepoint: tcp/tcp_retransmit_skb'), 'p_retrans')), []);
    assert.deepEqual(codes(() => resolve(probeDoc('function: tp\ntracepoint: sched/sched_switch'), 'p_retrans')), [
      'PROBE_ATTACH_INVALID: probe "x": p_retrans of tp@1.0.0 is built for tracepoint tcp/tcp_retransmit_skb (section "tracepoint/tcp/tcp_retransmit_skb"), not sched/sched_switch',
    ]);
  });

  test('the manifest digest of chains alone is unchanged by probe support; probes change it', () => {
    const a = resolve('');
    const b = resolve(probeDoc('function: pc\nkprobe: { function: f }'));
    assert.notEqual(a.manifestDigest, b.manifestDigest);
    assert.equal(a.probes, undefined);
  });
});
