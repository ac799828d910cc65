/**
 * The JSON contracts of kfn's machine output (schemas/*-output.schema.json), compiled
 * once with ajv in strict mode; show and validate share definitions with plan, show and
 * status those of drift.
 */
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { REPO_ROOT } from './paths.js';

export const OUTPUTS = ['plan', 'show', 'validate', 'drift', 'status', 'stats', 'top'] as const;
export type Output = (typeof OUTPUTS)[number];

export const schemaFile = (o: Output): string => path.join(REPO_ROOT, 'schemas', `${o}-output.schema.json`);

let compiled: Record<Output, ValidateFunction> | undefined;

export function outputValidators(): Record<Output, ValidateFunction> {
  if (!compiled) {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
    const ids = OUTPUTS.map((o) => {
      const schema = JSON.parse(fs.readFileSync(schemaFile(o), 'utf8')) as { $id: string };
      ajv.addSchema(schema);
      return [o, schema.$id] as const;
    });
    compiled = Object.fromEntries(ids.map(([o, id]) => [o, ajv.getSchema(id)!])) as Record<Output, ValidateFunction>;
  }
  return compiled;
}

export function schemaErrors(o: Output, doc: unknown): ErrorObject[] {
  const v = outputValidators()[o];
  return v(doc) ? [] : [...(v.errors ?? [])];
}

/** Fails with ajv's errors (and the document) unless `doc` matches the schema of `o`. */
export function assertMatchesSchema(o: Output, doc: unknown, what: string): void {
  const errors = schemaErrors(o, doc);
  assert.deepEqual(errors, [], `${what} does not match schemas/${o}-output.schema.json:\n${JSON.stringify(errors, null, 2)}\n--- document ---\n${JSON.stringify(doc, null, 2).slice(0, 20_000)}`);
}
