/**
 * The built `kfn` and its bundle: the build's code cache fits the bundle it was built
 * with, so that every start takes compiled functions from it (src/cli/code-cache.ts),
 * and an installation without its bundle says so in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE, compileBundle } from '../../src/cli/code-cache.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';

test('dist/cli/kfn.cjs compiles from the code cache the build made', () => {
  assert.equal(compileBundle(path.join(REPO_ROOT, 'dist', 'cli', BUNDLE)).cached, true);
});

test('kfn without its bundle: one line naming the missing file, exit 1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-no-bundle-'));
  try {
    const launcher = path.join(dir, 'main.js');
    fs.copyFileSync(CLI, launcher);
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const r = spawnSync(process.execPath, [launcher, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `kfn: ${path.join(dir, BUNDLE)} is missing: this installation is incomplete (npm run build makes it)\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
