/**
 * What this host offers kfn: the libbpf it loaded and the kernel features kfn uses.
 * Nothing is attached anywhere: program types are probed with libbpf's tiny probe loads
 * (libbpf_probe_bpf_prog_type), link and attach kinds are looked up in the kernel's own
 * BTF (the enums bpf_link_type and bpf_attach_type list what this kernel knows).
 */
import fs from 'node:fs';
import os from 'node:os';
import { bpf, libbpfStatus } from './ffi.js';
import { Btf } from './btf.js';
import { errnoName, errnoText } from './errors.js';
import { PROG_TYPE } from './constants.js';
import { FeatureState, KernelFeature, TRACEFS, tracefsMissing, type FeatureProbe, type HostReport } from './host-features.js';

export { FeatureState, KernelFeature, TRACEFS, type FeatureProbe, type HostReport };


function probeProgType(type: number): { state: FeatureState; why?: string } {
  const r = bpf.probe_prog_type(type, null) as number;
  if (r === 1) return { state: FeatureState.Yes };
  if (r === 0) return { state: FeatureState.No };
  const name = errnoName(-r);
  return { state: FeatureState.Unknown, why: name === 'EPERM' || name === 'EACCES' ? 'probing needs root (CAP_BPF)' : `probe failed: ${errnoText(-r)}` };
}

/** The kernel's feature probes; needs libbpf loaded. */
function probeFeatures(): FeatureProbe[] {
  const handle = bpf.btf_load_vmlinux_btf();
  const vmlinux = handle ? new Btf(handle) : undefined;
  try {
    const knows = (enumName: string, value: string): boolean | undefined => {
      if (!vmlinux) return undefined;
      const t = vmlinux.findEnum(enumName);
      return t ? t.values.some((v) => v.name === value) : false;
    };
    const out: FeatureProbe[] = [
      vmlinux
        ? { feature: KernelFeature.Btf, state: FeatureState.Yes, detail: '/sys/kernel/btf/vmlinux' }
        : { feature: KernelFeature.Btf, state: FeatureState.No, detail: 'no /sys/kernel/btf/vmlinux (a kernel built without CONFIG_DEBUG_INFO_BTF)' },
    ];
    const linked = (feature: KernelFeature, progType: number, enumName: string, value: string, since: string): FeatureProbe => {
      const prog = probeProgType(progType);
      if (prog.state !== FeatureState.Yes) return { feature, state: prog.state, detail: prog.why ?? 'program type refused by the kernel' };
      const known = knows(enumName, value);
      if (known === undefined) return { feature, state: FeatureState.Unknown, detail: `no kernel BTF to look up ${value}` };
      return known ? { feature, state: FeatureState.Yes, detail: value } : { feature, state: FeatureState.No, detail: `the kernel lacks ${value} (${since})` };
    };
    out.push(linked(KernelFeature.XdpLink, PROG_TYPE.XDP, 'bpf_link_type', 'BPF_LINK_TYPE_XDP', 'Linux 5.9 or later has it'));
    out.push(linked(KernelFeature.Tcx, PROG_TYPE.SCHED_CLS, 'bpf_attach_type', 'BPF_TCX_INGRESS', 'Linux 6.6 or later has it'));
    const tp = probeProgType(PROG_TYPE.TRACEPOINT);
    if (tp.state !== FeatureState.Yes) out.push({ feature: KernelFeature.Tracepoints, state: tp.state, detail: tp.why ?? 'program type refused by the kernel' });
    else if (!fs.existsSync(`${TRACEFS}/events`)) out.push({ feature: KernelFeature.Tracepoints, state: FeatureState.No, detail: tracefsMissing() });
    else out.push({ feature: KernelFeature.Tracepoints, state: FeatureState.Yes, detail: `tracefs at ${TRACEFS}` });
    return out;
  } finally {
    if (handle) bpf.btf_free(handle);
  }
}

/** The loaded libbpf's version (`1.1`); loads libbpf (LIBBPF_UNAVAILABLE when it cannot). */
export function libbpfVersion(): string {
  return String(bpf.version_string()).replace(/^v/, '');
}

/** Never throws: a missing or broken libbpf is part of the report. */
export function hostReport(): HostReport {
  const kernel = { release: os.release(), machine: os.machine() };
  const lib = libbpfStatus();
  if (!lib.ok) {
    const unknown = 'needs libbpf';
    return {
      libbpf: { ok: false, error: lib.error.message, code: lib.error.code },
      kernel: { ...kernel, features: Object.values(KernelFeature).map((feature) => ({ feature, state: FeatureState.Unknown, detail: unknown })) },
    };
  }
  return { libbpf: { ok: true, version: libbpfVersion(), path: lib.path }, kernel: { ...kernel, features: probeFeatures() } };
}
