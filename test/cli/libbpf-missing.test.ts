/**
 * The CLI with libbpf.so.1 made unloadable through KFN_LIBBPF_PATH (test-only, see
 * docs/testing.md): a path that does not exist, a file that is not a library, and a real
 * library without libbpf's functions (libc). `--version` and `version --json` still
 * answer, saying libbpf is unavailable; every command that needs libbpf fails with
 * exactly one `error[LIBBPF_UNAVAILABLE]` line and its hint (no stack trace, nothing on
 * stdout; validate --json puts it in its document); commands that need nothing of it
 * (help, completion) still work. Nothing here needs root or touches the kernel.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { CLI, REPO_ROOT } from '../helpers/paths.js';

const skip = fs.existsSync(CLI) ? false : `${CLI} missing (run npm run build)`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-nolibbpf-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const notALibrary = path.join(tmp, 'libbpf.so.1');
fs.writeFileSync(notALibrary, 'this is not an ELF shared object\n');
const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find((p) => fs.existsSync(p));

const BROKEN: { name: string; path: string; why: RegExp }[] = [
  { name: 'missing', path: path.join(tmp, 'nowhere', 'libbpf.so.1'), why: /cannot open shared object file|No such file/ },
  { name: 'not a library', path: notALibrary, why: /invalid ELF header|file too short|not an ELF/i },
  ...(libc ? [{ name: 'a library without libbpf (libc)', path: libc, why: /bpf_object__open_mem/ }] : []),
];

function kfn(lib: string, args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KFN_LIBBPF_PATH: lib,
    KFN_PIN_ROOT: path.join('/sys/fs/bpf', `kfn-test-nolibbpf-${process.pid}`),
    KFN_STATE_DIR: path.join(tmp, 'state'),
    NO_COLOR: '1',
  };
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env, input: '', encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const DEMO = path.join(REPO_ROOT, 'examples', 'demo');

describe('libbpf.so.1 unloadable', { skip }, () => {
  for (const b of BROKEN) {
    describe(b.name, () => {
      test('--version answers with kfn and the reason libbpf is unavailable', () => {
        const r = kfn(b.path, ['--version']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
        assert.equal(r.stdout.split('\n')[0], `kfn ${version}`);
        const lib = r.stdout.split('\n')[1]!;
        assert.ok(lib.startsWith(`libbpf unavailable: cannot load ${b.path}: `), lib);
        assert.match(lib, b.why);
        assert.match(r.stdout, /^ {2}XDP link +unknown +needs libbpf$/m);

        const j = kfn(b.path, ['version', '--json']);
        assert.equal(j.code, 0);
        const doc = JSON.parse(j.stdout) as { kfn_version: string; libbpf: { available: boolean; code: string } };
        assert.deepEqual([doc.kfn_version, doc.libbpf.available, doc.libbpf.code], [version, false, 'LIBBPF_UNAVAILABLE']);
      });

      for (const args of [['validate', DEMO], ['plan', DEMO], ['apply', DEMO, '--auto-approve'], ['show'], ['show', '--stats'], ['destroy', '--all', '--auto-approve'], ['functions'], ['serve', '--metrics-addr', '127.0.0.1:0']]) {
        test(`kfn ${args.join(' ')}: one error[LIBBPF_UNAVAILABLE] line and its hint`, () => {
          const r = kfn(b.path, args);
          assert.equal(r.code, 1, r.stdout + r.stderr);
          const lines = r.stderr.trimEnd().split('\n');
          assert.equal(lines.length, 2, r.stderr);
          assert.ok(lines[0]!.startsWith(`error[LIBBPF_UNAVAILABLE]: cannot load ${b.path}: `), lines[0]);
          assert.equal(lines[1], '  hint: kfn needs libbpf 1.x: install it (Debian/Ubuntu: apt-get install libbpf1; Fedora: dnf install libbpf)');
          assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
          assert.equal(r.stdout, '');
        });
      }

      test('validate --json: the error is the document\'s one diagnostic', () => {
        const r = kfn(b.path, ['validate', DEMO, '--json']);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, '');
        const doc = JSON.parse(r.stdout) as { valid: boolean; diagnostics: { code: string; message: string }[] };
        assert.equal(doc.valid, false);
        assert.deepEqual(doc.diagnostics.map((d) => d.code), ['LIBBPF_UNAVAILABLE']);
      });

      test('under --log-format json the error is one structured record', () => {
        const r = kfn(b.path, ['--log-format', 'json', 'validate', DEMO]);
        assert.equal(r.code, 1);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
        assert.equal(rec.level, 'error');
        assert.equal(rec.code, 'LIBBPF_UNAVAILABLE');
        assert.ok(String(rec.msg).startsWith(`cannot load ${b.path}: `));
        assert.ok(!Number.isNaN(Date.parse(String(rec.time))));
      });

      test('help and completion need no libbpf', () => {
        const h = kfn(b.path, ['--help']);
        assert.equal(h.code, 0);
        assert.match(h.stdout, /^Usage: kfn \[options\] \[command\]/);
        const c = kfn(b.path, ['completion', 'bash']);
        assert.equal(c.code, 0);
        assert.match(c.stdout, /complete -o default -F _kfn kfn/);
      });
    });
  }
});
