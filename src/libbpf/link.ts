/** Attaching programs to hooks through BPF links, and asking a tcx hook what runs there (XDP: netlink.ts). */
import { bpf } from './ffi.js';
import { check } from './errors.js';
import { linkCreate, progQuery, type MprogQuery } from './syscall.js';
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

export function detachLink(linkFd: number, label: string): void {
  check(bpf.link_detach(linkFd), 'detach link', label);
}

/** Programs on a tcx hook, in execution order, with the hook revision. */
export function queryTcx(ifindex: number, dir: TcxDirection, label: string): MprogQuery {
  return progQuery(ifindex, tcxAttachType(dir), `tc-${dir} on ${label}`);
}
