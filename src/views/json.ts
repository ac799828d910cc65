/** Machine output: pretty, key-sorted (stable) JSON; bigints become decimal strings. */
function stable(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return v;
}

export function renderJson(value: unknown): string {
  return JSON.stringify(value, stable, 2);
}

/**
 * Version of every JSON document kfn prints (plan, show, validate, test, drift, status): a
 * minor bump only adds fields, a major bump may change or remove them. Schemas:
 * schemas/*-output.schema.json.
 */
export const JSON_FORMAT_VERSION = '1.0';
