/**
 * Terraform's spellings on the real CLI: `-out=FILE`, `-out FILE`, `-json`,
 * `-detailed-exitcode`, `-auto-approve` and `-lock-timeout` work as in Terraform; an
 * unknown single-dash word (`-foo`, `-outt=x`) and a bad duration (`--lock-timeout soon`)
 * are a one-line `error[USAGE]` plus a hint, before anything is read or written.
 * The refusals need only the built CLI; the spellings that work run against the kernel.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { cleanupTestEnv, createTestEnv, writeChain, type TestEnv } from '../helpers/workspace.js';
import { describeRun, kfnExpect, runKfn, show, type KfnEnv } from '../helpers/kfn.js';
import { CLI } from '../helpers/paths.js';
import { assertMatchesSchema } from '../helpers/schemas.js';

/** Exit 1; stderr is `error[USAGE]: ...` and one hint line, nothing else (no stack trace). */
function assertUsage(k: KfnEnv, args: string[], message: RegExp): void {
  const r = runKfn(k, args);
  const ctx = describeRun(args, r);
  assert.equal(r.code, 1, ctx);
  assert.equal(r.stdout, '', ctx);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, ctx);
  assert.match(lines[0]!, /^error\[USAGE\]: /, ctx);
  assert.match(lines[0]!, message, ctx);
  assert.match(lines[1]!, /^ {2}hint: \S/, ctx);
}

describe('Terraform spellings: refusals (no kernel needed)', { skip: fs.existsSync(CLI) ? false : `${CLI} missing (run npm run build)` }, () => {
  let env: TestEnv;
  before(() => {
    env = createTestEnv('tfflags-usage');
  });
  after(() => {
    fs.rmSync(env.stateDir, { recursive: true, force: true });
  });

  test('an unknown single-dash word is refused with a hint, and nothing is written', () => {
    const cwdBefore = fs.readdirSync(env.stateDir).sort();
    assertUsage(env, ['plan', env.manifestDir, '-foo'], /^error\[USAGE\]: unknown option "-foo"$/);
    assertUsage(env, ['plan', env.manifestDir, `-outt=${path.join(env.stateDir, 'x')}`], /^error\[USAGE\]: unknown option "-outt"$/);
    assertUsage(env, ['plan', env.manifestDir, `-outfile`], /^error\[USAGE\]: unknown option "-outfile"$/);
    assertUsage(env, ['apply', env.manifestDir, '-auto-aprove'], /^error\[USAGE\]: unknown option "-auto-aprove"$/);
    const hint = runKfn(env, ['plan', '-outt=x']).stderr.split('\n')[1];
    assert.equal(hint, '  hint: did you mean -out? see kfn --help');
    assert.deepEqual(fs.readdirSync(env.stateDir).sort(), cwdBefore, 'no plan file of any name was written');
  });

  test('--lock-timeout: a duration it cannot read is refused before anything runs', () => {
    assertUsage(env, ['apply', env.manifestDir, '--auto-approve', '--lock-timeout', 'soon'], /^error\[USAGE\]: invalid duration "soon" \(examples: 500ms, 30s, 2m, 1h\)$/);
    assertUsage(env, ['destroy', '--all', '--auto-approve', '-lock-timeout=soon'], /invalid duration "soon"/);
    assertUsage(env, ['apply', env.manifestDir, '--auto-approve', '--lock-timeout='], /invalid duration ""/);
  });

  test('-json on validate', () => {
    const r = kfnExpect(env, ['validate', env.manifestDir, '-json'], 0);
    assertMatchesSchema('validate', JSON.parse(r.stdout), 'kfn validate -json');
  });
});

const skip = kernelGate();

describe('Terraform spellings: the ones that work, against the kernel', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('t'));
  let env: TestEnv;
  const file = (name: string): string => path.join(env.stateDir, name);

  before(() => {
    env = createTestEnv('tfflags');
    sb.up();
    writeChain(env, { name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions: [{ name: 'count', function: 'counter' }] });
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('-out=FILE and -out FILE save the plan under that name; kfn show FILE reads it', () => {
    for (const [name, args] of [
      ['eq.plan', [`-out=${file('eq.plan')}`]],
      ['sep.plan', ['-out', file('sep.plan')]],
      ['short.plan', ['-o', file('short.plan')]],
    ] as const) {
      const r = kfnExpect(env, ['plan', env.manifestDir, ...args], 0);
      assert.ok(r.stdout.includes(`Saved the plan to: ${file(name)}\n`), describeRun([...args], r));
      assert.equal(fs.statSync(file(name)).mode & 0o777, 0o600);
      assert.match(kfnExpect(env, ['show', file(name)], 0).stdout, /will be created/);
    }
    assert.deepEqual(fs.readdirSync(env.stateDir).filter((f) => f.startsWith('ut')), [], 'no file named after a misparse');
  });

  test('-json and -detailed-exitcode: the plan as JSON, exit 2 with changes', () => {
    const r = kfnExpect(env, ['plan', env.manifestDir, '-json', '-detailed-exitcode'], 2);
    assertMatchesSchema('plan', JSON.parse(r.stdout), 'kfn plan -json');
  });

  test('-auto-approve: apply without a terminal needs it, and runs with it', () => {
    const refused = runKfn(env, ['apply', env.manifestDir]);
    assert.equal(refused.code, 1, describeRun(['apply'], refused));
    assert.match(refused.stderr, /^error\[APPROVAL_REQUIRED\]: /);
    assert.deepEqual(show(env).chains, [], 'nothing applied without approval');
    const r = kfnExpect(env, ['apply', env.manifestDir, '-auto-approve', '-lock-timeout=1h'], 0);
    assert.match(r.stdout, /Apply complete! Resources: 2 added/);
    kfnExpect(env, ['plan', env.manifestDir, '-detailed-exitcode'], 0);
  });

  test('--lock-timeout 1h is accepted', () => {
    const r = kfnExpect(env, ['apply', env.manifestDir, '--auto-approve', '--lock-timeout', '1h'], 0);
    assert.match(r.stdout, /No changes\./);
    kfnExpect(env, ['destroy', env.manifestDir, '-auto-approve', '--lock-timeout', '90s'], 0);
    assert.deepEqual(show(env).chains, []);
  });
});
