/**
 * The vocabulary of kfn's host report (`kfn --version`): the kernel features kfn uses and
 * what libbpf it loaded. Apart from the probes (probe.ts), which load the FFI layer, so
 * that a cached report (host-cache.ts) is read without loading it.
 */
export enum KernelFeature {
  Btf = 'btf',
  XdpLink = 'xdp-link',
  Tcx = 'tcx',
  Tracepoints = 'tracepoints',
}

export enum FeatureState {
  Yes = 'yes',
  No = 'no',
  /** Could not be told (no root to probe, no BTF to look in). */
  Unknown = 'unknown',
}

export interface FeatureProbe {
  feature: KernelFeature;
  state: FeatureState;
  detail: string;
}

export interface HostReport {
  libbpf: { ok: true; version: string; path: string } | { ok: false; error: string; code: string };
  kernel: { release: string; machine: string; features: FeatureProbe[] };
}

export const TRACEFS = '/sys/kernel/tracing';

/** The tracepoints finding without tracefs (both the probe and a cached report say it). */
export const tracefsMissing = (): string => `tracefs is not mounted: mount -t tracefs tracefs ${TRACEFS}`;
