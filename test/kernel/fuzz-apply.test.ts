/**
 * A sample of random valid chains applied to the real kernel, in sequence, on one sandbox
 * veth: each a random subset and order of counter / flowstats / blocklist / ratelimit, with
 * random blocklist prefixes (198.18.0.0/15, 2001:2::/48), random ratelimit globals and
 * config, on a random hook (xdp native / generic / auto, tc-ingress, tc-egress first / last).
 * After every apply `kfn plan --detailed-exitcode` exits 0 and `kfn show` has exactly the
 * chain asked for; at the end destroy leaves nothing of kfn in the kernel.
 *
 * FUZZ_APPLY_STEPS (or FUZZ_RUNS, via `npm run fuzz`) sets the number of applies; FUZZ_SEED
 * replays a reported sequence.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { stringify } from 'yaml';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, type TestEnv } from '../helpers/workspace.js';
import { describeRun, parseShow, runKfn } from '../helpers/kfn.js';
import { isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot } from '../helpers/bpftool.js';
import { arbChainBody, chainDocument, type FuzzChain } from '../fuzz/arbitraries.js';
import { applySteps, FUZZ_SEED } from '../fuzz/config.js';

const skip = kernelGate();
const STEPS = applySteps(5);

/** Canonical text of a prefix ("2001:2:0:1a:0:0:0:0/64" -> "2001:2:0:1a::/64"). */
function canonicalPrefix(text: string): string {
  const [addr, len] = ipaddr.parseCIDR(text);
  return `${addr.toString()}/${len}`;
}

describe('fuzz: random chains applied to the real kernel converge', { skip }, () => {
  // Unique per process (two runs at once never share or tear down each other's netns).
  const sb = new Sandbox(`kt-fz${(process.pid % 1296).toString(36).padStart(2, '0')}`);
  let env: TestEnv;
  let kernelBefore: BpfSnapshot;

  before(() => {
    kernelBefore = snapshot();
    env = createTestEnv('fuzzapply');
    sb.up();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test(`${STEPS} random chains applied in sequence: each converges, destroy leaves nothing`, { timeout: 60_000 + STEPS * 30_000 }, async (t) => {
    const seed = FUZZ_SEED ?? (Date.now() ^ (process.pid << 8)) | 0;
    t.diagnostic(`seed ${seed} (replay with FUZZ_SEED=${seed} FUZZ_APPLY_STEPS=${STEPS})`);
    const chains: FuzzChain[] = fc.sample(arbChainBody(['xdp', 'tc-ingress', 'tc-egress']), { numRuns: STEPS, seed });
    const file = path.join(env.manifestDir, 'chain.yaml');

    for (const [step, c] of chains.entries()) {
      const doc = chainDocument('fz', c, { netns: sb.nsA, interfaces: [sb.ifA] });
      const yaml = stringify(doc);
      fs.writeFileSync(file, yaml);
      const ctx = `seed ${seed}, step ${step + 1}/${STEPS}, manifest:\n${yaml}`;

      const applied = runKfn(env, ['apply', env.manifestDir, '--auto-approve']);
      assert.equal(applied.code, 0, `apply failed (${ctx})\n${describeRun(['apply'], applied)}`);
      const planned = runKfn(env, ['plan', env.manifestDir, '--detailed-exitcode']);
      assert.equal(planned.code, 0, `plan after apply is not empty (${ctx})\n${describeRun(['plan', '--detailed-exitcode'], planned)}`);

      // What runs is exactly the chain asked for.
      const shown = runKfn(env, ['show', '--json']);
      assert.equal(shown.code, 0, describeRun(['show', '--json'], shown));
      const live = parseShow(shown.stdout);
      assert.equal(live.chains.length, 1, `one chain (${ctx})`);
      const lc = live.chains[0]!;
      assert.deepEqual(lc.attachment, { netns: sb.nsA, ifname: sb.ifA, hook: c.hook }, ctx);
      assert.equal(lc.chainName, 'fz');
      assert.deepEqual(lc.drift, [], ctx);
      assert.deepEqual(lc.orphans, [], ctx);
      if (c.hook === 'xdp' && c.mode && c.mode !== 'auto') assert.equal(lc.mode, c.mode, `xdp mode (${ctx})`);
      assert.deepEqual(lc.instances.map((i) => i.name), c.functions.map((f) => f.name), `packet order (${ctx})`);
      c.functions.forEach((f, k) => {
        const li = lc.instances[k]!;
        assert.equal(li.identity.function, f.function.split('@')[0], ctx);
        for (const [g, v] of Object.entries(f.globals ?? {})) assert.equal(li.identity.globals[g], String(v), `global ${g} of ${f.name} (${ctx})`);
        for (const [m, entries] of Object.entries(f.maps ?? {})) {
          const got = (li.maps[m] ?? []).map((e) => e.keyText);
          const want = Object.keys(entries);
          if (m.startsWith('blocked_')) assert.deepEqual(got.map(canonicalPrefix).sort(), want.map(canonicalPrefix).sort(), `map ${m} of ${f.name} (${ctx})`);
          else assert.equal(got.length, want.length, `map ${m} of ${f.name} (${ctx})`);
        }
      });
    }

    const destroyed = runKfn(env, ['destroy', env.manifestDir, '--auto-approve']);
    assert.equal(destroyed.code, 0, describeRun(['destroy'], destroyed));
    const planned = runKfn(env, ['show', '--json']);
    assert.deepEqual(parseShow(planned.stdout).chains, [], 'no chain after destroy');
    assert.doesNotMatch(sb.ip(sb.nsA, ['link', 'show', sb.ifA]), /prog\/xdp/, 'no XDP program left on the interface');
    const diff = await waitSameKernel(kernelBefore, env.pinRoot);
    assert.ok(isEmptyDiff(diff), `kernel differs after destroy: ${JSON.stringify({ added: diff.added, removed: diff.removed, pins: diff.pins?.after })}`);
  });
});
