// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mirror.bpf.c - tc only: sends a copy of every packet that matches a rule out of
 * another interface (bpf_clone_redirect to its egress); the packet itself continues
 * the chain unchanged.
 *
 * A packet matches when its source OR destination address falls in a prefix of
 * match_v4 / match_v6 (the longest listed prefix decides) and that prefix's rule
 * accepts its protocol and ports. An empty list mirrors nothing of its family;
 * 0.0.0.0/0 or ::/0 mirrors the whole family. Frames that are not IP are never
 * mirrored. The target must be in the same network namespace; a target equal to the
 * packet's own interface is refused (it would loop through its egress hook).
 *
 * Maps:
 *   match_v4  LPM trie, struct kfn_lpm_v4 -> struct mirror_rule   parameter
 *   match_v6  LPM trie, struct kfn_lpm_v6 -> struct mirror_rule   parameter
 *   target    array, 1 entry, __u32 ifindex (0: mirroring off)    parameter
 *   stats     per-CPU array, 1 entry, struct mirror_stats         state
 */
#include "kfn.h"

struct mirror_rule {
	__u8 proto;		/* IPPROTO_*; 0: any protocol */
	__u8 pad;
	kfn_be16 port;		/* source or destination port (TCP, UDP); 0: any */
};

struct mirror_stats {
	__u64 mirrored;		/* copies sent */
	__u64 bytes;		/* bytes of the copies */
	__u64 failed;		/* matched but not sent: clone error or target refused */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct kfn_lpm_v4);
	__type(value, struct mirror_rule);
} match_v4 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct kfn_lpm_v6);
	__type(value, struct mirror_rule);
} match_v6 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mirror_stats);
} stats SEC(".maps");

struct l4_view {
	__u8 proto;
	int has_ports;
	kfn_be16 sport, dport;
};

static __always_inline int rule_accepts(const struct mirror_rule *r, const struct l4_view *v)
{
	if (!r)
		return 0;
	if (r->proto && r->proto != v->proto)
		return 0;
	if (r->port && !(v->has_ports && (r->port == v->sport || r->port == v->dport)))
		return 0;
	return 1;
}

static __always_inline int matches(struct kfn_pkt *p)
{
	struct l4_view v = {};
	void *l3, *l4 = NULL;
	__u16 proto = kfn_parse_eth(p, &l3);

	if (proto == ETH_P_IP) {
		struct kfn_lpm_v4 src = { .prefixlen = 32 }, dst = { .prefixlen = 32 };
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			return 0;
		v.proto = ip->protocol;
		v.has_ports = kfn_parse_ports(p, l4, v.proto, &v.sport, &v.dport) == 0;
		__builtin_memcpy(src.addr, &ip->saddr, sizeof(src.addr));
		__builtin_memcpy(dst.addr, &ip->daddr, sizeof(dst.addr));
		return rule_accepts(bpf_map_lookup_elem(&match_v4, &src), &v) ||
		       rule_accepts(bpf_map_lookup_elem(&match_v4, &dst), &v);
	}
	if (proto == ETH_P_IPV6) {
		struct kfn_lpm_v6 src = { .prefixlen = 128 }, dst = { .prefixlen = 128 };
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			return 0;
		v.proto = ip6->nexthdr;
		v.has_ports = kfn_parse_ports(p, l4, v.proto, &v.sport, &v.dport) == 0;
		__builtin_memcpy(src.addr, &ip6->saddr, sizeof(src.addr));
		__builtin_memcpy(dst.addr, &ip6->daddr, sizeof(dst.addr));
		return rule_accepts(bpf_map_lookup_elem(&match_v6, &src), &v) ||
		       rule_accepts(bpf_map_lookup_elem(&match_v6, &dst), &v);
	}
	return 0;
}

SEC("tc")
int mirror_tc(struct __sk_buff *skb)
{
	struct mirror_stats *st;
	struct kfn_pkt p;
	__u32 zero = 0, *ifindex;

	ifindex = bpf_map_lookup_elem(&target, &zero);
	if (!ifindex || !*ifindex)
		return kfn_continue(skb);
	kfn_pkt_from_skb(&p, skb);
	if (!matches(&p))
		return kfn_continue(skb);
	st = bpf_map_lookup_elem(&stats, &zero);
	if (*ifindex != skb->ifindex && bpf_clone_redirect(skb, *ifindex, 0) == 0) {
		if (st) {
			st->mirrored++;
			st->bytes += skb->len;
		}
	} else if (st) {
		st->failed++;
	}
	return kfn_continue(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
