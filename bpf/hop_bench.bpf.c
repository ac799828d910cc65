// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hop_bench.bpf.c - one chain hop three ways, for bench/proceed-on.ts: what the
 * proceed-on control word costs per tail-call hop. Each hop counts the packet (as
 * counter.bpf.c does), then goes on:
 *
 *   hop_xdp         KFN_FUNCTION as shipped: the word read from the kfn_proceed map
 *   hop_plain_xdp   kfn.h before proceed-on: tail call on pass, no word
 *   hop_global_xdp  the word read from a global in a writable section (.data.hop)
 *
 * Not a kernel function: nothing but the bench loads it.
 */
#include "kfn.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

volatile __u32 hop_flip SEC(".data.hop");

static __always_inline int hop_logic(struct kfn_pkt *p)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);

	if (n)
		*n += 1;
	return KFN_PASS;
}

KFN_FUNCTION(hop, hop_logic)

SEC("xdp")
int hop_plain_xdp(struct xdp_md *ctx)
{
	struct kfn_pkt p;

	kfn_pkt_from_xdp(&p, ctx);
	if (hop_logic(&p) == KFN_DROP)
		return XDP_DROP;
	kfn_tail_next(ctx);
	return XDP_PASS;
}

SEC("xdp")
int hop_global_xdp(struct xdp_md *ctx)
{
	struct kfn_pkt p;
	int v;

	kfn_pkt_from_xdp(&p, ctx);
	v = hop_logic(&p) == KFN_DROP ? KFN_DROP : KFN_PASS;
	if (((KFN_PROCEED_DEFAULT ^ hop_flip) >> v) & 1)
		kfn_tail_next(ctx);
	return v == KFN_DROP ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
