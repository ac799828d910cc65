/**
 * One reading of the kernel's counters for `kfn stats` and `kfn top` (taken by the engine),
 * and what two readings say: rates over the time between them. Pure: no kernel here.
 */
import type { Attachment } from '../core/types.js';
import type { InstanceCounters } from '../forms/form.js';
import { flowKey, type Flow } from '../flows/flows.js';
import { MEASURES, measuresOf, type Measure } from './measures.js';
import type { SortBy } from './options.js';

export interface InstanceSample {
  chain: string;
  attachment: Attachment;
  stack?: string;
  instance: string;
  function: string;
  version: string;
  progId: number;
  counters: InstanceCounters;
  /** The flows of its flow tables (empty for a function that keeps none). */
  flows: Flow[];
}

export interface Sample {
  /** CLOCK_MONOTONIC nanoseconds (process.hrtime.bigint()) when the reading started. */
  atNs: bigint;
  /** Instances in chain order (chains by attachment, instances in packet order). */
  instances: InstanceSample[];
}

/** A counter over an interval: its value at the end, its growth, and that growth per second. */
export interface Rate {
  total: bigint;
  interval: bigint;
  perSecond: number;
}

export { SortBy, SORT_BYS } from './options.js';

export interface FlowRow {
  instance: InstanceSample;
  flow: Flow;
  packets: Rate;
  bytes: Rate;
}

export interface FunctionRow {
  instance: InstanceSample;
  /** Only what the function counts. */
  rates: Partial<Record<Measure, Rate>>;
}

export interface TopReport {
  /** Seconds between the two readings. */
  seconds: number;
  sortBy: SortBy;
  /** The busiest flows first, at most `limit`. */
  flows: FlowRow[];
  /** Flows in the tables, shown or not. */
  flowCount: number;
  functions: FunctionRow[];
}

/** The same instance in two readings: a replaced instance (another program) starts from zero. */
const instanceId = (i: InstanceSample): string => `${i.attachment.netns}/${i.attachment.ifname}/${i.attachment.hook}/${i.chain}/${i.instance}/${i.progId}`;

/**
 * A counter read twice. One that went down (its instance was replaced, its flow evicted
 * from the LRU table and seen again) restarted from zero, so all of it is new; so is one
 * not there before.
 */
export function rate(before: bigint | undefined, now: bigint, seconds: number): Rate {
  const interval = before === undefined || now < before ? now : now - before;
  return { total: now, interval, perSecond: seconds > 0 ? Number(interval) / seconds : 0 };
}

/** Busiest first by the chosen rate, then by total, then by 5-tuple (a stable order). */
function compareRows(by: SortBy): (a: FlowRow, b: FlowRow) => number {
  return (a, b) => {
    const ra = a[by];
    const rb = b[by];
    if (ra.interval !== rb.interval) return ra.interval > rb.interval ? -1 : 1;
    if (ra.total !== rb.total) return ra.total > rb.total ? -1 : 1;
    const ka = flowKey(a.flow);
    const kb = flowKey(b.flow);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

export function topReport(before: Sample, now: Sample, opts: { sortBy: SortBy; limit: number }): TopReport {
  const seconds = Number(now.atNs - before.atNs) / 1e9;
  const earlier = new Map(before.instances.map((i) => [instanceId(i), i]));
  const flows: FlowRow[] = [];
  const functions: FunctionRow[] = [];
  for (const inst of now.instances) {
    const prev = earlier.get(instanceId(inst));
    const was = prev ? measuresOf(prev.counters) : {};
    const is = measuresOf(inst.counters);
    const rates: FunctionRow['rates'] = {};
    for (const m of MEASURES) {
      const v = is[m];
      if (v !== undefined) rates[m] = rate(was[m], v, seconds);
    }
    functions.push({ instance: inst, rates });
    const prevFlows = new Map((prev?.flows ?? []).map((f) => [flowKey(f), f]));
    for (const f of inst.flows) {
      const p = prevFlows.get(flowKey(f));
      flows.push({ instance: inst, flow: f, packets: rate(p?.packets, f.packets, seconds), bytes: rate(p?.bytes, f.bytes, seconds) });
    }
  }
  flows.sort(compareRows(opts.sortBy));
  return { seconds, sortBy: opts.sortBy, flows: flows.slice(0, Math.max(0, opts.limit)), flowCount: flows.length, functions };
}
