/**
 * The CLI bundle's code cache (src/cli/code-cache.ts): written by one run, used only for
 * the exact bytes it was made from, and never needed: without it the bundle runs the same.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheFileOf } from '../../src/cli/code-cache.js';

const CODE_CACHE = fileURLToPath(new URL('../../src/cli/code-cache.ts', import.meta.url));

/** A bundle that prints its greeting, the name of its file and what require() found. */
const bundleSource = (greeting: string): string => `
const path = require('node:path');
function greet(who) { return ${JSON.stringify(greeting)} + ', ' + who; }
process.stdout.write([greet('kfn'), path.basename(__filename), typeof module.exports].join(' '));
`;

/** The stdout of `code` (an ES module importing code-cache.ts as `cc`) run in a fresh node. */
function inFreshNode(code: string): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import * as cc from ${JSON.stringify(CODE_CACHE)}; ${code}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Runs `bundle` as `kfn` runs its bundle, optionally writing the cache at exit. */
const run = (bundle: string, writeCache = false): string => inFreshNode(`cc.runBundle(${JSON.stringify(bundle)}, { writeCache: ${writeCache} });`);

/**
 * Whether a fresh process compiles `bundle` from its cache: within one process V8 keeps
 * what it compiled and would ignore the cache for a source it has seen.
 */
const compiledFromCache = (bundle: string): boolean => inFreshNode(`process.stdout.write(String(cc.compileBundle(${JSON.stringify(bundle)}).cached));`) === 'true';

describe('code cache of the CLI bundle', () => {
  let dir = '';
  let bundle = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-code-cache-'));
    bundle = path.join(dir, 'kfn.cjs');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a run with writeCache writes the sha256 of the bundle then V8 data, which the next compile uses', () => {
    fs.writeFileSync(bundle, bundleSource('hello'));
    assert.equal(compiledFromCache(bundle), false, 'no cache yet');
    assert.equal(run(bundle, true), 'hello, kfn kfn.cjs object');
    const cache = fs.readFileSync(cacheFileOf(bundle));
    assert.deepEqual(cache.subarray(0, 32), crypto.createHash('sha256').update(fs.readFileSync(bundle)).digest());
    assert.ok(cache.length > 32);
    assert.equal(compiledFromCache(bundle), true);
    assert.equal(run(bundle), 'hello, kfn kfn.cjs object');
  });

  test('a bundle changed since the cache was made, even to the same length, is compiled from its own text', () => {
    fs.writeFileSync(bundle, bundleSource('hello'));
    run(bundle, true);
    // V8 checks only the length of the source: its bytecode would still print "hello".
    fs.writeFileSync(bundle, bundleSource('howdy'));
    assert.equal(compiledFromCache(bundle), false);
    assert.equal(run(bundle), 'howdy, kfn kfn.cjs object');
  });

  test('V8 data that V8 refuses, or a truncated cache, is ignored', () => {
    fs.writeFileSync(bundle, bundleSource('hello'));
    const digest = crypto.createHash('sha256').update(fs.readFileSync(bundle)).digest();
    for (const data of [Buffer.concat([digest, Buffer.alloc(4096, 0x5a)]), digest.subarray(0, 16), Buffer.alloc(0)]) {
      fs.writeFileSync(cacheFileOf(bundle), data);
      assert.equal(compiledFromCache(bundle), false);
      assert.equal(run(bundle), 'hello, kfn kfn.cjs object');
    }
  });
});
