/**
 * Two stacks on one host (one pin root): the network team's repository, driven by
 * `kfn reconcile` and by `kfn apply` from its work tree, and the observability team's,
 * applied from a work tree that belongs to another user. Stack A never removes or changes
 * stack B's chain (program ids prove it); both stacks claiming one hook is refused at
 * plan, naming both; destroy removes one stack's chains only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, type RunResult } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { TestRepo, chownTree, seedFunctions } from '../helpers/gitrepo.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';

const skip = kernelGate({ tools: ['git'] });

interface ShowJson {
  chains: { name: string; interface: string; hook: string; stack: string | null; revision: string | null; root_prog_id: number; link_id: number; instances: { name: string; prog_id: number }[] }[];
}
interface PlanJson {
  stack: string | null;
  has_changes: boolean;
  notes: { code: string; name: string; stack: string | null; interface?: string; text: string }[];
}

describe('stacks: two teams on one host', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('s'));
  let env: TestEnv;
  let netops: TestRepo;
  let obs: TestRepo;
  let repos = '';
  const A = 'netops/manifests';
  const B = 'observability/obs';

  const drop = (blocked: string): FnSpec => ({ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { [blocked]: 1 } } });
  const edge = (functions: FnSpec[], over: Partial<ChainSpec> = {}): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions, ...over });
  const flows: ChainSpec = { name: 'flows', hook: 'tc-ingress', netns: sb.nsB, interfaces: [sb.ifB], functions: [{ name: 'fs', function: 'flowstats' }] };

  const showJson = (): ShowJson => JSON.parse(kfnExpect(env, ['show', '--json'], 0).stdout) as ShowJson;
  const chainOf = (name: string) => showJson().chains.find((c) => c.name === name);
  /** What identifies B's chain in the kernel: any change to it changes this. */
  const fingerprintB = (): string => {
    const c = chainOf('flows');
    assert.ok(c, `stack B's chain is there: ${JSON.stringify(showJson().chains.map((x) => x.name))}`);
    return JSON.stringify([c.root_prog_id, c.link_id, c.instances.map((i) => i.prog_id), c.stack, c.revision]);
  };
  const reconcileA = (): RunResult => runKfn(env, ['--log-format', 'json', 'reconcile', '--repo', netops.remote, '--ref', 'main', '--path', 'manifests', '--once'], { timeoutMs: 120_000 });
  const blocks3 = (): boolean => pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2, tries: 2 }).received === 0;

  before(() => {
    env = createTestEnv('stacks');
    sb.up();
    // Outside the state dir (kfn keeps that 0700): the other user must reach its work tree.
    repos = `/tmp/kfn-test-stacks-repos-${process.pid}`;
    fs.rmSync(repos, { recursive: true, force: true });
    fs.mkdirSync(repos, { mode: 0o755 });
    netops = new TestRepo(path.join(repos, 'netops'), 'netops');
    seedFunctions(netops, 'manifests', functionsYaml(), OBJECTS, BPF_BUILD);
    obs = new TestRepo(path.join(repos, 'observability'), 'observability');
    seedFunctions(obs, 'obs', functionsYaml(), OBJECTS, BPF_BUILD);
    fs.chmodSync(path.join(repos, 'observability'), 0o755);
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
    fs.rmSync(repos, { recursive: true, force: true });
  });

  test('1. stack B from a work tree of another user: its stack and revision (marked dirty) are recorded', () => {
    obs.write('obs/chain.yaml', chainYaml(flows));
    const head = obs.commitAndPush('flow stats on B');
    obs.write('obs/NOTES.txt', 'uncommitted\n');
    fs.chmodSync(obs.work, 0o755);
    chownTree(obs.work, 'nobody');
    const r = kfnExpect(env, ['apply', path.join(obs.work, 'obs'), '--auto-approve'], 0);
    assert.match(r.stdout, /Apply complete!/);
    const c = chainOf('flows')!;
    assert.equal(c.stack, B, 'the stack is derived from the repository (its origin) and the path in it');
    assert.equal(c.revision, `${head}-dirty`, 'an uncommitted change is marked, not reported as the commit');
  });

  test("2. stack A's reconcile and apply never touch stack B's chain; A's plan lists it as owned by B", () => {
    const b0 = fingerprintB();
    netops.write('manifests/chain.yaml', chainYaml(edge([drop('198.18.0.3/32')])));
    const c1 = netops.commitAndPush('block .3');
    const r = reconcileA();
    assert.equal(r.code, 0, describeRun(['reconcile'], r));
    assert.equal(chainOf('edge')?.stack, A);
    assert.equal(chainOf('edge')?.revision, c1);
    assert.ok(blocks3());
    assert.equal(fingerprintB(), b0, "B's chain is exactly as it was");

    const plan = JSON.parse(kfnExpect(env, ['plan', path.join(netops.work, 'manifests'), '--json'], 0).stdout) as PlanJson;
    assert.equal(plan.stack, A);
    assert.equal(plan.has_changes, false);
    const note = plan.notes.find((n) => n.name === 'flows');
    assert.deepEqual([note?.code, note?.stack], ['owned_by_stack', B], JSON.stringify(plan.notes));
    const text = kfnExpect(env, ['plan', path.join(netops.work, 'manifests')], 0).stdout;
    assert.match(text, new RegExp(`chain "flows" on ${sb.ifB}/tc-ingress \\(netns ${sb.nsB}\\) is owned by stack "${B}" and left alone`), text);

    // kfn apply of stack A from its work tree (an uncommitted change): same stack as its agent.
    netops.write('manifests/chain.yaml', chainYaml(edge([{ name: 'count', function: 'counter' }, drop('198.18.0.3/32')])));
    kfnExpect(env, ['apply', path.join(netops.work, 'manifests'), '--auto-approve'], 0);
    assert.deepEqual(
      chainOf('edge')?.instances.map((i) => i.name),
      ['count', 'drop'],
    );
    assert.equal(chainOf('edge')?.revision, `${c1}-dirty`);
    assert.equal(fingerprintB(), b0, "B's chain is exactly as it was after A's apply");

    // The agent owns the stack's revision: it puts the committed one back.
    const back = reconcileA();
    assert.equal(back.code, 0, describeRun(['reconcile'], back));
    assert.match(back.stdout, /drift-corrected/);
    assert.deepEqual(
      chainOf('edge')?.instances.map((i) => i.name),
      ['drop'],
    );
    netops.git(netops.work, ['checkout', '--', '.']);

    // A drops its chain: only A's chain goes.
    netops.remove('manifests/chain.yaml');
    netops.commitAndPush('no more edge');
    const gone = reconcileA();
    assert.equal(gone.code, 0, describeRun(['reconcile'], gone));
    assert.equal(chainOf('edge'), undefined);
    assert.equal(fingerprintB(), b0, "B's chain survives A pruning its own");
    assert.ok(!blocks3());
  });

  test('3. both stacks claiming one hook is refused at plan, naming both; nothing changes', () => {
    const b0 = fingerprintB();
    netops.write('manifests/chain.yaml', chainYaml({ ...flows, name: 'grab', functions: [{ name: 'count', function: 'counter' }] }));
    netops.commitAndPush('grab the observability hook');
    const args = ['plan', path.join(netops.work, 'manifests')];
    const p = runKfn(env, args);
    assert.equal(p.code, 1, describeRun(args, p));
    assert.match(
      p.stderr,
      new RegExp(`^error\\[CHAIN_CONFLICT\\]: .*chain "grab" of stack "${A}" claims ${sb.ifB}/tc-ingress in netns ${sb.nsB}, which chain "flows" of stack "${B}" owns`, 'm'),
      p.stderr,
    );
    const r = reconcileA();
    assert.equal(r.code, 1, describeRun(['reconcile'], r));
    assert.match(r.stdout, /failed [0-9a-f]{12} at plan: error\[CHAIN_CONFLICT\]/, r.stdout);
    assert.equal(fingerprintB(), b0);
    assert.equal(chainOf('grab'), undefined);
  });

  test('4. destroy removes one stack; destroy --all is the only cross-stack removal', () => {
    netops.write('manifests/chain.yaml', chainYaml(edge([drop('198.18.0.3/32')])));
    netops.commitAndPush('edge again');
    assert.equal(reconcileA().code, 0);
    const b0 = fingerprintB();
    const d = kfnExpect(env, ['destroy', path.join(netops.work, 'manifests'), '--auto-approve'], 0);
    assert.match(d.stdout, /Destroy complete! Resources: 0 added, 0 changed, 0 replaced, 2 destroyed\./, d.stdout);
    assert.equal(chainOf('edge'), undefined);
    assert.equal(fingerprintB(), b0);
    kfnExpect(env, ['destroy', '--stack', B, '--auto-approve'], 0);
    assert.deepEqual(showJson().chains, []);
    const stacks = fs.existsSync(path.join(env.pinRoot, 'stacks')) ? fs.readdirSync(path.join(env.pinRoot, 'stacks')) : [];
    assert.deepEqual(stacks, [], 'the stack records went with their chains');
  });
});

