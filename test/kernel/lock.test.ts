/**
 * One apply at a time: the flock on KFN_STATE_DIR/lock.
 *
 *  (a) while a helper process holds the lock (taken through src/engine/lock.ts), `kfn
 *      apply` fails at once with error[LOCKED] naming the holder's pid, command and start
 *      time; `kfn apply --lock-timeout 10s` waits, and runs only once the holder let go.
 *  (b) two `kfn apply --lock-timeout 30s` started together (lined up behind the helper,
 *      so both really wait and then race for the lock) on different chains, each in its
 *      own pin root, one state dir: both exit 0, their kernel steps never interleave,
 *      both chains end converged.
 *  (b') the same on ONE pin root with two manifests that disagree: an apply owns the
 *      whole pin root, so the one that ran last wins, completely.
 *  (c) `kfn plan` and `kfn show` work while the lock is held (read-only), and leave an
 *      interrupted apply's journal alone until the lock is free.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox } from '../helpers/sandbox.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, show, type KfnEnv } from '../helpers/kfn.js';

const skip = kernelGate();

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock ms when it was started and when it exited. */
  t0: number;
  t1: number;
}

/** Starts the built CLI without blocking the event loop. */
function startKfn(k: KfnEnv, args: string[]): { child: ChildProcess; done: Promise<Done> } {
  const env: NodeJS.ProcessEnv = { ...process.env, KFN_PIN_ROOT: k.pinRoot, KFN_STATE_DIR: k.stateDir, NO_COLOR: '1' };
  delete env.KFN_TEST_FAIL_AT_STEP;
  delete env.KFN_TEST_KILL_AFTER_STEP;
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000); // bound: never hang the suite
  const done = new Promise<Done>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, t0, t1: Date.now() });
    }),
  );
  return { child, done };
}

/** Times (ms) of the executor's step lines in a `--log-format json --log-level info` run (level names, ISO times). */
function stepTimes(stderr: string): number[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; time: string; msg: string; step?: number })
    .filter((l) => l.level === 'info' && typeof l.step === 'number')
    .map((l) => Date.parse(l.time));
}

/**
 * A process that takes the lock through the project's own module, prints
 * {"locked":..,"pid":..,"startedAt":..}, and lets go when it reads a line on stdin
 * (printing {"released":<ms>}) or after 20 s at the latest.
 */
class LockHolder {
  readonly child: ChildProcess;
  private out = '';
  readonly info: Promise<{ pid: number; startedAt: string; command: string }>;

