import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/plan/index.js';
import { liveJson, planJson, renderJson, renderLive, renderPlan, NO_CHANGES, NOTHING_MANAGED } from '../../src/views/index.js';
import type { DesiredState, LiveState } from '../../src/core/types.js';
import { NOW, at, dChain, dInst, desired, ident, ifaces, lChain, lInst, liveState } from './plan-fixtures.js';

const SHA = { a: '9f2c'.padEnd(64, '0'), b: 'b1d3'.padEnd(64, '1'), c: 'c0de'.padEnd(64, '2'), d: 'dead'.padEnd(64, '3') };
const F = {
  blocklist: ident('blocklist', '1.2.0', { sha: SHA.a }),
  ratelimit: ident('ratelimit', '1.3.0', { sha: SHA.b, globals: { rate_pps: '1000', burst: '200' } }),
  flowstats: ident('flowstats', '1.0.0', { sha: SHA.c }),
};
const NS = { interfaces: ifaces({ default: ['eth0'], 'kfn-a': ['veth-a', 'veth-b'] }) };
const text = (d: DesiredState, l: LiveState, color = false) => renderPlan(plan(d, l, { now: NOW }), { color });
const lines = (...ls: string[]) => ls.join('\n');

describe('renderPlan: exact text', () => {
  test('create', () => {
    const d = desired(
      dChain('edge', ['veth-a'], [dInst('drop-bad', F.blocklist, { blocked_v4: { '198.18.0.3/32': '1' } }), dInst('limit', F.ratelimit)], { netns: 'kfn-a' }),
    );
    assert.equal(
      text(d, liveState(NS)),
      lines(
        'Actions are indicated with the following symbols:',
        '  + create',
        '',
        'kfn will perform the following actions:',
        '',
        '  # chain "edge" on veth-a/xdp (netns kfn-a) will be created',
        '  + chain "edge" {',
        '      + drop-bad  blocklist@1.2.0  9f2c00000000',
        '          + blocked_v4["198.18.0.3/32"] = 1',
        '      + limit     ratelimit@1.3.0  b1d311111111',
        '    }',
        '',
        'Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy.',
      ),
    );
  });

  test('replace with a global change', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('limit', ident('ratelimit', '1.3.0', { sha: SHA.b, globals: { rate_pps: '2000', burst: '200' } }))]));
    const l = liveState({ ...NS, chains: [lChain('edge', at('eth0'), [lInst('limit', F.ratelimit, 7)])] });
    assert.equal(
      text(d, l),
      lines(
        'Actions are indicated with the following symbols:',
        '  ~ update in place',
        '-/+ replace (the new instance is built before the old one is released)',
        '',
        'kfn will perform the following actions:',
        '',
        '  # chain "edge" on eth0/xdp will be updated in place',
        '  ~ chain "edge" {',
        '    -/+ limit  ratelimit@1.3.0  b1d311111111 # forces replacement',
        '          ~ globals.rate_pps: 1000 -> 2000 # forces replacement',
        '    }',
        '',
        'Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy.',
      ),
    );
  });

  test('replace by sha256 and version: short hashes, quoted text', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('limit', { ...F.ratelimit, version: '1.4.0', sha256: SHA.d })]));
    const l = liveState({ ...NS, chains: [lChain('edge', at('eth0'), [lInst('limit', F.ratelimit, 7)])] });
    const out = text(d, l);
    assert.ok(out.includes('    -/+ limit  ratelimit@1.4.0  dead33333333 # forces replacement\n'));
    assert.ok(out.includes('          ~ version: "1.3.0" -> "1.4.0" # forces replacement\n'));
    assert.ok(out.includes('          ~ sha256: "b1d311111111…" -> "dead33333333…" # forces replacement\n'));
  });

  test('map diff with drift', () => {
    const d = desired(
      dChain('edge', ['eth0'], [
        dInst('drop-bad', F.blocklist, { blocked_v4: { '198.18.0.3/32': '1', '203.0.113.0/24': '1' }, limits: { x: '2' } }),
        dInst('stats', F.flowstats),
      ]),
    );
    const l = liveState({
      ...NS,
      chains: [
        lChain('edge', at('eth0'), [
          // kfn wrote limits {x: 1}; someone set it to 5 behind kfn's back.
          lInst('drop-bad', F.blocklist, 7, { blocked_v4: { '203.0.113.0/24': '1', '192.0.2.0/24': '1' }, limits: { x: '5' } }, { limits: { x: '1' } }),
          lInst('stats', F.flowstats, 8),
        ]),
      ],
    });
    assert.equal(
      text(d, l),
      lines(
        'Actions are indicated with the following symbols:',
        '  + create',
        '  - destroy',
        '  ~ update in place',
        '  ! drift (changed outside kfn)',
        '',
        'kfn will perform the following actions:',
        '',
        '  # chain "edge" on eth0/xdp will be updated in place',
        '  ~ chain "edge" {',
        '      ~ drop-bad  blocklist@1.2.0  9f2c00000000',
        '          - blocked_v4["192.0.2.0/24"]',
        '          + blocked_v4["198.18.0.3/32"] = 1',
        '        ! ~ limits["x"]: 5 -> 2 (changed outside kfn)',
        '        stats     flowstats@1.0.0  c0de22222222',
        '    }',
        '',
        'Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.',
      ),
    );
  });

  test('reorder, with chain drift', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('stats', F.flowstats), dInst('drop-bad', F.blocklist), dInst('limit', F.ratelimit)]));
    const l = liveState({
      ...NS,
      chains: [
        lChain('edge', at('eth0'), [lInst('drop-bad', F.blocklist, 7), lInst('limit', F.ratelimit, 8), lInst('stats', F.flowstats, 9)], {
          drift: ['root program 100 is no longer attached to eth0'],
        }),
      ],
    });
    assert.equal(
      text(d, l),
      lines(
        'Actions are indicated with the following symbols:',
        '  ~ update in place',
        '  ! drift (changed outside kfn)',
        '',
        'kfn will perform the following actions:',
        '',
        '  # chain "edge" on eth0/xdp will be updated in place',
        '  ~ chain "edge" {',
        '      ~ stats     flowstats@1.0.0  c0de22222222 # moved: position 3 -> 1',
        '        drop-bad  blocklist@1.2.0  9f2c00000000',
        '        limit     ratelimit@1.3.0  b1d311111111',
        '        order: [drop-bad, limit, stats] -> [stats, drop-bad, limit]',
        '      ! root program 100 is no longer attached to eth0 (changed outside kfn)',
        '    }',
        '',
        'Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.',
      ),
    );
  });

  test('drift only: repaired', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('stats', F.flowstats)]));
    const l = liveState({ ...NS, chains: [lChain('edge', at('eth0'), [lInst('stats', F.flowstats, 9)], { drift: ['root detached'] })] });
    const out = text(d, l);
    assert.ok(out.includes('  # chain "edge" on eth0/xdp has drifted and will be repaired\n'));
    assert.ok(out.endsWith('Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.'));
  });

  test('delete, with an orphan, a foreign program and a warning', () => {
    const l = liveState({
      ...NS,
      chains: [lChain('edge', at('veth-b', 'tc-ingress', 'kfn-a'), [lInst('stats', F.flowstats, 9)], { orphans: [lInst('limit', F.ratelimit, 12)] })],
      foreign: [{ attachment: at('eth0'), progId: 42, progName: 'xdp_fw' }],
    });
    const d = desired(dChain('web', ['eth0'], []), dChain('none', ['wg*'], []));
    assert.equal(
      text(d, l),
      lines(
        'Actions are indicated with the following symbols:',
        '  + create',
        '  - destroy',
        '',
        'kfn will perform the following actions:',
        '',
        '  # chain "web" on eth0/xdp will be created',
        '  + chain "web" {',
        '    }',
        '',
        '  # chain "edge" on veth-b/tc-ingress (netns kfn-a) will be destroyed',
        '  - chain "edge" {',
        '      - stats  flowstats@1.0.0  c0de22222222',
        '      - limit  ratelimit@1.3.0  b1d311111111 # orphaned: pinned by kfn but not reachable from the chain root',
        '    }',
        '',
        'Warning: chain "none": interface pattern "wg*" matches no interface in the default netns',
        "Warning: foreign XDP program 'xdp_fw' (id 42) is attached to eth0: kfn cannot attach until it is removed",
        '',
        "  # foreign program 'xdp_fw' (id 42) on eth0/xdp is not managed by kfn",
        '',
        'Plan: 1 to add, 0 to change, 0 to replace, 3 to destroy.',
      ),
    );
  });

  test('no changes', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('stats', F.flowstats)]));
    const l = liveState({ ...NS, chains: [lChain('edge', at('eth0'), [lInst('stats', F.flowstats, 9)])] });
    assert.equal(text(d, l), NO_CHANGES);
    assert.equal(text(desired(), liveState()), 'No changes. Live kernel state matches the manifests.');
  });

  test('no changes, but foreign programs are still reported', () => {
    const l = liveState({ foreign: [{ attachment: at('eth0', 'tc-egress'), progId: 5, progName: 'cil' }] });
    assert.equal(text(desired(), l), lines("  # foreign program 'cil' (id 5) on eth0/tc-egress is not managed by kfn", '', NO_CHANGES));
  });
});

