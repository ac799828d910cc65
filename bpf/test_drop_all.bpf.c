// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_drop_all.bpf.c - NOT a kernel function: a stand-in for a program someone loads
 * by hand (bpftool prog load) and writes into one of kfn's slots. It drops every packet,
 * so traffic shows at once whether it runs. Tests only; never reference it from a manifest.
 */
#include "kfn.h"

SEC("xdp")
int test_drop_xdp(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("tc")
int test_drop_tc(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
