// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * counter.bpf.c - the simplest kernel function: counts every packet, then passes it
 * on. Tests put it at the head and tail of chains to prove no packet was dropped.
 *
 * Maps: counts (per-CPU array, 1 entry): packets seen. State, never a parameter.
 */
#include "kfn.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps") KFN_PACKETS;

static __always_inline int counter_logic(struct kfn_pkt *p)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);

	if (n)
		*n += 1;	/* per-CPU slot: no atomic needed */
	return KFN_PASS;
}

KFN_FUNCTION(counter, counter_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
