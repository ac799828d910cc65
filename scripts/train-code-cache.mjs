// `node --import tsx scripts/train-code-cache.mjs ARGS...` (run by scripts/build.mjs): runs
// `kfn ARGS` from the built bundle once and writes V8's code cache of what it compiled
// (src/cli/code-cache.ts).
import { fileURLToPath } from 'node:url';
import { BUNDLE, runBundle } from '../src/cli/code-cache.ts';

runBundle(fileURLToPath(new URL(`../dist/cli/${BUNDLE}`, import.meta.url)), { writeCache: true });
