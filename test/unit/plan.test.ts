import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { plan, hasChanges, liveFingerprint } from '../../src/plan/index.js';
import { KfnError } from '../../src/core/errors.js';
import type { ChainChange, InstanceChange, PlannedChanges } from '../../src/core/types.js';
import { planJson, reasonText } from '../../src/views/index.js';
import { FN, NOW, at, dChain, dInst, desired, entry, ident, ifaces, lChain, lInst, liveState } from './plan-fixtures.js';

const run = (d: Parameters<typeof plan>[0], l: Parameters<typeof plan>[1]) => plan(d, l, { now: NOW });
const inst = (c: ChainChange, name: string): InstanceChange => {
  const i = c.instances.find((x) => x.name === name);
  assert.ok(i, `instance ${name} in plan`);
  return i;
};
const actions = (c: ChainChange) => c.instances.map((i) => `${i.name}:${i.action}`);
const only = (p: PlannedChanges): ChainChange => {
  assert.equal(p.changes.length, 1);
  return p.changes[0]!;
};

describe('plan: basics', () => {
  test('empty desired vs empty live: no changes', () => {
    const p = run(desired(), liveState());
    assert.equal(hasChanges(p), false);
    assert.deepEqual(p.changes, []);
    assert.deepEqual(p.summary, { add: 0, change: 0, replace: 0, destroy: 0 });
    assert.equal(planJson(p).format_version, '1.0');
    assert.equal(p.createdAt, NOW.toISOString());
    assert.equal(p.manifestDigest, 'd'.repeat(64));
    assert.equal(p.revision, 'abc1234');
    assert.equal(p.liveFingerprint, liveFingerprint(liveState()));
  });

  test('create chain: chain and every instance created, maps as adds', () => {
    const d = desired(
      dChain('edge', ['eth0'], [dInst('drop-bad', FN.blocklist, { blocked_v4: { '203.0.113.0/24': '1' } }), dInst('limit', FN.ratelimit)]),
    );
    const p = run(d, liveState());
    const c = only(p);
    assert.equal(c.action, 'create');
    assert.deepEqual(c.attachment, at('eth0'));
    assert.equal(c.chainName, 'edge');
    assert.deepEqual(c.fromOrder, []);
    assert.deepEqual(c.toOrder, ['drop-bad', 'limit']);
    assert.deepEqual(actions(c), ['drop-bad:create', 'limit:create']);
    assert.equal(c.live, undefined);
    const mc = inst(c, 'drop-bad').mapChanges;
    assert.deepEqual(mc, [
      { map: 'blocked_v4', drift: false, entries: [{ op: 'add', key: entry('203.0.113.0/24', '1').key, keyText: '203.0.113.0/24', toText: '1', value: entry('x', '1').value }] },
    ]);
    assert.equal(inst(c, 'limit').desired?.identity, FN.ratelimit);
    assert.deepEqual(p.summary, { add: 3, change: 0, replace: 0, destroy: 0 });
    assert.equal(hasChanges(p), true);
  });

  test('delete chain: every live instance and orphan deleted, live handles kept', () => {
    const live = liveState({
      chains: [
        lChain('old', at('eth1'), [lInst('a', FN.blocklist, 11), lInst('b', FN.flowstats, 12)], {
          rootProgId: 7,
          linkId: 8,
          ifindex: 4,
          orphans: [lInst('z', FN.mirror, 13)],
        }),
      ],
    });
    const c = only(run(desired(), live));
    assert.equal(c.action, 'delete');
    assert.deepEqual(actions(c), ['a:delete', 'b:delete', 'z:delete']);
    assert.deepEqual(c.live, { ifindex: 4, rootProgId: 7, linkId: 8, pinDir: '/sys/fs/bpf/kfn/default/eth1/xdp', attached: true, mode: 'native' });
    assert.deepEqual(inst(c, 'a').live, { progId: 11, pinDir: '/sys/fs/bpf/kfn/x/a', identity: FN.blocklist });
    assert.match(reasonText(inst(c, 'z').reasons[0]!), /orphan/);
    assert.deepEqual(c.fromOrder, ['a', 'b']);
    assert.deepEqual(c.toOrder, []);
    assert.deepEqual(run(desired(), live).summary, { add: 0, change: 0, replace: 0, destroy: 4 });
  });

  test('no-op: identical desired and live', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('a', FN.blocklist, { m: { k: '1' } }), dInst('b', FN.ratelimit)]));
    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('a', FN.blocklist, 1, { m: { k: '1' }, other: { x: '9' } }), lInst('b', FN.ratelimit, 2)])] });
    const p = run(d, live);
    const c = only(p);
    assert.equal(c.action, 'noop');
    assert.deepEqual(actions(c), ['a:noop', 'b:noop']);
    assert.equal(c.reordered, false);
    assert.equal(hasChanges(p), false);
    assert.deepEqual(p.summary, { add: 0, change: 0, replace: 0, destroy: 0 });
  });

  test('attachments are sorted by netns, interface, hook', () => {
    const d = desired(
      dChain('b', ['veth-b', 'eth0'], [dInst('a', FN.flowstats)], { hook: 'tc-egress' }),
      dChain('a', ['eth0'], [dInst('a', FN.flowstats)], { hook: 'xdp' }),
      dChain('c', ['veth0'], [dInst('a', FN.flowstats)], { netns: 'kfn-a' }),
      dChain('d', ['eth0'], [dInst('a', FN.flowstats)], { hook: 'tc-ingress' }),
    );
    const live = liveState({ interfaces: ifaces({ default: ['eth0', 'veth-b'], 'kfn-a': ['veth0'] }) });
    const keys = run(d, live).changes.map((c) => `${c.attachment.netns}/${c.attachment.ifname}/${c.attachment.hook}`);
    assert.deepEqual(keys, ['default/eth0/xdp', 'default/eth0/tc-ingress', 'default/eth0/tc-egress', 'default/veth-b/tc-egress', 'kfn-a/veth0/xdp']);
  });
});

