import os from 'node:os';
import { kfnVersion } from '../../core/version.js';
import { renderVersion, renderVersionJson } from '../../views/version.js';
import { kfnPaths } from '../../core/config.js';
import type { HostReport } from '../../libbpf/host-features.js';
import { cachedHostReport } from '../../libbpf/host-cache.js';

async function probeHost(): Promise<HostReport> {
  try {
    return (await import('../../libbpf/probe.js')).hostReport();
  } catch (e) {
    const error = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return { libbpf: { ok: false, error: `cannot load the FFI layer: ${error}`, code: 'LIBBPF_UNAVAILABLE' }, kernel: { release: os.release(), machine: os.machine(), features: [] } };
  }
}

/** Always answers: without libbpf (or without koffi's native module) the report says so. */
export async function versionCommand(flags: { json?: boolean }): Promise<number> {
  const v = kfnVersion();
  const host = await cachedHostReport(kfnPaths().stateDir, v, os.release(), probeHost);
  process.stdout.write((flags.json ? renderVersionJson(v, host) : renderVersion(v, host)) + '\n');
  return 0;
}
