/** `kfn --version` / `kfn version [--json]`: kfn, the libbpf it loaded, and what the kernel offers. */
import type { HostReport } from '../libbpf/probe.js';
import { JSON_FORMAT_VERSION, renderJson } from './json.js';

const FEATURE_LABEL: Record<string, string> = { btf: 'BTF', 'xdp-link': 'XDP link', tcx: 'tcx', tracepoints: 'tracepoints' };

export function renderVersion(kfn: string, host: HostReport): string {
  const lines = [`kfn ${kfn}`];
  lines.push(host.libbpf.ok ? `libbpf ${host.libbpf.version} (${host.libbpf.path})` : `libbpf unavailable: ${host.libbpf.error}`);
  lines.push(`kernel ${host.kernel.release} ${host.kernel.machine}`);
  const width = Math.max(...host.kernel.features.map((f) => (FEATURE_LABEL[f.feature] ?? f.feature).length));
  for (const f of host.kernel.features) lines.push(`  ${(FEATURE_LABEL[f.feature] ?? f.feature).padEnd(width)}  ${f.state.padEnd(7)}  ${f.detail}`);
  return lines.join('\n');
}

export function versionJson(kfn: string, host: HostReport) {
  return {
    format_version: JSON_FORMAT_VERSION,
    kfn_version: kfn,
    libbpf: host.libbpf.ok ? { available: true, version: host.libbpf.version, path: host.libbpf.path } : { available: false, error: host.libbpf.error, code: host.libbpf.code },
    kernel: {
      release: host.kernel.release,
      machine: host.kernel.machine,
      features: Object.fromEntries(host.kernel.features.map((f) => [f.feature, { state: f.state, detail: f.detail }])),
    },
  };
}

export function renderVersionJson(kfn: string, host: HostReport): string {
  return renderJson(versionJson(kfn, host));
}