describe('renderPlan: color', () => {
  const d = desired(dChain('edge', ['eth0'], [dInst('a', F.flowstats, { m: { k: '1' } })]));
  const l = liveState({ ...NS, chains: [lChain('edge', at('eth0'), [lInst('a', F.flowstats, 1, { m: { k: '2' } }), lInst('b', F.blocklist, 2)])] });

  test('no escape codes without color, even if the environment forces color', () => {
    const saved = process.env['FORCE_COLOR'];
    process.env['FORCE_COLOR'] = '1';
    try {
      assert.ok(!text(d, l, false).includes('\x1b'));
      assert.ok(!text(desired(), liveState(), false).includes('\x1b'));
    } finally {
      if (saved === undefined) delete process.env['FORCE_COLOR'];
      else process.env['FORCE_COLOR'] = saved;
    }
  });

  test('colored output has escape codes and the same text once stripped', () => {
    const colored = text(d, l, true);
    assert.ok(colored.includes('\x1b['));
    assert.ok(colored.includes('\x1b[33m~\x1b[39m'), 'yellow ~');
    assert.ok(colored.includes('\x1b[31m-\x1b[39m'), 'red -');
    // eslint-disable-next-line no-control-regex
    assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), text(d, l, false));
  });

  test('summary line exact', () => {
    assert.equal(text(d, l).split('\n').at(-1), 'Plan: 0 to add, 1 to change, 0 to replace, 1 to destroy.');
  });
});

