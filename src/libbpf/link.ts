/** Attaching programs to hooks through BPF links, and asking a hook what runs there. */
import { bpf } from './ffi.js';
import { check, BpfError } from './errors.js';
import { linkCreate, progQuery, type MprogQuery } from './syscall.js';
import { ATTACH_TYPE, MPROG_FLAGS, XDP_ATTACHED, XDP_FLAGS } from './constants.js';

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

export interface XdpQuery {
  /** The program attached (0 if none). */
  progId: number;
  mode: 'none' | 'native' | 'generic' | 'offload' | 'multi';
}

/** What XDP program runs on an interface of the current netns. */
export function queryXdp(ifindex: number, label: string): XdpQuery {
  // struct bpf_xdp_query_opts (libbpf 1.1): sz, prog_id, drv_prog_id, hw_prog_id, skb_prog_id, attach_mode
  const opts = Buffer.alloc(32);
  opts.writeBigUInt64LE(32n, 0);
  const ret = bpf.xdp_query(ifindex, 0, opts) as number;
  if (ret < 0) throw new BpfError('query XDP on', label, -ret);
  const modes: Record<number, XdpQuery['mode']> = {
    [XDP_ATTACHED.NONE]: 'none',
    [XDP_ATTACHED.DRV]: 'native',
    [XDP_ATTACHED.SKB]: 'generic',
    [XDP_ATTACHED.HW]: 'offload',
    [XDP_ATTACHED.MULTI]: 'multi',
  };
  return { progId: opts.readUInt32LE(8), mode: modes[opts.readUInt8(24)] ?? 'none' };
}

/** Programs on a tcx hook, in execution order, with the hook revision. */
export function queryTcx(ifindex: number, dir: TcxDirection, label: string): MprogQuery {
  return progQuery(ifindex, tcxAttachType(dir), `tc-${dir} on ${label}`);
}
