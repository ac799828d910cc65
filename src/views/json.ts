/** Machine output: pretty, key-sorted (stable) JSON; bigints become decimal strings. */
import type { Plan } from '../core/types.js';

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

export function renderPlanJson(plan: Plan): string {
  return renderJson(plan);
}
