/**
 * What `kfn stats` and `kfn top` show per function instance: the counters its object tags
 * (KFN_PACKETS, KFN_BYTES, KFN_DROPS: InstanceCounters, the same sums the metrics expose)
 * and what follows from them.
 */
import type { InstanceCounters } from '../forms/form.js';
import { CounterKind } from '../libbpf/object-info.js';

export enum Measure {
  Packets = 'packets',
  Bytes = 'bytes',
  Drops = 'drops',
  /** Packets handled and not dropped. */
  Passed = 'passed',
}

export const MEASURES: readonly Measure[] = [Measure.Packets, Measure.Bytes, Measure.Passed, Measure.Drops];

export type Measures = Partial<Record<Measure, bigint>>;

/**
 * The tagged counters, and `passed` = packets - drops. KFN_PACKETS counts every packet a
 * function handled and KFN_DROPS those it dropped (bpf/include/kfn.h), so a function that
 * tags packets but no drops (flowstats, counter) never drops. A function that tags no
 * packets (connlimit counts only the SYNs it refused) has no `passed`: it is not known.
 */
export function measuresOf(c: InstanceCounters): Measures {
  const m: Measures = {};
  if (c[CounterKind.Packets] !== undefined) m[Measure.Packets] = c[CounterKind.Packets];
  if (c[CounterKind.Bytes] !== undefined) m[Measure.Bytes] = c[CounterKind.Bytes];
  if (c[CounterKind.Drops] !== undefined) m[Measure.Drops] = c[CounterKind.Drops];
  if (m[Measure.Packets] !== undefined) {
    const passed = m[Measure.Packets] - (m[Measure.Drops] ?? 0n);
    // A packet counted as dropped by a function that counted fewer packets: the tags disagree; never show a negative count.
    m[Measure.Passed] = passed < 0n ? 0n : passed;
  }
  return m;
}
