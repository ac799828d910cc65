/**
 * A test-only, pure model of the executor: the LiveState a plan promises, built from the
 * plan and the old live state only; plus perturbations of a live state (what the world
 * does behind kfn's back) and an independent check that a live state realizes the desired one.
 */
import assert from 'node:assert/strict';
import { digestEntries } from '../../src/core/digest.js';
import { attachmentKey } from '../../src/core/types.js';
import type { DesiredChain, DesiredState, LiveChain, LiveInstance, LiveState, MapEntry, MapEntryChange, PlannedChanges } from '../../src/core/types.js';

function applyEntries(live: readonly MapEntry[], changes: readonly MapEntryChange[]): MapEntry[] {
  const m = new Map(live.map((e) => [e.key, e] as const));
  for (const c of changes) {
    if (c.op === 'remove') {
      assert.ok(m.has(c.key), `remove of key ${c.keyText} that is not there`);
      m.delete(c.key);
    } else {
      assert.equal(m.has(c.key), c.op === 'change', `${c.op} of key ${c.keyText}`);
      assert.ok(c.value !== undefined && c.toText !== undefined, `${c.op} without a value`);
      m.set(c.key, { key: c.key, value: c.value, keyText: c.keyText, valueText: c.toText });
    }
  }
  return [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The live state after a perfect executor ran `p` on `live`. */
export function applyModel(p: PlannedChanges, live: LiveState): LiveState {
  const chains = new Map(live.chains.map((c) => [attachmentKey(c.attachment), c] as const));
  let seq = 1_000_000;
  for (const c of p.changes) {
    const key = attachmentKey(c.attachment);
    const old = chains.get(key);
    if (c.action === 'noop') continue;
    if (c.action === 'delete') {
      assert.ok(old, `delete of ${key}, which has no live chain`);
      chains.delete(key);
      continue;
    }
    assert.equal(c.action === 'create', old === undefined, `${c.action} of ${key}`);
    const kept = c.instances.filter((i) => i.action !== 'delete');
    assert.deepEqual(kept.map((i) => i.name), c.toOrder, 'instances of the plan follow the new order');
    const oldByName = new Map((old?.instances ?? []).map((i) => [i.name, i] as const));
    const instances: LiveInstance[] = kept.map((ic) => {
      const prev = oldByName.get(ic.name);
      assert.ok(ic.desired, `${ic.action} of ${ic.name} without a desired spec`);
      const fresh = ic.action === 'create' || ic.action === 'replace';
      if (ic.action !== 'create') assert.ok(prev, `${ic.action} of ${ic.name} needs a live instance`);
      const maps: Record<string, MapEntry[]> = fresh ? {} : { ...prev!.maps };
      const appliedMaps: Record<string, string> = fresh ? {} : { ...prev!.appliedMaps };
      // A replacement takes its parameter maps over from the old instance, then updates them.
      const base = ic.action === 'replace' ? prev!.maps : maps;
      for (const mc of ic.mapChanges) maps[mc.map] = applyEntries(base[mc.map] ?? [], mc.entries);
      for (const name of Object.keys(ic.desired.maps)) {
        maps[name] ??= ic.action === 'replace' ? [...(prev!.maps[name] ?? [])] : [];
        appliedMaps[name] = digestEntries(maps[name]!);
      }
      const inst: LiveInstance = {
        name: ic.name,
        identity: fresh ? ic.desired.identity : prev!.identity,
        progId: fresh ? ++seq : prev!.progId,
        pinDir: `/pins/${key}/${ic.name}/${fresh ? seq : prev!.progId}`,
        maps,
        appliedMaps,
      };
      if (ic.desired.stateMaps) inst.stateMaps = ic.desired.stateMaps;
      return inst;
    });
    const next: LiveChain = {
      attachment: c.attachment,
      chainName: c.chainName,
      ifindex: old?.ifindex ?? 7,
      rootProgId: old?.rootProgId ?? ++seq,
      linkId: old?.linkId ?? ++seq,
      pinDir: `/pins/${key}`,
      attached: true,
      instances,
      orphans: [],
      drift: [],
      manifestDigest: p.manifestDigest,
    };
    if (c.attachment.hook === 'xdp') next.mode = c.mode === 'auto' ? (old?.mode ?? 'native') : c.mode;
    else next.position = c.position;
    chains.set(key, next);
  }
  return { ...live, chains: [...chains.values()] };
}

/** Things that happen to a live state behind kfn's back. */
export type Perturbation =
  | { kind: 'orphan' | 'drift' | 'detach' | 'mode' | 'rename' | 'drop-chain' | 'foreign'; chain: number; inst: number }
  | { kind: 'edit-map'; chain: number; inst: number; entry: number }
  | { kind: 'old-global'; chain: number; inst: number }
  | { kind: 'swap'; chain: number; inst: number; other: number };

export function perturb(live: LiveState, ps: readonly Perturbation[]): LiveState {
  const s: LiveState = structuredClone(live);
  for (const p of ps) {
    if (s.chains.length === 0) break;
    const c = s.chains[p.chain % s.chains.length]!;
    const inst = c.instances.length ? c.instances[p.inst % c.instances.length] : undefined;
    switch (p.kind) {
      case 'orphan':
        if (inst) {
          c.instances = c.instances.filter((i) => i !== inst);
          c.orphans.push(inst);
        }
        break;
      case 'drift':
        c.drift.push('root program detached');
        break;
      case 'detach':
        c.attached = false;
        c.drift.push('root is not attached');
        break;
      case 'mode':
        if (c.attachment.hook === 'xdp') c.mode = c.mode === 'generic' ? 'native' : 'generic';
        else c.position = c.position === 'first' ? 'last' : 'first';
        break;
      case 'rename':
        c.chainName = `old-${c.chainName}`;
        break;
      case 'drop-chain':
        s.chains = s.chains.filter((x) => x !== c);
        break;
      case 'foreign':
        s.foreign.push({ attachment: { ...c.attachment }, progId: 90_000 + p.inst, progName: 'foreign_prog' });
        break;
      case 'edit-map': {
        const names = inst ? Object.keys(inst.maps).sort() : [];
        if (!inst || names.length === 0) break;
        const m = names[p.entry % names.length]!;
        const list = inst.maps[m]!;
        if (list.length > 0 && p.entry % 3 !== 0) {
          // remove or change an entry kfn wrote
          const i = p.entry % list.length;
          if (p.entry % 2) list.splice(i, 1);
          else list[i] = { ...list[i]!, value: `${list[i]!.value}ff`, valueText: `${list[i]!.valueText}!` };
        } else {
          list.push({ key: `ee${p.entry.toString(16).padStart(6, '0')}`, value: '01', keyText: `edited-${p.entry}`, valueText: '1' });
          list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        }
        break;
      }
      case 'old-global':
        if (inst) inst.identity.globals = { ...inst.identity.globals, rate_pps: { value: '00000000', valueText: '0' } };
        break;
      case 'swap': {
        if (c.instances.length < 2) break;
        const i = p.inst % c.instances.length;
        const j = p.other % c.instances.length;
        [c.instances[i], c.instances[j]] = [c.instances[j]!, c.instances[i]!];
        break;
      }
    }
  }
  return s;
}

/** Independent of the planner: the live chains are exactly what the manifests ask for. */
export function assertRealizes(desired: DesiredState, live: LiveState): void {
  const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  const expected = new Map<string, DesiredChain>();
  for (const d of desired.chains) {
    for (const i of live.interfaces) {
      if (i.netns === d.netns && d.interfaces.some((p) => glob(p).test(i.ifname))) expected.set(attachmentKey({ netns: d.netns, ifname: i.ifname, hook: d.hook }), d);
    }
  }
  assert.deepEqual(live.chains.map((c) => attachmentKey(c.attachment)).sort(), [...expected.keys()].sort(), 'chain attachments');
  for (const c of live.chains) {
    const d = expected.get(attachmentKey(c.attachment))!;
    assert.equal(c.chainName, d.name);
    assert.deepEqual(c.drift, []);
    assert.deepEqual(c.orphans, []);
    assert.equal(c.attached, true, 'root attached');
    if (c.attachment.hook === 'xdp' && d.mode !== 'auto') assert.equal(c.mode, d.mode, 'xdp mode');
    if (c.attachment.hook !== 'xdp') assert.equal(c.position, d.position, 'tc position');
    assert.deepEqual(c.instances.map((i) => i.name), d.instances.map((i) => i.name), 'packet order');
    c.instances.forEach((li, k) => {
      const di = d.instances[k]!;
      assert.deepEqual(li.identity, di.identity, `identity of ${li.name}`);
      for (const [m, dm] of Object.entries(di.maps)) assert.deepEqual(li.maps[m] ?? [], dm.entries, `map ${m} of ${li.name}`);
    });
  }
}
