// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flowstats.bpf.c - flow visibility. Counts packets and bytes per L4 protocol, and
 * per 5-tuple flow also when it was first and last seen and which TCP flags it
 * carried. Never drops. A flow is one direction (a connection is two flows).
 *
 * Maps (all state, none a parameter):
 *   proto_stats  per-CPU array, 5 entries (enum flowstats_proto) -> struct kfn_counters
 *   flows        LRU hash, 65536 entries, struct kfn_flow_key -> struct flowstats_flow
 *                (the least recently updated flows are evicted when it is full)
 */
#include "kfn.h"

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* Keys of proto_stats. */
enum flowstats_proto {
	FS_PROTO_OTHER = 0,	/* not IPv4/IPv6, or another L4 protocol */
	FS_PROTO_ICMP = 1,
	FS_PROTO_TCP = 2,
	FS_PROTO_UDP = 3,
	FS_PROTO_ICMPV6 = 4,
	FS_PROTO_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_PROTO_MAX);
	__type(key, __u32);
	__type(value, struct kfn_counters);
} proto_stats SEC(".maps");

struct flowstats_flow {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;		/* bpf_ktime_get_ns() of the first packet */
	__u64 last_ns;		/* bpf_ktime_get_ns() of the latest packet, >= first_ns */
	__u64 tcp_flags;	/* OR of the TCP flags bytes (FIN 0x01 .. CWR 0x80); 64 bits:
				 * clang 14's only atomic OR */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct kfn_flow_key);
	__type(value, struct flowstats_flow);
} flows SEC(".maps");

static __always_inline __u32 proto_slot(__u8 proto)
{
	switch (proto) {
	case IPPROTO_ICMP:
		return FS_PROTO_ICMP;
	case IPPROTO_TCP:
		return FS_PROTO_TCP;
	case IPPROTO_UDP:
		return FS_PROTO_UDP;
	case IPPROTO_ICMPV6:
		return FS_PROTO_ICMPV6;
	default:
		return FS_PROTO_OTHER;
	}
}

/* The flags byte of a TCP header at l4 (0 when not TCP or truncated). */
static __always_inline __u32 tcp_flags(const struct kfn_pkt *p, void *l4, __u8 proto)
{
	__u8 *th = l4;

	if (!l4 || proto != IPPROTO_TCP || (void *)(th + sizeof(struct tcphdr)) > p->data_end)
		return 0;
	return th[13];
}

static __always_inline void count_flow(struct kfn_flow_key *key, __u32 len, __u64 flags)
{
	__u64 now = bpf_ktime_get_ns();
	struct flowstats_flow *f = bpf_map_lookup_elem(&flows, key);

	if (!f) {
		struct flowstats_flow init = {
			.packets = 1, .bytes = len, .first_ns = now, .last_ns = now, .tcp_flags = flags,
		};

		if (bpf_map_update_elem(&flows, key, &init, BPF_NOEXIST) == 0)
			return;
		/* Another CPU created it in between: add to that entry. */
		f = bpf_map_lookup_elem(&flows, key);
		if (!f)
			return;
	}
	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, len);
	/* Never backwards: another CPU may have stored a later time meanwhile. */
	if (now > f->last_ns)
		f->last_ns = now;
	if ((f->tcp_flags & flags) != flags)
		__sync_fetch_and_or(&f->tcp_flags, flags);
}

static __always_inline int flowstats_logic(struct kfn_pkt *p)
{
	struct kfn_flow_key key;
	struct kfn_counters *pc;
	void *l3, *l4 = NULL;
	__u32 slot = FS_PROTO_OTHER;
	__u16 proto;

	__builtin_memset(&key, 0, sizeof(key));
	proto = kfn_parse_eth(p, &l3);
	if (proto == ETH_P_IP) {
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			goto out;
		/* IPv4-mapped IPv6 (::ffff:a.b.c.d): one address form for both families. */
		key.saddr[10] = key.saddr[11] = 0xff;
		key.daddr[10] = key.daddr[11] = 0xff;
		__builtin_memcpy(&key.saddr[12], &ip->saddr, 4);
		__builtin_memcpy(&key.daddr[12], &ip->daddr, 4);
		key.proto = ip->protocol;
		key.family = 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			goto out;
		__builtin_memcpy(key.saddr, &ip6->saddr, 16);
		__builtin_memcpy(key.daddr, &ip6->daddr, 16);
		key.proto = ip6->nexthdr;
		key.family = 6;
	} else {
		goto out;
	}
	slot = proto_slot(key.proto);
	if (kfn_parse_ports(p, l4, key.proto, &key.sport, &key.dport) < 0) {
		key.sport = 0;
		key.dport = 0;
	}
	count_flow(&key, p->len, tcp_flags(p, l4, key.proto));
out:
	pc = bpf_map_lookup_elem(&proto_stats, &slot);
	if (pc) {
		pc->packets++;	/* per-CPU slot: no atomic needed */
		pc->bytes += p->len;
	}
	return KFN_PASS;
}

KFN_FUNCTION(flowstats, flowstats_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
