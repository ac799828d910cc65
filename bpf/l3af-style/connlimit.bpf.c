// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * connlimit.bpf.c - L3AF-style test function with two programs sharing maps: a
 * tracepoint program counts the TCP connections of one local port as the kernel
 * opens and closes them (sock/inet_sock_set_state), and an XDP program drops new
 * connection attempts (SYN without ACK) to that port while the count of open
 * connections is at the limit.
 *
 * Maps (sizes only, no BTF key/value types, all pinned by name):
 *   l3t_conn_cfg    array, 2 entries of u64: [0] connection limit (0 = no limit),
 *                   [1] the watched local TCP port (host byte order)
 *   l3t_conn_count  array, 2 entries of u64: [0] connections opened, [1] closed
 *   l3t_conn_drops  array, 1 entry of u64: SYNs dropped
 *   xdp_l3t_connlimit_next_prog  the chain slot (one-slot program array)
 */
#include "l3t.h"

#define CFG_LIMIT	0
#define CFG_PORT	1
#define COUNT_OPENED	0
#define COUNT_CLOSED	1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_conn_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_conn_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l3t_conn_drops SEC(".maps");

L3T_CHAIN_SLOT(xdp_l3t_connlimit_next_prog);

static __always_inline __u64 cfg(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&l3t_conn_cfg, &key);

	return v ? *v : 0;
}

static __always_inline void count(__u32 key)
{
	__u64 *n = bpf_map_lookup_elem(&l3t_conn_count, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Only sockets bound to the watched port (sport is the local port, host byte order):
 * the accepted side of each connection, never the listener itself.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int l3t_conn_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 port = cfg(CFG_PORT);

	if (ctx->protocol != IPPROTO_TCP || !port || ctx->sport != port)
		return 0;
	if (ctx->newstate == TCP_ESTABLISHED)
		count(COUNT_OPENED);
	else if (ctx->newstate == TCP_CLOSE && ctx->oldstate != TCP_LISTEN &&
		 ctx->oldstate != TCP_SYN_RECV)
		count(COUNT_CLOSED);
	return 0;
}

SEC("xdp_l3test_connlimit")
int l3t_connlimit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 limit = cfg(CFG_LIMIT);
	__u64 port = cfg(CFG_PORT);
	__u32 opened = COUNT_OPENED, closed = COUNT_CLOSED, zero = 0;
	__u64 *o, *c, *drops;
	struct tcphdr *th;
	__u8 proto = 0;

	if (!limit || !port)
		goto next;
	th = l3t_l4(data, data_end, &proto);
	if (!th || proto != IPPROTO_TCP || (void *)(th + 1) > data_end)
		goto next;
	if (!th->syn || th->ack || bpf_ntohs(th->dest) != port)
		goto next;
	o = bpf_map_lookup_elem(&l3t_conn_count, &opened);
	c = bpf_map_lookup_elem(&l3t_conn_count, &closed);
	if (!o || !c || *o < *c || *o - *c < limit)
		goto next;
	drops = bpf_map_lookup_elem(&l3t_conn_drops, &zero);
	if (drops)
		__sync_fetch_and_add(drops, 1);
	return XDP_DROP;
next:
	bpf_tail_call(ctx, &xdp_l3t_connlimit_next_prog, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