describe('renderJson (every JSON view)', () => {
  test('stable, pretty, round-trips, bigint-safe', () => {
    const d = desired(dChain('edge', ['eth0'], [dInst('a', F.flowstats)]));
    const p = plan(d, liveState(NS), { now: NOW });
    const json = renderJson(p);
    assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(p)));
    assert.equal(json, renderJson(structuredClone(p)));
    assert.ok(json.startsWith('{\n  "changes": ['));
    const withBig = { ...p, extra: 2n ** 70n } as unknown as typeof p;
    assert.equal(JSON.parse(renderJson(withBig)).extra, '1180591620717411303424');
  });
});

describe('renderLive', () => {
  test('empty', () => {
    assert.equal(renderLive(liveState(), { color: false }), NOTHING_MANAGED);
    assert.equal(NOTHING_MANAGED, 'No kernel functions are managed by kfn on this host.');
  });

  test('chains, instances in packet order, maps, stats, orphans, drift, foreign', () => {
    const l = liveState({
      ...NS,
      chains: [
        lChain(
          'edge',
          at('veth-a', 'xdp', 'kfn-a'),
          [lInst('drop-bad', F.blocklist, 21, { blocked_v4: { '203.0.113.0/24': '1' }, empty: {} }), lInst('limit', F.ratelimit, 22), lInst('stats', F.flowstats, 23)],
          { rootProgId: 20, linkId: 4, ifindex: 7, orphans: [lInst('old', F.flowstats, 19)], drift: ['map limits edited outside kfn'] },
        ),
        lChain('tc', at('eth0', 'tc-egress'), [], { rootProgId: 30, linkId: 5, ifindex: 2 }),
      ],
      foreign: [{ attachment: at('eth0'), progId: 42, progName: 'xdp_fw', linkId: 9 }],
    });
    const stats = { '/sys/fs/bpf/kfn/x/stats': [{ map: 'flow_stats', count: 1, entries: [{ value: { flows: 12, packets: 3400 }, valueText: '12 flows\n3400 packets' }] }] };
    assert.equal(
      renderLive(l, { color: false, stats }),
      lines(
        'chain "tc" on eth0/tc-egress',
        '  ifindex 2, root prog 30, link 5, revision abc1234, manifests dddddddddddd',
        '  (no functions: packets pass straight through)',
        '',
        'chain "edge" on veth-a/xdp (netns kfn-a)',
        '  ifindex 7, XDP mode native, root prog 20, link 4, revision abc1234, manifests dddddddddddd',
        '  #  name      function         prog  sha256',
        '  1  drop-bad  blocklist@1.2.0    21  9f2c00000000',
        '     blocked_v4["203.0.113.0/24"] = 1',
        '     empty (empty)',
        '  2  limit     ratelimit@1.3.0    22  b1d311111111',
        '     globals: burst = 200, rate_pps = 1000',
        '  3  stats     flowstats@1.0.0    23  c0de22222222',
        '     flow_stats: 12 flows',
        '       3400 packets',
        '  orphans (pinned by kfn, not reachable from the root; the next apply deletes them):',
        '  ?  old       flowstats@1.0.0    19  c0de22222222',
        '  ! map limits edited outside kfn (changed outside kfn)',
        '',
        'Foreign programs (not managed by kfn):',
        "  'xdp_fw' (id 42) on eth0/xdp, link 9",
      ),
    );
    assert.ok(!renderLive(l, { color: false, stats }).includes('\x1b'));
    assert.ok(renderLive(l, { color: true, stats }).includes('\x1b['));
  });
});

