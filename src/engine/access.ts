/** Refuses early, before any work, when this process cannot read or change eBPF state. */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import type { KfnPaths } from '../core/config.js';
import { bpffsMounted, isRoot, requireLibbpf } from '../libbpf/index.js';

/** Capabilities kfn needs: bpf(2) object lookups by id and setns(2) (SYS_ADMIN, which covers CAP_BPF), links on interfaces (NET_ADMIN). */
const REQUIRED_CAPS: [bit: number, name: string][] = [
  [21, 'CAP_SYS_ADMIN'],
  [12, 'CAP_NET_ADMIN'],
];

/** The capabilities kfn checks for (what a container running kfn must be given). */
export const REQUIRED_CAPABILITIES: readonly string[] = REQUIRED_CAPS.map(([, name]) => name);

/** Required capabilities missing from this process's effective set (none when /proc cannot tell). */
export function missingCapabilities(status?: string): string[] {
  let text = status;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/status', 'utf8');
    } catch {
      return [];
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (!m) return [];
  const eff = BigInt(`0x${m[1]}`);
  return REQUIRED_CAPS.filter(([bit]) => ((eff >> BigInt(bit)) & 1n) === 0n).map(([, name]) => name);
}

/** With `pins: false` (shadow-only commands such as `kfn test`) no bpffs is needed. */
export function requireKernelAccess(paths: KfnPaths, opts: { pins?: boolean } = {}): void {
  requireLibbpf();
  if (!isRoot()) {
    throw new KfnError('NOT_ROOT', 'kfn must run as root to read and change eBPF state', { hint: 'run it with sudo or as root' });
  }
  const missing = missingCapabilities();
  if (missing.length > 0) {
    throw new KfnError('NOT_ROOT', `kfn runs as root but without ${missing.join(' and ')}: it cannot read or change eBPF state`, {
      hint: 'run it as root with its full capabilities (CAP_SYS_ADMIN, CAP_NET_ADMIN; not under a capability-dropping wrapper)',
    });
  }
  if (opts.pins === false) return;
  const bpffs = path.dirname(paths.pinRoot);
  if (!bpffsMounted(bpffs)) {
    throw new KfnError('BPFFS_NOT_MOUNTED', `${bpffs} is not a bpf filesystem`, { hint: `mount it: mount -t bpf bpf ${bpffs}` });
  }
}

/** Before a change: kfn must be able to pin under its pin root (a read-only bpffs refuses every pin, with ENOENT from mkdir). */
export function requirePinRootWritable(pinRoot: string): void {
  let at = pinRoot;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  try {
    fs.accessSync(at, fs.constants.W_OK);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    throw new KfnError('PIN_ROOT_READ_ONLY', `kfn cannot pin under ${pinRoot}: ${at} is ${errno === 'EROFS' ? 'on a read-only file system' : `not writable (${errno})`}`, {
      hint: `remount the bpf filesystem read-write (mount -o remount,rw ${path.dirname(pinRoot)}) or set KFN_PIN_ROOT to a writable bpffs directory`,
    });
  }
}
