// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * counter_v2.bpf.c - version 2 of counter: counts packets and bytes. Its `counts`
 * map has a new value layout, so an upgrade from counter 1.x cannot carry the old
 * counts over: kfn's plan says the state will be reset.
 *
 * Maps: counts (per-CPU array, 1 entry): struct kfn_counters {packets, bytes}.
 */
#include "kfn.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kfn_counters);
} counts SEC(".maps");

static __always_inline int counter_logic(struct kfn_pkt *p)
{
	__u32 zero = 0;
	struct kfn_counters *c = bpf_map_lookup_elem(&counts, &zero);

	if (c) {
		c->packets += 1;	/* per-CPU slot: no atomic needed */
		c->bytes += p->len;
	}
	return KFN_PASS;
}

KFN_FUNCTION(counter, counter_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
