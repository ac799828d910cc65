/**
 * Typed parameter values are checked by `kfn validate` against the object's BTF before
 * anything touches the kernel: each bad value exits 1 with one
 * `error[CODE]: file:line:col: ...` line naming the value and the expected type (plus a
 * hint), and validate creates, loads or pins nothing.
 *
 * The chain names a netns that does not exist: validate needs no kernel. Only the last
 * subtest (bpftool prog/map/link sets and pins unchanged) needs root and bpftool.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { kernelUnavailableReason } from '../helpers/kernel-gate.js';
import { cleanupTestEnv, createTestEnv, type TestEnv } from '../helpers/workspace.js';
import { describeRun, runKfn, type RunResult } from '../helpers/kfn.js';
import { isEmptyDiff, snapshot, waitSameKernel, type BpfSnapshot } from '../helpers/bpftool.js';
import { CLI } from '../helpers/paths.js';

/** Never created: validate does not look at namespaces or interfaces. */
const NETNS = 'kt-par-v';

interface Values {
  blocked?: string;
  blockedValue?: string;
  globals?: string;
  config?: string;
}

/** A [blocklist, ratelimit] chain; each field is spliced into the YAML verbatim. */
function chainText(v: Values = {}): string {
  return [
    'apiVersion: kfn.dev/v1alpha1',
    'kind: Chain',
    'metadata: { name: edge }',
    'spec:',
    '  hook: xdp',
    `  netns: ${NETNS}`,
    `  interfaces: [${NETNS}0]`,
    '  functions:',
    '    - name: drop-bad',
    '      function: blocklist@1.0.0',
    '      maps:',
    `        blocked_v4: { ${v.blocked ?? '"198.18.0.3/32"'}: ${v.blockedValue ?? '1'} }`,
    '    - name: limit',
    '      function: ratelimit@1.0.0',
    `      globals: { ${v.globals ?? 'rate_pps: 100000, burst: 10000'} }`,
    '      maps:',
    `        config: { "0": { ${v.config ?? 'rate_pps: 50000'} } }`,
    '',
  ].join('\n');
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** 1-based line and column of the first occurrence of `needle` on the line containing `lineNeedle`. */
function locate(text: string, lineNeedle: string, needle: string): { line: number; col: number } {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineNeedle));
  assert.ok(i >= 0, `${lineNeedle} in manifest`);
  const c = lines[i]!.indexOf(needle);
  assert.ok(c >= 0, `${needle} on line ${i + 1}`);
  return { line: i + 1, col: c + 1 };
}