  constructor(stateDir: string) {
    const lockModule = path.join(REPO_ROOT, 'src', 'engine', 'lock.ts');
    const code = `
      const fs = await import('node:fs');
      const { acquireLock } = await import(${JSON.stringify(lockModule)});
      const dir = ${JSON.stringify(stateDir)};
      const lock = await acquireLock(dir, 'kfn apply test-holder');
      const holder = JSON.parse(fs.readFileSync(dir + '/lock', 'utf8'));
      process.stdout.write(JSON.stringify({ locked: true, ...holder }) + '\\n');
      const release = () => {
        lock.release();
        process.stdout.write(JSON.stringify({ released: Date.now() }) + '\\n');
        process.exit(0);
      };
      process.stdin.on('data', release);
      setTimeout(release, 20000);
    `;
    this.child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    this.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.info = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lock holder did not lock within 15 s: ${err}`)), 15_000);
      this.child.stdout!.on('data', (d: Buffer) => {
        this.out += d.toString();
        const line = this.out.split('\n').find((l) => l.includes('"locked"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { pid: number; startedAt: string; command: string });
        }
      });
      this.child.on('exit', (c) => {
        clearTimeout(timer);
        reject(new Error(`lock holder exited (${c}) before locking: ${err}`));
      });
    });
    this.info.catch(() => {});
  }

  /** Lets go of the lock; resolves with the time it did. */
  async release(): Promise<number> {
    const exited = new Promise<void>((r) => (this.child.exitCode !== null ? r() : this.child.on('exit', () => r())));
    this.child.stdin!.end('release\n');
    await exited;
    const line = this.out.split('\n').find((l) => l.includes('"released"'));
    assert.ok(line, `lock holder printed no release: ${this.out}`);
    return (JSON.parse(line) as { released: number }).released;
  }

  /** Cleanup path: the process we started, by pid, if it still runs. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
  }
}

/** Waits (bounded) until process `pid` has `file` open: it is in acquireLock's wait loop. */
async function waitHasOpen(pid: number, file: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let open = false;
    try {
      open = fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
        } catch {
          return false;
        }
      });
    } catch {
      /* not started yet, or gone */
    }
    if (open) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} never opened ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('lock: one apply at a time per state dir', { skip, timeout: 150_000 }, () => {
  const sb = new Sandbox('kt-lock');
  let env: TestEnv;
  /** A second kfn installation (own pin root) that shares env's state dir, hence its lock. */
  let env2: TestEnv;
  let shared2: KfnEnv;
  const holders: LockHolder[] = [];
  const children: ChildProcess[] = [];
  let mA = '';
  let mB = '';
  let m1 = '';
  let m2 = '';

  const edge = (functions: ChainSpec['functions']): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });
  const count = { name: 'count', function: 'counter' };
  const drop = (ip: string) => ({ name: 'drop', function: 'blocklist', maps: { blocked_v4: { [ip]: 1 } } });

  /** A manifest directory of its own (objects inside it). */
  function manifestDir(base: TestEnv, name: string, chains: ChainSpec[]): string {
    const dir = path.join(base.stateDir, name);
    fs.mkdirSync(path.join(dir, 'objects'), { recursive: true });
    for (const o of fs.readdirSync(path.join(base.manifestDir, 'objects'))) fs.copyFileSync(path.join(base.manifestDir, 'objects', o), path.join(dir, 'objects', o));
    fs.writeFileSync(path.join(dir, 'functions.yaml'), functionsYaml());
    for (const c of chains) fs.writeFileSync(path.join(dir, `chain-${c.name}.yaml`), chainYaml(c));
    return dir;
  }

  const lockFile = (): string => path.join(env.stateDir, 'lock');
  const journal = (): string => path.join(env.stateDir, 'journal.json');
  const hold = async (): Promise<{ h: LockHolder; info: { pid: number; startedAt: string; command: string } }> => {
    const h = new LockHolder(env.stateDir);
    holders.push(h);
    return { h, info: await h.info };
  };

  before(() => {
    // m-a, m-1 and m-2 are versions of one configuration: one stack (docs/gitops.md).
    process.env.KFN_STACK = 'lock-test';
    env = createTestEnv('lock');
    env2 = createTestEnv('lock2');
    shared2 = { pinRoot: env2.pinRoot, stateDir: env.stateDir };
    sb.up();
    mA = manifestDir(env, 'm-a', [edge([count, drop('198.18.0.3/32')])]);
    mB = manifestDir(env2, 'm-b', [{ name: 'in', hook: 'tc-ingress', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'fs', function: 'flowstats' }] }]);
    m1 = manifestDir(env, 'm-1', [edge([drop('198.18.0.2/32'), count])]);
    m2 = manifestDir(env, 'm-2', [
      edge([count, drop('198.18.0.3/32')]),
      { name: 'far', hook: 'tc-ingress', netns: sb.nsB, interfaces: [sb.ifB], functions: [{ name: 'fs', function: 'flowstats' }] },
    ]);
  });
  after(() => {
    for (const h of holders) h.kill();
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    cleanupTestEnv(env2); // destroys what is under its pin root (with its own state dir), then removes both
    cleanupTestEnv(env);
    sb.down();
  });

  test('(a) a held lock: apply fails at once naming the holder; --lock-timeout waits for it; (c) plan and show still work', async (t) => {
    const { h, info } = await hold();
    assert.equal(info.pid, h.child.pid, 'the holder is the process we started');
    assert.equal(info.command, 'kfn apply test-holder');

    // Without a timeout: error[LOCKED] naming pid, command and start time, at once.
    const args = ['apply', mA, '--auto-approve'];
    const t0 = Date.now();
    const r = runKfn(env, args);
    const failMs = Date.now() - t0;
    assert.equal(r.code, 1, describeRun(args, r));
    assert.match(r.stderr, /^error\[LOCKED\]: /m, r.stderr);
    assert.ok(
      r.stderr.includes(`another kfn apply holds the lock: pid ${info.pid} (kfn apply test-holder, started ${info.startedAt})`),
      `the error names the holder's pid, command and start time:\n${r.stderr}`,
    );
    assert.match(r.stderr, /hint: .*--lock-timeout/);
    assert.ok(failMs < 10_000, `fails without waiting (took ${failMs} ms)`);
    assert.deepEqual(show(env).chains, [], 'nothing was applied');
    assert.ok(!fs.existsSync(journal()), 'no journal was started');

