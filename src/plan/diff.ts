/**
 * Per-instance comparisons: identity (forces replacement), map entries (updated in
 * place) and the minimal set of instances that must move to reach a new order. Pure.
 */
import { digestEntries } from '../core/digest.js';
import { DEFAULT_NEXT_MAP, DEFAULT_PROCEED_ON, PROCEED_VERDICTS, companionText } from '../core/types.js';
import type { DesiredInstance, FunctionIdentity, InstanceChange, MapChange, MapEntry, MapEntryChange, ProceedVerdict, ValueChange, DesiredMap, LiveInstance } from '../core/types.js';

/** The identity fields compared as text, with the defaults of fields older metadata lacks. */
function identityTexts(i: FunctionIdentity) {
  return {
    function: i.function,
    version: i.version,
    sha256: i.sha256,
    program: i.program,
    nextMap: i.nextMap ?? DEFAULT_NEXT_MAP,
    companions: (i.companions ?? []).map(companionText).join(', ') || 'none',
  };
}

/** Every identity field that differs, in a fixed order; globals compared by bytes. */
export function identityChanges(from: FunctionIdentity, to: FunctionIdentity): ValueChange[] {
  const out: ValueChange[] = [];
  const a = identityTexts(from);
  const b = identityTexts(to);
  for (const field of ['function', 'version', 'sha256', 'program', 'nextMap', 'companions'] as const) {
    if (a[field] !== b[field]) out.push({ field, from: a[field], to: b[field] });
  }
  const names = [...new Set([...Object.keys(from.globals), ...Object.keys(to.globals)])].sort();
  for (const name of names) {
    const a = from.globals[name];
    const b = to.globals[name];
    if (a?.value === b?.value) continue;
    const change: ValueChange = { field: `globals.${name}` };
    if (a) change.from = a.valueText;
    if (b) change.to = b.valueText;
    out.push(change);
  }
  return out;
}

/** A proceed-on set in canonical form: PROCEED_VERDICTS order, the default when absent. */
export function proceedOnOf(set: readonly ProceedVerdict[] | undefined): ProceedVerdict[] {
  const have = new Set(set ?? DEFAULT_PROCEED_ON);
  return PROCEED_VERDICTS.filter((v) => have.has(v));
}

const sameSet = (a: readonly ProceedVerdict[], b: readonly ProceedVerdict[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export const isDefaultProceedOn = (set: readonly ProceedVerdict[] | undefined): boolean => sameSet(proceedOnOf(set), proceedOnOf(undefined));

/**
 * The proceed-on change of an instance, if any: `live` absent = a fresh instance (it
 * starts at the default). Drift = the kernel holds another value than kfn last wrote.
 */
export function proceedOnChange(desired: DesiredInstance, live: LiveInstance | undefined): InstanceChange['proceedOnChange'] {
  const to = proceedOnOf(desired.proceedOn);
  const from = proceedOnOf(live?.proceedOn);
  const drift = live !== undefined && !sameSet(from, proceedOnOf(live.appliedProceedOn));
  return sameSet(from, to) ? undefined : { from, to, drift };
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Entry-level diff of one map, by key bytes; result sorted by key. */
export function diffEntries(live: readonly MapEntry[], desired: readonly MapEntry[]): MapEntryChange[] {
  const have = new Map(live.map((e) => [e.key, e] as const));
  const want = new Map(desired.map((e) => [e.key, e] as const));
  const out: MapEntryChange[] = [];
  for (const [key, d] of want) {
    const l = have.get(key);
    if (!l) out.push({ op: 'add', key, keyText: d.keyText, toText: d.valueText, value: d.value });
    else if (l.value !== d.value) out.push({ op: 'change', key, keyText: d.keyText, fromText: l.valueText, toText: d.valueText, value: d.value, previous: l.value });
  }
  for (const [key, l] of have) {
    if (!want.has(key)) out.push({ op: 'remove', key, keyText: l.keyText, fromText: l.valueText, previous: l.value });
  }
  return out.sort((a, b) => cmpStr(a.key, b.key));
}

/**
 * Map changes of an instance for every map the manifest manages (maps it does not
 * mention are left alone). `live` absent = a fresh instance with empty maps.
 */
export function mapChanges(desired: Record<string, DesiredMap>, live: Pick<LiveInstance, 'maps' | 'appliedMaps'> | undefined): MapChange[] {
  const out: MapChange[] = [];
  for (const name of Object.keys(desired).sort()) {
    const want = desired[name]!;
    const wantedKeys = new Set(want.entries.map((e) => e.key));
    // In merge mode only the listed keys are kfn's: the rest is neither diffed nor drift.
    const liveEntries = (live?.maps[name] ?? []).filter((e) => !want.merge || wantedKeys.has(e.key));
    const entries = diffEntries(liveEntries, want.entries);
    if (entries.length === 0) continue;
    const applied = live?.appliedMaps[name];
    const drift = applied !== undefined && digestEntries(liveEntries) !== applied;
    out.push({ map: name, drift, entries });
  }
  return out;
}

/**
 * Maps of a live instance whose contents a replacement loses because the new object's
 * layout differs: state maps, and merge-mode maps (their unlisted entries). Maps the
 * manifest fully manages are rewritten anyway and never count.
 */
export function stateReset(desired: Record<string, string> | undefined, live: Record<string, string> | undefined, managed: Record<string, DesiredMap>): string[] {
  if (!desired || !live) return [];
  return Object.keys(live)
    .filter((name) => name !== DEFAULT_NEXT_MAP && (!(name in managed) || managed[name]!.merge === true) && desired[name] !== live[name])
    .sort();
}

/**
 * Names that must move so that `from` (restricted to names in both) becomes `to`:
 * everything outside one longest common subsequence, which stays in place.
 * For a swap of two, the later one in `to` order is kept, the other moves.
 */
export function movedNames(from: readonly string[], to: readonly string[]): Set<string> {
  const inTo = new Set(to);
  const fromIdx = new Map(from.filter((n) => inTo.has(n)).map((n, i) => [n, i] as const));
  const seq = to.filter((n) => fromIdx.has(n));
  const vals = seq.map((n) => fromIdx.get(n)!);
  // Longest increasing subsequence (patience sorting with back-pointers).
  const tails: number[] = []; // indices into vals
  const prev: number[] = new Array<number>(vals.length).fill(-1);
  for (let i = 0; i < vals.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (vals[tails[mid]!]! < vals[i]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1]!;
    tails[lo] = i;
  }
  const keep = new Set<string>();
  for (let i = tails.length ? tails[tails.length - 1]! : -1; i >= 0; i = prev[i]!) keep.add(seq[i]!);
  return new Set(seq.filter((n) => !keep.has(n)));
}
