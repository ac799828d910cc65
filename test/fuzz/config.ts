/**
 * How hard the fuzz properties work. `npm test` runs them with small defaults;
 * `npm run fuzz` sets FUZZ_RUNS (runs per property) and the kernel test reads
 * FUZZ_APPLY_STEPS (applies in sequence). FUZZ_SEED replays a reported failure.
 */
import type { Parameters } from 'fast-check';

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${v}: expected a positive integer`);
  return n;
}

export const FUZZ_RUNS = envInt('FUZZ_RUNS');
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED);

/** Runs for one property: `def` by default, FUZZ_RUNS (times `scale`) when set. */
export function runs(def: number, scale = 1): number {
  return FUZZ_RUNS === undefined ? def : Math.max(1, Math.round(FUZZ_RUNS * scale));
}

/** fast-check parameters for one property. */
export function params<T>(def: number, scale = 1): Parameters<T> {
  const p: Parameters<T> = { numRuns: runs(def, scale), includeErrorInReport: true };
  if (FUZZ_SEED !== undefined) p.seed = FUZZ_SEED;
  return p;
}

/** Applies in sequence for the kernel fuzz test. */
export function applySteps(def: number): number {
  return envInt('FUZZ_APPLY_STEPS') ?? (FUZZ_RUNS === undefined ? def : Math.max(def, Math.min(40, Math.round(FUZZ_RUNS / 100))));
}
