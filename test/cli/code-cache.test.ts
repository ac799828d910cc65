/**
 * The build's code cache fits the bundle it was built with, so that every `kfn` start
 * takes compiled functions from it (src/cli/code-cache.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUNDLE, compileBundle } from '../../src/cli/code-cache.js';
import { REPO_ROOT } from '../helpers/paths.js';

test('dist/cli/kfn.cjs compiles from the code cache the build made', () => {
  assert.equal(compileBundle(path.join(REPO_ROOT, 'dist', 'cli', BUNDLE)).cached, true);
});
