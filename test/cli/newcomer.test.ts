/**
 * A newcomer's first run, as far as it can be checked without running the whole demo:
 *
 * - `npm ci` of this package.json and lock (in a scratch directory, from npm's cache)
 *   prints no install-scripts warning, nor any other npm warning.
 * - The README keeps its two commands; every relative link in README.md and docs/*.md
 *   names a file or directory of the clone (anchors: a heading of the file); the object
 *   digests the README and docs/library.md print are those of this build; the package
 *   file name it installs is this version's.
 * - scripts/demo.sh: its banner prints escape codes only on a terminal (and never with
 *   NO_COLOR); it destroys only in its own pin root; its closing hints run kfn exactly as
 *   the README says kfn runs in a clone, with command lines the real CLI parses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parseCommandLine } from '../../src/cli/program.js';
import { builtinFunctions } from '../../src/library/index.js';
import { sha256Hex } from '../../src/core/digest.js';
import { readObjectFile } from '../../src/core/objects.js';
import { BPF_BUILD, REPO_ROOT } from '../helpers/paths.js';

const README = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const DEMO = fs.readFileSync(path.join(REPO_ROOT, 'scripts', 'demo.sh'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-newcomer-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hasNpm = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status === 0;
const built = builtinFunctions().every((b) => fs.existsSync(b.objectPath)) ? false : 'bpf/build is not built (npm run build)';
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** GitHub's anchor of a heading. */
const slug = (h: string): string => h.trim().toLowerCase().replace(/[^\w\s-]/g, '').replace(/\s/g, '-');

describe('a newcomer\'s first run', () => {
  test('npm ci prints no install-scripts warning (nor any npm warning)', { skip: hasNpm ? false : 'npm is not installed', timeout: 300_000 }, () => {
    const dir = path.join(tmp, 'ci');
    fs.mkdirSync(dir);
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(dir, f));
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, encoding: 'utf8', timeout: 280_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout + r.stderr;
    assert.doesNotMatch(out, /install-scripts/);
    assert.doesNotMatch(out, /npm warn/i, out);
    assert.ok(fs.existsSync(path.join(dir, 'node_modules', 'koffi')), 'installed');
  });

  test('the README keeps its two commands', () => {
    const block = /## Two commands[\s\S]*?```sh\n([\s\S]*?)```/.exec(README)?.[1] ?? '';
    assert.deepEqual(
      block.split('\n').filter(Boolean).map((l) => l.split('#')[0]!.trim()),
      ['npm run demo', 'npm test'],
    );
  });

  for (const doc of ['README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]) {
    test(`${doc}: every relative link exists in the clone`, () => {
      const file = path.join(REPO_ROOT, doc);
      const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      // Anchors: headings (GitHub's slugs) and explicit ids (<a id="...">).
      const headings = new Set([...[...text.matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)), ...[...text.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]!)]);
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [p, anchor] = target.split('#') as [string, string | undefined];
        if (p === '') {
          assert.ok(headings.has(anchor!), `${doc}: #${anchor} is neither a heading nor an id`);
          continue;
        }
        const resolved = path.resolve(path.dirname(file), p);
        assert.ok(resolved.startsWith(REPO_ROOT + path.sep) && fs.existsSync(resolved), `${doc}: link ${target} does not exist in the clone`);
      }
    });
  }

  test('digests in the README and docs/library.md are those of this build', { skip: built }, () => {
    const sha = new Map(builtinFunctions().map((b) => [`${b.name}@${b.version}`, sha256Hex(readObjectFile(b.objectPath))]));
    const shown = [...README.matchAll(/\b([a-z0-9-]+@\d+\.\d+\.\d+) {2}([0-9a-f]{12})\b/g)];
    assert.ok(shown.length >= 3, 'the README plan output shows digests');
    for (const [, fn, digest] of shown) assert.equal(digest, sha.get(fn!)?.slice(0, 12), `README: ${fn} ${digest}`);
    const library = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'library.md'), 'utf8');
    const pins = [...library.matchAll(/- function: ([a-z0-9-]+@\d+\.\d+\.\d+)\n\s+sha256: "([0-9a-f]{64})"/g)];
    assert.ok(pins.length >= 1);
    for (const [, fn, digest] of pins) assert.equal(digest, sha.get(fn!), `docs/library.md: ${fn}`);
    assert.ok(fs.existsSync(BPF_BUILD));
  });

  test('the package the README installs is this version', () => {
    const names = [...README.matchAll(/kfn-(\d+\.\d+\.\d+)\.tgz/g)].map((m) => m[1]);
    assert.ok(names.length > 0);
    for (const v of names) assert.equal(v, pkg.version);
  });
});

