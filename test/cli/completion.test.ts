/**
 * `kfn completion bash|zsh`, generated from the real command tree. bash: the script is
 * sourced and its function run on simulated command lines (COMP_WORDS), which must
 * complete exactly the tree's commands, each command's own flags plus the global ones,
 * the choices of --log-format and of completion's shell. zsh (when installed): the script
 * parses (`zsh -n`), compinit registers it for kfn, and it names every command and flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { buildProgram } from '../../src/cli/program.js';
import { CLI } from '../helpers/paths.js';

const skip = fs.existsSync(CLI) ? false : `${CLI} missing (run npm run build)`;
const hasZsh = spawnSync('zsh', ['--version'], { stdio: 'ignore' }).status === 0;

function script(shell: string): string {
  const r = spawnSync(process.execPath, [CLI, 'completion', shell], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const { program } = buildProgram(async () => 0);
const commands = program.commands.map((c) => c.name());
const longs = (opts: readonly { long?: string | undefined; short?: string | undefined }[]) => opts.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
const globalFlags = [...longs(program.options), '-h', '--help'];

describe('shell completion', { skip }, () => {
  const bash = script('bash');

  /** What the bash function completes for the words of a command line (the last one being completed). */
  function complete(words: string[]): string[] {
    const file = `/tmp/kfn-completion-${process.pid}.bash`;
    fs.writeFileSync(file, bash);
    try {
      const arr = words.map((w) => `'${w}'`).join(' ');
      const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _kfn; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  test('bash: the first word completes to the commands of the tree', () => {
    assert.deepEqual(complete(['kfn', '']), [...commands].sort());
    assert.deepEqual(complete(['kfn', 'pl']), ['plan']);
    assert.deepEqual(complete(['kfn', '--log-level', 'warn', 'fun']), ['functions']);
    assert.deepEqual(complete(['kfn', '--']), globalFlags.filter((f) => f.startsWith('--')).sort());
  });

  test("bash: after a command, its own flags and the global ones", () => {
    for (const c of program.commands) {
      const want = [...longs(c.options), ...globalFlags].filter((f) => f.startsWith('--'));
      assert.deepEqual(complete(['kfn', c.name(), '--']), [...new Set(want)].sort(), c.name());
    }
    assert.deepEqual(complete(['kfn', 'plan', '--d']), ['--detailed-exitcode']);
    assert.deepEqual(complete(['kfn', 'serve', '--m']), ['--metrics-addr']);
  });

  test('bash: choices of option values and arguments', () => {
    assert.deepEqual(complete(['kfn', '--log-format', '']), ['json', 'pretty']);
    assert.deepEqual(complete(['kfn', 'plan', '--log-level', 'd']), ['debug']);
    assert.deepEqual(complete(['kfn', 'completion', '']), ['bash', 'zsh']);
    // A path argument falls back to file names (complete -o default): nothing of kfn's own.
    assert.deepEqual(complete(['kfn', 'validate', '']), []);
  });

  test('zsh: parses, registers for kfn, names every command and flag', { skip: hasZsh ? false : 'zsh is not installed (scripts/bootstrap.sh installs it)' }, () => {
    const zsh = script('zsh');
    const file = `/tmp/kfn-completion-${process.pid}.zsh`;
    fs.writeFileSync(file, zsh);
    try {
      const syntax = spawnSync('zsh', ['-n', file], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(syntax.status, 0, syntax.stderr);
      const load = spawnSync('zsh', ['-f', '-c', `autoload -U compinit; compinit -u -D; source ${file}; print -r -- $_comps[kfn]`], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(load.status, 0, load.stderr);
      assert.equal(load.stdout.trim(), '_kfn');
    } finally {
      fs.rmSync(file, { force: true });
    }
    for (const c of program.commands) {
      assert.match(zsh, new RegExp(`^ {4}'${c.name()}:`, 'm'), c.name());
      for (const f of longs(c.options)) assert.ok(zsh.includes(f), `${c.name()} ${f}`);
    }
  });
});
