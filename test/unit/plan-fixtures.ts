/** Builders for hand-made DesiredState / LiveState fixtures used by the plan and render tests. */
import { digestEntries, sha256Hex } from '../../src/core/digest.js';
import type {
  Attachment,
  DesiredChain,
  DesiredInstance,
  DesiredState,
  ForeignProgram,
  FunctionIdentity,
  Hook,
  LiveChain,
  LiveInstance,
  LiveInterface,
  LiveState,
  MapEntry,
  TcPosition,
  XdpMode,
} from '../../src/core/types.js';

export const NOW = new Date('2025-01-02T03:04:05.000Z');

export const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

export function entry(keyText: string, valueText: string): MapEntry {
  return { key: hex(keyText), value: hex(valueText), keyText, valueText };
}

/** `{ "10.0.0.1": "1" }` -> entries sorted by key bytes. */
export function entries(obj: Record<string, string>): MapEntry[] {
  return Object.entries(obj)
    .map(([k, v]) => entry(k, v))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function ident(
  fn: string,
  version = '1.0.0',
  opts: { sha?: string; program?: string; globals?: Record<string, string> } = {},
): FunctionIdentity {
  const globals: FunctionIdentity['globals'] = {};
  for (const [k, v] of Object.entries(opts.globals ?? {})) globals[k] = { value: hex(v), valueText: v };
  return {
    function: fn,
    version,
    sha256: opts.sha ?? sha256Hex(`${fn}@${version}`),
    program: opts.program ?? `kfn_${fn}`,
    globals,
  };
}

export type MapsSpec = Record<string, Record<string, string>>;

export function dInst(name: string, identity: FunctionIdentity, maps: MapsSpec = {}): DesiredInstance {
  const dm: DesiredInstance['maps'] = {};
  for (const [m, obj] of Object.entries(maps)) dm[m] = { name: m, entries: entries(obj) };
  return { name, identity, objectPath: `/objs/${identity.function}.bpf.o`, maps: dm };
}

export function dChain(
  name: string,
  interfaces: string[],
  instances: DesiredInstance[],
  opts: { hook?: Hook; netns?: string; mode?: XdpMode; position?: TcPosition } = {},
): DesiredChain {
  return {
    name,
    hook: opts.hook ?? 'xdp',
    netns: opts.netns ?? 'default',
    interfaces,
    mode: opts.mode ?? 'auto',
    position: opts.position ?? 'last',
    instances,
    source: { file: `manifests/${name}.yaml`, line: 1, column: 1 },
  };
}

export function desired(...chains: DesiredChain[]): DesiredState {
  return { chains, manifestDigest: 'd'.repeat(64), revision: 'abc1234' };
}

/**
 * A live instance; its maps hold `maps` and, unless `applied` says otherwise, kfn's
 * record of what it wrote matches them (no drift). `applied` gives the entries kfn
 * last wrote for some maps (so a difference from `maps` is drift).
 */
export function lInst(name: string, identity: FunctionIdentity, progId: number, maps: MapsSpec = {}, applied?: MapsSpec): LiveInstance {
  const lm: LiveInstance['maps'] = {};
  const am: LiveInstance['appliedMaps'] = {};
  for (const [m, obj] of Object.entries(maps)) {
    lm[m] = entries(obj);
    am[m] = digestEntries(lm[m]!);
  }
  for (const [m, obj] of Object.entries(applied ?? {})) am[m] = digestEntries(entries(obj));
  return { name, identity, progId, pinDir: `/sys/fs/bpf/kfn/x/${name}`, maps: lm, appliedMaps: am };
}

export function at(ifname: string, hook: Hook = 'xdp', netns = 'default'): Attachment {
  return { netns, ifname, hook };
}

export function lChain(
  name: string,
  attachment: Attachment,
  instances: LiveInstance[],
  opts: { rootProgId?: number; linkId?: number; ifindex?: number; drift?: string[]; orphans?: LiveInstance[]; mode?: 'native' | 'generic'; attached?: boolean } = {},
): LiveChain {
  const c: LiveChain = {
    attachment,
    chainName: name,
    ifindex: opts.ifindex ?? 2,
    rootProgId: opts.rootProgId ?? 100,
    linkId: opts.linkId ?? 10,
    pinDir: `/sys/fs/bpf/kfn/${attachment.netns}/${attachment.ifname}/${attachment.hook}`,
    instances,
    orphans: opts.orphans ?? [],
    drift: opts.drift ?? [],
    attached: opts.attached ?? true,
    manifestDigest: 'd'.repeat(64),
    revision: 'abc1234',
  };
  if (attachment.hook === 'xdp') c.mode = opts.mode ?? 'native';
  return c;
}

/** `ifaces({ default: ['eth0', 'veth-a'], 'kfn-a': ['veth0'] })` */
export function ifaces(spec: Record<string, string[]>): LiveInterface[] {
  let idx = 1;
  return Object.entries(spec).flatMap(([netns, names]) => names.map((ifname) => ({ netns, ifname, ifindex: ++idx })));
}

export function liveState(
  opts: { chains?: LiveChain[]; interfaces?: LiveInterface[]; missingNetns?: string[]; foreign?: ForeignProgram[] } = {},
): LiveState {
  return {
    chains: opts.chains ?? [],
    interfaces: opts.interfaces ?? ifaces({ default: ['lo', 'eth0', 'eth1', 'veth-a', 'veth-b'] }),
    missingNetns: opts.missingNetns ?? [],
    foreign: opts.foreign ?? [],
  };
}

export const FN = {
  blocklist: ident('blocklist', '1.2.0'),
  ratelimit: ident('ratelimit', '1.3.0', { globals: { rate_pps: '1000', burst: '200' } }),
  flowstats: ident('flowstats', '1.0.0'),
  mirror: ident('mirror', '0.9.0'),
};