describe('foreign objects in show and plan JSON', () => {
  const tp = { program: 'conn_state', attach: { kind: 'tracepoint' as const, tracepoint: 'sock/inet_sock_set_state' } };
  const id = { ...ident('connlimit', '1.0.0', { sha: SHA.d }), nextMap: 'xdp_cl_next', companions: [tp] };
  const live = (co: { progId: number; linkId: number; attached: boolean }, drift?: string[]) => {
    const i = lInst('limit', id, 31);
    i.companions = [{ ...tp, ...co }];
    if (drift) i.drift = drift;
    return liveState({ ...NS, chains: [lChain('edge', at('veth-a', 'xdp', 'kfn-a'), [i], { rootProgId: 20, linkId: 4, ifindex: 7, drift: drift?.map((d) => `limit: ${d}`) ?? [] })] });
  };

  test('show: the chain slot and each companion with its program and link, or what is wrong with it', () => {
    const ok = renderLive(live({ progId: 32, linkId: 6, attached: true }), { color: false });
    assert.match(ok, /\n {5}chain slot: xdp_cl_next\n {5}companion: conn_state on tracepoint sock\/inet_sock_set_state {2}prog 32, link 6$/m);
    const gone = renderLive(live({ progId: 32, linkId: 0, attached: false }, ['companion conn_state (tracepoint sock/inet_sock_set_state): its link is missing, it no longer runs']), { color: false });
    assert.match(gone, /companion: conn_state on tracepoint sock\/inet_sock_set_state {2}not attached$/m);
    assert.match(gone, /! limit: companion conn_state \(tracepoint sock\/inet_sock_set_state\): its link is missing/);
    // kfn's own functions print neither line.
    assert.doesNotMatch(renderLive(liveState({ ...NS, chains: [lChain('edge', at('veth-a', 'xdp', 'kfn-a'), [lInst('drop', F.blocklist, 21)])] }), { color: false }), /chain slot:|companion:/);
  });

  test('show --json: next_map, companions and instance drift are additive fields', () => {
    const j = liveJson(live({ progId: 32, linkId: 6, attached: true }));
    const i = j.chains[0]!.instances[0]!;
    assert.equal(i.next_map, 'xdp_cl_next');
    assert.deepEqual(i.companions, [{ program: 'conn_state', kind: 'tracepoint', tracepoint: 'sock/inet_sock_set_state', prog_id: 32, link_id: 6, attached: true }]);
    assert.deepEqual(i.drift, []);
    const plain = liveJson(liveState({ ...NS, chains: [lChain('edge', at('veth-a', 'xdp', 'kfn-a'), [lInst('drop', F.blocklist, 21)])] })).chains[0]!.instances[0]!;
    assert.deepEqual([plain.next_map, plain.companions, plain.drift], ['kfn_next', [], []]);
  });

  test('plan --json: identities carry next_map and companions', () => {
    const p = planJson(plan(desired(dChain('edge', ['veth-a'], [dInst('limit', id)], { netns: 'kfn-a' })), liveState(NS), { now: NOW }));
    const after = (p.resource_changes as { name: string; change: { after: Record<string, unknown> | null } }[]).find((r) => r.name === 'limit')!.change.after!;
    assert.equal(after.next_map, 'xdp_cl_next');
    assert.deepEqual(after.companions, [{ program: 'conn_state', kind: 'tracepoint', tracepoint: 'sock/inet_sock_set_state' }]);
  });
});
