/**
 * `kfn reconcile --once` against a real Git repository made here (commits pushed to a
 * bare remote owned by another user) and the real kernel: revisions applied in order and
 * recorded; a revision that fails (invalid manifest, verifier rejection, missing or
 * unknown signature) leaves the last good state running, proven with traffic, is reported
 * in `kfn status` and held back; the next good revision applies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, show, type RunResult } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { TestRepo, seedFunctions, sshKey } from '../helpers/gitrepo.js';
import { assertMatchesSchema } from '../helpers/schemas.js';
import { BPF_BUILD, OBJECTS } from '../helpers/paths.js';

const skip = kernelGate({ tools: ['git', 'ssh-keygen'] });

interface StatusJson {
  chains: { name: string; stack: string | null; revision: string | null; in_sync: boolean }[];
  stacks: {
    stack: string;
    revision: string | null;
    agent: {
      last_round: { revision: string | null; fetched: string | null; outcome: string; stage: string | null; error: { code: string } | null; restored: boolean | null } | null;
      last_attempt: { revision: string; outcome: string; error: { code: string } | null } | null;
      last_applied: { revision: string } | null;
      failing: { revision: string; failures: number; stage: string; error: { code: string } } | null;
      history: { revision: string | null; outcome: string; stage: string | null }[];
    } | null;
  }[];
}

/** The structured round records of `--log-format json` output. */
function roundLogs(stderr: string): { outcome: string; revision: string | null; stage?: string; error?: { code: string }; stack: string }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; outcome: string; revision: string | null; stage?: string; error?: { code: string }; stack: string })
    .filter((l) => l.msg.startsWith('reconcile round'));
}