describe('plan: replacement', () => {
  const live = (id = FN.ratelimit) => liveState({ chains: [lChain('edge', at('eth0'), [lInst('limit', id, 5)])] });
  const want = (id = FN.ratelimit) => desired(dChain('edge', ['eth0'], [dInst('limit', id)]));

  test('sha256 change forces replacement', () => {
    const newId = { ...FN.ratelimit, sha256: 'b'.repeat(64) };
    const p = run(want(newId), live());
    const i = inst(only(p), 'limit');
    assert.equal(i.action, 'replace');
    assert.deepEqual(i.reasons.map(reasonText), ['forces replacement']);
    assert.deepEqual(i.identityChanges, [{ field: 'sha256', from: FN.ratelimit.sha256, to: 'b'.repeat(64) }]);
    assert.equal(only(p).action, 'update');
    assert.deepEqual(p.summary, { add: 0, change: 0, replace: 1, destroy: 0 });
  });

  test('version change (and the sha256 that comes with it)', () => {
    const newId = ident('ratelimit', '1.4.0', { globals: { rate_pps: '1000', burst: '200' } });
    const i = inst(only(run(want(newId), live())), 'limit');
    assert.equal(i.action, 'replace');
    assert.deepEqual(i.identityChanges.map((v) => v.field), ['version', 'sha256']);
    assert.deepEqual(i.identityChanges[0], { field: 'version', from: '1.3.0', to: '1.4.0' });
  });

  test('program change', () => {
    const i = inst(only(run(want({ ...FN.ratelimit, program: 'kfn_other' }), live())), 'limit');
    assert.deepEqual(i.identityChanges, [{ field: 'program', from: 'kfn_ratelimit', to: 'kfn_other' }]);
  });

  test('function change', () => {
    const i = inst(only(run(want({ ...FN.flowstats }), live())), 'limit');
    assert.equal(i.action, 'replace');
    assert.equal(i.identityChanges[0]!.field, 'function');
  });

  test('global changed, added and removed: valueText shown, sorted by name', () => {
    const newId = ident('ratelimit', '1.3.0', { globals: { rate_pps: '2000', window: '5' } });
    const i = inst(only(run(want(newId), live())), 'limit');
    assert.equal(i.action, 'replace');
    assert.deepEqual(i.identityChanges, [
      { field: 'globals.burst', from: '200' },
      { field: 'globals.rate_pps', from: '1000', to: '2000' },
      { field: 'globals.window', to: '5' },
    ]);
  });

  test('the chain slot or the companions changed: forces replacement; absent fields mean kfn_next and none', () => {
    const tp = { program: 'l3t_conn_state', attach: { kind: 'tracepoint' as const, tracepoint: 'sock/inet_sock_set_state' } };
    const slot = inst(only(run(want({ ...FN.ratelimit, nextMap: 'xdp_rl_next' }), live())), 'limit');
    assert.equal(slot.action, 'replace');
    assert.deepEqual(slot.identityChanges, [{ field: 'nextMap', from: 'kfn_next', to: 'xdp_rl_next' }]);
    const added = inst(only(run(want({ ...FN.ratelimit, companions: [tp] }), live())), 'limit');
    assert.deepEqual(added.identityChanges, [{ field: 'companions', from: 'none', to: 'l3t_conn_state (tracepoint sock/inet_sock_set_state)' }]);
    const moved = { ...tp, attach: { kind: 'tracepoint' as const, tracepoint: 'tcp/tcp_retransmit_skb' } };
    const changed = inst(only(run(want({ ...FN.ratelimit, companions: [moved] }), live({ ...FN.ratelimit, companions: [tp] }))), 'limit');
    assert.deepEqual(changed.identityChanges.map((v) => v.field), ['companions']);
    // kfn_next spelled out equals kfn_next left out; no companions equals an empty list.
    assert.equal(only(run(want({ ...FN.ratelimit, nextMap: 'kfn_next', companions: [] }), live())).action, 'noop');
  });

  test('an instance damaged outside kfn (instance drift) is replaced, its state carried over', () => {
    const damaged = lInst('limit', FN.ratelimit, 5);
    damaged.drift = ['companion x (tracepoint a/b): its link is missing, it no longer runs'];
    const l = liveState({ chains: [lChain('edge', at('eth0'), [damaged], { drift: ['limit: companion x (tracepoint a/b): its link is missing, it no longer runs'] })] });
    const c = only(run(want(), l));
    const i = inst(c, 'limit');
    assert.equal(i.action, 'replace');
    assert.deepEqual(i.identityChanges, []);
    assert.deepEqual(i.reasons.map((r) => r.code), ['instance-drift']);
    assert.equal(reasonText(i.reasons[0]!), 'changed outside kfn: reloaded, its state carried over');
    assert.equal(c.action, 'update');
  });

  test('replace in a reordered chain keeps replace and adds the move reason', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('b', FN.flowstats), dInst('a', { ...FN.blocklist, sha256: 'c'.repeat(64) })]));
    const l = liveState({ chains: [lChain('edge', at('eth0'), [lInst('a', FN.blocklist, 1), lInst('b', FN.flowstats, 2)])] });
    const c = only(run(d, l));
    assert.equal(c.reordered, true);
    assert.equal(inst(c, 'a').action, 'replace');
    assert.equal(inst(c, 'b').action, 'move');
  });
});

