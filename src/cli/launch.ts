#!/usr/bin/env node
/** The `kfn` executable: runs the CLI bundle beside it, compiled from its code cache (code-cache.ts). */
import { fileURLToPath } from 'node:url';
import { BUNDLE, runBundle } from './code-cache.js';

const bundle = fileURLToPath(new URL(BUNDLE, import.meta.url));
try {
  runBundle(bundle);
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  if (err.code !== 'ENOENT' || err.path !== bundle) throw e;
  process.stderr.write(`kfn: ${bundle} is missing: this installation is incomplete (npm run build makes it)\n`);
  process.exitCode = 1;
}
