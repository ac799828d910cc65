// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * allowlist.bpf.c - default deny: drops every IPv4 and IPv6 packet whose SOURCE
 * address is not in a listed prefix (the value is unused; write 1). An empty list
 * drops its whole family. Frames that are not IP (ARP, LLDP, ...) pass unchecked;
 * an IP frame too short for its header, or a frame too short for Ethernet, is
 * dropped. IPv6 neighbour discovery
 * comes from link-local sources: list fe80::/10 where the interface needs it.
 *
 * Maps:
 *   allowed_v4  LPM trie  struct kfn_lpm_v4 -> __u32   parameter (prefixes)
 *   allowed_v6  LPM trie  struct kfn_lpm_v6 -> __u32   parameter (prefixes)
 *   stats       per-CPU array, 1 entry, struct allowlist_stats   state
 */
#include "kfn.h"

struct allowlist_stats {
	__u64 passed KFN_PACKETS;		/* IP packets from a listed source */
	__u64 dropped KFN_PACKETS KFN_DROPS;	/* IP packets from any other source, or truncated */
	__u64 not_ip KFN_PACKETS;		/* other EtherTypes, passed unchecked */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v4);
	__type(value, __u32);
} allowed_v4 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v6);
	__type(value, __u32);
} allowed_v6 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct allowlist_stats);
} stats SEC(".maps");

/* 1 if the packet's source is listed, 0 if not, -1 if it is not an IP packet. */
static __always_inline int source_listed(struct kfn_pkt *p)
{
	void *l3, *l4;
	__u16 proto = kfn_parse_eth(p, &l3);

	if (proto == ETH_P_IP) {
		struct kfn_lpm_v4 key = { .prefixlen = 32 };
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			return 0;
		__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
		return bpf_map_lookup_elem(&allowed_v4, &key) != NULL;
	}
	if (proto == ETH_P_IPV6) {
		struct kfn_lpm_v6 key = { .prefixlen = 128 };
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			return 0;
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		return bpf_map_lookup_elem(&allowed_v6, &key) != NULL;
	}
	/* A frame too short for an Ethernet header has no EtherType either. */
	return proto ? -1 : 0;
}

static __always_inline int allowlist_logic(struct kfn_pkt *p)
{
	__u32 zero = 0;
	struct allowlist_stats *st = bpf_map_lookup_elem(&stats, &zero);
	int listed = source_listed(p);

	if (st) {
		if (listed > 0)
			st->passed++;
		else if (listed == 0)
			st->dropped++;
		else
			st->not_ip++;
	}
	return listed == 0 ? KFN_DROP : KFN_PASS;
}

KFN_FUNCTION(allowlist, allowlist_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
