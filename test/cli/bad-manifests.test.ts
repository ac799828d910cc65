/**
 * Bad input never reaches the kernel and is reported as an operator expects: exit 1, one
 * `error[CODE]: file:line:col: ...` line (plus at most one `hint:` line) naming where the
 * problem is, no stack trace, and no BPF program, map, link or pin created or removed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, runKfn, show, type RunResult } from '../helpers/kfn.js';
import { isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot } from '../helpers/bpftool.js';

const skip = kernelGate();

describe('bad manifests and refused applies', { skip }, () => {
  const sb = new Sandbox(sandboxPrefix('b'));
  let env: TestEnv;
  let baseline: BpfSnapshot;
  let chainFile: string;
  let functionsFile: string;

  const good = (): ChainSpec => ({
    name: 'edge',
    hook: 'xdp',
    netns: sb.nsA,
    interfaces: [sb.ifA],
    functions: [
      { name: 'drop-bad', function: 'blocklist@1.0.0', maps: { blocked_v4: { '198.18.0.3/32': 1 } } },
      { name: 'visibility', function: 'flowstats' },
    ],
  });
  /** 1-based line of the first line containing `needle`. */
  const lineOf = (text: string, needle: string): number => {
    const i = text.split('\n').findIndex((l) => l.includes(needle));
    assert.ok(i >= 0, `${needle} in manifest`);
    return i + 1;
  };
  const write = (chain: string, functions = functionsYaml()): void => {
    fs.writeFileSync(chainFile, chain);
    fs.writeFileSync(functionsFile, functions);
  };

  /** Exit 1, exactly one error line with `code` (and optionally one hint line), no stack trace. */
  function assertOneError(args: string[], r: RunResult, code: string, location: RegExp): void {
    const ctx = describeRun(args, r);
    assert.equal(r.code, 1, ctx);
    const lines = r.stderr.trimEnd().split('\n');
    assert.ok(lines.length === 1 || lines.length === 2, `one error line plus at most one hint line:\n${ctx}`);
    assert.match(lines[0]!, new RegExp(`^error\\[${code}\\]: \\S`), ctx);
    assert.match(lines[0]!, location, ctx);
    if (lines.length === 2) assert.match(lines[1]!, /^\s*hint: \S/, ctx);
    assert.doesNotMatch(r.stderr, /^\s+at |internal error|Error:/m, `no stack trace:\n${ctx}`);
  }

  async function assertKernelUntouched(what: string): Promise<void> {
    const d = await waitSameKernel(baseline, env.pinRoot);
    assert.ok(isEmptyDiff(d), `${what}: bpftool prog/map/link lists or pins changed:\n${JSON.stringify(d, null, 2)}`);
    assert.equal(sb.xdpProgIdA(), undefined, `${what}: something got attached`);
  }

  /** plan and apply (and validate, when it is a pure manifest error) all refuse the same way. */
  async function refuses(commands: string[][], code: string, location: RegExp): Promise<void> {
    for (const cmd of commands) {
      const args = [...cmd, env.manifestDir];
      if (cmd[0] === 'apply') args.push('--auto-approve');
      assertOneError(args, runKfn(env, args), code, location);
      await assertKernelUntouched(`kfn ${args.join(' ')}`);
    }
  }
  const ALL = [['validate'], ['plan'], ['apply']];

  before(() => {
    env = createTestEnv('badman');
    chainFile = path.join(env.manifestDir, 'chain.yaml');
    functionsFile = path.join(env.manifestDir, 'functions.yaml');
    sb.up();
    baseline = snapshot();
  });
  after(() => {
    cleanupTestEnv(env);
    sb.down();
  });

  test('the good manifest is valid (control)', () => {
    write(chainYaml(good()));
    const r = runKfn(env, ['validate', env.manifestDir]);
    assert.equal(r.code, 0, describeRun(['validate'], r));
  });

  test('YAML syntax error', async () => {
    const text = chainYaml(good()).replace('metadata: { name: edge }', 'metadata: { name: edge');
    write(text);
    const bad = lineOf(text, 'metadata:');
    // The parser notices the unclosed flow map on that line or the next one.
    await refuses(ALL, 'MANIFEST_YAML', new RegExp(`${escape(chainFile)}:(${bad}|${bad + 1}):\\d+: `));
  });

  test('unknown field', async () => {
    const text = chainYaml(good()).replace('  hook: xdp\n', '  hook: xdp\n  bogus: 1\n');
    write(text);
    await refuses(ALL, 'MANIFEST_SCHEMA', new RegExp(`${escape(chainFile)}:${lineOf(text, 'bogus:')}:\\d+: .*bogus`));
  });

  test('unknown function', async () => {
    const text = chainYaml(good()).replace('function: flowstats', 'function: nosuchfn');
    write(text);
    await refuses(ALL, 'FUNCTION_NOT_FOUND', new RegExp(`${escape(chainFile)}:${lineOf(text, 'nosuchfn')}:\\d+: .*nosuchfn`));
  });

  test('missing object file', async () => {
    const fns = functionsYaml().replace('objects/flowstats.bpf.o', 'objects/missing.bpf.o');
    write(chainYaml(good()), fns);
    await refuses(ALL, 'OBJECT_NOT_FOUND', new RegExp(`${escape(functionsFile)}:${lineOf(fns, 'missing.bpf.o')}:\\d+: .*missing\\.bpf\\.o`));
  });

  test('interface that does not exist in the sandbox namespace', async () => {
    const missing = `${sb.prefix}-zz0`;
    write(chainYaml({ ...good(), interfaces: [missing] }));
    // validate never looks at the kernel; plan and apply resolve the interface and refuse.
    await refuses([['plan'], ['apply']], 'INTERFACE_NOT_FOUND', new RegExp(`${escape(chainFile)}:\\d+:\\d+: .*"${missing}".*${sb.nsA}`));
  });

  test('apply without --auto-approve and no TTY on stdin: APPROVAL_REQUIRED, nothing changes', async () => {
    write(chainYaml(good()));
    const args = ['apply', env.manifestDir];
    const r = runKfn(env, args, { input: '' });
    assertOneError(args, r, 'APPROVAL_REQUIRED', /stdin is not a terminal/);
    assert.match(r.stdout, /Plan: 3 to add/, 'the plan is still shown');
    await assertKernelUntouched('apply without approval');
    assert.deepEqual(show(env).chains, []);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