describe('plan: maps', () => {
  const liveWith = (maps: Record<string, Record<string, string>>, applied?: Record<string, Record<string, string>>) =>
    liveState({ chains: [lChain('edge', at('eth0'), [lInst('drop', FN.blocklist, 1, maps, applied)])] });
  const want = (maps: Record<string, Record<string, string>>) => desired(dChain('edge', ['eth0'], [dInst('drop', FN.blocklist, maps)]));

  test('add, change and remove entries, sorted by key bytes', () => {
    const p = run(want({ blocked: { a: '1', b: '2' } }), liveWith({ blocked: { b: '1', c: '1' } }));
    const i = inst(only(p), 'drop');
    assert.equal(i.action, 'update');
    assert.deepEqual(i.mapChanges, [
      {
        map: 'blocked',
        drift: false,
        entries: [
          { op: 'add', key: entry('a', '').key, keyText: 'a', toText: '1', value: entry('', '1').value },
          { op: 'change', key: entry('b', '').key, keyText: 'b', fromText: '1', toText: '2', value: entry('', '2').value, previous: entry('', '1').value },
          { op: 'remove', key: entry('c', '').key, keyText: 'c', fromText: '1', previous: entry('', '1').value },
        ],
      },
    ]);
    assert.deepEqual(p.summary, { add: 0, change: 1, replace: 0, destroy: 0 });
    assert.equal(only(p).action, 'update');
  });

  test('desired map absent live counts as empty; maps not in desired are ignored', () => {
    const i = inst(only(run(want({ limits: { x: '1' } }), liveWith({ counters: { pkts: '999' } }))), 'drop');
    assert.deepEqual(i.mapChanges.map((m) => [m.map, m.entries.map((e) => e.op)]), [['limits', ['add']]]);
  });

  test('an empty desired map clears the live map', () => {
    const i = inst(only(run(want({ blocked: {} }), liveWith({ blocked: { a: '1' } }))), 'drop');
    assert.deepEqual(i.mapChanges[0]!.entries.map((e) => e.op), ['remove']);
  });

  test('drift flag: live entries differ from what kfn last wrote', () => {
    // kfn wrote {a:1}; someone changed it to {a:5}; manifests still say {a:1}.
    const p = run(want({ blocked: { a: '1' } }), liveWith({ blocked: { a: '5' } }, { blocked: { a: '1' } }));
    const i = inst(only(p), 'drop');
    assert.equal(i.action, 'update');
    assert.equal(i.mapChanges[0]!.drift, true);
    assert.ok(i.reasons.map(reasonText).includes('map blocked changed outside kfn'));
  });

  test('no drift flag when live matches what kfn wrote, or when kfn never recorded the map', () => {
    const a = inst(only(run(want({ blocked: { a: '2' } }), liveWith({ blocked: { a: '1' } }))), 'drop');
    assert.equal(a.mapChanges[0]!.drift, false);
    const l = liveWith({ blocked: { a: '1' } });
    l.chains[0]!.instances[0]!.appliedMaps = {};
    const b = inst(only(run(want({ blocked: { a: '2' } }), l)), 'drop');
    assert.equal(b.mapChanges[0]!.drift, false);
  });
});

