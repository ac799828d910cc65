// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * inlined.bpf.c - the per-packet floor of bench/perpacket.ts: the work of n counter
 * functions (bpf/counter.bpf.c: one per-CPU counter each) inlined in one program, no
 * tail call. n is a .rodata global set at load; the verifier knows it, so the loop
 * below is n straight-line increments after dead-code removal.
 */
#include "kfn.h"

#define MAX_FNS 16

const volatile __u32 n_fns = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_FNS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int inlined(struct xdp_md *ctx)
{
#pragma unroll
	for (__u32 i = 0; i < MAX_FNS; i++) {
		__u32 key = i;
		__u64 *n;

		if (i >= n_fns)
			break;
		n = bpf_map_lookup_elem(&counts, &key);
		if (n)
			*n += 1;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
