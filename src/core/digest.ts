import { createHash } from 'node:crypto';
import type { MapEntry } from './types.js';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Canonical JSON: object keys sorted, so equal data always hashes equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v)) return withSortedKeys(v as Record<string, unknown>);
    return v;
  });
}

/**
 * `v` itself when its keys are in order already, else a copy with its keys in sorted
 * order (a null-prototype object, so that a key `__proto__` stays a key). Either way
 * integer-like keys come first in numeric order, as in any JavaScript object.
 */
function withSortedKeys(v: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(v);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  if (sorted) return v;
  const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const k of keys.sort()) copy[k] = v[k];
  return copy;
}

/** Digest of a map's entries as the kernel holds them (bytes only, order-independent). */
export function digestEntries(entries: readonly MapEntry[]): string {
  const lines = entries.map((e) => `${e.key}=${e.value}`).sort();
  return sha256Hex(lines.join('\n'));
}
