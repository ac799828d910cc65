/**
 * Raw bpf(2) for what libbpf 1.1 cannot express: tcx links with ordering
 * (BPF_F_BEFORE/AFTER, relative_id, expected_revision) and multi-program queries
 * that return link ids and the hook revision; perf_event_open(2) for tracepoint links.
 */
import { libcFns, lastErrno } from './ffi.js';
import { BpfError } from './errors.js';
import { bpfAddress } from './info.js';
import { BPF_CMD, PERF_FLAG_FD_CLOEXEC, PERF_TYPE_TRACEPOINT, SYS_BPF, SYS_PERF_EVENT_OPEN } from './constants.js';

const ATTR_SIZE = 128;

function sysBpf(cmd: number, attr: Buffer, op: string, object: string): number {
  const ret = Number(libcFns.syscall(SYS_BPF, 'int', cmd, 'void *', attr, 'uint32_t', ATTR_SIZE));
  if (ret < 0) throw new BpfError(op, object, lastErrno());
  return ret;
}

export interface LinkCreateOpts {
  progFd: number;
  /** The target: an ifindex (XDP, tcx) or a perf event fd (BPF_PERF_EVENT). */
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

/** PERF_ATTR_SIZE_VER7; kernels with a larger struct accept it, older ones accept its zero tail. */
const PERF_ATTR_SIZE = 128;

/**
 * A perf event on tracepoint `id`, for every process (pid -1) on CPU 0: a BPF program
 * attached to a tracepoint runs on every CPU whichever CPU the event was opened on.
 */
export function perfEventOpenTracepoint(id: number, object: string): number {
  const attr = Buffer.alloc(PERF_ATTR_SIZE);
  attr.writeUInt32LE(PERF_TYPE_TRACEPOINT, 0);
  attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
  attr.writeBigUInt64LE(BigInt(id), 8);
  attr.writeBigUInt64LE(1n, 16); // sample_period
  attr.writeUInt32LE(1, 48); // wakeup_events
  const ret = Number(libcFns.syscall(SYS_PERF_EVENT_OPEN, 'void *', attr, 'int', -1, 'int', 0, 'int', -1, 'unsigned long', PERF_FLAG_FD_CLOEXEC));
  if (ret < 0) throw new BpfError('open perf event for', object, lastErrno());
  return ret;
}

export interface ProbeEventAttr {
  /** The PMU's perf_event_attr.type (kprobe or uprobe, from sysfs). */
  pmuType: number;
  /** perf_event_attr.config: the retprobe bit, or 0. */
  config: bigint;
  /** uprobe: the file's path; kprobe: the function's name (config1, a pointer). */
  name: string;
  /** uprobe: offset in the file; kprobe: offset from the function (config2). */
  offset: bigint;
}

/**
 * A kprobe or uprobe perf event (the PMU form, no tracefs needed), for every process
 * (pid -1) on CPU 0: the BPF program it carries runs for every hit on any CPU.
 */
export function perfEventOpenProbe(a: ProbeEventAttr, object: string): number {
  const name = Buffer.from(`${a.name}\0`, 'utf8');
  const attr = Buffer.alloc(PERF_ATTR_SIZE);
  attr.writeUInt32LE(a.pmuType, 0);
  attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
  attr.writeBigUInt64LE(a.config, 8);
  attr.writeBigUInt64LE(1n, 16); // sample_period
  attr.writeUInt32LE(1, 48); // wakeup_events
  attr.writeBigUInt64LE(bpfAddress(name), 56); // config1
  attr.writeBigUInt64LE(a.offset, 64); // config2
  const ret = Number(libcFns.syscall(SYS_PERF_EVENT_OPEN, 'void *', attr, 'int', -1, 'int', 0, 'int', -1, 'unsigned long', PERF_FLAG_FD_CLOEXEC));
  const errno = ret < 0 ? lastErrno() : 0;
  name.fill(0); // keeps `name` alive until the syscall has copied it
  if (ret < 0) throw new BpfError('open perf event for', object, errno);
  return ret;
}
