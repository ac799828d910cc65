/**
 * The example CI workflow (examples/deploy/ci.yml) runs `kfn test` on pull requests, and
 * its command line is one kfn accepts: run as written (without `sudo`) in a checkout
 * laid out as the workflow expects (manifests/, tests/packets/), it gets past argument
 * parsing (an empty checkout: the manifests are missing, not the options), and, with
 * the kernel available, runs the example packet cases: exit 0, the JUnit report written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import YAML from 'yaml';
import { kernelUnavailableReason } from '../helpers/kernel-gate.js';
import { CLI, OBJECTS, REPO_ROOT } from '../helpers/paths.js';

const WORKFLOW = path.join(REPO_ROOT, 'examples', 'deploy', 'ci.yml');
const EXAMPLES = path.join(REPO_ROOT, 'examples');

interface Workflow {
  jobs: Record<string, { if?: string; steps: { run?: string }[] }>;
}

/** Every `kfn test` step: its job and its words (the workflow's lines are plain words, no shell syntax). */
function kfnTestSteps(): { job: string; condition: string | undefined; argv: string[] }[] {
  const wf = YAML.parse(fs.readFileSync(WORKFLOW, 'utf8')) as Workflow;
  return Object.entries(wf.jobs).flatMap(([job, j]) =>
    j.steps
      .map((s) => s.run)
      .filter((run): run is string => run !== undefined && /\bkfn test\b/.test(run))
      .map((run) => {
        assert.doesNotMatch(run, /["'$|&;<>`\\]/, `${job}: keep the kfn test line plain words so this test reads it as the shell would: ${run}`);
        const words = run.trim().split(/\s+/);
        const argv = words[0] === 'sudo' ? words.slice(1) : words;
        assert.equal(argv[0], 'kfn', run);
        return { job, condition: j.if, argv: argv.slice(1) };
      }),
  );
}

const run = (cwd: string, argv: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...argv], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', KFN_PIN_ROOT: `/sys/fs/bpf/kfn-test-ci-${process.pid}`, KFN_STATE_DIR: path.join(cwd, '.kfn-state') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('example CI workflow: kfn test on pull requests', { skip: fs.existsSync(CLI) ? false : `${CLI} missing (run npm run build)` }, () => {
  const dirs: string[] = [];
  const checkout = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `kfn-ci-${process.pid}-`));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('the workflow has a kfn test step that runs on pull requests', () => {
    const steps = kfnTestSteps();
    assert.ok(steps.length >= 1, 'a step runs kfn test');
    for (const s of steps) {
      assert.match(s.condition ?? '', /pull_request/, `job ${s.job} runs on pull requests`);
      assert.ok(s.argv.includes('--packets'), `job ${s.job} names the packet cases`);
    }
  });

  test('its command line parses: in an empty checkout kfn reports the missing manifests, not an option', () => {
    for (const s of kfnTestSteps()) {
      const r = run(checkout(), s.argv);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error\[MANIFEST_NOT_FOUND\]: /, `kfn ${s.argv.join(' ')}:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /unknown option|missing required argument|too many arguments/);
    }
  });

  const noKernel = kernelUnavailableReason({ objects: [...OBJECTS, 'shadow_mark.bpf.o'] });
  test('in a checkout of the examples, the step runs the packet cases and writes the JUnit report', { skip: noKernel ? `kernel part skipped: ${noKernel}` : false }, () => {
    const repo = checkout();
    const manifests = path.join(repo, 'manifests');
    fs.mkdirSync(manifests, { recursive: true });
    // The demo chain uses built-in functions: the checkout needs no KernelFunction and no object.
    fs.copyFileSync(path.join(EXAMPLES, 'demo', 'chain.yaml'), path.join(manifests, 'chain.yaml'));
    fs.cpSync(path.join(EXAMPLES, 'packets'), path.join(repo, 'tests', 'packets'), { recursive: true });

    for (const s of kfnTestSteps()) {
      const r = run(repo, s.argv);
      assert.equal(r.code, 0, `kfn ${s.argv.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /\nOK\. 9 cases: 9 passed, 0 failed/);
      const junit = s.argv[s.argv.indexOf('--junit') + 1];
      if (s.argv.includes('--junit')) assert.match(fs.readFileSync(path.join(repo, junit!), 'utf8'), /<testsuites name="kfn test" tests="9" failures="0" errors="0">/);
    }
  });
});
