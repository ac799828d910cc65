/**
 * Prometheus metrics of kfn (prom-client), one registry per process that serves them.
 *
 * - What the functions counted is read from the kernel at scrape time (render()): the
 *   engine's live state, then each running instance's counters through the chain form
 *   (the fields its object tags KFN_PACKETS / KFN_BYTES / KFN_DROPS, summed over
 *   entries and CPUs). Labels name the instance, never a flow: cardinality is bounded by
 *   chains x instances.
 * - Plan and apply durations come from the engine's events (onEngineEvent): hand it
 *   to the engine as (part of) its event sink.
 * - Callers add their own metrics to `registry` (prom-client's `registers: [registry]`);
 *   reconcile's per-stack metrics are ready-made in ./reconcile.ts.
 *
 * The metric names and labels are documented in docs/metrics.md.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LiveChain, LiveInstance } from '../core/types.js';
import type { EngineEvent } from '../engine/events.js';
import type { InstanceCounters } from '../forms/form.js';
import { CounterKind } from '../libbpf/object-info.js';

/** What the metrics read at scrape time: the live chains and an instance's counters (the engine and its form). */
export interface LiveSource {
  readChains(): LiveChain[];
  counters(instance: LiveInstance): InstanceCounters;
}

export interface BuildInfo {
  version: string;
  libbpf: string;
  node: string;
}

/** Labels of a running function instance. `stack` is empty for chains applied without a stack. */
export const INSTANCE_LABELS = ['stack', 'chain', 'netns', 'interface', 'hook', 'instance', 'function', 'version'] as const;
const CHAIN_LABELS = ['stack', 'chain', 'netns', 'interface', 'hook'] as const;

type InstanceLabel = (typeof INSTANCE_LABELS)[number];
type ChainLabel = (typeof CHAIN_LABELS)[number];

/** Seconds: plans take milliseconds; applies that load programs take up to seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const COUNTER_HELP: Record<CounterKind, string> = {
  [CounterKind.Packets]: 'Packets a function instance handled (the fields its object tags KFN_PACKETS), summed over CPUs, read from the kernel at scrape time.',
  [CounterKind.Bytes]: 'Bytes of the packets a function instance handled (fields tagged KFN_BYTES), summed over CPUs.',
  [CounterKind.Drops]: 'Packets a function instance dropped (fields tagged KFN_DROPS), summed over CPUs.',
};

export class KfnMetrics {
  readonly registry = new Registry();
  private readonly fnCounters: Record<CounterKind, Counter<InstanceLabel>>;
  private readonly attached: Gauge<ChainLabel>;
  private readonly drift: Gauge<ChainLabel>;
  private readonly readErrors: Counter;
  private readonly planSeconds: Histogram;
  private readonly applySeconds: Histogram<'outcome'>;
  private live = false;

  constructor(
    private readonly source: LiveSource,
    build: BuildInfo,
    private readonly onReadError: (e: unknown) => void = () => {},
  ) {
    const registers = [this.registry];
    new Gauge({ name: 'kfn_build_info', help: 'kfn build: its version, the libbpf it loaded and the Node.js it runs on (always 1).', labelNames: ['version', 'libbpf', 'node'], registers }).set(
      { version: build.version, libbpf: build.libbpf, node: build.node },
      1,
    );
    const counter = (kind: CounterKind) => new Counter({ name: `kfn_function_${kind}_total`, help: COUNTER_HELP[kind], labelNames: INSTANCE_LABELS, registers });
    this.fnCounters = { [CounterKind.Packets]: counter(CounterKind.Packets), [CounterKind.Bytes]: counter(CounterKind.Bytes), [CounterKind.Drops]: counter(CounterKind.Drops) };
    this.attached = new Gauge({ name: 'kfn_chain_attached', help: "1 when the chain's root runs on its hook through kfn's link, else 0.", labelNames: CHAIN_LABELS, registers });
    this.drift = new Gauge({ name: 'kfn_chain_drift', help: 'Drift notes kfn finds in the live chain (changed outside kfn); 0 in sync.', labelNames: CHAIN_LABELS, registers });
    this.readErrors = new Counter({ name: 'kfn_live_read_errors_total', help: 'Scrapes at which the live state could not be read from the kernel (the function metrics are then absent).', registers });
    this.planSeconds = new Histogram({ name: 'kfn_plan_duration_seconds', help: 'Time to make a plan (diff and compile).', buckets: DURATION_BUCKETS, registers });
    this.applySeconds = new Histogram({ name: 'kfn_apply_duration_seconds', help: 'Time an apply took, from its first step to the verification, by outcome.', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers });
  }

  /** True once the live state was read at least once (readiness). */
  get ready(): boolean {
    return this.live;
  }

  /** Feed the engine's events here (plan and apply durations). */
  onEngineEvent = (e: EngineEvent): void => {
    if (e.type === 'planned') this.planSeconds.observe(e.seconds);
    else if (e.type === 'applied') this.applySeconds.observe({ outcome: e.outcome }, e.seconds);
  };

  /** Reads the kernel now and returns the exposition (text format, `contentType`). */
  async render(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Re-reads every live chain: gauges and function counters hold exactly what runs now. */
  refresh(): void {
    for (const c of Object.values(this.fnCounters)) c.reset();
    this.attached.reset();
    this.drift.reset();
    let chains: LiveChain[];
    try {
      chains = this.source.readChains();
    } catch (e) {
      this.readErrors.inc();
      this.onReadError(e);
      return;
    }
    this.live = true;
    for (const chain of chains) {
      const cl = chainLabels(chain);
      this.attached.set(cl, chain.attached ? 1 : 0);
      this.drift.set(cl, chain.drift.length);
      for (const inst of chain.instances) {
        let counts: InstanceCounters;
        try {
          counts = this.source.counters(inst);
        } catch (e) {
          // An instance replaced between the chain read and this one: it is gone, not an error of the scrape.
          this.onReadError(e);
          continue;
        }
        const labels = { ...cl, instance: inst.name, function: inst.identity.function, version: inst.identity.version };
        for (const kind of Object.values(CounterKind)) {
          const n = counts[kind];
          if (n !== undefined) this.fnCounters[kind].inc(labels, Number(n));
        }
      }
    }
  }
}

export function chainLabels(chain: LiveChain): Record<ChainLabel, string> {
  return { stack: chain.stack ?? '', chain: chain.chainName, netns: chain.attachment.netns, interface: chain.attachment.ifname, hook: chain.attachment.hook };
}

export { ReconcileMetrics, RoundOutcome } from './reconcile.js';
export { serveMetrics, parseListenAddress, type MetricsServer } from './server.js';
