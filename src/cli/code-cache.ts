/**
 * The CLI is one CommonJS bundle (dist/cli/kfn.cjs) that `kfn` compiles with V8's code
 * cache (dist/cli/kfn.cjs.cache, made at build time by one run of `kfn validate`): a
 * start-up then takes the compiled functions from the cache instead of parsing and
 * compiling the 1.4 MB of JavaScript again (about 50 ms of every command here).
 *
 * The cache begins with the sha256 of the bundle it was made from and is used only for
 * exactly those bytes: V8's own check compares lengths, not contents. V8 refuses data
 * of another V8 version or other flags. Without a usable cache the bundle is compiled as
 * usual; nothing is written at run time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export const BUNDLE = 'kfn.cjs';
export const cacheFileOf = (bundle: string): string => `${bundle}.cache`;
const DIGEST_BYTES = 32;

export interface CompiledBundle {
  script: vm.Script;
  digest: Buffer;
  /** Whether compiled functions came from the cache. */
  cached: boolean;
}

/** The cache's V8 data, when it was made from exactly `bundle`'s bytes. */
function cacheFor(bundle: string, digest: Buffer): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(cacheFileOf(bundle));
  } catch {
    return undefined;
  }
  return data.length > DIGEST_BYTES && data.subarray(0, DIGEST_BYTES).equals(digest) ? data.subarray(DIGEST_BYTES) : undefined;
}

/** The bundle as a CommonJS module body: what Node's loader compiles for a required file. */
const wrapped = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;

export function compileBundle(bundle: string): CompiledBundle {
  const bytes = fs.readFileSync(bundle);
  const digest = crypto.createHash('sha256').update(bytes).digest();
  const cachedData = cacheFor(bundle, digest);
  const script = new vm.Script(wrapped(bytes.toString('utf8')), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  return { script, digest, cached: cachedData !== undefined && script.cachedDataRejected === false };
}

/**
 * Runs the bundle as the main program. With `writeCache` (the build's one run), the
 * functions compiled by the time the process exits are written to the cache.
 */
export function runBundle(bundle: string, opts: { writeCache?: boolean } = {}): void {
  const { script, digest } = compileBundle(bundle);
  if (opts.writeCache) process.once('exit', () => fs.writeFileSync(cacheFileOf(bundle), Buffer.concat([digest, script.createCachedData()])));
  // The bundle exports nothing: its module object is only what CommonJS code expects to find.
  const mod = { exports: {} };
  const body = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  body.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, path.dirname(bundle));
}