describe('plan: order', () => {
  const live3 = (names: string[]) =>
    liveState({ chains: [lChain('edge', at('eth0'), names.map((n, k) => lInst(n, FN.flowstats, 10 + k)))] });
  const want = (names: string[]) => desired(dChain('edge', ['eth0'], names.map((n) => dInst(n, FN.flowstats))));

  test('swap two: one pointer move, chain reordered', () => {
    const p = run(want(['b', 'a']), live3(['a', 'b']));
    const c = only(p);
    assert.equal(c.action, 'update');
    assert.equal(c.reordered, true);
    assert.ok(c.reasons.map(reasonText).includes('instances reordered'));
    assert.deepEqual(c.fromOrder, ['a', 'b']);
    assert.deepEqual(c.toOrder, ['b', 'a']);
    assert.deepEqual(actions(c), ['b:move', 'a:noop']);
    assert.deepEqual(inst(c, 'b').reasons.map(reasonText), ['moved: position 2 -> 1']);
    assert.deepEqual(p.summary, { add: 0, change: 1, replace: 0, destroy: 0 });
  });

  test('move one of three: only that one moves', () => {
    const c = only(run(want(['b', 'c', 'a']), live3(['a', 'b', 'c'])));
    assert.deepEqual(actions(c), ['b:noop', 'c:noop', 'a:move']);
    assert.deepEqual(inst(c, 'a').reasons.map(reasonText), ['moved: position 1 -> 3']);
  });

  test('move plus map update stays update with the move reason', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('b', FN.flowstats, { m: { k: '1' } }), dInst('a', FN.flowstats)]));
    const c = only(run(d, live3(['a', 'b'])));
    assert.equal(inst(c, 'b').action, 'update');
    assert.deepEqual(inst(c, 'b').reasons.map(reasonText), ['map entries differ', 'moved: position 2 -> 1']);
  });

  test('reorder + delete + create together', () => {
    const p = run(want(['x', 'c', 'a', 'b']), live3(['a', 'b', 'c', 'd']));
    const c = only(p);
    assert.deepEqual(actions(c), ['x:create', 'c:move', 'a:noop', 'b:noop', 'd:delete']);
    assert.deepEqual(inst(c, 'c').reasons.map(reasonText), ['moved: position 3 -> 2']);
    assert.equal(c.reordered, true);
    assert.deepEqual(p.summary, { add: 1, change: 1, replace: 0, destroy: 1 });
  });

  test('deleting or inserting without reordering is not a reorder', () => {
    const c = only(run(want(['a', 'x', 'c']), live3(['a', 'b', 'c'])));
    assert.equal(c.reordered, false);
    assert.deepEqual(actions(c), ['a:noop', 'x:create', 'c:noop', 'b:delete']);
  });
});

