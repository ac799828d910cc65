/**
 * Host selection: one repository, two simulated hosts (two agents with different labels,
 * each with its own pin root and state dir). Each applies only the chains that select
 * it, lists the others as skipped, and the traffic shows which chains run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, type RunResult } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { TestRepo, seedFunctions } from '../helpers/gitrepo.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';

const skip = kernelGate({ tools: ['git'] });

interface PlanJson {
  resource_changes: { type: string; name: string; change: { actions: string[] } }[];
  notes: { code: string; name: string; selector?: { hostnames: string[] | null; labels: Record<string, string> | null }; text: string }[];
}

describe('host selection: two hosts, one repository, each applies its own chains', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('h'));
  let hostA: TestEnv;
  let hostB: TestEnv;
  let repo: TestRepo;
  let labelsB = '';

  // edge-a runs on hosts labelled role=a (and named like this one), edge-b on role=b; nowhere selects no host.
  const chains = (): ChainSpec[] => [
    { name: 'edge-a', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], hosts: { hostnames: [`${os.hostname().slice(0, 3)}*`], labels: { role: 'a' } }, functions: [{ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } }] },
    { name: 'edge-b', hook: 'xdp', netns: sb.nsB, interfaces: [sb.ifB], hosts: { labels: { role: 'b' } }, functions: [{ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.1/32': 1 } } }] },
    { name: 'nowhere', hook: 'tc-ingress', netns: sb.nsA, interfaces: [sb.ifA], hosts: { hostnames: ['kfn-no-such-host-*'] }, functions: [{ name: 'count', function: 'counter' }] },
  ];
  const agent = (env: TestEnv, labels: string[]): RunResult =>
    runKfn(env, ['--log-format', 'json', 'reconcile', '--repo', repo.remote, '--ref', 'main', '--path', 'fleet', '--once', ...labels], { timeoutMs: 120_000 });
  const chainNames = (env: TestEnv): string[] => (JSON.parse(kfnExpect(env, ['show', '--json'], 0).stdout) as { chains: { name: string }[] }).chains.map((c) => c.name);
  const aBlocks3 = (): boolean => pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2, tries: 2 }).received === 0;
  const bBlocks1 = (): boolean => pingUntilOk(sb.nsA, '198.18.0.2', { count: 2, tries: 2 }).received === 0;

  before(() => {
    hostA = createTestEnv('host-a');
    hostB = createTestEnv('host-b');
    sb.up();
    repo = new TestRepo(path.join(hostA.stateDir, 'repos'), 'fleet');
    seedFunctions(repo, 'fleet', functionsYaml(), OBJECTS, BPF_BUILD);
    repo.write('fleet/chains.yaml', chains().map(chainYaml).join('---\n'));
    repo.commitAndPush('three chains, selected by host');
    labelsB = path.join(hostB.stateDir, 'host-labels');
    fs.writeFileSync(labelsB, '# host B\nrole=b\nzone = eu-1\n');
  });
  after(() => {
    cleanupTestEnv(hostA);
    cleanupTestEnv(hostB);
    sb.down();
  });

  test('each simulated host applies exactly the chains that select it', () => {
    assert.ok(!aBlocks3() && !bBlocks1(), 'no chain runs yet');
    const ra = agent(hostA, ['--host-labels', 'role=a,zone=eu-1']);
    assert.equal(ra.code, 0, describeRun(['reconcile', 'host A'], ra));
    assert.deepEqual(chainNames(hostA), ['edge-a']);
    assert.ok(aBlocks3(), "host A's chain runs");
    assert.ok(!bBlocks1(), "host B's chain does not run yet");

    const rb = agent(hostB, ['--host-labels-file', labelsB]);
    assert.equal(rb.code, 0, describeRun(['reconcile', 'host B'], rb));
    assert.deepEqual(chainNames(hostB), ['edge-b']);
    assert.deepEqual(chainNames(hostA), ['edge-a'], "host B's agent does not touch host A's pin root");
    assert.ok(bBlocks1(), "host B's chain runs");
  });

  test('the plan lists what a host skips, and why', () => {
    const args = ['plan', path.join(repo.work, 'fleet'), '--json', '--host-labels', 'role=a'];
    const p = JSON.parse(kfnExpect(hostA, args, 0).stdout) as PlanJson;
    assert.deepEqual(
      p.notes.filter((n) => n.code === 'host_not_selected').map((n) => n.name),
      ['edge-b', 'nowhere'],
    );
    assert.deepEqual(p.notes.find((n) => n.name === 'edge-b')?.selector, { hostnames: null, labels: { role: 'b' } });
    assert.ok(p.resource_changes.every((c) => !(c.type === 'kfn_chain' && c.name === 'edge-b')), 'no change for a skipped chain');
    const text = kfnExpect(hostA, ['plan', path.join(repo.work, 'fleet'), '--host-labels', 'role=a'], 0).stdout;
    assert.match(text, /chain "edge-b" is skipped: this host is not selected \(labels role=b\)/, text);
    assert.match(text, /chain "nowhere" is skipped: this host is not selected \(hostnames kfn-no-such-host-\*\)/, text);

    // Labels change: the host no longer selected prunes the chain it ran.
    const r = agent(hostA, ['--host-labels', 'role=c']);
    assert.equal(r.code, 0, describeRun(['reconcile', 'host A relabelled'], r));
    assert.deepEqual(chainNames(hostA), []);
    assert.equal(sb.xdpProgIdA(), undefined, 'no XDP program left on host A\'s interface');

    const bad = runKfn(hostA, ['plan', path.join(repo.work, 'fleet'), '--host-labels', 'role=a,oops']);
    assert.equal(bad.code, 1, describeRun(['plan', '--host-labels', 'role=a,oops'], bad));
    assert.match(bad.stderr, /^error\[HOST_LABELS_INVALID\]: --host-labels: "oops" is not a label \(key=value\)$/m);
  });
});
