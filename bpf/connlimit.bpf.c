// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * connlimit.bpf.c - caps the concurrent TCP connections a local server port
 * accepts. Two programs share the maps of one object:
 *
 *   connlimit_sock  tracepoint sock/inet_sock_set_state: keeps, per port listed in
 *                   limits, the number of ESTABLISHED connections that were opened
 *                   passively (the local port is that port, the server side).
 *   connlimit_xdp / connlimit_tc  on the server's ingress: drops a new connection's
 *                   SYN (SYN without ACK, IPv4 or IPv6) to a listed port whose count
 *                   has reached its limit; every other packet continues the chain.
 *
 * A connection counts from its SYN_RECV -> ESTABLISHED transition (the handshake's
 * last ACK) until it leaves ESTABLISHED (FIN received or sent, reset). Half-open
 * handshakes are request socks without a state change, so they do not count: SYNs
 * that arrive together below the limit all pass, and the count can exceed the limit
 * by the handshakes in flight. A dropped SYN is retransmitted by the client, which
 * connects once a slot frees up (or gives up). Only connections established while
 * their port was listed are counted. The tracepoint sees every network namespace of
 * the host: the count is host-wide per port. The IPv6 SYN check reads the fixed
 * header only (a SYN behind extension headers passes).
 *
 * Maps:
 *   limits  hash, kfn_be16 port -> __u32 max connections    parameter
 *   conns   hash, kfn_be16 port -> __u64 connections now    state
 *   socks   hash, __u64 socket address -> kfn_be16 port      state (counted sockets)
 *   stats   per-CPU array, 1 entry, struct connlimit_stats  state
 */
#include "kfn.h"

/* include/net/tcp_states.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_RECV 3

/* events/sock/inet_sock_set_state/format in tracefs. */
struct inet_sock_set_state_args {
	__u64 common;		/* common_type, _flags, _preempt_count, _pid */
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;		/* local port, host byte order */
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct connlimit_stats {
	__u64 syn_passed;	/* SYNs to a listed port below its limit */
	__u64 syn_dropped KFN_DROPS;	/* SYNs to a listed port at its limit */
	__u64 untracked;	/* connections not counted: socks was full */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, kfn_be16);
	__type(value, __u32);
} limits SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, kfn_be16);
	__type(value, __u64);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, kfn_be16);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct connlimit_stats);
} stats SEC(".maps");

static __always_inline struct connlimit_stats *stats_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void conns_add(kfn_be16 port, __s64 delta)
{
	__u64 zero = 0, *n = bpf_map_lookup_elem(&conns, &port);

	if (!n) {
		/* EEXIST: another CPU created it in between; the lookup below finds it. */
		bpf_map_update_elem(&conns, &port, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&conns, &port);
		if (!n)
			return;
	}
	__sync_fetch_and_add(n, delta);
}

SEC("tracepoint/sock/inet_sock_set_state")
int connlimit_sock(struct inet_sock_set_state_args *ctx)
{
	__u64 sk = (__u64)ctx->skaddr;
	kfn_be16 port, *counted;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->oldstate == TCP_SYN_RECV && ctx->newstate == TCP_ESTABLISHED) {
		port = bpf_htons(ctx->sport);
		if (!bpf_map_lookup_elem(&limits, &port))
			return 0;
		if (bpf_map_update_elem(&socks, &sk, &port, BPF_NOEXIST) == 0) {
			conns_add(port, 1);
		} else {
			struct connlimit_stats *st = stats_slot();

			if (st)
				st->untracked++;
		}
	} else if (ctx->oldstate == TCP_ESTABLISHED) {
		counted = bpf_map_lookup_elem(&socks, &sk);
		if (!counted)
			return 0;
		port = *counted;
		/* Only the CPU whose delete succeeds uncounts the socket. */
		if (bpf_map_delete_elem(&socks, &sk) == 0)
			conns_add(port, -1);
	}
	return 0;
}

/* The TCP header of a packet, or NULL if it is not TCP. */
static __always_inline struct tcphdr *tcp_header(struct kfn_pkt *p)
{
	void *l3, *l4 = NULL;
	__u16 proto = kfn_parse_eth(p, &l3);
	struct tcphdr *th;

	if (proto == ETH_P_IP) {
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip || ip->protocol != IPPROTO_TCP)
			return NULL;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6 || ip6->nexthdr != IPPROTO_TCP)
			return NULL;
	} else {
		return NULL;
	}
	th = l4;	/* NULL for a non-first IPv4 fragment */
	if (!th || (void *)(th + 1) > p->data_end)
		return NULL;
	return th;
}

static __always_inline int connlimit_logic(struct kfn_pkt *p)
{
	struct tcphdr *th = tcp_header(p);
	struct connlimit_stats *st;
	kfn_be16 port;
	__u64 *now;
	__u32 *max;

	if (!th || !th->syn || th->ack)
		return KFN_PASS;
	port = th->dest;
	max = bpf_map_lookup_elem(&limits, &port);
	if (!max)
		return KFN_PASS;
	now = bpf_map_lookup_elem(&conns, &port);
	st = stats_slot();
	if ((now ? *now : 0) >= *max) {
		if (st)
			st->syn_dropped++;
		return KFN_DROP;
	}
	if (st)
		st->syn_passed++;
	return KFN_PASS;
}

KFN_FUNCTION(connlimit, connlimit_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