describe('plan: interfaces', () => {
  test('globs expand across interfaces of the chain netns; literal + glob overlap dedups', () => {
    const d = desired(dChain('edge', ['veth-*', 'veth-a', 'eth?'], [dInst('a', FN.flowstats)]));
    const p = run(d, liveState({ interfaces: ifaces({ default: ['eth0', 'eth1', 'eth10', 'veth-a', 'veth-b'], other: ['veth-c'] }) }));
    assert.deepEqual(p.changes.map((c) => c.attachment.ifname), ['eth0', 'eth1', 'veth-a', 'veth-b']);
    assert.ok(p.changes.every((c) => c.chainName === 'edge' && c.action === 'create'));
    assert.deepEqual(p.summary, { add: 8, change: 0, replace: 0, destroy: 0 });
  });

  test('glob characters are literal except * and ?', () => {
    const d = desired(dChain('edge', ['eth.*'], [dInst('a', FN.flowstats)]));
    const p = run(d, liveState({ interfaces: ifaces({ default: ['eth0', 'eth.1'] }) }));
    assert.deepEqual(p.changes.map((c) => c.attachment.ifname), ['eth.1']);
  });

  test('glob matching nothing is a warning, not an error', () => {
    const p = run(desired(dChain('edge', ['wg*'], [dInst('a', FN.flowstats)])), liveState());
    assert.deepEqual(p.changes, []);
    assert.deepEqual(p.warnings, ['chain "edge": interface pattern "wg*" matches no interface in the default netns']);
    assert.equal(hasChanges(p), false);
  });

  test('missing literal interface: INTERFACE_NOT_FOUND with source and hint', () => {
    assert.throws(
      () => run(desired(dChain('edge', ['eth9'], [])), liveState()),
      (e: unknown) => {
        assert.ok(e instanceof KfnError);
        assert.equal(e.code, 'INTERFACE_NOT_FOUND');
        assert.equal(e.message, 'manifests/edge.yaml:1:1: chain "edge": interface "eth9" not found in netns default');
        assert.deepEqual(e.source, { file: 'manifests/edge.yaml', line: 1, column: 1 });
        assert.ok(e.hint);
        return true;
      },
    );
  });

  test('interface of another netns does not count', () => {
    const live = liveState({ interfaces: ifaces({ default: ['eth0'], 'kfn-a': ['veth0'] }) });
    assert.throws(() => run(desired(dChain('edge', ['veth0'], [])), live), { code: 'INTERFACE_NOT_FOUND' });
  });

  test('missing netns: NETNS_NOT_FOUND', () => {
    assert.throws(
      () => run(desired(dChain('edge', ['veth*'], [], { netns: 'x' })), liveState({ missingNetns: ['x'] })),
      (e: unknown) => {
        assert.ok(e instanceof KfnError);
        assert.equal(e.code, 'NETNS_NOT_FOUND');
        assert.match(e.message, /chain "edge": network namespace "x" does not exist$/);
        assert.ok(e.hint);
        return true;
      },
    );
  });

  test('two chains on the same (netns, ifname, hook): CHAIN_CONFLICT naming both', () => {
    const d = desired(dChain('edge', ['veth-*'], []), dChain('core', ['veth-b'], []));
    assert.throws(
      () => run(d, liveState()),
      (e: unknown) => {
        assert.ok(e instanceof KfnError);
        assert.equal(e.code, 'CHAIN_CONFLICT');
        assert.match(e.message, /"edge"/);
        assert.match(e.message, /"core"/);
        assert.match(e.message, /veth-b\/xdp/);
        return true;
      },
    );
  });

  test('same interface on different hooks or netns is not a conflict', () => {
    const d = desired(
      dChain('a', ['eth0'], [], { hook: 'xdp' }),
      dChain('b', ['eth0'], [], { hook: 'tc-ingress' }),
      dChain('c', ['eth0'], [], { netns: 'n2' }),
    );
    const p = run(d, liveState({ interfaces: ifaces({ default: ['eth0'], n2: ['eth0'] }) }));
    assert.equal(p.changes.length, 3);
  });
});

