// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpretrans.bpf.c - a probe function on tracepoint tcp/tcp_retransmit_skb: counts the
 * TCP segments the host retransmits (data, SYN and FIN alike), in total per address
 * family and per listed port. The tracepoint fires in every network namespace: the
 * counts are host-wide.
 *
 * A retransmission counts under a port of `ports` when that port is the socket's local
 * or its remote port (local first). The record is read as the tracepoint format in
 * tracefs says (events/tcp/tcp_retransmit_skb/format); newer kernels append an `err`
 * field, which is not read, so the program attaches on older ones too.
 *
 * Maps:
 *   ports    hash, kfn_be16 port -> __u32 (unused, write 1)   parameter
 *   by_port  hash, kfn_be16 port -> __u64 retransmissions      state
 *   totals   per-CPU array, 1 entry, struct tcpretrans_totals  state
 */
#define KFN_NO_CHAIN
#include "kfn.h"

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif

struct tcp_retransmit_skb_args {
	__u64 common;		/* common_type, _flags, _preempt_count, _pid */
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;		/* local port, host byte order */
	__u16 dport;		/* remote port, host byte order */
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct tcpretrans_totals {
	__u64 segments;		/* every retransmission */
	__u64 ipv4;
	__u64 ipv6;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, kfn_be16);
	__type(value, __u32);
} ports SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, kfn_be16);
	__type(value, __u64);
} by_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcpretrans_totals);
} totals SEC(".maps");

static __always_inline void count_port(kfn_be16 port)
{
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&by_port, &port);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return;
	}
	/* Two CPUs may race to create it: the loser adds to the winner's entry. */
	if (bpf_map_update_elem(&by_port, &port, &one, BPF_NOEXIST) != 0) {
		n = bpf_map_lookup_elem(&by_port, &port);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpretrans_tp(struct tcp_retransmit_skb_args *ctx)
{
	__u32 zero = 0;
	struct tcpretrans_totals *t = bpf_map_lookup_elem(&totals, &zero);
	kfn_be16 local = bpf_htons(ctx->sport), remote = bpf_htons(ctx->dport);

	if (t) {
		t->segments++;
		if (ctx->family == AF_INET)
			t->ipv4++;
		else if (ctx->family == AF_INET6)
			t->ipv6++;
	}
	if (bpf_map_lookup_elem(&ports, &local))
		count_port(local);
	else if (bpf_map_lookup_elem(&ports, &remote))
		count_port(remote);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
