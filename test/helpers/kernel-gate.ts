/**
 * Kernel-requirement gate. A kernel test needs root, a bpffs at /sys/fs/bpf, the built
 * BPF objects and CLI, and bpftool / ip / ping. When something is missing the test file
 * skips, except with KFN_REQUIRE_KERNEL=1 (CI), where it FAILS with the reason.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BPF_BUILD, CLI, OBJECTS } from './paths.js';

/** What a test file needs beyond root and bpffs; the default is what the CLI tests need. */
export interface KernelNeeds {
  /** Object file names in bpf/build (default OBJECTS). */
  objects?: readonly string[];
  /** The built CLI (default true). */
  cli?: boolean;
  /** Commands run as `CMD -h` that must exist, beyond bpftool, ip and ping. */
  tools?: readonly string[];
}

export function kernelUnavailableReason(needs: KernelNeeds = {}): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  let mounts = '';
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return 'cannot read /proc/mounts';
  }
  if (!mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) return 'no bpffs mounted at /sys/fs/bpf';
  const missing = (needs.objects ?? OBJECTS).filter((o) => !fs.existsSync(path.join(BPF_BUILD, o)));
  if (missing.length) return `BPF objects missing in ${BPF_BUILD}: ${missing.join(', ')} (run npm run build)`;
  if ((needs.cli ?? true) && !fs.existsSync(CLI)) return `${CLI} missing (run npm run build)`;
  for (const [cmd, args] of [
    ['bpftool', ['version']],
    ['ip', ['-V']],
    ['ping', ['-V']],
  ] as const) {
    const r = spawnSync(cmd, [...args], { stdio: 'ignore', timeout: 5000 });
    if (r.error || r.status !== 0) return `${cmd} is not usable`;
  }
  for (const cmd of needs.tools ?? []) {
    if (spawnSync(cmd, ['-h'], { stdio: 'ignore', timeout: 5000 }).error) return `${cmd} is not installed`;
  }
  return undefined;
}

/**
 * Call once at the top of a kernel test file. Returns a skip reason (pass it as the
 * `skip` option of the file's describe) or false when the kernel tests can run. With
 * KFN_REQUIRE_KERNEL=1 and a reason, it also registers a failing test.
 */
export function kernelGate(needs: KernelNeeds = {}): string | false {
  const reason = kernelUnavailableReason(needs);
  if (!reason) return false;
  if (process.env.KFN_REQUIRE_KERNEL === '1') {
    test('kernel requirements (KFN_REQUIRE_KERNEL=1)', () => {
      throw new Error(`kernel test cannot run: ${reason}`);
    });
  }
  return `kernel test skipped: ${reason}`;
}
