// Build step (npm run build:ts): the CLI bundled into dist/cli/ (one file per lazily loaded
// command, plus shared chunks), so that a start-up loads a handful of files instead of
// about 250 modules; then schemas/*.schema.json compiled with ajv's standalone code
// generation into dist/, so that kfn does not compile them at every start
// (src/manifest/schema.ts uses them while the schema texts are unchanged).
import fs from 'node:fs';
import { build } from 'esbuild';
import { COMPILED_SCHEMAS, compiledSchemasSource } from '../src/manifest/schema.ts';

const dist = new URL('../dist/', import.meta.url);
fs.rmSync(dist, { recursive: true, force: true });

await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outdir: new URL('cli/', dist).pathname,
  // Chunks stay beside main.js: src/core/install.ts finds the installation two levels up.
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // koffi is a native module; the others are loaded with require() only when used.
  external: ['koffi', 'pino', 'pino-pretty', 'cli-table3', 'write-file-atomic'],
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: { js: "import { createRequire as __kfnRequire } from 'node:module'; const require = __kfnRequire(import.meta.url);" },
  logLevel: 'warning',
});
fs.chmodSync(new URL('cli/main.js', dist), 0o755);

fs.writeFileSync(new URL(COMPILED_SCHEMAS, dist), compiledSchemasSource());
