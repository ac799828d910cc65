/** Attaching programs to hooks through BPF links, and asking a tcx hook what runs there (XDP: netlink.ts). */
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import { bpf } from './ffi.js';
import { closeFd } from './fd.js';
import { check } from './errors.js';
import { linkCreate, perfEventOpenProbe, perfEventOpenTracepoint, progQuery, type MprogQuery, type ProbeEventAttr } from './syscall.js';
import { ATTACH_TYPE, MPROG_FLAGS, XDP_FLAGS } from './constants.js';

export type TcxDirection = 'ingress' | 'egress';

export function tcxAttachType(dir: TcxDirection): number {
  return dir === 'ingress' ? ATTACH_TYPE.TCX_INGRESS : ATTACH_TYPE.TCX_EGRESS;
}

/** XDP link in driver (native) or generic (skb) mode; returns the link fd. */
export function attachXdpLink(progFd: number, ifindex: number, mode: 'native' | 'generic', label: string): number {
  const flags = mode === 'native' ? XDP_FLAGS.DRV_MODE : XDP_FLAGS.SKB_MODE;
  return linkCreate({ progFd, ifindex, attachType: ATTACH_TYPE.XDP, flags }, `XDP (${mode}) on ${label}`);
}

/** tcx link placed first or last among the hook's programs; returns the link fd. */
export function attachTcxLink(progFd: number, ifindex: number, dir: TcxDirection, position: 'first' | 'last', label: string): number {
  const flags = position === 'first' ? MPROG_FLAGS.BEFORE : MPROG_FLAGS.AFTER;
  return linkCreate({ progFd, ifindex, attachType: tcxAttachType(dir), flags }, `tc-${dir} on ${label}`);
}

/** Where tracefs may be mounted, the first one that has events/. */
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** `category/name`, e.g. `sock/inet_sock_set_state`, as tracefs names tracepoints. */
export const TRACEPOINT_RE = /^[A-Za-z0-9_]+\/[A-Za-z0-9_]+$/;

/** The tracepoint's id in tracefs (events/<category>/<name>/id). */
export function tracepointId(tracepoint: string): number {
  if (!TRACEPOINT_RE.test(tracepoint)) {
    throw new KfnError('TRACEPOINT_NOT_FOUND', `"${tracepoint}" is not a tracepoint name`, { hint: 'write it as category/name, e.g. sock/inet_sock_set_state' });
  }
  const root = TRACEFS_DIRS.find((d) => fs.existsSync(path.join(d, 'events')));
  if (!root) {
    throw new KfnError('TRACEFS_NOT_MOUNTED', `tracefs is not mounted (looked for ${TRACEFS_DIRS.map((d) => `${d}/events`).join(', ')})`, {
      hint: 'mount -t tracefs tracefs /sys/kernel/tracing',
    });
  }
  const idFile = path.join(root, 'events', tracepoint, 'id');
  let text: string;
  try {
    text = fs.readFileSync(idFile, 'utf8');
  } catch {
    throw new KfnError('TRACEPOINT_NOT_FOUND', `this kernel has no tracepoint ${tracepoint} (no ${idFile})`, {
      hint: `the tracepoints of this kernel are listed in ${root}/available_events`,
    });
  }
  const id = Number(text.trim());
  if (!Number.isSafeInteger(id) || id <= 0) throw new KfnError('TRACEPOINT_NOT_FOUND', `${idFile} holds no tracepoint id ("${text.trim()}")`);
  return id;
}

/**
 * Attaches a tracepoint program through a BPF link (BPF_LINK_CREATE on a perf event,
 * Linux 5.15+); returns the link fd. The link can be pinned; the program runs until the
 * link's last fd and pin are gone. The kernel cannot detach a perf-event link
 * (BPF_LINK_DETACH is EOPNOTSUPP): closing and unpinning it is what releases it.
 */
export function attachTracepointLink(progFd: number, tracepoint: string, label: string): number {
  const perfFd = perfEventOpenTracepoint(tracepointId(tracepoint), `tracepoint ${tracepoint}`);
  try {
    // The link holds its own reference to the perf event.
    return linkCreate({ progFd, ifindex: perfFd, attachType: ATTACH_TYPE.PERF_EVENT }, `tracepoint ${tracepoint} for ${label}`);
  } finally {
    closeFd(perfFd);
  }
}

/**
 * Attaches a kprobe-type program to a uprobe or kprobe perf event through a BPF link
 * (as attachTracepointLink does for tracepoints); returns the link fd.
 */
export function attachProbeLink(progFd: number, event: ProbeEventAttr, label: string): number {
  const perfFd = perfEventOpenProbe(event, label);
  try {
    return linkCreate({ progFd, ifindex: perfFd, attachType: ATTACH_TYPE.PERF_EVENT }, label);
  } finally {
    closeFd(perfFd);
  }
}

export function detachLink(linkFd: number, label: string): void {
  check(bpf.link_detach(linkFd), 'detach link', label);
}

/** Programs on a tcx hook, in execution order, with the hook revision. */
export function queryTcx(ifindex: number, dir: TcxDirection, label: string): MprogQuery {
  return progQuery(ifindex, tcxAttachType(dir), `tc-${dir} on ${label}`);
}
