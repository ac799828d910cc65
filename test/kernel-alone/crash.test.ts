/**
 * Crash recovery and rollback at every step of one big plan. S0 -> S1 touches an XDP
 * chain (reorder + map update + create + replacement by another version), a tc-ingress
 * chain (reorder), creates a tc-egress chain and deletes two chains (XDP on a second
 * interface of nsA that sorts before the others, tc-ingress in the other netns that sorts
 * after them), so deletes come both first and last in plan order. (A delete used to be a
 * detach step whose rollback attached again with a NEW link; deletes are now detached
 * after the commit point, which the step list below checks.)
 *
 * For every step N: `apply S1` with KFN_TEST_KILL_AFTER_STEP=N dies by SIGKILL; the next
 * command (`kfn plan S1`) recovers, and the kernel is either S0 exactly (same prog, map
 * and link ids, pins, `kfn show`) or S1 fully applied, with no kfn object that no pin
 * reaches and no journal left. Then with KFN_TEST_FAIL_AT_STEP=N: exit 1 and S0 exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { BPF_BUILD, CLI, REPO_ROOT } from '../helpers/paths.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, parseShow, runKfn, show, type ShowChain } from '../helpers/kfn.js';
import { FREE_WAIT_MS, bpftoolJson, diffKernel, isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot, type KernelDiff } from '../helpers/bpftool.js';

const skip = kernelGate();

/** Upper bound on the steps of the S0 -> S1 plan (a runaway loop guard). */
const MAX_STEPS = 60;

