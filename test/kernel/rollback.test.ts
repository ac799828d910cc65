/**
 * A failing apply leaves the kernel exactly as it found it: the same program, map and link
 * ids (bpftool), the same pins under the pin root, the same chains (`kfn show --json`).
 * Failures come from the verifier (a function that fails to load) and from test-only fault
 * injection before every single step of an update plan.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, show } from '../helpers/kfn.js';
import { assertWorldUnchanged, captureWorld, type World } from '../helpers/world.js';
import { ping, pingUntilOk } from '../helpers/ping.js';

const skip = kernelGate();

describe('rollback: a failed apply changes nothing', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('r'));
  let env: TestEnv;

  const blocklist = (blocked: string): FnSpec => ({ name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v4: { [blocked]: 1 } } });
  const flowstats: FnSpec = { name: 'visibility', function: 'flowstats' };
  const counter: FnSpec = { name: 'count', function: 'counter' };
  const bad: FnSpec = { name: 'bad', function: 'badfn' };
  const ratelimit: FnSpec = { name: 'limit', function: 'ratelimit', globals: { rate_pps: 100000, burst: 10000 } };
  const chain = (functions: FnSpec[]): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });

  const world = (): World => captureWorld(env, sb);
  const assertUnchanged = (w: World, what: string): Promise<void> => assertWorldUnchanged(env, sb, w, what);

  function assertVerifierFailure(r: ReturnType<typeof runKfn>, args: string[]): void {
    assert.equal(r.code, 1, describeRun(args, r));
    assert.match(r.stderr, /^error\[VERIFIER_REJECTED\]: .*badfn_xdp/m, describeRun(args, r));
    assert.match(r.stderr, /verifier: .*invalid access to packet/, `the verifier log reaches the user:\n${r.stderr}`);
    assert.match(r.stderr, /The kernel is back to the state before apply\./);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
  }

  before(() => {
    env = createTestEnv('rollback');
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('verifier rejection while creating a chain on a fresh interface', async () => {
    const w = world();
    assert.deepEqual(w.chains, []);
    assert.equal(w.xdp, undefined);
    // [flowstats, bad, counter]: loads go back to front, so counter and the root are
    // already loaded and pinned when badfn fails.
    writeChain(env, chain([flowstats, bad, counter]));
    const args = ['apply', env.manifestDir, '--auto-approve'];
    assertVerifierFailure(runKfn(env, args), args);
    await assertUnchanged(w, 'after a failed chain create');
    const ok = pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2 });
    assert.equal(ok.received, 2, 'traffic unaffected');
  });

  test('verifier rejection while inserting into a live chain', async () => {
    writeChain(env, chain([blocklist('198.18.0.3/32'), flowstats]));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const w = world();
    assert.equal(w.chains.length, 1);
    assert.ok(w.xdp, 'chain attached');

    // Insert [bad, count] in the middle and change a map: counter loads, badfn fails.
    writeChain(env, chain([blocklist('198.18.0.2/32'), bad, counter, flowstats]));
    const args = ['apply', env.manifestDir, '--auto-approve'];
    assertVerifierFailure(runKfn(env, args), args);
    await assertUnchanged(w, 'after a failed insert');

    // The live chain still works as before: .3 blocked, .2 allowed.
    assert.equal(ping(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2 }).received, 0);
    assert.equal(pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 2 }).received, 2);
  });

  test('fault injected before every step of an update plan (insert + remove + reorder + map change)', async (t) => {
    const from = [blocklist('198.18.0.3/32'), flowstats, counter];
    const to = [counter, blocklist('198.18.0.2/32'), ratelimit]; // reorder count/drop-bad, remove visibility, insert limit, map change
    writeChain(env, chain(from));
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    const w = world();
    assert.deepEqual(
      w.chains[0]!.instances.map((i) => i.name),
      ['drop-bad', 'visibility', 'count'],
    );

    writeChain(env, chain(to));
    const p = kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: 1 to add, 2 to change, 0 to replace, 1 to destroy\./);
    assert.match(p.stdout, /order: /);

    const args = ['apply', env.manifestDir, '--auto-approve'];
    let steps = 0;
    for (let n = 1; ; n++) {
      assert.ok(n <= 40, 'the plan should have far fewer than 40 steps');
      const r = runKfn(env, args, { env: { KFN_TEST_FAIL_AT_STEP: String(n) } });
      if (r.code === 0) {
        steps = n - 1; // the fault point lies past the last step: apply succeeded
        break;
      }
      assert.equal(r.code, 1, describeRun([`KFN_TEST_FAIL_AT_STEP=${n}`, ...args], r));
      assert.match(r.stderr, new RegExp(`^error\\[INJECTED_FAULT\\]: injected failure at step ${n}\\b`, 'm'), r.stderr);
      assert.match(r.stderr, new RegExp(`Apply failed after ${n - 1} completed step\\(s\\); rolled back ${n - 1} step\\(s\\) in reverse order:`), r.stderr);
      assert.match(r.stderr, /The kernel is back to the state before apply\./, r.stderr);
      await assertUnchanged(w, `fault before step ${n}`);
    }
    // 3 loads (limit, copies of count and drop-bad), map write + digest, one switch, metadata.
    assert.ok(steps >= 5, `update plan had ${steps} steps`);
    t.diagnostic(`fault injected before each of ${steps} steps, each rolled back`);

    // The last run (fault point past the end) applied the whole plan.
    const c = show(env).chains[0]!;
    assert.deepEqual(
      c.instances.map((i) => i.name),
      ['count', 'drop-bad', 'limit'],
    );
    assert.deepEqual(
      c.instances.find((i) => i.name === 'drop-bad')!.maps.blocked_v4?.map((e) => e.keyText),
      ['198.18.0.2/32'],
    );
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    assert.equal(ping(sb.nsB, '198.18.0.1', { from: '198.18.0.2', count: 2 }).received, 0);
    assert.equal(pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2 }).received, 2);
  });
});
