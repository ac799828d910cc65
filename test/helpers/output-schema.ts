/** Validates kfn's JSON documents against their schemas in schemas/ (ajv, strict). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { REPO_ROOT } from './paths.js';

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

function validator(file: string): ValidateFunction {
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    for (const f of ['drift-output.schema.json', 'status-output.schema.json']) {
      ajv.addSchema(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', f), 'utf8')) as object, f);
    }
  }
  let v = compiled.get(file);
  if (!v) {
    v = ajv.getSchema(file) ?? ajv.compile(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', file), 'utf8')) as object);
    compiled.set(file, v);
  }
  return v;
}

/** Fails with every schema error when `doc` does not match schemas/<file>. */
export function assertMatchesSchema(file: string, doc: unknown): void {
  const v = validator(file);
  assert.ok(v(doc), `${file}: ${JSON.stringify(v.errors, null, 2)}\n${JSON.stringify(doc, null, 2).slice(0, 4000)}`);
}