describe('plan: drift, foreign, chain-level', () => {
  test('drift only: update with reason drift, counted once as a change', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats)]));
    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 1)], { drift: ['root program detached from eth0'] })] });
    const p = run(d, live);
    const c = only(p);
    assert.equal(c.action, 'update');
    assert.deepEqual(c.reasons.map(reasonText), ['drift']);
    assert.deepEqual(c.drift, ['root program detached from eth0']);
    assert.deepEqual(p.summary, { add: 0, change: 1, replace: 0, destroy: 0 });
    assert.equal(hasChanges(p), true);
  });

  test('drift with other changes is not counted twice', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats, { m: { k: '1' } })]));
    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 1)], { drift: ['x'] })] });
    assert.deepEqual(run(d, live).summary, { add: 0, change: 1, replace: 0, destroy: 0 });
  });

  test('orphans of a kept chain are deleted', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats)]));
    const live = liveState({ chains: [lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 1)], { orphans: [lInst('a', FN.flowstats, 9)] })] });
    const p = run(d, live);
    assert.deepEqual(actions(only(p)), ['a:noop', 'a:delete']);
    assert.equal(only(p).instances[1]!.live?.progId, 9);
    assert.deepEqual(p.summary, { add: 0, change: 0, replace: 0, destroy: 1 });
  });

  test('XDP mode mismatch is a chain-level update; auto accepts any mode', () => {
    const live = liveState({ chains: [lChain('edge', at('eth0'), [], { mode: 'generic' })] });
    const p = run(desired(dChain('edge', ['eth0'], [], { mode: 'native' })), live);
    assert.equal(only(p).action, 'update');
    assert.deepEqual(only(p).reasons.map(reasonText), ['XDP mode generic -> native (re-attaches the root: packets in flight during the switch skip the chain)']);
    assert.equal(only(p).reattach, true);
    assert.deepEqual(p.summary, { add: 0, change: 1, replace: 0, destroy: 0 });
    assert.equal(hasChanges(run(desired(dChain('edge', ['eth0'], [], { mode: 'auto' })), live)), false);
  });

  test('renamed chain on the same attachment is an update', () => {
    const live = liveState({ chains: [lChain('old', at('eth0'), [lInst('a', FN.flowstats, 1)])] });
    const c = only(run(desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats)])), live));
    assert.equal(c.action, 'update');
    assert.deepEqual(c.reasons.map(reasonText), ['renamed from "old"']);
  });

  test('foreign XDP program on a wanted attachment: warning; copied to plan.foreign', () => {
    const foreign = [
      { attachment: at('veth-a'), progId: 42, progName: 'xdp_fw' },
      { attachment: at('eth1', 'tc-ingress'), progId: 43, progName: 'cil_from', linkId: 3 },
    ];
    const d = desired(dChain('edge', ['veth-a'], [dInst('a', FN.flowstats)]), dChain('tc', ['eth1'], [], { hook: 'tc-ingress' }));
    const p = run(d, liveState({ foreign }));
    assert.deepEqual(p.warnings, ["foreign XDP program 'xdp_fw' (id 42) is attached to veth-a: kfn cannot attach until it is removed"]);
    assert.deepEqual(p.foreign, foreign);
  });

  test('no foreign warning when kfn already has a chain there or does not want one', () => {
    const foreign = [{ attachment: at('veth-a'), progId: 42, progName: 'xdp_fw' }];
    assert.deepEqual(run(desired(), liveState({ foreign })).warnings, []);
    const live = liveState({ foreign, chains: [lChain('edge', at('veth-a'), [])] });
    assert.deepEqual(run(desired(dChain('edge', ['veth-a'], [])), live).warnings, []);
  });
});

describe('plan: summary over several chains', () => {
  test('counts add / change / replace / destroy', () => {
    const d = desired(
      dChain('new', ['eth0'], [dInst('a', FN.flowstats), dInst('b', FN.mirror)]), // +1 chain +2 instances
      dChain('edge', ['eth1'], [
        dInst('x', FN.flowstats, { m: { k: '2' } }), // update
        dInst('y', { ...FN.mirror, version: '1.0.0' }), // replace
        dInst('n', FN.blocklist), // create
      ]),
      dChain('order', ['veth-b'], [dInst('q', FN.flowstats), dInst('p', FN.flowstats)]), // reorder: +1 change
    );
    const live = liveState({
      chains: [
        lChain('edge', at('eth1'), [lInst('x', FN.flowstats, 1, { m: { k: '1' } }), lInst('y', FN.mirror, 2), lInst('gone', FN.flowstats, 3)]),
        lChain('order', at('veth-b'), [lInst('p', FN.flowstats, 4), lInst('q', FN.flowstats, 5)]),
        lChain('dead', at('veth-a'), [lInst('d1', FN.flowstats, 6)]), // -1 chain -1 instance
      ],
    });
    const p = run(d, live);
    assert.deepEqual(p.summary, { add: 4, change: 2, replace: 1, destroy: 3 });
    assert.deepEqual(p.changes.map((c) => `${c.chainName}:${c.action}`), ['new:create', 'edge:update', 'dead:delete', 'order:update']);
  });
});