describe('crash: SIGKILL after every step, and a fault before every step, of a plan on XDP and tc chains', { skip, timeout: 170_000 }, () => {
  // Per process, like every kernel test file: two runs of this file at once never share a sandbox.
  const sb = new Sandbox(sandboxPrefix('c'));
  const DUMMY = `${sb.prefix}-0`; // sorts before <prefix>-a0: its chain comes first in plan order
  let env: TestEnv;
  let s0 = '';
  let s1 = '';

  const chainsS0 = (): ChainSpec[] => [
    {
      name: 'edge',
      hook: 'xdp',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'a', function: 'counter@1.0.0' },
        { name: 'b', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } },
        { name: 'c', function: 'flowstats@1.0.0' },
      ],
    },
    {
      name: 'in',
      hook: 'tc-ingress',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'p', function: 'counter@1.0.0' },
        { name: 'q', function: 'flowstats@1.0.0' },
      ],
    },
    { name: 'gone-x', hook: 'xdp', netns: sb.nsA, interfaces: [DUMMY], functions: [{ name: 'g', function: 'counter@1.0.0' }] },
    { name: 'gone-t', hook: 'tc-ingress', netns: sb.nsB, interfaces: [sb.ifB], functions: [{ name: 'h', function: 'flowstats@1.0.0' }] },
  ];

  const chainsS1 = (): ChainSpec[] => [
    {
      name: 'edge',
      hook: 'xdp',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'c', function: 'flowstats@1.0.0' },
        { name: 'b', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.2/32': 1 } } },
        { name: 'd', function: 'ratelimit@1.0.0', globals: { rate_pps: 100000, burst: 10000 } },
        { name: 'a', function: 'counter@2.0.0' },
      ],
    },
    {
      name: 'in',
      hook: 'tc-ingress',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'q', function: 'flowstats@1.0.0' },
        { name: 'p', function: 'counter@1.0.0' },
      ],
    },
    {
      name: 'out',
      hook: 'tc-egress',
      netns: sb.nsA,
      interfaces: [sb.ifA],
      functions: [
        { name: 'e', function: 'counter@1.0.0' },
        { name: 'f', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.9/32': 1 } } },
      ],
    },
  ];

  /** A manifest directory of its own (objects inside it), with counter 2.0.0 defined too. */
  function manifestDir(name: string, chains: ChainSpec[]): string {
    const dir = path.join(env.stateDir, name);
    fs.mkdirSync(path.join(dir, 'objects'), { recursive: true });
    for (const o of fs.readdirSync(path.join(env.manifestDir, 'objects'))) fs.copyFileSync(path.join(env.manifestDir, 'objects', o), path.join(dir, 'objects', o));
    fs.copyFileSync(path.join(BPF_BUILD, 'counter_v2.bpf.o'), path.join(dir, 'objects', 'counter_v2.bpf.o'));
    const counter2 = `---
apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: counter }
spec:
  version: 2.0.0
  object: objects/counter_v2.bpf.o
  program: counter
  hooks: [xdp, tc-ingress, tc-egress]
`;
    fs.writeFileSync(path.join(dir, 'functions.yaml'), functionsYaml().trimEnd() + '\n' + counter2);
    for (const c of chains) fs.writeFileSync(path.join(dir, `chain-${c.name}.yaml`), chainYaml(c));
    return dir;
  }

  interface World {
    bpf: BpfSnapshot;
    chains: ShowChain[];
  }
  /**
   * The chains exactly as `kfn show --json` prints them, read in this process (the same
   * readLiveState + renderJson, without a ~0.5 s CLI start per check).
   */
  async function liveChains(): Promise<ShowChain[]> {
    const { Engine } = await import('../../src/engine/index.js');
    const { renderLiveJson } = await import('../../src/views/index.js');
    const engine = new Engine({ paths: { pinRoot: env.pinRoot, stateDir: env.stateDir } });
    return parseShow(renderLiveJson(engine.readLive())).chains;
  }

  async function world(): Promise<World> {
    const w = { bpf: snapshot(), chains: show(env).chains };
    assert.deepEqual(await liveChains(), w.chains, 'the in-process view equals kfn show --json');
    return w;
  }

  const journalLeft = (): string[] => fs.readdirSync(env.stateDir).filter((f) => f.startsWith('journal'));

  /** Runs kfn like runKfn, but also reports the signal that ended it. */
  function runRaw(args: string[], extraEnv: Record<string, string>): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
    const e: NodeJS.ProcessEnv = { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1', ...extraEnv };
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: e, input: '', encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  /** S0 applied and converged; returns its picture. */
  async function resetToS0(): Promise<World> {
    kfnExpect(env, ['apply', s0, '--auto-approve'], 0);
    kfnExpect(env, ['plan', s0, '--detailed-exitcode'], 0);
    assert.deepEqual(journalLeft(), []);
    return world();
  }

  /** The kernel (bpftool ids, pins, kfn show) equals `w`. */
  async function assertSame(w: World, what: string): Promise<void> {
    const d = await waitSameKernel(w.bpf, env.pinRoot);
    assert.ok(isEmptyDiff(d), `${what}: bpftool prog/map/link ids or pins differ from S0:\n${JSON.stringify(d, null, 2)}`);
    assert.deepEqual(await liveChains(), w.chains, `${what}: kfn show --json differs from S0`);
  }

  /**
   * Every prog, map and link that appeared since `w` (and is not someone else's) is
   * reached from a pin under the pin root: pin -> prog/map/link, link -> prog, prog -> maps.
   */
  async function assertNoOrphans(w: World, what: string): Promise<void> {
    const deadline = Date.now() + FREE_WAIT_MS;
    let last: { d: KernelDiff; stray: Record<string, number[]> } | undefined;
    for (;;) {
      const now = snapshot();
      const d = diffKernel(w.bpf, now, env.pinRoot);
      if (Object.values(d.added).every((l) => l.length === 0)) return; // nothing new, nothing orphaned
      const reached = pinnedClosure(now);
      const stray = {
        progs: d.added.progs.filter((id) => !reached.progs.has(id)),
        maps: d.added.maps.filter((id) => !reached.maps.has(id)),
        links: d.added.links.filter((id) => !reached.links.has(id)),
      };
      last = { d, stray };
      if (Object.values(stray).every((l) => l.length === 0)) return;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${what}: objects not reached from any pin under ${env.pinRoot} (orphans): ${JSON.stringify(last.stray)}`);
  }

  /** Opens every pin under the pin root with bpftool and follows link -> prog -> maps. */
  function pinnedClosure(s: BpfSnapshot): { progs: Set<number>; maps: Set<number>; links: Set<number> } {
    const out = { progs: new Set<number>(), maps: new Set<number>(), links: new Set<number>() };
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          walk(p);
          continue;
        }
        const kind = p.endsWith('/link') ? 'link' : p.endsWith('/prog') || p.endsWith('/root') ? 'prog' : 'map';
        const o = bpftoolJson([kind, 'show', 'pinned', p]) as { id: number; prog_id?: number; map_ids?: number[] };
        if (kind === 'link') {
          out.links.add(o.id);
          if (o.prog_id) out.progs.add(o.prog_id);
        } else if (kind === 'prog') {
          out.progs.add(o.id);
          for (const m of o.map_ids ?? []) out.maps.add(m);
        } else out.maps.add(o.id);
      }
    };
    if (fs.existsSync(env.pinRoot)) walk(env.pinRoot);
    for (const id of out.progs) for (const m of s.progs.get(id)?.refs.maps ?? []) out.maps.add(m);
    return out;
  }

  before(() => {
    // S0 and S1 are two versions of one configuration: one stack (docs/gitops.md).
    process.env.KFN_STACK = 'crash-test';
    env = createTestEnv('crash');
    sb.up();
    // A second interface in nsA (a veth pair with both ends there; no traffic crosses it).
    sb.ip(sb.nsA, ['link', 'add', DUMMY, 'type', 'veth', 'peer', 'name', `${DUMMY}p`]);
    sb.ip(sb.nsA, ['link', 'set', DUMMY, 'up']);
    s0 = manifestDir('s0', chainsS0());
    s1 = manifestDir('s1', chainsS1());
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  let killSteps = 0;

  test('SIGKILL after step N, for every N: the next command recovers to S0 or S1, no orphans, no journal', async (t) => {
    let w = await resetToS0();
    assert.deepEqual(
      w.chains.map((c) => `${c.chainName}:${c.instances.map((i) => i.name).join(',')}`).sort(),
      ['edge:a,b,c', 'gone-t:h', 'gone-x:g', 'in:p,q'],
    );
    const p = kfnExpect(env, ['plan', s1, '--detailed-exitcode'], 2);
    assert.match(p.stdout, /Plan: \d+ to add, \d+ to change, \d+ to replace, \d+ to destroy\./);

    const args = ['--log-level', 'info', '--log-format', 'json', 'apply', s1, '--auto-approve'];
    const outcomes: string[] = [];
    let stepLog: string[] = [];
    let wIsCurrent = true;
    for (let n = 1; ; n++) {
      assert.ok(n <= MAX_STEPS, `the plan should have fewer than ${MAX_STEPS} steps`);
      if (!wIsCurrent) w = await resetToS0();
      const what = `killed after step ${n}`;
      const r = runRaw(args, { KFN_TEST_KILL_AFTER_STEP: String(n) });
      if (r.status === 0) {
        killSteps = n - 1; // the kill point lies past the last step: apply completed
        // The engine's step records (they carry `step`); other info lines (the plan's size) are not steps.
        stepLog = r.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg: string; step?: number })
          .filter((rec) => rec.step !== undefined)
          .map((rec) => rec.msg);
        break;
      }
      assert.equal(r.signal, 'SIGKILL', `${what}: apply should die by SIGKILL\n${describeRun(args, { code: r.status, stdout: r.stdout, stderr: r.stderr })}`);
      assert.deepEqual(journalLeft(), ['journal.json'], `${what}: the killed apply leaves its journal`);

      const planArgs = ['plan', s1, '--json', '--detailed-exitcode'];
      const pr = runKfn(env, planArgs);
      assert.ok(pr.code === 0 || pr.code === 2, describeRun(planArgs, pr));
      assert.match(pr.stderr, /recovered an interrupted apply \(pid \d+, /, `${what}: ${pr.stderr}`);
      JSON.parse(pr.stdout);
      assert.deepEqual(journalLeft(), [], `${what}: recovery removes the journal`);
      await assertNoOrphans(w, what);

      if (pr.code === 2) {
        // Rolled back: S0 exactly.
        await assertSame(w, what);
        outcomes.push('S0');
        wIsCurrent = true;
      } else {
        // Rolled forward: S1 completely (the plan for S1 is empty).
        kfnExpect(env, ['plan', s1, '--detailed-exitcode'], 0);
        outcomes.push('S1');
        wIsCurrent = false;
      }
    }
    // The info log of the completed apply names each step, then the release phase.
    const released = stepLog.filter((m) => /^(detach and )?release /.test(m));
    assert.equal(stepLog.length - released.length, killSteps, `one log line per step:\n${stepLog.join('\n')}`);
    assert.ok(killSteps >= 15, `S0 -> S1 had only ${killSteps} steps:\n${stepLog.join('\n')}`);
    for (const gone of ['gone-x', 'gone-t']) assert.ok(released.some((m) => m.startsWith(`detach and release chain "${gone}"`)), `${gone} is detached after the commit point:\n${stepLog.join('\n')}`);
    t.diagnostic(`killed after each of ${killSteps} steps; outcomes: ${outcomes.join(' ')}`);
    t.diagnostic(`steps: ${stepLog.join(' | ')}`);
    // The last run (kill point past the end) applied S1 completely, and every object it
    // created is reached from a pin (the pin walk has real work here: S1's new programs).
    assert.deepEqual(journalLeft(), []);
    await assertNoOrphans(w, 'after the completed apply');
    kfnExpect(env, ['plan', s1, '--detailed-exitcode'], 0);
    assert.deepEqual(
      show(env)
        .chains.map((c) => `${c.chainName}:${c.instances.map((i) => i.name).join(',')}`)
        .sort(),
      ['edge:c,b,d,a', 'in:q,p', 'out:e,f'],
    );
  });

  test('fault before step N, for every N: exit 1 and S0 exactly', async (t) => {
    const args = ['apply', s1, '--auto-approve'];
    let steps = 0;
    const w = await resetToS0();
    for (let n = 1; ; n++) {
      assert.ok(n <= MAX_STEPS, `the plan should have fewer than ${MAX_STEPS} steps`);
      const what = `fault before step ${n}`;
      const r = runKfn(env, args, { env: { KFN_TEST_FAIL_AT_STEP: String(n) } });
      if (r.code === 0) {
        steps = n - 1;
        break;
      }
      assert.equal(r.code, 1, describeRun([`KFN_TEST_FAIL_AT_STEP=${n}`, ...args], r));
      assert.match(r.stderr, new RegExp(`^error\\[INJECTED_FAULT\\]: injected failure at step ${n}\\b`, 'm'), r.stderr);
      assert.match(r.stderr, /The kernel is back to the state before apply\./, `${what}:\n${r.stderr}`);
      assert.deepEqual(journalLeft(), [], `${what}: no journal after a rollback`);
      await assertSame(w, what);
    }
    if (killSteps) assert.equal(steps, killSteps, 'both loops see the same number of steps');
    t.diagnostic(`fault injected before each of ${steps} steps, each rolled back to S0`);
    kfnExpect(env, ['plan', s1, '--detailed-exitcode'], 0);
  });
});
