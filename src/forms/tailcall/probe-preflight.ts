/**
 * What the kernel must offer for the desired probes, asked of the kernel before anything
 * is planned: the program type (libbpf_probe_bpf_prog_type), tracefs and the tracepoint,
 * the uprobe and kprobe PMUs, a uprobe's file and symbol. A missing feature is one error
 * that names it; a kind the kernel has but kfn does not attach is another.
 */
import { KfnError, KfnErrors } from '../../core/errors.js';
import type { DesiredProbe, ProbeTarget } from '../../core/types.js';
import { pmuPath, probePmu, programKindSupported, tracepointId } from '../../libbpf/index.js';
import { uprobePlace } from './probe-place.js';

const FEATURE: Record<ProbeTarget['hook'], { kind: 'tracepoint' | 'kprobe' | 'tracing' | 'ext'; words: string }> = {
  tracepoint: { kind: 'tracepoint', words: 'tracepoint programs (BPF_PROG_TYPE_TRACEPOINT)' },
  uprobe: { kind: 'kprobe', words: 'kprobe-type programs (BPF_PROG_TYPE_KPROBE), which uprobes run' },
  kprobe: { kind: 'kprobe', words: 'kprobe-type programs (BPF_PROG_TYPE_KPROBE)' },
  fentry: { kind: 'tracing', words: 'BPF trampolines (BPF_PROG_TYPE_TRACING: fentry/fexit)' },
  fexit: { kind: 'tracing', words: 'BPF trampolines (BPF_PROG_TYPE_TRACING: fentry/fexit)' },
  freplace: { kind: 'ext', words: 'program extensions (BPF_PROG_TYPE_EXT: freplace)' },
};

function missing(p: DesiredProbe, what: string, why: string, hint: string): KfnError {
  return new KfnError('KERNEL_FEATURE_MISSING', `probe "${p.name}": ${p.target.hook} needs ${what}, which this kernel lacks (${why})`, { ...(p.source ? { source: p.source } : {}), hint });
}

/** The first thing the kernel lacks for this probe, or undefined. */
function preflightOne(p: DesiredProbe): KfnError | undefined {
  const t = p.target;
  const f = FEATURE[t.hook];
  if (!programKindSupported(f.kind)) return missing(p, f.words, 'libbpf_probe_bpf_prog_type cannot load one', 'use a tracepoint or a uprobe instead');
  const src = p.source ? { source: p.source } : {};
  switch (t.hook) {
    case 'tracepoint':
      try {
        tracepointId(t.tracepoint);
      } catch (e) {
        if (e instanceof KfnError) return new KfnError(e.code, `probe "${p.name}": ${e.message}`, { ...src, ...(e.hint ? { hint: e.hint } : {}) });
        throw e;
      }
      return undefined;
    case 'uprobe':
    case 'kprobe':
      if (!probePmu(t.hook)) {
        return missing(
          p,
          `${t.hook}s`,
          `${pmuPath(t.hook)} does not exist: ${t.hook === 'kprobe' ? 'CONFIG_KPROBES' : 'CONFIG_UPROBE_EVENTS'} is off`,
          'use a tracepoint instead (the tracepoints of this kernel are listed in /sys/kernel/tracing/available_events)',
        );
      }
      if (t.hook === 'uprobe') {
        try {
          uprobePlace(p.name, t);
        } catch (e) {
          if (e instanceof KfnError) return new KfnError(e.code, e.message, { ...src, ...(e.hint ? { hint: e.hint } : {}) });
          throw e;
        }
        return undefined;
      }
      return new KfnError('PROBE_KIND_UNSUPPORTED', `probe "${p.name}": this kernel has kprobes, but kfn does not attach kprobe probes yet`, { ...src, hint: 'use a tracepoint or a uprobe' });
    default:
      return new KfnError('PROBE_KIND_UNSUPPORTED', `probe "${p.name}": this kernel has ${f.words}, but kfn does not attach ${t.hook} probes yet`, { ...src, hint: 'use a tracepoint or a uprobe' });
  }
}

/** Throws (one error per probe) what the kernel lacks for the desired probes. */
export function preflightProbes(probes: readonly DesiredProbe[]): void {
  const errors = probes.map(preflightOne).filter((e): e is KfnError => e !== undefined);
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new KfnErrors(errors);
}
