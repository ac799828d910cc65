/**
 * Attaches a loaded SEC("tracepoint/<category>/<event>") program the way libbpf's
 * bpf_program__attach_tracepoint does: a perf event on the tracepoint (its id from
 * tracefs), then a BPF link of type BPF_PERF_EVENT on that event. Closing the
 * returned handle detaches. The program runs for the event on every CPU.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { closeFd } from '../../src/libbpf/index.js';
import { lastErrno, libcFns } from '../../src/libbpf/ffi.js';
import { BpfError } from '../../src/libbpf/errors.js';
import { linkCreate } from '../../src/libbpf/syscall.js';

const TRACEFS = '/sys/kernel/tracing';
const SYS_PERF_EVENT_OPEN = 298; // x86_64
const PERF_TYPE_TRACEPOINT = 2;
const PERF_FLAG_FD_CLOEXEC = 8;
const PERF_ATTR_SIZE_VER0 = 64;
const BPF_PERF_EVENT = 41; // enum bpf_attach_type

/** tracefs, mounted if it is not (KERNEL-NOTES.md: it may need mounting). */
export function tracefsEvents(): string | undefined {
  if (!fs.existsSync(`${TRACEFS}/events`)) spawnSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: 'ignore', timeout: 5000 });
  return fs.existsSync(`${TRACEFS}/events`) ? `${TRACEFS}/events` : undefined;
}

export interface TracepointLink {
  close(): void;
}

export function attachTracepoint(progFd: number, category: string, event: string): TracepointLink {
  const events = tracefsEvents();
  if (!events) throw new Error(`tracefs is not available at ${TRACEFS}`);
  const id = Number(fs.readFileSync(`${events}/${category}/${event}/id`, 'utf8').trim());
  // struct perf_event_attr, first version: type, size, config; everything else zero (enabled).
  const attr = Buffer.alloc(PERF_ATTR_SIZE_VER0);
  attr.writeUInt32LE(PERF_TYPE_TRACEPOINT, 0);
  attr.writeUInt32LE(PERF_ATTR_SIZE_VER0, 4);
  attr.writeBigUInt64LE(BigInt(id), 8);
  const pfd = Number(libcFns.syscall(SYS_PERF_EVENT_OPEN, 'void *', attr, 'int', -1, 'int', 0, 'int', -1, 'unsigned long', PERF_FLAG_FD_CLOEXEC));
  if (pfd < 0) throw new BpfError('perf_event_open', `tracepoint ${category}:${event}`, lastErrno());
  let linkFd: number;
  try {
    linkFd = linkCreate({ progFd, ifindex: pfd, attachType: BPF_PERF_EVENT }, `tracepoint ${category}:${event}`);
  } catch (e) {
    closeFd(pfd);
    throw e;
  }
  return {
    close(): void {
      closeFd(linkFd);
      closeFd(pfd);
    },
  };
}
