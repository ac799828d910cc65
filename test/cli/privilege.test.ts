/**
 * Privileges and the files kfn writes.
 *
 * - Without the privileges it needs (root with every capability dropped, root without
 *   CAP_NET_ADMIN, the nobody user), every kernel command exits 1 with one `error[NOT_ROOT]`
 *   line and its hint (nobody applying root's 0600 saved plan: one MANIFEST_READ line),
 *   prints nothing on stdout, creates no state dir, and the kernel (bpftool ids and pins,
 *   kfn show, the interface's XDP program) is unchanged.
 * - KFN_STATE_DIR is created 0700 and saved plans are written 0600, even under umask 000.
 * - A saved plan that was edited or truncated is refused (PLAN_FILE_INVALID) and changes
 *   nothing; the untouched copy applies.
 * - An apply journal that was edited or cut short is refused (JOURNAL_INVALID) by every
 *   command before any work; the original journal then recovers the kernel.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { assertErrorAndHint, describeRun, kfnExpect, runKfn, show, type RunResult } from '../helpers/kfn.js';
import { isEmptyDiff, snapshot, waitSameKernel } from '../helpers/bpftool.js';
import { assertWorldUnchanged, captureWorld, type World } from '../helpers/world.js';
import { CLI } from '../helpers/paths.js';

const skip = kernelGate() || (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'setpriv (util-linux) is not installed' : false);

/** How the unprivileged runs drop their privileges (setpriv from util-linux). */
const WRAPPERS: { name: string; args: string[]; missing: RegExp }[] = [
  { name: 'root without any capability', args: ['--inh-caps=-all', '--bounding-set=-all'], missing: /without CAP_SYS_ADMIN and CAP_NET_ADMIN/ },
  { name: 'root without CAP_NET_ADMIN', args: ['--inh-caps=-all', '--bounding-set=-net_admin'], missing: /without CAP_NET_ADMIN:/ },
  { name: 'the nobody user', args: ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'], missing: /must run as root/ },
];

const mode = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');

describe('privileges, file modes, tampered plans and journals', { skip }, () => {
  const sb = new Sandbox(`kt-pv${(process.pid % 1296).toString(36).padStart(2, '0')}`);
  let env: TestEnv;
  /** createTestEnv's directory (holds the manifests); the state dir proper must not exist before the first apply. */
  let envDir = '';
  let planDir = '';

  const count: FnSpec = { name: 'count', function: 'counter' };
  const drop = (prefix: string): FnSpec => ({ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { [prefix]: 1 } } });
  const flows: FnSpec = { name: 'flows', function: 'flowstats' };
  const chain = (functions: FnSpec[]): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], mode: 'generic', functions });

  /** Runs the CLI under `umask 000`, as root. */
  function runUmask0(args: string[], extraEnv: Record<string, string> = {}): RunResult {
    const r = spawnSync('sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, CLI, ...args], {
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1', ...extraEnv },
      input: '',
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the CLI under setpriv. */
  function runAs(wrapper: string[], args: string[], stateDir = env.stateDir): RunResult {
    const r = spawnSync('setpriv', [...wrapper, process.execPath, CLI, ...args], {
      cwd: '/',
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: stateDir, NO_COLOR: '1' },
      input: '',
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const world = (): World => captureWorld(env, sb);
  const assertUnchanged = (w: World, what: string): Promise<void> => assertWorldUnchanged(env, sb, w, what);


  before(() => {
    env = createTestEnv('privilege');
    envDir = env.stateDir;
    // The state dir proper, absent until the first apply (createTestEnv made envDir for the manifests).
    env = { ...env, stateDir: `${envDir}-state` };
    fs.rmSync(env.stateDir, { recursive: true, force: true });
    planDir = path.join(envDir, 'plans');
    fs.mkdirSync(planDir, { recursive: true });
    sb.up();
  });
  after(() => {
    fs.rmSync(path.join(env?.stateDir ?? '/nonexistent', 'journal.json'), { force: true });
    cleanupTestEnv(env);
    fs.rmSync(envDir, { recursive: true, force: true });
    sb.down();
  });

  test('apply as root under umask 000 creates KFN_STATE_DIR 0700', () => {
    writeChain(env, chain([count, drop('198.18.0.3/32')]));
    assert.ok(!fs.existsSync(env.stateDir), 'the state dir does not exist before');
    const r = runUmask0(['apply', env.manifestDir, '--auto-approve']);
    assert.equal(r.code, 0, describeRun(['apply'], r));
    assert.equal(mode(env.stateDir), '0700', 'KFN_STATE_DIR mode');
    for (const f of fs.readdirSync(env.stateDir)) {
      assert.equal(Number.parseInt(mode(path.join(env.stateDir, f)), 8) & 0o077, 0, `${f} in the state dir is not readable by others (mode ${mode(path.join(env.stateDir, f))})`);
    }
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
  });

  test('without privileges every kernel command exits 1 with one NOT_ROOT line, before any work', async () => {
    const w = world();
    assert.equal(w.chains.length, 1);
    const saved = path.join(planDir, 'root.plan');
    // A saved plan with changes, made by root, for `apply FILE`.
    writeChain(env, chain([count, drop('198.18.0.2/32'), flows]));
    kfnExpect(env, ['plan', env.manifestDir, '-o', saved], 0);
    const stateBefore = fs.readdirSync(env.stateDir).map((f) => `${f}:${fs.statSync(path.join(env.stateDir, f)).mtimeMs}`).sort();
    const freshState = `${envDir}-never`;

    const commands: string[][] = [
      ['plan', env.manifestDir],
      ['plan', env.manifestDir, '--detailed-exitcode', '--json'],
      ['plan', env.manifestDir, '-o', path.join(planDir, 'unprivileged.plan')],
      ['show'],
      ['show', '--stats', '--json'],
      ['apply', env.manifestDir, '--auto-approve'],
      ['apply', saved],
      ['destroy', env.manifestDir, '--auto-approve'],
      ['destroy', '--all', '--auto-approve'],
    ];
    for (const wr of WRAPPERS) {
      const probe = runAs(wr.args, ['--help']);
      if (probe.code !== 0) assert.fail(`${wr.name}: cannot even run the CLI (${CLI} unreadable?): ${probe.stderr}`);
      for (const args of commands) {
        const r = runAs(wr.args, args);
        if (args[1] === saved && wr.name === 'the nobody user') {
          // nobody cannot even read root's 0600 plan: said as such, no stack trace.
          assertErrorAndHint(r, 'MANIFEST_READ', [`(as ${wr.name})`, ...args], /cannot read file: EACCES: permission denied/);
        } else assertErrorAndHint(r, 'NOT_ROOT', [`(as ${wr.name})`, ...args], wr.missing);
        assert.equal(r.stdout, '', `nothing on stdout (as ${wr.name}): kfn ${args.join(' ')}`);
      }
      // No state dir is created for a refused command.
      const r = runAs(wr.args, ['apply', env.manifestDir, '--auto-approve'], freshState);
      assertErrorAndHint(r, 'NOT_ROOT', [`(as ${wr.name}, fresh state dir)`, 'apply']);
      assert.ok(!fs.existsSync(freshState), `${freshState} was created by a refused apply`);
    }
    assert.ok(!fs.existsSync(path.join(planDir, 'unprivileged.plan')), 'no plan file written');
    const stateAfter = fs.readdirSync(env.stateDir).map((f) => `${f}:${fs.statSync(path.join(env.stateDir, f)).mtimeMs}`).sort();
    assert.deepEqual(stateAfter, stateBefore, 'the state dir (lock, journal) is untouched');
    await assertUnchanged(w, 'after the unprivileged commands');
    // Validate needs no privileges at all.
    const v = runAs(WRAPPERS[0]!.args, ['validate', env.manifestDir]);
    assert.equal(v.code, 0, describeRun(['validate (no capabilities)'], v));
  });

  test('plan -o writes the plan 0600 under umask 000; an edited or truncated plan is refused, the original applies', async () => {
    writeChain(env, chain([count, drop('198.18.0.2/32'), flows]));
    const file = path.join(planDir, 'p.plan');
    const r = runUmask0(['plan', env.manifestDir, '-o', file]);
    assert.equal(r.code, 0, describeRun(['plan', '-o'], r));
    assert.equal(mode(file), '0600', 'saved plan mode');
    const original = fs.readFileSync(file, 'utf8');
    const w = world();

    // An edited plan: one map entry value changed, checksum left as it was.
    const doc = JSON.parse(original) as { plan: { changes: { instances: { mapChanges: { entries: { value?: string; toText?: string }[] }[] }[] }[] } };
    const entry = doc.plan.changes.flatMap((c) => c.instances).flatMap((i) => i.mapChanges).flatMap((m) => m.entries).find((e) => e.value !== undefined);
    assert.ok(entry, 'the plan writes a map entry');
    entry.value = 'ffffffff';
    entry.toText = '4294967295';
    const edited = path.join(planDir, 'edited.plan');
    fs.writeFileSync(edited, JSON.stringify(doc, null, 2) + '\n');
    assertErrorAndHint(runKfn(env, ['apply', edited]), 'PLAN_FILE_INVALID', ['apply', edited], /failed its checksum/);

    // A truncated plan.
    const truncated = path.join(planDir, 'truncated.plan');
    fs.writeFileSync(truncated, original.slice(0, Math.floor(original.length / 2)));
    assertErrorAndHint(runKfn(env, ['apply', truncated]), 'PLAN_FILE_INVALID', ['apply', truncated], /not a readable kfn plan/);

    // A plan whose checksum was edited instead.
    const badSum = path.join(planDir, 'checksum.plan');
    fs.writeFileSync(badSum, original.replace(/"checksum": "([0-9a-f])/, (_m, c: string) => `"checksum": "${c === '0' ? '1' : '0'}`));
    assertErrorAndHint(runKfn(env, ['apply', badSum]), 'PLAN_FILE_INVALID', ['apply', badSum]);

    await assertUnchanged(w, 'after the refused plans');
    kfnExpect(env, ['apply', file], 0);
    kfnExpect(env, ['plan', env.manifestDir, '--detailed-exitcode'], 0);
    assert.deepEqual(show(env).chains[0]!.instances.map((i) => i.name), ['count', 'drop', 'flows']);
  });

  test('an edited or unreadable journal is refused with JOURNAL_INVALID by every command; the original recovers', async () => {
    const w0 = world();
    writeChain(env, chain([flows, drop('198.18.0.3/32')]));
    const killed = runKfn(env, ['apply', env.manifestDir, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: '1' } });
    assert.equal(killed.code, null, `apply was killed after step 1\n${describeRun(['apply (KFN_TEST_KILL_AFTER_STEP=1)'], killed)}`);
    const journal = path.join(env.stateDir, 'journal.json');
    assert.ok(fs.existsSync(journal), 'the killed apply left its journal');
    assert.equal(Number.parseInt(mode(journal), 8) & 0o077, 0, `journal mode ${mode(journal)}`);
    const original = fs.readFileSync(journal);
    // bpftool only: `kfn show` would recover the interrupted apply.
    const w1 = snapshot();

    // The journal is a log of `<checksum> <json>` lines, one per record (src/engine/journal.ts).
    const lines = original.toString('utf8').split('\n');
    const step = lines.findIndex((l) => l.includes('"t":"intend"'));
    assert.ok(step > 0, 'the journal has the step that ran');
    const edited = lines.map((l, i) => (i === step ? l.replace('"description":"', '"description":"(edited) ') : l));
    const tampered = [
      ['edited', edited.join('\n')],
      ['cut short', original.toString('utf8').slice(0, 40)],
    ] as const;
    for (const [what, text] of tampered) {
      fs.writeFileSync(journal, text);
      for (const args of [['plan', env.manifestDir], ['show'], ['apply', env.manifestDir, '--auto-approve'], ['destroy', '--all', '--auto-approve']]) {
        const r = runKfn(env, args);
        assertErrorAndHint(r, 'JOURNAL_INVALID', [`(${what} journal)`, ...args], new RegExp(journal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      }
      assert.equal(fs.readFileSync(journal, 'utf8'), text, `the ${what} journal is left for a human`);
    }
    // Nothing was undone or changed on the strength of a bad journal.
    const d = await waitSameKernel(w1, env.pinRoot);
    assert.ok(isEmptyDiff(d), `kernel changed while the journal was invalid:\n${JSON.stringify(d, null, 2)}`);

    fs.writeFileSync(journal, original);
    const r = runKfn(env, ['plan', env.manifestDir]);
    assert.equal(r.code, 0, describeRun(['plan (recovery)'], r));
    assert.match(r.stderr, /recovered an interrupted apply/);
    assert.ok(!fs.existsSync(journal), 'recovery removed the journal');
    await assertUnchanged(w0, 'after recovery');
  });
});
