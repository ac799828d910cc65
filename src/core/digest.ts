import { createHash } from 'node:crypto';
import type { MapEntry } from './types.js';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Canonical JSON: object keys sorted, so equal data always hashes equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** Digest of a map's entries as the kernel holds them (bytes only, order-independent). */
export function digestEntries(entries: readonly MapEntry[]): string {
  const lines = entries.map((e) => `${e.key}=${e.value}`).sort();
  return sha256Hex(lines.join('\n'));
}
