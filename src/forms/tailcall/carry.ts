/**
 * What a replacement takes over from the live instance or probe it replaces: the state
 * maps (not the manifest-managed ones) whose layout is identical, so counters and tables
 * survive; and in merge mode the entries the manifests do not list, when the layout is
 * unchanged. Pure: the pins are named, never opened.
 */
import type { DesiredMap, MapEntry } from '../../core/types.js';

export interface CarriedState {
  maps: { name: string; pin: string }[];
  keep: Record<string, { key: string; value: string }[]>;
}

export function carriedState(
  live: { stateMaps?: Record<string, string>; maps: Record<string, MapEntry[]> },
  desired: { stateMaps?: Record<string, string>; maps: Record<string, DesiredMap> },
  pinOf: (map: string) => string,
): CarriedState {
  const want = desired.stateMaps ?? {};
  const have = live.stateMaps ?? {};
  const same = (name: string): boolean => want[name] !== undefined && want[name] === have[name];
  const keep: CarriedState['keep'] = {};
  for (const m of Object.values(desired.maps)) {
    if (!m.merge || !same(m.name)) continue;
    const listed = new Set(m.entries.map((e) => e.key));
    const unlisted = (live.maps[m.name] ?? []).filter((e) => !listed.has(e.key)).map((e) => ({ key: e.key, value: e.value }));
    if (unlisted.length) keep[m.name] = unlisted;
  }
  const maps = Object.keys(have)
    .filter((name) => !(name in desired.maps) && same(name))
    .sort()
    .map((name) => ({ name, pin: pinOf(name) }));
  return { maps, keep };
}
