/**
 * What the CLI writes for machines and terminals, against the real kernel.
 *
 * - `--log-format json`: every stderr line is a JSON record with a level name, an ISO
 *   time and a message; step records carry step/of/kind and the chain's name, netns,
 *   interface and hook (and the instance), every record of an apply carries the Git
 *   revision of the manifests; a failed apply ends with structured error records.
 * - Colors: on a terminal (a pty from script(1)) plan output is colored; `--no-color` and
 *   `NO_COLOR=1` each remove every escape code.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runKfn, type KfnEnv } from '../helpers/kfn.js';
import { CLI } from '../helpers/paths.js';
import { kernelUnavailable, sandboxPrefix, sandboxUp, skipUnlessKernel, type Sandbox } from '../helpers/traffic-env.js';

const unavailable = kernelUnavailable(['git', 'script']);
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

interface LogRecord {
  level: string;
  time: string;
  msg: string;
  [k: string]: unknown;
}

function records(stderr: string): LogRecord[] {
  return stderr
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      let r: LogRecord;
      try {
        r = JSON.parse(l) as LogRecord;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
      assert.ok(LEVELS.includes(r.level), `level ${String(r.level)} in ${l}`);
      assert.ok(typeof r.time === 'string' && !Number.isNaN(Date.parse(r.time)) && /T.*Z$/.test(r.time), `time in ${l}`);
      assert.equal(typeof r.msg, 'string', l);
      return r;
    });
}

describe('CLI output: JSON logs with fields, colors only when wanted', { skip: skipUnlessKernel(unavailable), timeout: 120_000 }, () => {
  const k: KfnEnv = { pinRoot: `/sys/fs/bpf/kfn-test-output-${process.pid}`, stateDir: `/tmp/kfn-test-output-${process.pid}` };
  const dir = `${k.stateDir}-manifests`;
  let sb: Sandbox | undefined;
  let head = '';

  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=kfn test', '-c', 'user.email=test@kfn.invalid', ...args], { encoding: 'utf8', timeout: 10_000 }).trim();

  const writeChain = (prefixes: string[]): void => {
    fs.writeFileSync(
      path.join(dir, 'chain.yaml'),
      `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  netns: ${sb!.a}
  interfaces: [${sb!.a0}]
  functions:
    - name: drop-bad
      function: blocklist@1.0.0
      maps: { blocked_v4: { ${prefixes.map((p) => `"${p}": 1`).join(', ')} } }
    - { name: tail, function: counter }
`,
    );
    git('add', '-A');
    git('commit', '-q', '-m', `block ${prefixes.join(' ')}`);
    head = git('rev-parse', 'HEAD');
  };

  before(() => {
    for (const d of [k.pinRoot, k.stateDir, dir]) fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    sb = sandboxUp(sandboxPrefix('ktout'), '198.18.64');
    git('init', '-q');
    writeChain(['198.18.64.3/32']);
  });

  after(() => {
    if (fs.existsSync(k.pinRoot)) runKfn(k, ['destroy', '--all', '--auto-approve'], { timeoutMs: 30_000 });
    sb?.down();
    for (const d of [k.pinRoot, k.stateDir, dir]) fs.rmSync(d, { recursive: true, force: true });
  });

  test('apply under --log-format json: records with level names, times, step and chain fields, the revision', () => {
    const r = runKfn(k, ['--log-format', 'json', '--log-level', 'info', 'apply', dir, '--auto-approve']);
    assert.equal(r.code, 0, r.stderr);
    const recs = records(r.stderr);
    const steps = recs.filter((x) => typeof x.step === 'number');
    assert.ok(steps.length >= 3, r.stderr);
    for (const s of steps) {
      assert.equal(s.level, 'info');
      assert.deepEqual([s.chain, s.netns, s.interface, s.hook, s.revision], ['edge', sb!.a, sb!.a0, 'xdp', head], JSON.stringify(s));
      assert.equal(typeof s.of, 'number');
      assert.equal(typeof s.kind, 'string');
    }
    assert.ok(steps.some((s) => s.instance === 'drop-bad') && steps.some((s) => s.instance === 'tail'), 'instance steps name their instance');
    const plan = recs.find((x) => x.msg === 'plan made');
    assert.ok(plan, r.stderr);
    assert.deepEqual([plan!.add, plan!.destroy, plan!.revision], [3, 0, head]);
    const done = recs.find((x) => x.msg === 'apply complete');
    assert.ok(done, r.stderr);
    assert.deepEqual([done!.verb, done!.revision, done!.steps], ['apply', head, steps.length]);
  });

  test('a failed apply ends with structured error records', () => {
    writeChain(['198.18.64.3/32', '198.18.64.128/25']);
    const r = runKfn(k, ['--log-format', 'json', 'apply', dir, '--auto-approve'], { env: { KFN_TEST_FAIL_AT_STEP: '1' } });
    assert.equal(r.code, 1, r.stderr);
    const recs = records(r.stderr);
    const rolled = recs.find((x) => x.msg === 'apply failed; rolled back');
    assert.ok(rolled, r.stderr);
    assert.deepEqual([rolled!.level, rolled!.revision, rolled!.restored, rolled!.completed], ['error', head, true, 0]);
    assert.ok(Array.isArray(rolled!.undone), JSON.stringify(rolled));
    const last = recs.at(-1)!;
    assert.equal(last.level, 'error');
    assert.equal(last.code, 'INJECTED_FAULT');
  });

  test('colors on a terminal only: --no-color and NO_COLOR=1 remove every escape code', () => {
    const onTty = (args: string[], env: Record<string, string> = {}): string => {
      const cmd = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
      const e: NodeJS.ProcessEnv = { ...process.env, KFN_PIN_ROOT: k.pinRoot, KFN_STATE_DIR: k.stateDir, TERM: 'xterm', ...env };
      delete e.NO_COLOR;
      Object.assign(e, env);
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: e, timeout: 60_000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Plan: 0 to add, 1 to change/);
      return r.stdout;
    };
    assert.match(onTty(['plan', dir]), /\x1b\[/);
    assert.doesNotMatch(onTty(['--no-color', 'plan', dir]), /\x1b\[/);
    assert.doesNotMatch(onTty(['plan', dir], { NO_COLOR: '1' }), /\x1b\[/);
  });
});