describe('kfn validate: typed parameter values', () => {
  let env: TestEnv;
  let chainFile: string;
  let baseline: BpfSnapshot | undefined;
  const kernelReason = kernelUnavailableReason();

  before(() => {
    assert.ok(fs.existsSync(CLI), `${CLI} missing: run npm run build`);
    env = createTestEnv('values');
    chainFile = path.join(env.manifestDir, 'chain.yaml');
    // Pins and state dir must not be created by validate: start without them.
    fs.rmSync(env.pinRoot, { recursive: true, force: true });
    if (!kernelReason) baseline = snapshot();
  });
  after(() => {
    cleanupTestEnv(env);
    if (env) fs.rmSync(env.manifestDir, { recursive: true, force: true });
  });

  const validate = (text: string): { r: RunResult; ctx: string } => {
    fs.writeFileSync(chainFile, text);
    const args = ['validate', env.manifestDir];
    const r = runKfn(env, args);
    return { r, ctx: describeRun(args, r) + `\n--- manifest ---\n${text}` };
  };

  interface Case {
    title: string;
    values: Values;
    code: string;
    /** Where the error must point: the line containing `line`, at the column of `at`. */
    line: string;
    at: string;
    /** Must appear in the error line (after file:line:col). */
    message: RegExp;
    hint?: RegExp;
  }

  const CASES: Case[] = [
    {
      title: 'config rate_pps out of range (negative)',
      values: { config: 'rate_pps: -5' },
      code: 'VALUE_INVALID',
      line: 'config:',
      at: '-5',
      message: /chain "edge" function "limit": config\["0"\]\.rate_pps: expected u32 \(0\.\.4294967295\), got -5$/,
      hint: /config/,
    },
    {
      title: 'config rate_pps out of range (2^32)',
      values: { config: 'rate_pps: 4294967296' },
      code: 'VALUE_INVALID',
      line: 'config:',
      at: '4294967296',
      message: /config\["0"\]\.rate_pps: expected u32 \(0\.\.4294967295\), got 4294967296$/,
    },
    {
      title: 'config rate_pps not an integer (string)',
      values: { config: 'rate_pps: "fast"' },
      code: 'VALUE_INVALID',
      line: 'config:',
      at: '"fast"',
      message: /config\["0"\]\.rate_pps: expected u32 \(0\.\.4294967295\), got "fast"$/,
    },
    {
      title: 'config rate_pps not an integer (fraction)',
      values: { config: 'rate_pps: 1.5' },
      code: 'VALUE_INVALID',
      line: 'config:',
      at: '1.5',
      message: /config\["0"\]\.rate_pps: expected u32 \(0\.\.4294967295\), got 1\.5$/,
    },
    {
      title: 'blocklist value: string for an int',
      values: { blockedValue: '"yes"' },
      code: 'VALUE_INVALID',
      line: 'blocked_v4:',
      at: '"yes"',
      message: /function "drop-bad": blocked_v4\["198\.18\.0\.3\/32"\]: expected u32 \(0\.\.4294967295\), got "yes"$/,
    },
    {
      title: 'global rate_pps: string for an int',
      values: { globals: 'rate_pps: "lots", burst: 10000' },
      code: 'VALUE_INVALID',
      line: 'globals:',
      at: '"lots"',
      message: /function "limit": rate_pps: expected u32 \(0\.\.4294967295\), got "lots"$/,
    },
    {
      title: 'global burst out of range',
      values: { globals: 'rate_pps: 100000, burst: 70000000000' },
      code: 'VALUE_INVALID',
      line: 'globals:',
      at: '70000000000',
      message: /function "limit": burst: expected u32 \(0\.\.4294967295\), got 70000000000$/,
    },
    {
      title: 'unknown struct field names the allowed fields',
      values: { config: 'rate: 1' },
      code: 'VALUE_INVALID',
      line: 'config:',
      at: '{ rate',
      message: /config\["0"\]: expected a field of struct ratelimit_config \(rate_pps, burst\), got "rate"$/,
    },
    {
      title: 'malformed prefix (octet > 255)',
      values: { blocked: '"198.18.0.300/32"' },
      code: 'VALUE_INVALID',
      line: 'blocked_v4:',
      at: '"198.18.0.300/32"',
      message: /blocked_v4\["198\.18\.0\.300\/32"\]: expected IPv4 prefix \(a\.b\.c\.d\/len\), got "198\.18\.0\.300\/32"$/,
    },
    {
      title: 'malformed prefix (length > 32)',
      values: { blocked: '"198.18.0.3/33"' },
      code: 'VALUE_INVALID',
      line: 'blocked_v4:',
      at: '"198.18.0.3/33"',
      message: /blocked_v4\["198\.18\.0\.3\/33"\]: expected IPv4 prefix \(a\.b\.c\.d\/len\), got "198\.18\.0\.3\/33"$/,
      hint: /0\.\.32/,
    },
    {
      title: 'host bits set: the hint gives the network address',
      values: { blocked: '"198.18.0.1/24"' },
      code: 'VALUE_INVALID',
      line: 'blocked_v4:',
      at: '"198.18.0.1/24"',
      message: /blocked_v4\["198\.18\.0\.1\/24"\]: expected IPv4 prefix \(a\.b\.c\.d\/len\) without host bits set, got "198\.18\.0\.1\/24"$/,
      hint: /did you mean 198\.18\.0\.0\/24\?/,
    },
    {
      title: 'IPv6 prefix in an IPv4 map',
      values: { blocked: '"2001:2::1/128"' },
      code: 'VALUE_INVALID',
      line: 'blocked_v4:',
      at: '"2001:2::1/128"',
      message: /blocked_v4\["2001:2::1\/128"\]: expected IPv4 prefix \(a\.b\.c\.d\/len\), got "2001:2::1\/128"$/,
      hint: /IPv6/,
    },
    {
      title: 'unknown global names the globals the object has',
      values: { globals: 'rate: 100000' },
      code: 'GLOBAL_NOT_FOUND',
      line: 'globals:',
      at: 'rate:',
      message: /function "limit": ratelimit@1\.0\.0 has no global "rate"$/,
      hint: /rate_pps.*burst|burst.*rate_pps/,
    },
  ];

  test('control: the good values validate', () => {
    const { r, ctx } = validate(chainText());
    assert.equal(r.code, 0, ctx);
    assert.match(r.stdout, /Success! 1 chain\(s\), 2 function instance\(s\)/, ctx);
    assert.equal(r.stderr, '', ctx);
  });

  for (const c of CASES) {
    test(c.title, () => {
      const text = chainText(c.values);
      const { r, ctx } = validate(text);
      assert.equal(r.code, 1, ctx);
      assert.equal(r.stdout, '', `nothing on stdout:\n${ctx}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.ok(lines.length === 1 || lines.length === 2, `one error line plus at most one hint line:\n${ctx}`);
      const { line, col } = locate(text, c.line, c.at);
      assert.match(lines[0]!, new RegExp(`^error\\[${c.code}\\]: ${escape(chainFile)}:${line}:${col}: `), ctx);
      assert.match(lines[0]!, c.message, ctx);
      if (c.hint) {
        assert.equal(lines.length, 2, `a hint line:\n${ctx}`);
        assert.match(lines[1]!, /^\s+hint: /, ctx);
        assert.match(lines[1]!, c.hint, ctx);
      }
      assert.doesNotMatch(r.stderr, /^\s+at |internal error|Error:/m, `no stack trace:\n${ctx}`);
    });
  }

  test('validate left the kernel alone: no pin root, bpftool prog/map/link sets unchanged', { skip: kernelReason && process.env.KFN_REQUIRE_KERNEL !== '1' ? `needs the kernel: ${kernelReason}` : false }, async () => {
    assert.equal(kernelReason, undefined, `kernel check cannot run: ${kernelReason}`);
    assert.ok(baseline);
    assert.ok(!fs.existsSync(env.pinRoot), `validate created the pin root ${env.pinRoot}`);
    const d = await waitSameKernel(baseline, env.pinRoot);
    assert.ok(isEmptyDiff(d), `bpftool prog/map/link lists or pins changed during validate:\n${JSON.stringify(d, null, 2)}`);
  });
});
