/** Program return codes, kept apart from testrun.ts so that using them loads no libbpf. */
/** XDP return codes (enum xdp_action). */
export enum XdpAction {
  Aborted = 0,
  Drop = 1,
  Pass = 2,
  Tx = 3,
  Redirect = 4,
}

/** tc / tcx return codes (TC_ACT_*, TCX_*); kfn's chains end with TCX_NEXT. */
export enum TcAction {
  Next = -1,
  Ok = 0,
  Shot = 2,
  Redirect = 7,
}