    // (c) read-only commands work while the lock is held.
    const p = kfnExpect(env, ['plan', mA], 0);
    assert.match(p.stdout, /Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy\./, p.stdout);
    kfnExpect(env, ['plan', mA, '--detailed-exitcode'], 2);
    kfnExpect(env, ['show', '--json'], 0);

    // With a timeout: waits while the holder holds, runs after it let go.
    const waiting = startKfn(env, ['--log-level', 'info', '--log-format', 'json', 'apply', mA, '--auto-approve', '--lock-timeout', '10s']);
    children.push(waiting.child);
    await waitHasOpen(waiting.child.pid!, lockFile());
    await new Promise((res) => setTimeout(res, 1000)); // it keeps waiting, it does not fail
    assert.equal(waiting.child.exitCode, null, 'apply --lock-timeout 10s is still waiting');
    assert.ok(!fs.existsSync(journal()), 'and has not started changing the kernel');
    const releasedAt = await h.release();
    const d = await waiting.done;
    assert.equal(d.code, 0, `apply --lock-timeout 10s -> ${d.code}\n${d.stdout}\n${d.stderr}`);
    const steps = stepTimes(d.stderr);
    assert.ok(steps.length >= 3, `the apply logged its steps:\n${d.stderr}`);
    assert.ok(Math.min(...steps) >= releasedAt, `first step at ${Math.min(...steps)}, lock released at ${releasedAt}`);
    assert.ok(d.t1 - d.t0 >= releasedAt - d.t0 && releasedAt - d.t0 >= 1000, `apply waited ${releasedAt - d.t0} ms for the holder`);
    t.diagnostic(`LOCKED after ${failMs} ms; --lock-timeout apply waited ${releasedAt - d.t0} ms, done ${d.t1 - releasedAt} ms after the release`);

