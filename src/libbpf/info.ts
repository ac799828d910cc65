/** Program, map and link info (BPF_OBJ_GET_INFO_BY_FD), decoded from the UAPI layouts. */
import { bpf, koffi } from './ffi.js';
import { check } from './errors.js';
import { fdById, withFd } from './fd.js';
import { MAP_TYPE_NAMES } from './constants.js';

export interface ProgInfo {
  id: number;
  type: number;
  tag: string;
  name: string;
  mapIds: number[];
  btfId: number;
}

export interface MapKernelInfo {
  id: number;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
}

export interface LinkInfo {
  id: number;
  type: number;
  progId: number;
  /** Interface of an XDP or tcx link; 0 once the interface is gone (link defunct). */
  ifindex: number;
  attachType: number;
}

/** One zeroed buffer per struct size, read by the caller before the next call (all calls are synchronous). */
const scratch = new Map<number, Buffer>();

/**
 * The info length in and out. A typed array is handed to the kernel as it is; a JS array
 * (koffi's in/out form) is copied both ways, which doubled the cost of the call.
 */
const infoLength = new Uint32Array(1);

/** BPF_OBJ_GET_INFO_BY_FD of `fd` into `info` (its whole length), which the caller has prepared. */
export function objInfo(fd: number, info: Buffer, what: string): void {
  infoLength[0] = info.length;
  check(bpf.obj_get_info_by_fd(fd, info, infoLength), 'get info of', what);
}

function getInfo(fd: number, size: number, what: string, prepare?: (buf: Buffer) => void): Buffer {
  let buf = scratch.get(size);
  if (!buf) scratch.set(size, (buf = Buffer.alloc(size)));
  buf.fill(0);
  prepare?.(buf);
  objInfo(fd, buf, what);
  return buf;
}

function cstr(buf: Buffer, off: number, len: number): string {
  const s = buf.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}

/** The id alone: one syscall (progInfoByFd makes two, for the map ids). */
export function progIdByFd(fd: number): number {
  return getInfo(fd, 256, 'program').readUInt32LE(4);
}

export function progInfoByFd(fd: number): ProgInfo {
  // First call learns how many maps the program uses, second fetches their ids.
  const first = getInfo(fd, 256, 'program');
  const nrMaps = first.readUInt32LE(52);
  const ids = Buffer.alloc(4 * Math.max(nrMaps, 1));
  const buf = getInfo(fd, 256, 'program', (b) => {
    b.writeUInt32LE(nrMaps, 52);
    b.writeBigUInt64LE(BigInt(bpfAddress(ids)), 56);
  });
  const mapIds: number[] = [];
  for (let i = 0; i < Math.min(nrMaps, buf.readUInt32LE(52)); i++) mapIds.push(ids.readUInt32LE(i * 4));
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    tag: buf.subarray(8, 16).toString('hex'),
    name: cstr(buf, 64, 16),
    mapIds,
    btfId: buf.readUInt32LE(128),
  };
}

export function mapInfoByFd(fd: number): MapKernelInfo {
  const b = getInfo(fd, 96, 'map');
  const type = b.readUInt32LE(0);
  return {
    type,
    typeName: MAP_TYPE_NAMES[type] ?? `type ${type}`,
    id: b.readUInt32LE(4),
    keySize: b.readUInt32LE(8),
    valueSize: b.readUInt32LE(12),
    maxEntries: b.readUInt32LE(16),
    flags: b.readUInt32LE(20),
    name: cstr(b, 24, 16),
    btfId: b.readUInt32LE(64),
    btfKeyTypeId: b.readUInt32LE(68),
    btfValueTypeId: b.readUInt32LE(72),
  };
}

export function linkInfoByFd(fd: number): LinkInfo {
  const b = getInfo(fd, 64, 'link');
  return {
    type: b.readUInt32LE(0),
    id: b.readUInt32LE(4),
    progId: b.readUInt32LE(8),
    ifindex: b.readUInt32LE(16),
    attachType: b.readUInt32LE(20),
  };
}

export const progInfoById = (id: number): ProgInfo => withFd(fdById('prog', id), progInfoByFd);

/** Address of a Buffer's memory, for the u64 pointer fields of UAPI structs. */
export function bpfAddress(buf: Buffer): bigint {
  return koffi.address(buf);
}
