// Build step (npm run build:ts): the CLI bundled into one CommonJS file, dist/cli/kfn.cjs,
// run by the small dist/cli/main.js with V8's code cache of it (src/cli/code-cache.ts),
// which one run of `kfn validate examples/demo` makes here; then schemas/*.schema.json
// compiled with ajv's standalone code generation into dist/, so that kfn does not compile
// them at every start (src/manifest/schema.ts uses them while the schema texts are unchanged).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { COMPILED_SCHEMAS, compiledSchemasSource } from '../src/manifest/schema.ts';
import { BUNDLE, cacheFileOf } from '../src/cli/code-cache.ts';

const dist = new URL('../dist/', import.meta.url);
const repo = fileURLToPath(new URL('..', import.meta.url));
fs.rmSync(dist, { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };
// The sources are ES modules: in a CommonJS bundle, import.meta.url is the bundle's own URL.
const commonJs = {
  ...common,
  format: 'cjs',
  define: { 'import.meta.url': '__kfnBundleUrl' },
  banner: { js: "const __kfnBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};
// The CLI in one file, so that one code cache covers it; command modules still run only when used.
await build({
  ...commonJs,
  entryPoints: [fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))],
  // Beside main.js: src/core/install.ts finds the installation two levels up.
  outfile: fileURLToPath(new URL(`cli/${BUNDLE}`, dist)),
  // koffi is a native module; the others are loaded with require() only when used.
  external: ['koffi', 'pino', 'pino-pretty', 'cli-table3', 'write-file-atomic'],
});
// The thread that attaches new XDP roots (src/forms/tailcall/attacher.ts), beside the bundle.
await build({
  ...commonJs,
  entryPoints: [fileURLToPath(new URL('../src/forms/tailcall/attach-thread.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('cli/attach-thread.cjs', dist)),
  external: ['koffi'],
});
await build({
  ...common,
  entryPoints: [fileURLToPath(new URL('../src/cli/launch.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('cli/main.js', dist)),
  format: 'esm',
});
fs.chmodSync(new URL('cli/main.js', dist), 0o755);

fs.writeFileSync(new URL(COMPILED_SCHEMAS, dist), compiledSchemasSource());

// The code cache: what a run of `kfn validate` compiled (manifests, schemas, objects, views).
const train = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/train-code-cache.mjs', 'validate', 'examples/demo'], { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const cache = fileURLToPath(new URL(`cli/${cacheFileOf(BUNDLE)}`, dist));
if (!fs.existsSync(cache)) throw new Error(`no code cache was written (kfn validate examples/demo exited ${train.status}): ${train.stderr}`);
if (train.status !== 0) process.stderr.write(`build: kfn validate examples/demo exited ${train.status} while making the code cache: ${train.stderr}`);