    kfnExpect(env, ['plan', mA, '--detailed-exitcode'], 0);
    assert.ok(!fs.existsSync(journal()));
  });

  test('(c) an interrupted apply is recovered only once the lock is free; plan meanwhile leaves its journal alone', async () => {
    // Leave a journal: kill an apply after its first step (m-1 reorders edge).
    const killed = runKfn(env, ['apply', m1, '--auto-approve'], { env: { KFN_TEST_KILL_AFTER_STEP: '1' } });
    assert.equal(killed.code, null, `killed by SIGKILL:\n${killed.stderr}`);
    assert.ok(fs.existsSync(journal()), 'the killed apply left its journal');

    const { h } = await hold();
    // The half-done apply shows (its loaded copy is an orphan), but nothing is touched.
    const p = kfnExpect(env, ['plan', mA], 0);
    assert.match(p.stderr, /an apply is in progress/, p.stderr);
    assert.doesNotMatch(p.stderr, /recovered/);
    assert.ok(fs.existsSync(journal()), 'plan does not recover while another process holds the lock');
    await h.release();

    const q = kfnExpect(env, ['plan', mA, '--detailed-exitcode'], 0);
    assert.match(q.stderr, /recovered an interrupted apply/, q.stderr);
    assert.ok(!fs.existsSync(journal()));
  });

  test('(b) two applies started together on different chains (two pin roots, one state dir): both succeed, one after the other', async (t) => {
    kfnExpect(env, ['destroy', '--all', '--auto-approve'], 0);
    assert.deepEqual(show(env).chains, []);
    assert.deepEqual(show(shared2).chains, []);

    // Line both up behind the helper so that both really wait, then race for the lock.
    const { h } = await hold();
    const flags = ['--log-level', 'info', '--log-format', 'json'];
    const a = startKfn(env, [...flags, 'apply', mA, '--auto-approve', '--lock-timeout', '30s']);
    const b = startKfn(shared2, [...flags, 'apply', mB, '--auto-approve', '--lock-timeout', '30s']);
    children.push(a.child, b.child);
    await Promise.all([waitHasOpen(a.child.pid!, lockFile()), waitHasOpen(b.child.pid!, lockFile())]);
    const releasedAt = await h.release();
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, `apply m-a -> ${ra.code}\n${ra.stdout}\n${ra.stderr}`);
    assert.equal(rb.code, 0, `apply m-b -> ${rb.code}\n${rb.stdout}\n${rb.stderr}`);

    const sa = stepTimes(ra.stderr);
    const sbt = stepTimes(rb.stderr);
    assert.ok(sa.length && sbt.length, 'both changed the kernel');
    const [first, second] = Math.min(...sa) < Math.min(...sbt) ? [sa, sbt] : [sbt, sa];
    assert.ok(Math.min(...first) >= releasedAt);
    assert.ok(Math.max(...first) <= Math.min(...second), `steps interleaved: [${first}] vs [${second}]`);
    t.diagnostic(`${first === sa ? 'm-a' : 'm-b'} went first; steps ${Math.min(...first)}..${Math.max(...first)} then ${Math.min(...second)}..${Math.max(...second)}`);

    kfnExpect(env, ['plan', mA, '--detailed-exitcode'], 0);
    kfnExpect(shared2, ['plan', mB, '--detailed-exitcode'], 0);
    assert.deepEqual(
      show(env).chains.map((c) => `${c.chainName}@${c.attachment.hook}`),
      ['edge@xdp'],
    );
    assert.deepEqual(
      show(shared2).chains.map((c) => `${c.chainName}@${c.attachment.hook}`),
      ['in@tc-ingress'],
    );
    assert.ok(!fs.existsSync(journal()));
    kfnExpect(shared2, ['destroy', '--all', '--auto-approve'], 0);
  });

  test("(b') two applies started together on ONE pin root with manifests that disagree: the later one wins, whole", async (t) => {
    // State: m-a (edge [count, drop .3]). m-1: edge [drop .2, count]. m-2: edge as m-a plus chain "far" in nsB.
    kfnExpect(env, ['plan', mA, '--detailed-exitcode'], 0);
    const { h } = await hold();
    const flags = ['--log-level', 'info', '--log-format', 'json'];
    const x = startKfn(env, [...flags, 'apply', m1, '--auto-approve', '--lock-timeout', '30s']);
    const y = startKfn(env, [...flags, 'apply', m2, '--auto-approve', '--lock-timeout', '30s']);
    children.push(x.child, y.child);
    await Promise.all([waitHasOpen(x.child.pid!, lockFile()), waitHasOpen(y.child.pid!, lockFile())]);
    await h.release();
    const [rx, ry] = await Promise.all([x.done, y.done]);
    assert.equal(rx.code, 0, `apply m-1 -> ${rx.code}\n${rx.stdout}\n${rx.stderr}`);
    assert.equal(ry.code, 0, `apply m-2 -> ${ry.code}\n${ry.stdout}\n${ry.stderr}`);
    const sx = stepTimes(rx.stderr);
    const sy = stepTimes(ry.stderr);
    assert.ok(sx.length && sy.length, 'both changed the kernel (each found the other\'s state to change)');
    const xFirst = Math.min(...sx) < Math.min(...sy);
    const [first, second] = xFirst ? [sx, sy] : [sy, sx];
    assert.ok(Math.max(...first) <= Math.min(...second), `steps interleaved: [${first}] vs [${second}]`);
    const [winner, loser] = xFirst ? [m2, m1] : [m1, m2];
    kfnExpect(env, ['plan', winner, '--detailed-exitcode'], 0);
    kfnExpect(env, ['plan', loser, '--detailed-exitcode'], 2);
    assert.ok(!fs.existsSync(journal()));
    t.diagnostic(`${xFirst ? 'm-1' : 'm-2'} ran first, ${path.basename(winner)} is what runs now`);
  });
});
