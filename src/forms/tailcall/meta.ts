/**
 * kfn's metadata lives in the kernel next to what it describes: a one-entry array
 * map holding a JSON document, pinned as `meta` in each chain and instance directory.
 */
import fs from 'node:fs';
import { createArrayMap, openPinned, pinFd, closeFd, tryOpenPinned, withFd, mapInfoByFd, MapHandle } from '../../libbpf/index.js';
import { KfnError } from '../../core/errors.js';
import type { FunctionIdentity, Hook, ProbeTarget, ProceedVerdict, TcPosition, XdpMode } from '../../core/types.js';

const META_VALUE_SIZE = 8192;
/** A stack record lists every chain of its stack: room for a few hundred attachments. */
export const STACK_META_VALUE_SIZE = 65536;
const ZERO_KEY = new Uint8Array(4);

export interface ChainMeta {
  kind: 'chain';
  chainName: string;
  netns: string;
  ifname: string;
  hook: Hook;
  mode: XdpMode;
  position: TcPosition;
  /** XDP mode actually attached. */
  attachedMode?: 'native' | 'generic';
  manifestDigest: string;
  revision?: string;
  /** The stack that owns the chain; absent in metadata written before stacks existed. */
  stack?: string;
  /** Instances in packet order as kfn last built them: a walk that stops short of it is a bypass. */
  order?: string[];
  /** Interface index the root was attached to: tells a detached link from a recreated interface. */
  ifindex?: number;
  updatedAt: string;
}

/** What kfn last applied for one stack (the chains it owns), pinned under stacks/. */
export interface StackMeta {
  kind: 'stack';
  stack: string;
  manifestDigest: string;
  revision?: string;
  chains: { netns: string; ifname: string; hook: Hook; chainName: string }[];
  appliedAt: string;
}

export interface InstanceMeta {
  kind: 'instance';
  name: string;
  chainName: string;
  identity: FunctionIdentity;
  objectPath: string;
  /** The function's parameter maps (managed and watched for drift); absent in metadata of older kfn. */
  parameters?: string[];
  /** Digest of the entries kfn last wrote, per managed map. */
  appliedMaps: Record<string, string>;
  /** Parameter maps managed in merge mode: only their listed keys are kfn's. */
  mergeMaps?: string[];
  /** Proceed-on kfn last wrote into the instance's kfn_proceed; absent: the object has none. */
  proceedOn?: ProceedVerdict[];
  /** Kernel id of every map pinned under maps/ at load: unpinned maps the program still holds are pinned again by id. */
  mapIds?: Record<string, number>;
  createdAt: string;
}

export interface ProbeMeta {
  kind: 'probe';
  name: string;
  identity: FunctionIdentity;
  objectPath: string;
  target: ProbeTarget;
  /** The function's parameter maps. */
  parameters: string[];
  appliedMaps: Record<string, string>;
  createdAt: string;
  /** When the link was made; a uprobe's file as it was then (a new inode is another file to the kernel). */
  attachedAt?: string;
  binary?: { dev: number; ino: number; offset: number };
  /** The stack that owns the probe. */
  stack?: string;
}

export type Meta = ChainMeta | InstanceMeta | StackMeta | ProbeMeta;

const metaName = (meta: Meta): string => (meta.kind === 'chain' ? meta.chainName : meta.kind === 'stack' ? meta.stack : meta.name);

function encodeMeta(meta: Meta, size: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  if (json.length >= size) {
    throw new KfnError('META_TOO_LARGE', `metadata of ${meta.kind} "${metaName(meta)}" exceeds ${size} bytes`, {
      hint: meta.kind === 'stack' ? 'split the stack: give some of its chains their own manifests directory (or --stack)' : 'shorten names and parameter lists',
    });
  }
  const buf = Buffer.alloc(size);
  json.copy(buf);
  return buf;
}

/** Creates a metadata map holding `meta` and pins it at `pinPath`. */
export function createMeta(pinPath: string, meta: Meta): void {
  const size = meta.kind === 'stack' ? STACK_META_VALUE_SIZE : META_VALUE_SIZE;
  const fd = createArrayMap('kfn_meta', size, 1);
  try {
    new MapHandle(fd, mapInfoByFd(fd), pinPath).update(ZERO_KEY, encodeMeta(meta, size));
    pinFd(fd, pinPath);
  } finally {
    closeFd(fd);
  }
}

export function writeMeta(pinPath: string, meta: Meta): void {
  withFd(openPinned(pinPath), (fd) => {
    const info = mapInfoByFd(fd);
    new MapHandle(fd, info, pinPath).update(ZERO_KEY, encodeMeta(meta, info.valueSize));
  });
}

/** Writes `meta` into the map pinned at `pinPath`, creating it when there is none. */
export function putMeta(pinPath: string, meta: Meta): void {
  if (fs.existsSync(pinPath)) writeMeta(pinPath, meta);
  else createMeta(pinPath, meta);
}

export function readMeta(pinPath: string): Meta | undefined {
  return withFd(openPinned(pinPath), metaOf(pinPath));
}

/** As readMeta, and undefined when nothing is pinned at `pinPath`. */
export function readMetaIfPinned(pinPath: string): Meta | undefined {
  const fd = tryOpenPinned(pinPath);
  return fd === undefined ? undefined : withFd(fd, metaOf(pinPath));
}

const metaOf =
  (pinPath: string) =>
  (fd: number): Meta | undefined => {
    const raw = new MapHandle(fd, mapInfoByFd(fd), pinPath).lookup(ZERO_KEY);
    if (!raw) return undefined;
    const end = raw.indexOf(0);
    try {
      return JSON.parse(raw.subarray(0, end < 0 ? raw.length : end).toString('utf8')) as Meta;
    } catch {
      return undefined;
    }
  };
