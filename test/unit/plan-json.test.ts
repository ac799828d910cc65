/**
 * The plan contract's chain `before` is the live chain (its recorded name, the XDP mode
 * or tcx position it runs with) and `after` is what the manifests ask for.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/plan/index.js';
import { planJson } from '../../src/views/index.js';
import { NOW, FN, at, dChain, dInst, desired, ifaces, lChain, lInst, liveState } from './plan-fixtures.js';

describe('planJson: chain before and after', () => {
  test('a rename, an XDP mode change and a tcx position change show the live values before', () => {
    const tc = lChain('tc-old', at('eth1', 'tc-ingress'), [lInst('s', FN.flowstats, 21)]);
    tc.position = 'last';
    const live = liveState({ interfaces: ifaces({ default: ['eth0', 'eth1'] }), chains: [lChain('old', at('eth0'), [lInst('s', FN.flowstats, 20)], { mode: 'native' }), tc] });
    const d = desired(
      dChain('new', ['eth0'], [dInst('s', FN.flowstats)], { mode: 'generic' }),
      dChain('tc-new', ['eth1'], [dInst('s', FN.flowstats)], { hook: 'tc-ingress', position: 'first' }),
    );
    const chains = planJson(plan(d, live, { now: NOW })).resource_changes.filter((r) => r.type === 'kfn_chain');
    const pick = (s: unknown) => {
      const { name, mode, position } = s as { name: string; mode: string | null; position: string | null };
      return { name, mode, position };
    };
    assert.deepEqual(
      chains.map((r) => [pick(r.change.before), pick(r.change.after), r.change.reasons.map((x) => x.code)]),
      [
        [{ name: 'old', mode: 'native', position: null }, { name: 'new', mode: 'generic', position: null }, ['chain_renamed', 'xdp_mode_changed']],
        [{ name: 'tc-old', mode: null, position: 'last' }, { name: 'tc-new', mode: null, position: 'first' }, ['chain_renamed', 'tc_position_changed']],
      ],
    );
  });

  test('a chain that stays: before and after agree but for what changes', () => {
    const live = liveState({ interfaces: ifaces({ default: ['eth0'] }), chains: [lChain('edge', at('eth0'), [lInst('a', FN.flowstats, 20)], { mode: 'native' })] });
    const d = desired(dChain('edge', ['eth0'], [dInst('a', FN.flowstats), dInst('b', FN.mirror)], { mode: 'native' }));
    const r = planJson(plan(d, live, { now: NOW })).resource_changes.find((x) => x.type === 'kfn_chain')!;
    assert.deepEqual(r.change.before, { netns: 'default', interface: 'eth0', hook: 'xdp', name: 'edge', order: ['a'], mode: 'native', position: null, prog_id: 100, link_id: 10 });
    assert.deepEqual(r.change.after, { netns: 'default', interface: 'eth0', hook: 'xdp', name: 'edge', order: ['a', 'b'], mode: 'native', position: null });
  });
});
