/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * l3t.h - shared bits of the L3AF-style test functions of this folder.
 *
 * These objects deliberately look like L3AF kernel functions, not like kfn's own
 * (bpf/include/kfn.h): CO-RE objects built against a vmlinux.h generated from the
 * running kernel, non-standard program sections that libbpf cannot map to a program
 * type, maps declared by key_size/value_size only (no BTF key/value types), every
 * map pinned by name, and a chain slot (a one-slot program array) with its own name.
 * kfn must run them unmodified; they exist to prove that it does.
 */
#ifndef L3T_H
#define L3T_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* #defines of the UAPI headers, which vmlinux.h (types only) lacks. */
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define TC_ACT_OK	0

/*
 * An L3AF-style chain slot: one program array entry that the loader fills with the
 * next function of the chain. Declared by sizes, pinned by name, like the rest.
 */
#define L3T_CHAIN_SLOT(name)						\
struct {								\
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);				\
	__uint(max_entries, 1);						\
	__uint(key_size, sizeof(__u32));				\
	__uint(value_size, sizeof(__u32));				\
	__uint(pinning, LIBBPF_PIN_BY_NAME);				\
} name SEC(".maps")

/*
 * The L4 header of an IPv4 or IPv6 packet (no extension headers, no VLAN) and its
 * protocol; NULL when the frame is not IP or is truncated.
 */
static __always_inline void *l3t_l4(void *data, void *data_end, __u8 *proto)
{
	struct ethhdr *eth = data;
	void *l3 = eth + 1;

	if (l3 > data_end)
		return NULL;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return NULL;
		/* Non-first fragments carry no L4 header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return NULL;
		*proto = ip->protocol;
		return l3 + ip->ihl * 4;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return NULL;
		*proto = ip6->nexthdr;
		return ip6 + 1;
	}
	return NULL;
}

#endif /* L3T_H */