describe('liveFingerprint', () => {
  const base = () =>
    liveState({
      chains: [lChain('edge', at('eth0'), [lInst('a', FN.blocklist, 11, { blocked: { x: '1' }, counters: { pkts: '10' } })])],
    });
  // `counters` is not in appliedMaps: kfn never wrote it.
  const withoutCounterRecord = () => {
    const l = base();
    delete l.chains[0]!.instances[0]!.appliedMaps['counters'];
    return l;
  };

  test('stable under counter-map changes', () => {
    const a = withoutCounterRecord();
    const b = withoutCounterRecord();
    b.chains[0]!.instances[0]!.maps['counters'] = [entry('pkts', '123456')];
    assert.equal(liveFingerprint(a), liveFingerprint(b));
  });

  test('stable under interface list changes and chain order', () => {
    const a = withoutCounterRecord();
    const b = withoutCounterRecord();
    b.interfaces = ifaces({ default: ['eth0', 'veth-new'] });
    assert.equal(liveFingerprint(a), liveFingerprint(b));
    const two = liveState({ chains: [lChain('a', at('eth0'), []), lChain('b', at('eth1'), [])] });
    const rev = liveState({ chains: [...two.chains].reverse() });
    assert.equal(liveFingerprint(two), liveFingerprint(rev));
  });

  test('changes with managed map entries, prog ids, attachment, identity, drift, foreign', () => {
    const ref = liveFingerprint(withoutCounterRecord());
    const mutations: ((l: ReturnType<typeof base>) => void)[] = [
      (l) => (l.chains[0]!.instances[0]!.maps['blocked'] = [entry('x', '2')]),
      (l) => (l.chains[0]!.instances[0]!.progId = 12),
      (l) => (l.chains[0]!.rootProgId = 101),
      (l) => (l.chains[0]!.attached = false),
      (l) => (l.chains[0]!.mode = 'generic'),
      (l) => (l.chains[0]!.instances[0]!.identity = FN.mirror),
      (l) => l.chains[0]!.drift.push('detached'),
      (l) => l.foreign.push({ attachment: at('eth1'), progId: 5, progName: 'f' }),
      (l) => l.chains[0]!.instances.push(lInst('b', FN.flowstats, 13)),
    ];
    for (const m of mutations) {
      const l = withoutCounterRecord();
      m(l);
      assert.notEqual(liveFingerprint(l), ref, m.toString());
    }
  });

  test('is stable when only the root link id changed (the same root re-attached)', () => {
    const l = withoutCounterRecord();
    l.chains[0]!.linkId = 11;
    assert.equal(liveFingerprint(l), liveFingerprint(withoutCounterRecord()));
  });

  test('scoped to some attachments: of their chains and foreign programs alone', () => {
    const l = liveState({
      chains: [lChain('edge', at('eth0'), [lInst('a', FN.blocklist, 11)]), lChain('other', at('eth1'), [lInst('b', FN.blocklist, 12)])],
      foreign: [{ attachment: at('eth1', 'tc-ingress'), progId: 7, progName: 'f' }],
    });
    const scope = new Set(['default/eth0/xdp']);
    const alone = liveState({ chains: [l.chains[0]!] });
    assert.equal(liveFingerprint(l, scope), liveFingerprint(alone), 'the other chain and the foreign program are out of scope');
    assert.notEqual(liveFingerprint(l, scope), liveFingerprint(l));
    const outside = structuredClone(l);
    outside.chains[1]!.instances[0]!.progId = 99;
    outside.foreign[0]!.progId = 8;
    assert.equal(liveFingerprint(outside, scope), liveFingerprint(l, scope));
    const inside = structuredClone(l);
    inside.chains[0]!.instances[0]!.progId = 99;
    assert.notEqual(liveFingerprint(inside, scope), liveFingerprint(l, scope));
    inside.chains[0]!.instances[0]!.progId = 11;
    inside.foreign.push({ attachment: at('eth0'), progId: 9, progName: 'g' });
    assert.notEqual(liveFingerprint(inside, scope), liveFingerprint(l, scope), 'a foreign program on a scoped hook counts');
  });

  test('plan carries the fingerprint of the live state it saw', () => {
    const l = base();
    assert.equal(run(desired(), l).liveFingerprint, liveFingerprint(l));
  });
});
