// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * protocount.bpf.c - L3AF-style tc test function: counts packets per IP protocol
 * number and passes every packet to the next function of the chain.
 *
 * Maps (sizes only, no BTF key/value types, all pinned by name):
 *   l3t_proto_pkts           hash, key: u8 IP protocol, value: u64 packets
 *   tc_l3t_egress_next_prog  the chain slot (one-slot program array)
 */
#include "l3t.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u8));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_proto_pkts SEC(".maps");

L3T_CHAIN_SLOT(tc_l3t_egress_next_prog);

SEC("tc_l3test_protocount")
int l3t_protocount(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 one = 1, *n;
	__u8 proto = 0;

	if (!l3t_l4(data, data_end, &proto))
		goto next;
	n = bpf_map_lookup_elem(&l3t_proto_pkts, &proto);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&l3t_proto_pkts, &proto, &one, BPF_NOEXIST);
next:
	bpf_tail_call(skb, &tc_l3t_egress_next_prog, 0);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
