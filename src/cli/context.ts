/** What every command needs: paths, logger, the desired state and the live state. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { kfnPaths, type KfnPaths } from '../core/config.js';
import { KfnError } from '../core/errors.js';
import type { DesiredState, LiveState } from '../core/types.js';
import { bpffsMounted, isRoot, readObjectInfo, setLibbpfSink } from '../libbpf/index.js';
import { loadDesiredState } from '../manifest/index.js';
import { readLiveState } from '../state/read.js';
import { createLogger, type LogFormat } from './logger.js';

export interface GlobalOptions {
  logLevel: string;
  logFormat: LogFormat;
}

export interface Context {
  paths: KfnPaths;
  log: Logger;
  color: boolean;
}

export function createContext(opts: GlobalOptions): Context {
  const log = createLogger(opts.logLevel, opts.logFormat);
  setLibbpfSink((level, msg) => log[level === 'warn' ? 'debug' : 'trace']({ libbpf: true }, msg));
  return { paths: kfnPaths(), log, color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR };
}

export const DEFAULT_MANIFESTS = 'manifests';

export function manifestTarget(arg: string | undefined): string {
  return path.resolve(arg ?? DEFAULT_MANIFESTS);
}

export function loadDesired(target: string): DesiredState {
  const desired = loadDesiredState(target, { readObjectInfo });
  const revision = gitRevision(target);
  return revision ? { ...desired, revision } : desired;
}

/** The commit the manifests come from, when they live in a git work tree. */
function gitRevision(target: string): string | undefined {
  const dir = fs.existsSync(target) && fs.statSync(target).isDirectory() ? target : path.dirname(target);
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Capabilities kfn needs: bpf(2) object lookups by id and setns(2) (SYS_ADMIN, which covers CAP_BPF), links on interfaces (NET_ADMIN). */
const REQUIRED_CAPS: [bit: number, name: string][] = [
  [21, 'CAP_SYS_ADMIN'],
  [12, 'CAP_NET_ADMIN'],
];

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

/** Refuses early, before any work, when kfn cannot touch the kernel. */
export function requireKernelAccess(ctx: Context): void {
  if (!isRoot()) {
    throw new KfnError('NOT_ROOT', 'kfn must run as root to read and change eBPF state', { hint: 'run it with sudo or as root' });
  }
  const missing = missingCapabilities();
  if (missing.length > 0) {
    throw new KfnError('NOT_ROOT', `kfn runs as root but without ${missing.join(' and ')}: it cannot read or change eBPF state`, {
      hint: 'run it as root with its full capabilities (CAP_SYS_ADMIN, CAP_NET_ADMIN; not under a capability-dropping wrapper)',
    });
  }
  const bpffs = path.dirname(ctx.paths.pinRoot);
  if (!bpffsMounted(bpffs)) {
    throw new KfnError('BPFFS_NOT_MOUNTED', `${bpffs} is not a bpf filesystem`, { hint: `mount it: mount -t bpf bpf ${bpffs}` });
  }
}

/** Live state of kfn's chains plus the interfaces and hooks of the given namespaces. */
export function readLive(ctx: Context, netns: Iterable<string> = []): LiveState {
  return readLiveState({ pinRoot: ctx.paths.pinRoot, netns: [...new Set(netns)] });
}

export const netnsOf = (d: { chains: { netns: string }[] } | undefined): string[] => (d?.chains ?? []).map((c) => c.netns);
