// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * root.bpf.c - the chain root. One per (netns, interface, hook), attached through a
 * BPF link (XDP link or tcx link). It only jumps into its kfn_next[0], the first
 * function of the chain; an empty chain passes every packet. It has no proceed-on of
 * its own: it always goes on (kfn_tail_next, not kfn_continue).
 *
 * The loader loads only the program matching the hook (the other one has autoload
 * off), so each loaded root owns its own kfn_next.
 */
#include "kfn.h"

SEC("xdp")
int kfn_root_xdp(struct xdp_md *ctx)
{
	kfn_tail_next(ctx);
	return XDP_PASS;
}

SEC(KFN_TC_SEC)
int kfn_root_tc(struct __sk_buff *skb)
{
	kfn_tail_next(skb);
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