describe('scripts/demo.sh', () => {
  const sayBlock = /^if \[ -t 1 \][\s\S]*?^fi$/m.exec(DEMO)?.[0];

  test('its banner has escape codes on a terminal only, and never with NO_COLOR', { skip: hasScript ? false : 'script(1) is not installed' }, () => {
    assert.ok(sayBlock, 'demo.sh defines say() by whether stdout is a terminal');
    const file = path.join(tmp, 'say.sh');
    fs.writeFileSync(file, `${sayBlock}\nsay hello\n`);
    const piped = spawnSync('bash', [file], { encoding: 'utf8' });
    assert.equal(piped.stdout, '\n== hello\n');
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
    delete env.NO_COLOR;
    const tty = spawnSync('script', ['-qec', `bash ${file}`, '/dev/null'], { encoding: 'utf8', env });
    assert.match(tty.stdout, /\x1b\[1m== hello\x1b\[0m/);
    const noColor = spawnSync('script', ['-qec', `bash ${file}`, '/dev/null'], { encoding: 'utf8', env: { ...env, NO_COLOR: '1' } });
    assert.match(noColor.stdout, /== hello/);
    assert.doesNotMatch(noColor.stdout, /\x1b/);
  });

  test('it destroys only in its own pin root', () => {
    const exported = /^export KFN_PIN_ROOT=(\S+) KFN_STATE_DIR=(\S+)$/m.exec(DEMO);
    assert.ok(exported, 'demo.sh exports its own KFN_PIN_ROOT and KFN_STATE_DIR');
    const [, pinRoot, stateDir] = exported;
    assert.notEqual(pinRoot, '/sys/fs/bpf/kfn');
    assert.notEqual(stateDir, '/run/kfn');
    const lines = DEMO.split('\n');
    const at = lines.findIndex((l) => l.startsWith('export KFN_PIN_ROOT='));
    lines.forEach((l, i) => {
      if (/\bdestroy\b/.test(l) && /^\s*(kfn|node )/.test(l)) assert.ok(i > at, `line ${i + 1} destroys before the pin root is the demo's: ${l}`);
    });
    // A hint is copied on its own: the removal line names the demo's pin root itself.
    const removal = lines.filter((l) => /^\s+.*main\.js destroy/.test(l));
    assert.equal(removal.length, 1);
    assert.match(removal[0]!, /^ {2}KFN_PIN_ROOT=\$KFN_PIN_ROOT KFN_STATE_DIR=\$KFN_STATE_DIR node dist\/cli\/main\.js destroy /);
  });

  test('its closing hints run kfn as the README does in a clone, with lines the CLI parses', async () => {
    const clone = /In a clone, kfn is `([^`]+)`/.exec(README)?.[1];
    assert.ok(clone, 'the README says how kfn runs in a clone');
    const hints = DEMO.slice(DEMO.indexOf('Look further')).split('\n').filter((l) => l.includes('dist/cli/main.js'));
    assert.ok(hints.length >= 3);
    const vars: Record<string, string> = { manifests: 'examples/demo', KFN_PIN_ROOT: '/sys/fs/bpf/kfn-demo', KFN_STATE_DIR: '/run/kfn-demo', prefix: 'kfn-demo' };
    for (const hint of hints) {
      const cmd = hint.trim().replace(/^(\w+=\S+ )*/, '').split('&&')[0]!.trim();
      assert.ok(cmd.startsWith(`${clone} `), `hint "${hint.trim()}" does not start with ${clone}`);
      const args = cmd.slice(clone.length).trim().split(/\s{2,}/)[0]!.split(/\s+/).map((w) => w.replace(/\$(\w+)/g, (_, v: string) => vars[v] ?? v));
      const r = await parseCommandLine(args);
      assert.ok(r.ok, `${hint.trim()}: ${r.ok ? '' : r.error}`);
    }
  });
});
