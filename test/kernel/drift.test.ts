/**
 * `kfn drift` against the real kernel, with nothing but kfn's own records (no manifests):
 * each kind of drift is made by hand with bpftool, ip or rm (a tcx tenant through the
 * libbpf layer: bpftool 7.1 cannot attach tcx), reported with exit 2 in the JSON format
 * (schema-checked) and in words, then repaired by one `kfn reconcile --once` round (or
 * only reported with --no-correct-drift). Traffic shows the damage and the repair.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, type RunResult } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { TestRepo, seedFunctions } from '../helpers/gitrepo.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';
import { Engine } from '../../src/engine/index.js';
import type { LiveChain } from '../../src/core/types.js';

const skip = kernelGate({ tools: ['git', 'nsenter'] });

interface DriftJson {
  in_sync: boolean;
  drift_count: number;
  chains: { name: string; hook: string; in_sync: boolean; stack: string | null; drift: { code: string; text: string; repair: string; after?: string | null; instance?: string | null; map?: string; pin?: string; unreached?: string[]; to?: string; prog_id?: number }[] }[];
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

describe('kfn drift: every kind, reported without manifests, repaired by one reconcile round', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('d'));
  let env: TestEnv;
  let repo: TestRepo;
  let tc: typeof import('../helpers/tc-foreign.js');
  const foreignDir = `/sys/fs/bpf/kfn-test-drift-foreign-${process.pid}`;
  let foreignXdp: { pin: string; progId: number };

  // [count, drop]: whatever bypasses the slot after count lets the blocked source through.
  const chains = (): ChainSpec[] => [
    {
      name: 'edge',
      hook: 'xdp',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'count', function: 'flowstats' },
        { name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } },
      ],
    },
    { name: 'ingress', hook: 'tc-ingress', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'tally', function: 'counter' }] },
  ];
  const tcPositionFirst = (yaml: string): string => yaml.replace(/(name: ingress }\nspec:\n  hook: tc-ingress\n)/, '$1  position: first\n');

  const engine = (): Engine => new Engine({ paths: { pinRoot: env.pinRoot, stateDir: env.stateDir } });
  const live = (name: string): LiveChain => {
    const c = engine()
      .readLive()
      .chains.find((x) => x.chainName === name);
    assert.ok(c, `live chain ${name}`);
    return c;
  };
  const instDir = (chain: string, inst: string): string => {
    const i = live(chain).instances.find((x) => x.name === inst);
    assert.ok(i, `instance ${inst} of ${chain} in the walk`);
    return i.pinDir;
  };
  const drift = (expectCode: number): DriftJson => {
    const r = runKfn(env, ['drift', '--json']);
    assert.equal(r.code, expectCode, describeRun(['drift', '--json'], r));
    const doc = JSON.parse(r.stdout) as unknown;
    assertMatchesSchema('drift', doc, 'kfn drift --json');
    return doc as DriftJson;
  };
  const codes = (d: DriftJson, chain: string): string[] => d.chains.find((c) => c.name === chain)?.drift.map((x) => x.code) ?? [];
  const reconcile = (extra: string[] = []): RunResult =>
    runKfn(env, ['--log-format', 'json', 'reconcile', '--repo', repo.remote, '--ref', 'main', '--path', 'manifests', '--once', ...extra], { timeoutMs: 120_000 });
  const blocks3 = (): boolean => pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2, tries: 2 }).received === 0;
  const passes2 = (): boolean => pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 2 }).received === 2;

  /** One reconcile round repairs it: drift exits 0, the plan of the manifests is empty, .3 is dropped again. */
  const repairedByOneRound = (what: string): void => {
    const r = reconcile();
    assert.equal(r.code, 0, `${what}: ${describeRun(['reconcile', '--once'], r)}`);
    assert.match(r.stdout, /drift-corrected/, `${what}: ${r.stdout}`);
    const d = drift(0);
    assert.equal(d.in_sync, true);
    kfnExpect(env, ['plan', path.join(repo.work, 'manifests'), '--detailed-exitcode'], 0);
    assert.ok(blocks3(), `${what}: the blocklist works again`);
    assert.ok(passes2(), `${what}: allowed traffic passes`);
  };

  before(async () => {
    env = createTestEnv('drift');
    sb.up();
    tc = await import('../helpers/tc-foreign.js');
    repo = new TestRepo(path.join(env.stateDir, 'repos'), 'netops');
    seedFunctions(repo, 'manifests', functionsYaml(), OBJECTS, BPF_BUILD);
    repo.write('manifests/chain.yaml', tcPositionFirst(chains().map(chainYaml).join('---\n')));
    repo.commitAndPush('edge and ingress');
    fs.rmSync(foreignDir, { recursive: true, force: true });
    foreignXdp = tc.loadForeignXdp(foreignDir);
  });
  after(() => {
    spawnSync('ip', ['-n', sb.nsA, 'link', 'set', 'dev', sb.ifA, 'xdpgeneric', 'off'], { stdio: 'ignore' });
    tc?.removeForeign(path.join(foreignDir, 'tcx'));
    fs.rmSync(foreignDir, { recursive: true, force: true });
    cleanupTestEnv(env);
    sb.down();
  });

  test('0. applied and in sync: drift exits 0', () => {
    const r = reconcile();
    assert.equal(r.code, 0, describeRun(['reconcile'], r));
    const d = drift(0);
    assert.deepEqual(
      d.chains.map((c) => [c.name, c.stack, c.in_sync]),
      [
        ['edge', 'netops/manifests', true],
        ['ingress', 'netops/manifests', true],
      ],
    );
    assert.match(kfnExpect(env, ['drift'], 0).stdout, /No drift\. The kernel matches what kfn last applied\. \(2 chains checked\)/);
    assert.ok(blocks3() && passes2());
  });

  test('root detached (bpftool link detach): named as such, not as a recreated interface', () => {
    sh('bpftool', ['link', 'detach', 'id', String(live('edge').linkId)]);
    const d = drift(2);
    assert.deepEqual(codes(d, 'edge'), ['root_detached']);
    assert.deepEqual(codes(d, 'ingress'), []);
    const text = runKfn(env, ['drift']);
    assert.equal(text.code, 2);
    assert.match(text.stdout, /! root detached: kfn's link was detached from the hook outside kfn\n\s+-> apply attaches the root again/, text.stdout);
    assert.doesNotMatch(text.stdout, /recreated/);
    assert.ok(!blocks3(), 'with the root detached the blocklist does not run');
    repairedByOneRound('root detached');
  });

  test('a foreign program in a chain slot (bpftool map update)', () => {
    sh('bpftool', ['map', 'update', 'pinned', path.join(instDir('edge', 'count'), 'kfn_next'), 'key', '0', '0', '0', '0', 'value', 'pinned', foreignXdp.pin]);
    const d = drift(2);
    const f = d.chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.prog_id, x.after]),
      [['foreign_in_chain', foreignXdp.progId, 'count']],
    );
    assert.ok(!blocks3(), 'the foreign program ends the chain before drop');
    repairedByOneRound('foreign program in a slot');
  });

  test('an empty slot (bpftool map delete): the chain is bypassed', () => {
    sh('bpftool', ['map', 'delete', 'pinned', path.join(instDir('edge', 'count'), 'kfn_next'), 'key', '0', '0', '0', '0']);
    const f = drift(2).chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.after, x.unreached]),
      [['bypassed', 'count', ['drop']]],
    );
    assert.ok(!blocks3());
    repairedByOneRound('empty slot');
  });

  test('a looping slot (bpftool map update to an earlier program)', () => {
    const count = instDir('edge', 'count');
    sh('bpftool', ['map', 'update', 'pinned', path.join(count, 'kfn_next'), 'key', '0', '0', '0', '0', 'value', 'pinned', path.join(count, 'prog')]);
    const f = drift(2).chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.to, x.after]),
      [['loop', 'count', 'count']],
    );
    assert.ok(!blocks3(), 'the loop runs out of tail calls before drop');
    repairedByOneRound('looping slot');
  });

  test("a missing pin (rm of the root's link pin)", () => {
    fs.rmSync(path.join(live('edge').pinDir, 'link'));
    const f = drift(2).chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.pin ?? null]),
      [
        ['pin_missing', 'link'],
        ['root_not_attached', null],
      ],
    );
    assert.ok(!blocks3(), 'the link went with its last pin');
    repairedByOneRound('missing link pin');
  });

  test('an edited parameter map (bpftool map update): reported only with --no-correct-drift, then repaired', () => {
    // struct kfn_lpm_v4 { __u32 prefixlen; __u8 addr[4]; }: 198.18.0.2/32 -> 1
    const pin = path.join(instDir('edge', 'drop'), 'maps', 'blocked_v4');
    sh('bpftool', ['map', 'update', 'pinned', pin, 'key', 'hex', '20', '00', '00', '00', 'c6', '12', '00', '02', 'value', 'hex', '01', '00', '00', '00']);
    const f = drift(2).chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.instance, x.map]),
      [['map_edited', 'drop', 'blocked_v4']],
    );
    assert.ok(!passes2(), 'the edited entry blocks .2');

    const r = reconcile(['--no-correct-drift']);
    assert.equal(r.code, 2, describeRun(['reconcile', '--no-correct-drift'], r));
    assert.match(r.stdout, /drift-reported/);
    assert.deepEqual(codes(drift(2), 'edge'), ['map_edited'], 'only reported: still there');
    assert.ok(!passes2());
    repairedByOneRound('edited map');
  });

  test("a foreign program on kfn's XDP hook (ip link set xdp): reported; apply refuses to touch it; repaired once it is gone", () => {
    sh('bpftool', ['link', 'detach', 'id', String(live('edge').linkId)]);
    // nsenter, not ip -n: ip's netns mode remounts /sys, where the pin lives.
    sh('nsenter', [`--net=/run/netns/${sb.nsA}`, 'ip', 'link', 'set', 'dev', sb.ifA, 'xdpgeneric', 'pinned', foreignXdp.pin]);
    const f = drift(2).chains.find((c) => c.name === 'edge')!.drift;
    assert.deepEqual(
      f.map((x) => [x.code, x.prog_id ?? null]),
      [
        ['root_detached', null],
        ['foreign_on_hook', foreignXdp.progId],
      ],
    );
    const r = reconcile();
    assert.equal(r.code, 1, describeRun(['reconcile'], r));
    assert.match(r.stdout, /failed [0-9a-f]{12} at apply: error\[KERNEL_BUSY\]/, r.stdout);
    sh('ip', ['-n', sb.nsA, 'link', 'show', sb.ifA]);
    assert.match(sb.ip(sb.nsA, ['link', 'show', sb.ifA]), new RegExp(`prog/xdp id ${foreignXdp.progId}\\b`), 'the foreign program is untouched');
    const still = codes(drift(2), 'edge');
    sh('ip', ['-n', sb.nsA, 'link', 'set', 'dev', sb.ifA, 'xdpgeneric', 'off']);
    assert.ok(still.includes('foreign_on_hook'), `still reported: ${still.join(', ')}`);
    repairedByOneRound('foreign program on the hook, once removed');
  });

  test('a tcx program ahead of a `first` root: the position is lost, and restored', () => {
    const root = live('ingress').rootProgId;
    assert.deepEqual(tc.tcxOrder(sb.nsA, sb.ifA, 'ingress'), [root]);
    const f = tc.attachForeignCounter({ netns: sb.nsA, ifname: sb.ifA, dir: 'ingress', pinDir: path.join(foreignDir, 'tcx'), position: 'first' });
    assert.deepEqual(tc.tcxOrder(sb.nsA, sb.ifA, 'ingress'), [f.progId, root]);
    const d = drift(2).chains.find((c) => c.name === 'ingress')!.drift;
    assert.deepEqual(
      d.map((x) => [x.code, x.prog_id]),
      [['position_lost', f.progId]],
    );
    repairedByOneRound('tcx position');
    assert.deepEqual(tc.tcxOrder(sb.nsA, sb.ifA, 'ingress'), [root, f.progId], "kfn's root is first again; the tenant stays");
    tc.removeForeign(path.join(foreignDir, 'tcx'));
  });

  test('a chain removed (rm -r of its pins): reported from the stack record, and created again', () => {
    fs.rmSync(live('edge').pinDir, { recursive: true });
    const d = drift(2);
    assert.deepEqual(codes(d, 'edge'), ['chain_removed']);
    assert.ok(!blocks3());
    repairedByOneRound('chain removed');
  });
});