describe('reconcile --once: revisions from Git, failures held back, signatures', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('g'));
  let env: TestEnv;
  let repo: TestRepo;
  let allowedSigners = '';
  let goodKey = '';
  let otherKey = '';
  const STACK = 'netops/manifests';

  const drop = (blocked: string): FnSpec => ({ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { [blocked]: 1 } } });
  const visibility: FnSpec = { name: 'visibility', function: 'flowstats' };
  const edge = (functions: FnSpec[]): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });
  const commitChain = (functions: FnSpec[], message: string, signKey?: string): string => {
    repo.write('manifests/chain.yaml', chainYaml(edge(functions)));
    return repo.commitAndPush(message, signKey ? { signKey } : {});
  };

  const reconcile = (extra: string[] = []): RunResult =>
    runKfn(env, ['--log-format', 'json', 'reconcile', '--repo', repo.remote, '--ref', 'main', '--path', 'manifests', '--once', ...extra], { timeoutMs: 120_000 });
  const status = (): StatusJson => {
    const r = kfnExpect(env, ['status', '--json'], 0);
    const doc = JSON.parse(r.stdout) as unknown;
    assertMatchesSchema('status', doc, 'kfn status --json');
    return doc as StatusJson;
  };
  const stackStatus = () => {
    const s = status().stacks.find((x) => x.stack === STACK);
    assert.ok(s?.agent, `stack ${STACK} with an agent record in kfn status --json`);
    return s as StatusJson['stacks'][number] & { agent: NonNullable<StatusJson['stacks'][number]['agent']> };
  };
  /** Which of .2 and .3 get through to 198.18.0.1 (the blocklist drops the other). */
  const blocked = (): string[] => {
    const out: string[] = [];
    for (const last of [2, 3]) {
      const r = last === 2 ? pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 2, tries: 2 }) : pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2, tries: 2 });
      if (r.received === 0) out.push(`198.18.0.${last}`);
    }
    return out;
  };
  const expectRound = (r: RunResult, code: number, outcome: string): ReturnType<typeof roundLogs>[number] => {
    assert.equal(r.code, code, describeRun(['reconcile', '--once'], r));
    const logs = roundLogs(r.stderr);
    assert.equal(logs.length, 1, `one round logged:\n${r.stderr}`);
    assert.equal(logs[0]!.outcome, outcome, r.stderr);
    assert.equal(logs[0]!.stack, STACK);
    return logs[0]!;
  };

  before(() => {
    env = createTestEnv('reconcile');
    sb.up();
    repo = new TestRepo(path.join(env.stateDir, 'repos'), 'netops');
    seedFunctions(repo, 'manifests', functionsYaml(), OBJECTS, BPF_BUILD);
    const keys = path.join(env.stateDir, 'keys');
    const good = sshKey(keys, 'alice');
    const other = sshKey(keys, 'mallory');
    goodKey = good.key;
    otherKey = other.key;
    allowedSigners = path.join(keys, 'allowed_signers');
    fs.writeFileSync(allowedSigners, `${good.allowed}\n`);
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('1. the first commit, then a second commit, are applied; status shows both revisions in order', () => {
    const c1 = commitChain([drop('198.18.0.3/32')], 'block .3');
    repo.chownRemote('nobody'); // the repository belongs to another user from here on
    const r1 = reconcile();
    const l1 = expectRound(r1, 0, 'applied');
    assert.equal(l1.revision, c1);
    assert.match(r1.stdout, new RegExp(`Reconcile round \\(once\\): applied ${c1.slice(0, 12)} \\(2 added`), r1.stdout);
    assert.deepEqual(blocked(), ['198.18.0.3']);

    const c2 = commitChain([drop('198.18.0.2/32')], 'block .2 instead');
    expectRound(reconcile(), 0, 'applied');
    assert.deepEqual(blocked(), ['198.18.0.2']);

    const s = stackStatus();
    assert.deepEqual(
      s.agent.history.map((h) => [h.revision, h.outcome]),
      [
        [c1, 'applied'],
        [c2, 'applied'],
      ],
    );
    assert.equal(s.agent.last_applied?.revision, c2);
    assert.equal(s.revision, c2, "the stack's record in bpffs names the applied revision");
    const chain = status().chains.find((c) => c.name === 'edge');
    assert.equal(chain?.stack, STACK);
    assert.equal(chain?.revision, c2);
    assert.equal(chain?.in_sync, true);
    const text = kfnExpect(env, ['status'], 0).stdout;
    const history = text.slice(text.indexOf('history (oldest first):'));
    const at1 = history.indexOf(`${c1.slice(0, 12)}  applied`);
    const at2 = history.indexOf(`${c2.slice(0, 12)}  applied`);
    assert.ok(at1 >= 0 && at2 > at1, `status text lists ${c1.slice(0, 12)} then ${c2.slice(0, 12)}:\n${text}`);

    // Nothing new: the next round finds the kernel in sync.
    expectRound(reconcile(), 0, 'in-sync');
    // The agent never touched the operator's work tree.
    assert.equal(repo.git(repo.work, ['status', '--porcelain']).trim(), '');
  });

  test('2. an invalid manifest and a verifier rejection each leave the last good state running, are reported and held back; the next good commit applies', () => {
    const good = stackStatus().agent.last_applied!.revision;
    const progs = show(env).chains[0]!.instances.map((i) => i.progId);

    // An invalid manifest.
    repo.write('manifests/chain.yaml', chainYaml(edge([drop('198.18.0.3/32')])).replace('hook: xdp', 'hook: xdpp'));
    const bad = repo.commitAndPush('typo in the hook');
    const l = expectRound(reconcile(), 1, 'failed');
    assert.equal(l.stage, 'validate');
    assert.equal(l.error?.code, 'MANIFEST_SCHEMA');
    assert.deepEqual(blocked(), ['198.18.0.2'], 'the last good revision still runs');
    let s = stackStatus();
    assert.equal(s.agent.last_applied?.revision, good);
    assert.deepEqual([s.agent.last_attempt?.revision, s.agent.last_attempt?.outcome, s.agent.last_attempt?.error?.code], [bad, 'failed', 'MANIFEST_SCHEMA']);
    assert.deepEqual([s.agent.failing?.revision, s.agent.failing?.failures, s.agent.failing?.stage], [bad, 1, 'validate']);
    assert.deepEqual(s.agent.history.at(-1), { ...s.agent.history.at(-1)!, revision: bad, outcome: 'failed', stage: 'validate' });

    // Asked again at once, the failing revision is not retried: the round keeps the last good one in place.
    const again = reconcile();
    assert.equal(again.code, 1, describeRun(['reconcile'], again));
    const held = roundLogs(again.stderr)[0]!;
    assert.equal(held.revision, good, 'a held-back round works on the last applied revision');
    assert.equal(held.outcome, 'in-sync');
    assert.match(again.stdout, /is held back after failing/);
    s = stackStatus();
    assert.equal(s.agent.failing?.failures, 1, 'not retried in a hot loop');
    assert.equal(s.agent.history.at(-1)?.revision, bad, 'held-back rounds do not fill the history');

    // A function the verifier rejects: apply rolls back.
    const rejected = commitChain([drop('198.18.0.3/32'), { name: 'bad', function: 'badfn' }], 'add a broken function');
    const v = expectRound(reconcile(), 1, 'failed');
    assert.equal(v.revision, rejected, 'a new revision is tried at once, whatever failed before');
    assert.equal(v.stage, 'apply');
    assert.equal(v.error?.code, 'VERIFIER_REJECTED');
    assert.deepEqual(blocked(), ['198.18.0.2'], 'rolled back: the last good revision still runs');
    assert.deepEqual(
      show(env).chains[0]!.instances.map((i) => i.progId),
      progs,
      'the same programs run',
    );
    s = stackStatus();
    assert.equal(s.agent.last_round?.restored, true);
    assert.deepEqual([s.agent.failing?.revision, s.agent.failing?.stage, s.agent.failing?.error.code], [rejected, 'apply', 'VERIFIER_REJECTED']);

    // The next good commit applies, and clears the failure.
    const fixed = commitChain([visibility, drop('198.18.0.3/32')], 'fixed');
    expectRound(reconcile(), 0, 'applied');
    assert.deepEqual(blocked(), ['198.18.0.3']);
    s = stackStatus();
    assert.equal(s.agent.last_applied?.revision, fixed);
    assert.equal(s.agent.failing, null);
    assert.deepEqual(
      s.agent.history.slice(-3).map((h) => [h.revision, h.outcome]),
      [
        [bad, 'failed'],
        [rejected, 'failed'],
        [fixed, 'applied'],
      ],
    );
  });

  test('3. with --verify-signatures: an unsigned commit and one signed by an unknown key are refused; one signed by an allowed key applies', () => {
    const verify = ['--verify-signatures', '--allowed-signers', allowedSigners];
    const before = show(env).chains;

    const unsigned = commitChain([drop('198.18.0.2/32')], 'unsigned');
    let l = expectRound(reconcile(verify), 1, 'failed');
    assert.deepEqual([l.revision, l.stage, l.error?.code], [unsigned, 'verify', 'COMMIT_UNSIGNED']);
    assert.deepEqual(show(env).chains, before, 'nothing applied');
    assert.deepEqual(blocked(), ['198.18.0.3']);

    const foreign = commitChain([drop('198.18.0.2/32')], 'signed by mallory', otherKey);
    l = expectRound(reconcile(verify), 1, 'failed');
    assert.deepEqual([l.revision, l.stage, l.error?.code], [foreign, 'verify', 'COMMIT_SIGNATURE_REFUSED']);
    assert.deepEqual(show(env).chains, before, 'nothing applied');
    assert.deepEqual(blocked(), ['198.18.0.3']);
    assert.equal(stackStatus().agent.failing?.error.code, 'COMMIT_SIGNATURE_REFUSED');

    const signed = commitChain([drop('198.18.0.2/32')], 'signed by alice', goodKey);
    l = expectRound(reconcile(verify), 0, 'applied');
    assert.equal(l.revision, signed);
    assert.deepEqual(blocked(), ['198.18.0.2']);
    assert.equal(stackStatus().agent.last_applied?.revision, signed);
  });

  test('4. suspended, the agent changes nothing (status says so); resumed, it applies the newest revision', () => {
    const before = show(env).chains;
    const s = kfnExpect(env, ['suspend', '--stack', STACK, '--reason', 'change freeze'], 0);
    assert.match(s.stdout, /Stack "netops\/manifests" suspended/);
    const next = commitChain([drop('198.18.0.3/32')], 'during the freeze');
    expectRound(reconcile(), 0, 'suspended');
    assert.deepEqual(show(env).chains, before, 'nothing applied while suspended');
    const text = kfnExpect(env, ['status'], 0).stdout;
    assert.match(text, /SUSPENDED since .* change freeze/, text);
    kfnExpect(env, ['resume'], 0); // one agent on this host: the stack may be left out
    const l = expectRound(reconcile(), 0, 'applied');
    assert.equal(l.revision, next);
    assert.deepEqual(blocked(), ['198.18.0.3']);
  });
});
