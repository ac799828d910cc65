/**
 * Drift on parameter maps that no chain mentions: a chain [limit: ratelimit] that sets
 * none of ratelimit's parameter maps still has them managed at the function's defaults
 * (empty). Edits made by hand with `bpftool map update pinned ...` (the `config` array,
 * the `rules_v4` LPM trie) show in `kfn plan --detailed-exitcode` (exit 2, drift in the
 * JSON and the text) and `kfn apply` repairs them (plan exits 0, bpftool reads the
 * defaults again). `config: {"0": {rate_pps: 0}}` is the same state as unset: it
 * converges from a non-zero value and from unset.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect, pinDirOf, show } from '../helpers/kfn.js';
import { bpftoolJson } from '../helpers/bpftool.js';
import { assertMatchesSchema } from '../helpers/schemas.js';

const skip = kernelGate();

interface PlanDoc {
  resource_drift: { address: string; maps: { address: string; map: string }[] }[];
  resource_changes: { address: string; change: { actions: string[]; map_changes: { map: string; drift: boolean; entries: { op: string; key: string; before?: string; after?: string }[] }[] } }[];
}

/** Little-endian bytes of a u32, as bpftool's hex words. */
const u32 = (v: number): string[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24].map((b) => b.toString(16).padStart(2, '0'));

describe('drift on parameter maps no chain mentions: reported and repaired', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('d'));
  let env: TestEnv;

  const chain = (limit: Omit<FnSpec, 'name' | 'function'> = {}): void =>
    void writeChain(env, { name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'limit', function: 'ratelimit', ...limit }] });
  const mapPin = (map: string): string => path.join(pinDirOf(env, show(env).chains[0]!.instances[0]!), 'maps', map);
  const bpftool = (args: string[]): void => {
    const r = spawnSync('bpftool', args, { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  };
  const dump = (map: string): { formatted: { key: unknown; value: unknown } }[] => bpftoolJson(['map', 'dump', 'pinned', mapPin(map)]) as never;
  const planJson = (code: number): PlanDoc => {
    const doc = JSON.parse(kfnExpect(env, ['plan', env.manifestDir, '--json', '--detailed-exitcode'], code).stdout) as PlanDoc;
    assertMatchesSchema('plan', doc, 'kfn plan --json');
    return doc;
  };
  const limitChange = (p: PlanDoc) => p.resource_changes.find((r) => r.address.endsWith('.fn.limit'))!.change;
  const apply = (): void => void kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
  const converged = (): void => void kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);

  before(() => {
    env = createTestEnv('param-drift');
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('a chain that sets no parameter map: every parameter map is managed, empty', () => {
    chain();
    apply();
    assert.deepEqual(show(env).chains[0]!.instances[0]!.maps, { config: [], rules_v4: [], rules_v6: [] });
    converged();
  });

  test('config edited with bpftool: plan exits 2 and names the drift; apply repairs it', () => {
    // struct ratelimit_config {rate_pps = 1000, burst = 0}
    bpftool(['map', 'update', 'pinned', mapPin('config'), 'key', 'hex', ...u32(0), 'value', 'hex', ...u32(1000), ...u32(0)]);
    const text = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2).stdout;
    assert.match(text, /^ +! - config\["0"\] \(changed outside kfn\)$/m, text);
    const p = planJson(2);
    assert.deepEqual(p.resource_drift.map((d) => d.maps), [[{ address: p.resource_changes.find((r) => r.address.endsWith('.fn.limit'))!.address, map: 'config' }]]);
    assert.deepEqual(limitChange(p).map_changes, [{ map: 'config', drift: true, entries: [{ op: 'remove', key: '0', before: '{rate_pps: 1000, burst: 0}' }] }]);
    apply();
    assert.deepEqual(dump('config').map((e) => e.formatted.value), [{ rate_pps: 0, burst: 0 }], 'the function default is back');
    converged();
  });

  test('rules_v4 edited with bpftool: an entry added by hand is drift and apply removes it', () => {
    // struct kfn_lpm_v4 {prefixlen 24; 198.18.5.0} -> struct ratelimit_rule {rate_pps 50, burst 5}
    bpftool(['map', 'update', 'pinned', mapPin('rules_v4'), 'key', 'hex', ...u32(24), 'c6', '12', '05', '00', 'value', 'hex', ...u32(50), ...u32(5)]);
    const p = planJson(2);
    const mc = limitChange(p).map_changes;
    assert.equal(mc.length, 1);
    assert.equal(mc[0]!.map, 'rules_v4');
    assert.equal(mc[0]!.drift, true);
    assert.deepEqual(mc[0]!.entries, [{ op: 'remove', key: '198.18.5.0/24', before: '{rate_pps: 50, burst: 5}' }]);
    apply();
    assert.deepEqual(dump('rules_v4'), [], 'the hand-made rule is gone');
    converged();
  });

  test('config {"0": {rate_pps: 0}} converges: from unset, and from a value kfn wrote', () => {
    chain({ maps: { config: { '0': { rate_pps: 0 } as never } } });
    converged();
    chain({ maps: { config: { '0': { rate_pps: 1000 } as never } } });
    assert.deepEqual(limitChange(planJson(2)).map_changes, [{ map: 'config', drift: false, entries: [{ op: 'add', key: '0', after: '{rate_pps: 1000, burst: 0}' }] }]);
    apply();
    assert.deepEqual(dump('config').map((e) => e.formatted.value), [{ rate_pps: 1000, burst: 0 }]);
    converged();
    chain({ maps: { config: { '0': { rate_pps: 0 } as never } } });
    assert.deepEqual(limitChange(planJson(2)).actions, ['update']);
    apply();
    assert.deepEqual(dump('config').map((e) => e.formatted.value), [{ rate_pps: 0, burst: 0 }]);
    converged();
  });
});
