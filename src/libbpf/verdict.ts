/**
 * What a packet program's return value means, per hook, as one set of kfn verdict names.
 * Pure (no FFI), so format and report code can use it without loading libbpf.
 */

export const VERDICTS = ['pass', 'drop', 'tx', 'redirect', 'aborted'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Which return-value convention a program follows: its program type. */
export type VerdictHook = 'xdp' | 'tc';

/** enum xdp_action (include/uapi/linux/bpf.h). */
export const XDP_ACTION = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/** tcx verdicts (enum tcx_action_base) and the TC_ACT_* values they share numbers with. */
export const TCX_ACTION = { NEXT: -1, PASS: 0, DROP: 2, REDIRECT: 7 } as const;
export const TC_ACT = {
  UNSPEC: -1,
  OK: 0,
  RECLASSIFY: 1,
  SHOT: 2,
  PIPE: 3,
  STOLEN: 4,
  QUEUED: 5,
  REPEAT: 6,
  REDIRECT: 7,
  TRAP: 8,
} as const;

/**
 * XDP: the kernel treats an unknown action like XDP_ABORTED (bpf_warn_invalid_xdp_action,
 * then the packet is dropped with an xdp_exception trace).
 */
export function xdpVerdict(retval: number): Verdict {
  switch (retval >>> 0) {
    case XDP_ACTION.DROP:
      return 'drop';
    case XDP_ACTION.PASS:
      return 'pass';
    case XDP_ACTION.TX:
      return 'tx';
    case XDP_ACTION.REDIRECT:
      return 'redirect';
    default:
      return 'aborted';
  }
}

/**
 * tc on tcx (the only way kfn attaches tc chains): tcx_action_code() keeps PASS, DROP and
 * REDIRECT and turns every other value into TCX_NEXT, which ends kfn's chain and lets the
 * packet continue: a pass. TC_ACT_STOLEN, QUEUED, TRAP... only mean something to cls_bpf.
 */
export function tcVerdict(retval: number): Verdict {
  switch (retval | 0) {
    case TCX_ACTION.DROP:
      return 'drop';
    case TCX_ACTION.REDIRECT:
      return 'redirect';
    default:
      return 'pass';
  }
}

export function verdictOf(hook: VerdictHook, retval: number): Verdict {
  return hook === 'xdp' ? xdpVerdict(retval) : tcVerdict(retval);
}
