// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * portdrop.bpf.c - L3AF-style test function: drops TCP and UDP packets to the
 * destination ports listed in l3t_drop_ports, counts the drops, and passes every
 * other packet to the next function of the chain.
 *
 * Maps (sizes only, no BTF key/value types, all pinned by name):
 *   l3t_drop_ports            hash, key: u16 port (host byte order), value: u8 (1 = drop)
 *   l3t_drop_count            per-CPU array, 1 entry, value: u64 packets dropped
 *   xdp_l3t_ingress_next_prog the chain slot (one-slot program array)
 */
#include "l3t.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u16));
	__uint(value_size, sizeof(__u8));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_drop_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_drop_count SEC(".maps");

L3T_CHAIN_SLOT(xdp_l3t_ingress_next_prog);

/* Destination port in host byte order, or 0 when the packet has none. */
static __always_inline __u16 dest_port(void *l4, void *data_end, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return 0;
		return bpf_ntohs(th->dest);
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return 0;
		return bpf_ntohs(uh->dest);
	}
	return 0;
}

SEC("xdp_l3test_portdrop")
int l3t_portdrop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u8 proto = 0;
	__u16 port = 0;
	__u8 *drop;
	void *l4;

	l4 = l3t_l4(data, data_end, &proto);
	if (l4)
		port = dest_port(l4, data_end, proto);
	if (port) {
		drop = bpf_map_lookup_elem(&l3t_drop_ports, &port);
		if (drop && *drop) {
			__u64 *n = bpf_map_lookup_elem(&l3t_drop_count, &zero);

			if (n)
				*n += 1;
			return XDP_DROP;
		}
	}
	bpf_tail_call(ctx, &xdp_l3t_ingress_next_prog, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
