// Build step (npm run build:ts, after tsc): compiles schemas/*.schema.json with ajv's
// standalone code generation into dist/manifest/, so that kfn does not compile them at
// every start (src/manifest/schema.ts uses them while the schema texts are unchanged).
import fs from 'node:fs';
import { COMPILED_SCHEMAS, compiledSchemasSource } from '../dist/manifest/schema.js';

fs.writeFileSync(new URL(`../dist/manifest/${COMPILED_SCHEMAS}`, import.meta.url), compiledSchemasSource());
