/**
 * kfn's metadata lives in the kernel next to what it describes: a one-entry array
 * map holding a JSON document, pinned as `meta` in each chain and instance directory.
 */
import { createArrayMap, openPinned, pinFd, closeFd, tryOpenPinned, withFd, mapInfoByFd, MapHandle } from '../../libbpf/index.js';
import { KfnError } from '../../core/errors.js';
import type { FunctionIdentity, Hook, TcPosition, XdpMode } from '../../core/types.js';

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
  /** Instance directory names in packet order, as kfn built it: an emptied slot shows as a chain cut short. */
  order?: string[];
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
  /** Kernel id of every pinned map at load: unpinned maps the program still holds are re-pinned by id. */
  mapIds?: Record<string, number>;
  createdAt: string;
}

export type Meta = ChainMeta | InstanceMeta;

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

function metaHandle(fd: number, pinPath: string): MapHandle {
  const info = mapInfoByFd(fd);
  if (info.name !== 'kfn_meta' || info.valueSize !== META_VALUE_SIZE || info.maxEntries !== 1) {
    throw new KfnError('STATE_CORRUPT', `${pinPath} is not a kfn metadata map (map ${info.id} "${info.name}")`, { hint: 'run kfn plan: it reports the damage' });
  }
  return new MapHandle(fd, info, pinPath);
}

export function writeMeta(pinPath: string, meta: Meta): void {
  withFd(openPinned(pinPath), (fd) => metaHandle(fd, pinPath).update(ZERO_KEY, encodeMeta(meta)));
}

/** Writes the metadata, creating its map first when the pin was removed. */
export function putMeta(pinPath: string, meta: Meta): void {
  const fd = tryOpenPinned(pinPath);
  if (fd === undefined) return createMeta(pinPath, meta);
  withFd(fd, (f) => metaHandle(f, pinPath).update(ZERO_KEY, encodeMeta(meta)));
}

/** The metadata at `pinPath`; undefined when the pin is missing or holds no kfn metadata. */
export function readMeta(pinPath: string): Meta | undefined {
  const pinned = tryOpenPinned(pinPath);
  if (pinned === undefined) return undefined;
  return withFd(pinned, (fd) => {
    let handle: MapHandle;
    try {
      handle = metaHandle(fd, pinPath);
    } catch {
      return undefined;
    }
    const raw = handle.lookup(ZERO_KEY);
    if (!raw) return undefined;
    const end = raw.indexOf(0);
    try {
      const m = JSON.parse(raw.subarray(0, end < 0 ? raw.length : end).toString('utf8')) as Meta | null;
      return m && typeof m === 'object' && (m.kind === 'chain' || m.kind === 'instance') ? m : undefined;
    } catch {
      return undefined;
    }
  });
}
