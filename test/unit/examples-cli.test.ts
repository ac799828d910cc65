/**
 * Every `kfn` command line in examples/deploy (systemd units, the CI workflow) parses
 * with the real command tree (src/cli/program.ts) and its values are valid: commands are
 * recorded by a dispatcher instead of run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildProgram, type CommandName } from '../../src/cli/program.js';
import { normalizeArgs } from '../../src/cli/terraform-flags.js';
import { parseDuration } from '../../src/cli/context.js';
import { parseHostLabels } from '../../src/core/host.js';
import { parseAddr } from '../../src/agent/webhook.js';
import { REPO_ROOT } from '../helpers/paths.js';

const DEPLOY = path.join(REPO_ROOT, 'examples', 'deploy');

/** Shell words of one line, quotes removed, up to the first operator (`|`, `||`, `&&`, `;`, a redirection). */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else if ('|&;<>'.includes(ch) || (ch === '2' && line[i + 1] === '>' && !cur)) {
      break;
    } else cur += ch;
  }
  if (quote) throw new Error(`unbalanced quote in: ${line}`);
  if (has || cur) out.push(cur);
  return out;
}

/** `${{ github.sha }}` and `$VAR` / `${VAR}` (from the unit's Environment= lines when defined). */
function expand(line: string, env: Record<string, string>): string {
  return line
    .replace(/\$\{\{[^}]*\}\}/g, 'x')
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? 'x');
}

interface Invocation {
  file: string;
  line: number;
  text: string;
  argv: string[];
}

/** Command lines of a file: ExecStart*= of units, `run:` steps (one line or a block) of workflows. */
function commandLines(file: string): { line: number; text: string; env: Record<string, string> }[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const env: Record<string, string> = {};
  for (const l of lines) {
    const m = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(l.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  const out: { line: number; text: string; env: Record<string, string> }[] = [];
  if (/\.(service|timer)$/.test(file)) {
    lines.forEach((l, i) => {
      const m = /^Exec[A-Za-z]*=[-@+!]*(.*)$/.exec(l.trim());
      if (m) out.push({ line: i + 1, text: m[1]!, env });
    });
    return out;
  }
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:- )?run:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2] !== '|' && m[2] !== '>') {
      out.push({ line: i + 1, text: m[2]!, env });
      continue;
    }
    const indent = m[1]!.length;
    for (let j = i + 1; j < lines.length && (lines[j]!.trim() === '' || lines[j]!.search(/\S/) > indent); j++) {
      if (lines[j]!.trim()) out.push({ line: j + 1, text: lines[j]!.trim(), env });
    }
  }
  return out;
}

function kfnInvocations(file: string): Invocation[] {
  const out: Invocation[] = [];
  for (const { line, text, env } of commandLines(file)) {
    const w = words(expand(text, env));
    const at = w.findIndex((x) => path.basename(x) === 'kfn');
    if (at >= 0) out.push({ file: path.relative(REPO_ROOT, file), line, text, argv: w.slice(at + 1) });
  }
  return out;
}

/** Parses argv with the real command tree; returns what would run. */
async function parse(argv: string[]): Promise<{ name: CommandName; args: unknown[] }> {
  let got: { name: CommandName; args: unknown[] } | undefined;
  const { program } = buildProgram((name, _globals, args) => {
    got = { name, args };
    return 0;
  });
  const quiet = { writeErr: () => {}, writeOut: () => {}, outputError: () => {} };
  for (const c of [program, ...program.commands]) c.configureOutput(quiet);
  await program.parseAsync(['node', 'kfn', ...normalizeArgs(argv)]);
  assert.ok(got, `no command ran for: kfn ${argv.join(' ')}`);
  return got;
}

/** The values the parser leaves to the command, checked as the command would. */
function checkValues(opts: Record<string, unknown>): void {
  for (const k of ['interval', 'lockTimeout']) if (typeof opts[k] === 'string') parseDuration(opts[k]);
  if (typeof opts.hostLabels === 'string') parseHostLabels(opts.hostLabels);
  if (typeof opts.webhookAddr === 'string') parseAddr(opts.webhookAddr, '--webhook-addr');
  if (opts.verifySignatures) assert.ok(opts.allowedSigners, '--verify-signatures without --allowed-signers');
  if (opts.webhookAddr) assert.ok(opts.webhookSecretFile, '--webhook-addr without --webhook-secret-file');
}

const files = fs.readdirSync(DEPLOY).filter((f) => /\.(service|timer|ya?ml)$/.test(f)).map((f) => path.join(DEPLOY, f));

test('examples/deploy holds the agent and drift units and the CI workflow, not the old apply timer', () => {
  const names = fs.readdirSync(DEPLOY).sort();
  for (const f of ['kfn-reconcile.service', 'kfn-drift.service', 'kfn-drift.timer', 'ci.yml']) assert.ok(names.includes(f), `${f} in ${names.join(', ')}`);
  assert.ok(!names.includes('kfn-apply.timer') && !names.includes('kfn-apply.service'), 'the bare git-pull-and-apply timer is gone');
});

test('every kfn command line in examples/deploy parses with the real CLI, with valid values', async () => {
  const all = files.flatMap(kfnInvocations);
  const used = new Set<string>();
  for (const inv of all) {
    const where = `${inv.file}:${inv.line}: ${inv.text}`;
    let r;
    try {
      r = await parse(inv.argv);
    } catch (e) {
      assert.fail(`${where}\n  does not parse: ${(e as Error).message}`);
    }
    used.add(r.name);
    checkValues((r.args.at(-1) ?? {}) as Record<string, unknown>);
  }
  // The extraction found what the examples are about (a checker that finds nothing proves nothing).
  for (const name of ['reconcile', 'drift', 'validate', 'plan', 'apply', 'show', 'status'] as const) assert.ok(used.has(name), `no kfn ${name} found in examples/deploy (found: ${[...used].join(', ')})`);
  assert.ok(all.length >= 8, `${all.length} kfn invocations found`);
});

test('the checker refuses what the CLI refuses', async () => {
  await assert.rejects(parse(['reconcile', '--repo', 'r', '--ref', 'main', '--intervall', '1m']), /unknown option/);
  await assert.rejects(parse(['reconcile', '--ref', 'main']), /required option/);
  await assert.rejects(parse(['plan', '-out=x', '-detailed-exit']), /unknown option/);
  const r = await parse(['reconcile', '--repo', 'r', '--ref', 'main', '--interval', 'soon']);
  assert.throws(() => checkValues(r.args.at(-1) as Record<string, unknown>), /invalid duration/);
  assert.deepEqual(words('sudo kfn plan m/ -detailed-exitcode -out=plan.out > plan.txt || [ $? -eq 2 ]'), ['sudo', 'kfn', 'plan', 'm/', '-detailed-exitcode', '-out=plan.out']);
});
