import os from 'node:os';
import { kfnVersion } from '../../core/version.js';
import { renderVersion, renderVersionJson } from '../../views/version.js';
import type { HostReport } from '../../libbpf/probe.js';

/** Always answers: without libbpf (or without koffi's native module) the report says so. */
export async function versionCommand(flags: { json?: boolean }): Promise<number> {
  let host: HostReport;
  try {
    host = (await import('../../libbpf/probe.js')).hostReport();
  } catch (e) {
    const error = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    host = { libbpf: { ok: false, error: `cannot load the FFI layer: ${error}`, code: 'LIBBPF_UNAVAILABLE' }, kernel: { release: os.release(), machine: os.machine(), features: [] } };
  }
  const v = kfnVersion();
  process.stdout.write((flags.json ? renderVersionJson(v, host) : renderVersion(v, host)) + '\n');
  return 0;
}
