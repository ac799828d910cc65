/**
 * kfn's metadata lives in the kernel next to what it describes: a one-entry array
 * map holding a JSON document, pinned as `meta` in each chain and instance directory.
 */
import { createArrayMap, openPinned, pinFd, closeFd, tryOpenPinned, withFd, mapInfoByFd, MapHandle } from '../../libbpf/index.js';
import { KfnError } from '../../core/errors.js';
import type { FunctionIdentity, Hook, ProbeTarget, ProceedVerdict, TcPosition, XdpMode } from '../../core/types.js';

const META_VALUE_SIZE = 8192;
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
  updatedAt: string;
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
  /** Proceed-on kfn last wrote into the instance's kfn_proceed; absent: the object has none. */
  proceedOn?: ProceedVerdict[];
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
}

export type Meta = ChainMeta | InstanceMeta | ProbeMeta;

function encodeMeta(meta: Meta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  if (json.length >= META_VALUE_SIZE) {
    throw new KfnError('META_TOO_LARGE', `metadata of ${meta.kind} "${meta.kind === 'chain' ? meta.chainName : meta.name}" exceeds ${META_VALUE_SIZE} bytes`);
  }
  const buf = Buffer.alloc(META_VALUE_SIZE);
  json.copy(buf);
  return buf;
}

/** Creates a metadata map holding `meta` and pins it at `pinPath`. */
export function createMeta(pinPath: string, meta: Meta): void {
  const fd = createArrayMap('kfn_meta', META_VALUE_SIZE, 1);
  try {
    new MapHandle(fd, mapInfoByFd(fd), pinPath).update(ZERO_KEY, encodeMeta(meta));
    pinFd(fd, pinPath);
  } finally {
    closeFd(fd);
  }
}

export function writeMeta(pinPath: string, meta: Meta): void {
  withFd(openPinned(pinPath), (fd) => new MapHandle(fd, mapInfoByFd(fd), pinPath).update(ZERO_KEY, encodeMeta(meta)));
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
