/**
 * Output through a pipe is complete, on success and on error paths: the CLI exits only
 * once stdout and stderr are drained (src/cli/main.ts). The reader here is slow on
 * purpose (it reads nothing for a while), so a process that exited with output still
 * buffered would lose it. The payload: a chain of two blocklists with 16384 IPv4
 * prefixes each, whose JSON plan is over 5 MB.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { cleanupTestEnv, createTestEnv, type TestEnv } from '../helpers/workspace.js';
import { kfnExpect } from '../helpers/kfn.js';

const skip = kernelGate();
const PER_MAP = 16384;

interface Piped {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with both outputs on pipes that are not read at all for `pauseMs`, then read to the end. */
async function throughSlowPipe(env: TestEnv, args: string[], extraEnv: Record<string, string> = {}, pauseMs = 1500): Promise<Piped> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await sleep(pauseMs);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const code = await closed;
  clearTimeout(killer);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

describe('pipes: every byte reaches the reader, also when the command fails', { skip, timeout: 300_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('p'));
  let env: TestEnv;

  before(() => {
    env = createTestEnv('pipes');
    sb.up();
    const lines = ['apiVersion: kfn.dev/v1alpha1', 'kind: Chain', 'metadata: { name: big }', 'spec:', '  hook: xdp', `  netns: ${sb.nsA}`, `  interfaces: [${sb.ifA}]`, '  mode: generic', '  functions:'];
    for (const [name, base] of [['b1', 0], ['b2', 64]] as const) {
      lines.push(`    - name: ${name}`, '      function: blocklist@1.0.0', '      maps:', '        blocked_v4:');
      // 10.<base + i/256>.<i%256>.0/24: never 198.18.0.0/15, so the sandbox's own traffic passes.
      for (let i = 0; i < PER_MAP; i++) lines.push(`          "10.${base + (i >> 8)}.${i & 255}.0/24": 1`);
    }
    fs.writeFileSync(path.join(env.manifestDir, 'chain.yaml'), lines.join('\n') + '\n');
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('plan --json of over 5 MB parses whole, with the right exit code', async () => {
    const r = await throughSlowPipe(env, ['plan', env.manifestDir, '--json', '--detailed-exitcode']);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stdout.length > 5_000_000, `the JSON plan is ${r.stdout.length} bytes`);
    const plan = JSON.parse(r.stdout) as { resource_changes: { change: { after: { maps?: Record<string, Record<string, string>> } | null } }[] };
    const maps = plan.resource_changes.flatMap((c) => (c.change.after?.maps?.blocked_v4 ? [c.change.after.maps.blocked_v4] : []));
    assert.deepEqual(
      maps.map((m) => Object.keys(m).length),
      [PER_MAP, PER_MAP],
      'every entry of both maps is there',
    );
  });

  test('an apply that fails after printing a 1 MB plan: the whole plan, then the error, both complete', async () => {
    const r = await throughSlowPipe(env, ['apply', env.manifestDir, '--auto-approve'], { KFN_TEST_FAIL_AT_STEP: '2' });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stdout.length > 1_000_000, `${r.stdout.length} bytes of plan text`);
    assert.match(r.stdout, /Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy\.\n/);
    assert.equal(r.stdout.split('\n').filter((l) => /^ {10}\+ blocked_v4\["10\./.test(l)).length, 2 * PER_MAP, 'every entry line of the plan arrived');
    assert.match(r.stderr, /The kernel is back to the state before apply\.\nerror\[INJECTED_FAULT\]: injected failure at step 2 \(.*\)\n$/);
  });

  test('show --json of the applied chain parses whole', async () => {
    kfnExpect(env, ['apply', env.manifestDir, '--auto-approve'], 0);
    const r = await throughSlowPipe(env, ['show', '--json', '--stats']);
    assert.equal(r.code, 0, r.stderr);
    const live = JSON.parse(r.stdout) as { chains: { instances: { maps: Record<string, unknown[]> }[] }[] };
    assert.deepEqual(
      live.chains[0]!.instances.map((i) => i.maps.blocked_v4!.length),
      [PER_MAP, PER_MAP],
    );
  });

  test('validate with 70,000 invalid keys: the error report arrives whole, bounded, ending in the count of the rest', async () => {
    const file = path.join(env.stateDir, 'bad.yaml');
    const lines = ['apiVersion: kfn.dev/v1alpha1', 'kind: Chain', 'metadata: { name: bad }', 'spec:', '  hook: xdp', '  interfaces: [eth0]', '  functions:', '    - function: blocklist@1.0.0', '      maps:', '        blocked_v4:'];
    for (let i = 0; i < 70_000; i++) lines.push(`          "not-a-prefix-${i}": 1`);
    const dir = path.join(env.stateDir, 'bad');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(env.manifestDir, 'functions.yaml'), path.join(dir, 'functions.yaml'));
    fs.cpSync(path.join(env.manifestDir, 'objects'), path.join(dir, 'objects'), { recursive: true });
    fs.writeFileSync(file, lines.join('\n') + '\n');
    fs.renameSync(file, path.join(dir, 'chain.yaml'));
    const r = await throughSlowPipe(env, ['validate', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const errs = r.stderr.split('\n').filter((l) => l.startsWith('error['));
    assert.equal(errs.length, 101, 'the first 100 errors and one line counting the rest');
    assert.match(r.stderr, /error\[VALUE_INVALID\]: 69900 more errors not shown \(70000 in all\)\n {2}hint: fix the ones above first; kfn validate --json lists every one\n$/);
    const json = await throughSlowPipe(env, ['validate', dir, '--json']);
    assert.equal((JSON.parse(json.stdout) as { error_count: number }).error_count, 70_000);
  });
});
