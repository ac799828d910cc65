/**
 * Apply executes the plan as written. For a run of saved plans on a live XDP chain (create,
 * reorder [a,b,c,d] -> [d,b,c,a] with copies, replace, map update, delete of one instance,
 * a mixed change, delete of the chain) next to a tc chain that never changes:
 *
 *  - the steps the plan states (`planned_steps` of `kfn plan -out=FILE --json`) are the
 *    steps `kfn apply FILE` executed (its step log lines under `--log-format json`: msg,
 *    step, of, kind), one for one and in order;
 *  - program ids before and after (`kfn show --json`) are what the plan claims: `no-op`
 *    instances keep theirs, every instance whose program changed is named with another
 *    action, reloads and replacements get a new program, in-place updates keep theirs,
 *    every released program is gone from the kernel;
 *  - progress: off a terminal, apply prints one `[n/N] step` line per step on stdout, in
 *    order; on a terminal (script(1) gives it one) one status line rewritten in place per
 *    step; under `--log-format json` none.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { spawnSync } from 'node:child_process';
import { describeRun, kfnExpect, show } from '../helpers/kfn.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { waitProgsGone } from '../helpers/bpftool.js';
import { assertMatchesSchema } from '../helpers/schemas.js';

const skip = kernelGate({ tools: ['script'] });

interface Resource {
  address: string;
  type: 'kfn_chain' | 'kfn_function_instance';
  change: { actions: string[]; before: { prog_id?: number } | null; action_reason: string | null; reasons: { code: string }[] };
}
interface Step {
  index: number;
  kind: string;
  phase: string;
  address: string;
  description: string;
}
interface PlanDoc {
  resource_changes: Resource[];
  planned_steps: Step[];
}

const LOADS = new Set(['load', 'load-copy', 'load-replacement']);
const RELOADED = new Set(['copied', 'successor_changed']);
const PROGRESS = /^\[(\d+)\/(\d+)\] (.*)$/;

describe('plan steps are the steps apply runs; program ids are what the plan claims', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('s'));
  let env: TestEnv;
  const planFile = (): string => path.join(env.stateDir, 'step.plan');
  const edgeFile = (): string => path.join(env.manifestDir, 'edge.yaml');

  const a = (blocked: Record<string, number>): FnSpec => ({ name: 'a', function: 'blocklist@1.0.0', maps: { blocked_v4: blocked } });
  const b: FnSpec = { name: 'b', function: 'counter' };
  const c: FnSpec = { name: 'c', function: 'flowstats' };
  const d = (rate: number): FnSpec => ({ name: 'd', function: 'ratelimit', globals: { rate_pps: rate, burst: 10000 } });
  const e: FnSpec = { name: 'e', function: 'counter' };
  const edge = (functions: FnSpec[]): void => void writeChain(env, { name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions }, 'edge.yaml');

  /** Program id of every instance, by its resource address. */
  const progIds = (): Map<string, number> => new Map(show(env).chains.flatMap((ch) => ch.instances.map((i) => [i.address, i.progId] as const)));

  interface Outcome {
    plan: PlanDoc;
    text: string;
    before: Map<string, number>;
    after: Map<string, number>;
  }

  /**
   * Saves the plan of the manifests, applies the saved plan and checks steps and program
   * ids; `progress`: apply with plain logs and read its progress lines instead; `tty`:
   * the same on a terminal.
   */
  async function planAndApply(what: string, opts: { progress?: boolean; tty?: boolean } = {}): Promise<Outcome> {
    const before = progIds();
    const planned = kfnExpect(env, ['plan', env.manifestDir, `-out=${planFile()}`, '--json'], 0);
    const plan = JSON.parse(planned.stdout) as PlanDoc;
    assertMatchesSchema('plan', plan, `plan (${what})`);
    const text = kfnExpect(env, ['show', planFile()], 0).stdout;
    const steps = plan.planned_steps;
    assert.ok(steps.length > 0, `${what}: the plan has steps`);
    assert.deepEqual(steps.map((s) => s.index), steps.map((_, i) => i + 1));

    if (opts.tty) {
      const out = onTerminal(['apply', planFile()]);
      const status = out.split('\r\x1b[K').slice(1, -1);
      assert.deepEqual(status.map((x) => x.replace(/ \(\d+\.\ds\)$/, '')), steps.map((s) => `[${s.index}/${steps.length}] ${s.description}`), `${what}: one status line per step\n${JSON.stringify(out)}`);
      assert.ok(status.every((x) => !x.includes('\n')), `${what}: the status line is rewritten in place`);
      assert.match(out.split('\r\x1b[K').at(-1)!, /^\s*Apply complete! /, `${what}: cleared before the summary`);
    } else {
      const args = opts.progress ? ['--log-level', 'info', 'apply', planFile()] : ['--log-format', 'json', '--log-level', 'info', 'apply', planFile()];
      const applied = kfnExpect(env, args, 0);
      const progress = applied.stdout.split('\n').filter((l) => PROGRESS.test(l));
      if (opts.progress) {
        assert.deepEqual(progress, steps.map((s) => `[${s.index}/${steps.length}] ${s.description}`), `${what}: one progress line per step, in order\n${describeRun(args, applied)}`);
      } else {
        assert.deepEqual(progress, [], `${what}: no progress lines on stdout under --log-format json`);
        const logged = applied.stderr
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as { msg: string; step?: number; of?: number; kind?: string; undo?: boolean })
          .filter((l) => l.step !== undefined);
        assert.deepEqual(
          logged.map((l) => ({ n: l.step, of: l.of, kind: l.kind, msg: l.msg })),
          steps.map((s) => ({ n: s.index, of: steps.length, kind: s.kind, msg: s.description })),
          `${what}: the steps apply executed are the planned steps, one for one and in order`,
        );
      }
    }
    const after = progIds();
    checkProgIds(what, plan, before, after);
    const released = [...before].filter(([addr, id]) => after.get(addr) !== id).map(([, id]) => id);
    assert.deepEqual(await waitProgsGone(released), [], `${what}: every released program is gone from the kernel`);
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    return { plan, text, before, after };
  }

  /** stdout of kfn run on a pseudo-terminal (script(1)), which must exit 0. */
  function onTerminal(args: string[]): string {
    const cmd = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
      cwd: REPO_ROOT,
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `script -c ${cmd} -> ${r.status}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  function checkProgIds(what: string, plan: PlanDoc, before: Map<string, number>, after: Map<string, number>): void {
    const instances = new Map(plan.resource_changes.filter((r) => r.type === 'kfn_function_instance').map((r) => [r.address, r]));
    const loadsAt = plan.planned_steps.filter((s) => LOADS.has(s.kind)).map((s) => s.address);
    const releasedAt = plan.planned_steps.filter((s) => s.kind === 'release').map((s) => s.address);
    const chainGone = plan.planned_steps.some((s) => s.kind === 'detach-release');
    for (const addr of new Set([...before.keys(), ...after.keys()])) {
      const r = instances.get(addr);
      assert.ok(r, `${what}: ${addr} is in the plan`);
      const was = before.get(addr);
      const is = after.get(addr);
      const actions = r.change.actions.join(',');
      const msg = `${what}: ${addr} (${actions}; ${r.change.reasons.map((x) => x.code).join(', ')}) prog ${was} -> ${is}`;
      if (was !== undefined) assert.equal(r.change.before?.prog_id, was, `${msg}: the plan names the live program`);
      if (was !== is) assert.notEqual(actions, 'no-op', `${msg}: a program that changed is named with an action`);
      const reloaded = r.change.reasons.some((x) => RELOADED.has(x.code));
      switch (actions) {
        case 'no-op':
          assert.equal(is, was, `${msg}: no-op keeps its program`);
          break;
        case 'create':
          assert.ok(was === undefined && is !== undefined, msg);
          break;
        case 'delete':
          assert.ok(was !== undefined && is === undefined, msg);
          break;
        case 'create,delete':
          assert.ok(was !== undefined && is !== undefined && is !== was, `${msg}: a replacement is a new program`);
          break;
        case 'update':
          if (reloaded) assert.ok(is !== undefined && is !== was, `${msg}: a reload is a new program`);
          else assert.equal(is, was, `${msg}: an update in place keeps its program`);
          break;
        default:
          assert.fail(`${msg}: unexpected actions`);
      }
      const newProgram = is !== undefined && is !== was;
      assert.equal(loadsAt.filter((x) => x === addr).length, newProgram ? 1 : 0, `${msg}: one load step per new program`);
      const oldGone = was !== undefined && is !== was;
      if (!chainGone) assert.equal(releasedAt.filter((x) => x === addr).length, oldGone ? 1 : 0, `${msg}: one release step per program let go`);
    }
  }

  const act = (o: Outcome, name: string): string => {
    const r = o.plan.resource_changes.find((x) => x.address.endsWith(`.fn.${name}`) && x.address.includes('chain.edge'));
    assert.ok(r, `edge.${name} in the plan`);
    return `${r.change.actions.join(',')}${r.change.action_reason ? ` ${r.change.action_reason}` : ''}`;
  };

  before(() => {
    env = createTestEnv('steps');
    sb.up();
    writeChain(env, { name: 'side', hook: 'tc-ingress', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'z', function: 'counter' }] }, 'side.yaml');
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('create two chains', async () => {
    edge([a({ '198.18.0.3/32': 1 }), b, c, d(100000)]);
    const o = await planAndApply('create');
    assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => act(o, n)), Array(4).fill('create instance_added'));
    assert.equal(o.after.size, 5);
  });

  test('reorder [a,b,c,d] -> [d,b,c,a]: copies of all four, b and c because their successors change', async () => {
    edge([d(100000), b, c, a({ '198.18.0.3/32': 1 })]);
    const o = await planAndApply('reorder');
    assert.deepEqual(['a', 'b', 'c', 'd'].map((n) => act(o, n)), ['update moved', 'update successor_changed', 'update successor_changed', 'update moved']);
    for (const n of ['b', 'c']) {
      assert.match(o.text, new RegExp(`^ +~ ${n} +\\S+ +[0-9a-f]{12} # reloaded as a copy sharing its maps: its successor changes$`, 'm'), `the human plan names ${n} as a reloaded copy`);
      assert.match(o.text, new RegExp(`^ +\\d+\\. load a copy of ${n} `, 'm'), `the human plan lists the copy of ${n}`);
    }
    const side = [...o.before].find(([addr]) => addr.startsWith('chain.side'))!;
    assert.equal(o.after.get(side[0]), side[1], 'the chain that does not change keeps its program');
  });

  test('replace d (a global changes): only d gets a new program; progress on a terminal', async () => {
    edge([d(200000), b, c, a({ '198.18.0.3/32': 1 })]);
    const o = await planAndApply('replace', { tty: true });
    assert.deepEqual(['d', 'b', 'c', 'a'].map((n) => act(o, n)), ['create,delete forces_replacement', 'no-op', 'no-op', 'no-op']);
  });

  test('map update of a, in place; apply reports progress off a terminal', async () => {
    edge([d(200000), b, c, a({ '198.18.0.3/32': 1, '198.18.0.4/32': 1 })]);
    const o = await planAndApply('map update', { progress: true });
    assert.deepEqual(['d', 'b', 'c', 'a'].map((n) => act(o, n)), ['no-op', 'no-op', 'no-op', 'update maps_differ']);
    assert.deepEqual(o.plan.planned_steps.map((s) => s.kind), ['update-maps', 'record', 'record']);
  });

  test('delete c: the slot of b is rewired, nothing is copied', async () => {
    edge([d(200000), b, a({ '198.18.0.3/32': 1, '198.18.0.4/32': 1 })]);
    const o = await planAndApply('delete one');
    assert.deepEqual(['d', 'b', 'a', 'c'].map((n) => act(o, n)), ['no-op', 'no-op', 'no-op', 'delete instance_removed']);
  });

  test('mixed: e created, d replaced, a updated in place, b deleted', async () => {
    edge([e, d(100000), a({ '198.18.0.3/32': 1 })]);
    const o = await planAndApply('mixed');
    assert.deepEqual(['e', 'd', 'a', 'b'].map((n) => act(o, n)), ['create instance_added', 'create,delete forces_replacement', 'update maps_differ', 'delete instance_removed']);
  });

  test('delete the chain: detached and released, the other chain untouched', async () => {
    fs.rmSync(edgeFile());
    const o = await planAndApply('delete chain');
    assert.deepEqual(['e', 'd', 'a'].map((n) => act(o, n)), Array(3).fill('delete chain_unwanted'));
    assert.deepEqual(o.plan.planned_steps.map((s) => s.kind), ['detach-release']);
    assert.deepEqual([...o.after.keys()], [...o.before.keys()].filter((k) => k.startsWith('chain.side')));
  });
});
