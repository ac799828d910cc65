/**
 * The function library kfn ships: the functions of bpf/, built into the package's
 * bpf/build, available to every Chain by name (`function: blocklist@1.0.0`) without a
 * KernelFunction manifest or an object in the manifests repository. A repository's own
 * KernelFunctions add to them (docs/library.md: versions, shadowing, pins).
 *
 * This is data only: which object, program and hooks make each name@version. What an
 * object declares (parameters, state maps, counters, sha256) is read from the object
 * itself, like any other function's.
 */
import path from 'node:path';
import type { Hook } from '../core/types.js';
import { installPath } from '../core/install.js';

export interface BuiltinFunction {
  name: string;
  version: string;
  /** Absolute path of the object in this installation. */
  objectPath: string;
  /** Base name of its programs (`<program>_xdp`, `<program>_tc`). */
  program: string;
  hooks: Hook[];
  /** Other programs of the object loaded and attached with it, as a KernelFunction's spec.companions. */
  companions?: { program: string; tracepoint?: string }[];
  summary: string;
}

export const LIBRARY_DIR = installPath('bpf', 'build') + path.sep;

const ALL_HOOKS: Hook[] = ['xdp', 'tc-ingress', 'tc-egress'];

const CATALOG: readonly Omit<BuiltinFunction, 'objectPath'>[] = [
  { name: 'blocklist', version: '1.0.0', program: 'blocklist', hooks: ALL_HOOKS, summary: 'drops IPv4/IPv6 packets whose source is in a listed prefix' },
  { name: 'allowlist', version: '1.0.0', program: 'allowlist', hooks: ALL_HOOKS, summary: 'default deny: drops IP packets whose source is not in a listed prefix' },
  { name: 'ratelimit', version: '1.0.0', program: 'ratelimit', hooks: ALL_HOOKS, summary: 'token buckets: a global rate and per-prefix rules; drops what is over' },
  { name: 'connlimit', version: '1.0.0', program: 'connlimit', hooks: ['xdp', 'tc-ingress'], companions: [{ program: 'connlimit_sock' }], summary: "caps a local server port's concurrent TCP connections (drops new SYNs at the limit)" },
  { name: 'mirror', version: '1.0.0', program: 'mirror', hooks: ['tc-ingress', 'tc-egress'], summary: 'copies matching packets out of another interface' },
  { name: 'flowstats', version: '1.0.0', program: 'flowstats', hooks: ALL_HOOKS, summary: 'counts packets and bytes per protocol and per flow; never drops' },
  { name: 'counter', version: '1.0.0', program: 'counter', hooks: ALL_HOOKS, summary: 'counts every packet and passes it on' },
];

/** The built-in functions, their objects in `dir` (this installation's bpf/build by default). */
export function builtinFunctions(dir: string = LIBRARY_DIR): BuiltinFunction[] {
  return CATALOG.map((f) => ({ ...f, hooks: [...f.hooks], ...(f.companions ? { companions: f.companions.map((c) => ({ ...c })) } : {}), objectPath: path.join(dir, `${f.program}.bpf.o`) }));
}
