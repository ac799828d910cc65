/**
 * What this kernel offers for probes, asked of the kernel itself: program types through
 * libbpf_probe_bpf_prog_type (a tiny program load), the perf PMUs that kprobes and
 * uprobes attach through (/sys/bus/event_source/devices), and a kprobe opened and closed
 * again on the very function. Answers are cached for the process.
 */
import fs from 'node:fs';
import { bpf } from './ffi.js';
import { PROG_TYPE } from './constants.js';
import type { ProgramKind } from './object-info.js';

const PMU_DIR = '/sys/bus/event_source/devices';

const progTypes = new Map<string, boolean>();

/** The kernel loads programs of this kind (libbpf_probe_bpf_prog_type returns 1). */
export function programKindSupported(kind: Extract<ProgramKind, 'tracepoint' | 'kprobe' | 'tracing' | 'ext'>): boolean {
  let ok = progTypes.get(kind);
  if (ok === undefined) {
    const type = { tracepoint: PROG_TYPE.TRACEPOINT, kprobe: PROG_TYPE.KPROBE, tracing: PROG_TYPE.TRACING, ext: PROG_TYPE.EXT }[kind];
    ok = (bpf.probe_prog_type(type, null) as number) === 1;
    progTypes.set(kind, ok);
  }
  return ok;
}

export interface Pmu {
  /** perf_event_attr.type of the PMU. */
  type: number;
  /** Bit of perf_event_attr.config that makes a return probe. */
  retprobeBit: number;
}

/** The kprobe or uprobe PMU, or undefined when the kernel has none (the feature is compiled out). */
export function probePmu(name: 'kprobe' | 'uprobe'): Pmu | undefined {
  try {
    const type = Number(fs.readFileSync(`${PMU_DIR}/${name}/type`, 'utf8').trim());
    const format = fs.readFileSync(`${PMU_DIR}/${name}/format/retprobe`, 'utf8').trim();
    const bit = /^config:(\d+)$/.exec(format);
    if (!Number.isInteger(type) || !bit) return undefined;
    return { type, retprobeBit: Number(bit[1]) };
  } catch {
    return undefined;
  }
}

export const pmuPath = (name: 'kprobe' | 'uprobe'): string => `${PMU_DIR}/${name}`;
