/**
 * Raw bpf(2) for what libbpf 1.1 cannot express: tcx links with ordering
 * (BPF_F_BEFORE/AFTER, relative_id, expected_revision) and multi-program queries
 * that return link ids and the hook revision.
 */
import { libcFns, lastErrno } from './ffi.js';
import { BpfError } from './errors.js';
import { bpfAddress } from './info.js';
import { BPF_CMD, SYS_BPF } from './constants.js';

const ATTR_SIZE = 128;

function sysBpf(cmd: number, attr: Buffer, op: string, object: string): number {
  const ret = Number(libcFns.syscall(SYS_BPF, 'int', cmd, 'void *', attr, 'uint32_t', ATTR_SIZE));
  if (ret < 0) throw new BpfError(op, object, lastErrno());
  return ret;
}

export interface LinkCreateOpts {
  progFd: number;
  ifindex: number;
  attachType: number;
  flags?: number;
  /** tcx: the program or link id that BPF_F_BEFORE/AFTER is relative to (with BPF_F_ID). */
  relativeId?: number;
  /** tcx: fail with ESTALE if the hook changed since this revision was read. */
  expectedRevision?: bigint;
}

/** BPF_LINK_CREATE; returns the new link fd. */
export function linkCreate(o: LinkCreateOpts, object: string): number {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(o.progFd, 0);
  attr.writeUInt32LE(o.ifindex, 4);
  attr.writeUInt32LE(o.attachType, 8);
  attr.writeUInt32LE(o.flags ?? 0, 12);
  attr.writeUInt32LE(o.relativeId ?? 0, 16);
  attr.writeBigUInt64LE(o.expectedRevision ?? 0n, 24);
  return sysBpf(BPF_CMD.LINK_CREATE, attr, 'attach', object);
}

export interface MprogQuery {
  progIds: number[];
  linkIds: number[];
  revision: bigint;
}

/** BPF_PROG_QUERY on a multi-program (tcx) hook, in the hook's execution order. */
export function progQuery(ifindex: number, attachType: number, object: string): MprogQuery {
  const max = 64;
  const progIds = Buffer.alloc(4 * max);
  const linkIds = Buffer.alloc(4 * max);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(ifindex, 0);
  attr.writeUInt32LE(attachType, 4);
  attr.writeBigUInt64LE(bpfAddress(progIds), 16);
  attr.writeUInt32LE(max, 24);
  attr.writeBigUInt64LE(bpfAddress(linkIds), 40);
  sysBpf(BPF_CMD.PROG_QUERY, attr, 'query programs on', object);
  const count = attr.readUInt32LE(24);
  const out: MprogQuery = { progIds: [], linkIds: [], revision: attr.readBigUInt64LE(56) };
  for (let i = 0; i < Math.min(count, max); i++) {
    out.progIds.push(progIds.readUInt32LE(i * 4));
    out.linkIds.push(linkIds.readUInt32LE(i * 4));
  }
  return out;
}
