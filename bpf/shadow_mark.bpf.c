// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * shadow_mark.bpf.c - used only in shadow chains (kfn test, kfn plan --packets), never
 * in a live one. A shadow puts one marker before each instance and one after the last:
 *
 *     root -> mark 1 -> instance 1 -> mark 2 -> instance 2 -> ... -> mark n+1
 *
 * Each marker stores its position in `reached` and jumps on (always: a marker has no
 * proceed-on of its own, so it uses kfn_tail_next, not kfn_continue). After a test run,
 * `reached` holds the position of the last marker the packet went through: the
 * instance at that position returned the verdict (n+1: the packet ran off the end of
 * the chain). Live chains carry no such bookkeeping: their data path is unchanged.
 *
 * Globals (.rodata): position (1-based)
 * Maps: reached  array, 1 entry, __u32: shared by every marker of one shadow
 */
#include "kfn.h"

const volatile __u32 position = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} reached SEC(".maps");

static __always_inline void mark(void)
{
	__u32 zero = 0;
	__u32 *r = bpf_map_lookup_elem(&reached, &zero);

	if (r)
		*r = position;
}

SEC("xdp")
int kfn_mark_xdp(struct xdp_md *ctx)
{
	mark();
	kfn_tail_next(ctx);
	return XDP_PASS;
}

SEC("tc")
int kfn_mark_tc(struct __sk_buff *skb)
{
	mark();
	kfn_tail_next(skb);
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
