/**
 * What to export when: a pure state machine over successive reads of the flow tables.
 * Each flow is exported as counter deltas: after `activeTimeout` of continuous activity
 * (flowEndReason activeTimeout), and once it has been idle for `idleTimeout` (idle
 * timeout), after which it is forgotten; if the same 5-tuple is seen again with more
 * packets, that is a new flow. Time: the kernel stamps packets with CLOCK_MONOTONIC
 * nanoseconds; records carry wall-clock milliseconds, converted with the offset between
 * the two clocks at each read.
 */
import { flowKey, type Flow } from '../flows/flows.js';
import { FlowEndReason, type FlowRecord } from './encode.js';

export interface ExporterOptions {
  activeTimeoutMs: number;
  idleTimeoutMs: number;
}

interface Tracked {
  /** Counters already exported. */
  packets: bigint;
  bytes: bigint;
  /** Monotonic ns the next record starts at (the flow's first packet, then each export). */
  startNs: bigint;
  /** Monotonic ns of the last export (or of the first sight). */
  exportedNs: bigint;
}

export interface Clocks {
  /** CLOCK_MONOTONIC, ns (the kernel's bpf_ktime_get_ns). */
  monoNs: bigint;
  /** Wall clock, ms since the epoch. */
  wallMs: bigint;
}

export class FlowExporter {
  private readonly tracked = new Map<string, Tracked>();
  /** Flows that ended on idle timeout, with the counters they ended at. */
  private readonly ended = new Map<string, { packets: bigint; bytes: bigint }>();

  constructor(private readonly opts: ExporterOptions) {}

  /** The records due now, given the current contents of the flow tables. */
  step(flows: readonly Flow[], clocks: Clocks): FlowRecord[] {
    const toWall = (ns: bigint): bigint => clocks.wallMs - (clocks.monoNs - ns) / 1_000_000n;
    const active = BigInt(this.opts.activeTimeoutMs) * 1_000_000n;
    const idle = BigInt(this.opts.idleTimeoutMs) * 1_000_000n;
    const out: FlowRecord[] = [];
    for (const f of flows) {
      const key = flowKey(f);
      const last = f.lastNs ?? clocks.monoNs;
      const done = this.ended.get(key);
      let t = this.tracked.get(key);
      if (!t) {
        if (done && f.packets <= done.packets) continue; // still the ended flow, unchanged
        this.ended.delete(key);
        t = { packets: done?.packets ?? 0n, bytes: done?.bytes ?? 0n, startNs: done ? last : (f.firstNs ?? clocks.monoNs), exportedNs: clocks.monoNs };
        this.tracked.set(key, t);
      }
      const packets = f.packets - t.packets;
      const bytes = f.bytes - t.bytes;
      const record = (reason: FlowEndReason): FlowRecord => ({ flow: f, packets, bytes, startMs: toWall(t.startNs), endMs: toWall(last), reason });
      if (clocks.monoNs - last >= idle) {
        if (packets > 0n) out.push(record(FlowEndReason.IdleTimeout));
        this.tracked.delete(key);
        this.ended.set(key, { packets: f.packets, bytes: f.bytes });
      } else if (clocks.monoNs - t.exportedNs >= active && packets > 0n) {
        out.push(record(FlowEndReason.ActiveTimeout));
        Object.assign(t, { packets: f.packets, bytes: f.bytes, startNs: last, exportedNs: clocks.monoNs });
      }
    }
    return out;
  }

  /** Everything not yet exported, e.g. when the exporter stops (flowEndReason forcedEnd). */
  flush(flows: readonly Flow[], clocks: Clocks): FlowRecord[] {
    const toWall = (ns: bigint): bigint => clocks.wallMs - (clocks.monoNs - ns) / 1_000_000n;
    const out: FlowRecord[] = [];
    for (const f of flows) {
      const key = flowKey(f);
      const done = this.ended.get(key);
      const t = this.tracked.get(key) ?? { packets: done?.packets ?? 0n, bytes: done?.bytes ?? 0n, startNs: f.firstNs ?? clocks.monoNs, exportedNs: clocks.monoNs };
      const packets = f.packets - t.packets;
      if (packets <= 0n) continue;
      out.push({ flow: f, packets, bytes: f.bytes - t.bytes, startMs: toWall(t.startNs), endMs: toWall(f.lastNs ?? clocks.monoNs), reason: FlowEndReason.ForcedEnd });
      this.tracked.delete(key);
      this.ended.set(key, { packets: f.packets, bytes: f.bytes });
    }
    return out;
  }
}
