// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * percpu_test.bpf.c - a test function for per-CPU maps: per-CPU packet and byte counts,
 * in total and per IP protocol, scaled by a per-CPU parameter. Never drops.
 * test/kernel/percpu.test.ts proves per-CPU writes, reads and sums with it;
 * test/kernel/percpu-cli.test.ts does the same through the CLI on a live chain.
 *
 * Parameter map (KFN_PARAM):
 *   config    per-CPU array, 1 entry, struct percpu_test_config; each packet counts
 *             `weight` times (0: once). Userspace writes the same value to every CPU.
 * Maps (state):
 *   totals    per-CPU array, 1 entry, struct kfn_counters: every packet
 *   by_proto  per-CPU hash, 256 entries, IP protocol (__u32) -> struct percpu_test_stats:
 *             IPv4/IPv6 packets only
 */
#include "kfn.h"

#define PT_SIZE_BUCKETS 4

struct percpu_test_config {
	__u64 weight;
};

struct percpu_test_stats {
	__u64 packets;
	__u64 bytes;
	__u64 by_size[PT_SIZE_BUCKETS];	/* frame length < 128, < 512, < 1024, larger */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct percpu_test_config);
} config SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kfn_counters);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct percpu_test_stats);
} by_proto SEC(".maps");

static __always_inline __u32 size_bucket(__u32 len)
{
	if (len < 128)
		return 0;
	if (len < 512)
		return 1;
	if (len < 1024)
		return 2;
	return 3;
}

static __always_inline int percpu_test_logic(struct kfn_pkt *p)
{
	struct percpu_test_config *cfg;
	struct percpu_test_stats *st;
	struct kfn_counters *t;
	void *l3, *l4;
	__u32 zero = 0, proto;
	__u64 weight = 1;
	__u16 eth_proto;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && cfg->weight)
		weight = cfg->weight;
	/* Per-CPU slots below: no atomics needed. */
	t = bpf_map_lookup_elem(&totals, &zero);
	if (t) {
		t->packets += weight;
		t->bytes += weight * p->len;
	}

	eth_proto = kfn_parse_eth(p, &l3);
	if (eth_proto == ETH_P_IP) {
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			return KFN_PASS;
		proto = ip->protocol;
	} else if (eth_proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			return KFN_PASS;
		proto = ip6->nexthdr;
	} else {
		return KFN_PASS;
	}

	st = bpf_map_lookup_elem(&by_proto, &proto);
	if (!st) {
		struct percpu_test_stats init = {};

		/* A new per-CPU hash entry is zero on every other CPU. */
		bpf_map_update_elem(&by_proto, &proto, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&by_proto, &proto);
		if (!st)
			return KFN_PASS;
	}
	st->packets += weight;
	st->bytes += weight * p->len;
	st->by_size[size_bucket(p->len)] += weight;
	return KFN_PASS;
}

KFN_FUNCTION(percpu_test, percpu_test_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
