// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * blocklist.bpf.c - drops IPv4 and IPv6 packets whose SOURCE address falls in a
 * listed prefix. Any match drops (the value is unused; write 1).
 *
 * Maps:
 *   blocked_v4  LPM trie  struct kfn_lpm_v4 -> __u32   parameter (prefixes)
 *   blocked_v6  LPM trie  struct kfn_lpm_v6 -> __u32   parameter (prefixes)
 *   stats       per-CPU array, 1 entry, struct blocklist_stats   state
 */
#include "kfn.h"

struct blocklist_stats {
	__u64 seen KFN_PACKETS;		/* packets inspected */
	__u64 dropped_v4 KFN_DROPS;
	__u64 dropped_v6 KFN_DROPS;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v4);
	__type(value, __u32);
} blocked_v4 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v6);
	__type(value, __u32);
} blocked_v6 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct blocklist_stats);
} stats SEC(".maps");

static __always_inline int blocklist_logic(struct kfn_pkt *p)
{
	struct blocklist_stats *st;
	__u32 zero = 0;
	void *l3, *l4;
	__u16 proto;

	st = bpf_map_lookup_elem(&stats, &zero);
	if (st)
		st->seen++;

	proto = kfn_parse_eth(p, &l3);
	if (proto == ETH_P_IP) {
		struct kfn_lpm_v4 key = { .prefixlen = 32 };
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			return KFN_PASS;
		__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&blocked_v4, &key)) {
			if (st)
				st->dropped_v4++;
			return KFN_DROP;
		}
	} else if (proto == ETH_P_IPV6) {
		struct kfn_lpm_v6 key = { .prefixlen = 128 };
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			return KFN_PASS;
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		if (bpf_map_lookup_elem(&blocked_v6, &key)) {
			if (st)
				st->dropped_v6++;
			return KFN_DROP;
		}
	}
	return KFN_PASS;
}

KFN_FUNCTION(blocklist, blocklist_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
