// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ratelimit.bpf.c - token-bucket packet rate limiter: one bucket for every packet
 * through this instance (all CPUs share it, guarded by a spin lock). Packets over
 * the rate are dropped.
 *
 * Globals (.rodata; a change means loading a new program, i.e. replacement):
 *   rate_pps  tokens added per second (0: no refill, only the initial burst passes)
 *   burst     bucket capacity in packets; the bucket starts full
 * Parameter map (updated in place, no replacement):
 *   config    array, 1 entry, struct ratelimit_config; a non-zero field overrides
 *             the global of the same name
 * Maps (state):
 *   bucket    array, 1 entry, struct ratelimit_bucket (spin lock + tokens)
 *   stats     per-CPU array, 1 entry, struct ratelimit_stats
 */
#include "kfn.h"

#define NSEC_PER_SEC 1000000000ULL

const volatile __u32 rate_pps = 1000;
const volatile __u32 burst = 100;

/*
 * Tokens are kept in "nano-tokens" (1 packet = NSEC_PER_SEC units), so refilling is
 * elapsed_ns * rate_pps with no division. burst * NSEC_PER_SEC < 2^63.
 */
struct ratelimit_bucket {
	struct bpf_spin_lock lock;
	__u64 tokens;		/* nano-tokens, <= burst * NSEC_PER_SEC */
	__u64 last_ns;		/* bpf_ktime_get_ns() of the last refill; 0: never */
};

struct ratelimit_config {
	__u32 rate_pps;		/* 0: use the rate_pps global */
	__u32 burst;		/* 0: use the burst global */
};

struct ratelimit_stats {
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ratelimit_bucket);
} bucket SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ratelimit_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ratelimit_config);
} config SEC(".maps") KFN_PARAM;

static __always_inline int ratelimit_logic(struct kfn_pkt *p)
{
	__u64 now = bpf_ktime_get_ns();	/* no helper calls under the lock */
	__u64 cap = (__u64)burst * NSEC_PER_SEC;
	__u64 rate = rate_pps;
	struct ratelimit_config *cfg;
	struct ratelimit_stats *st;
	struct ratelimit_bucket *b;
	__u32 zero = 0;
	int pass = 0;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg) {
		if (cfg->rate_pps)
			rate = cfg->rate_pps;
		if (cfg->burst)
			cap = (__u64)cfg->burst * NSEC_PER_SEC;
	}

	b = bpf_map_lookup_elem(&bucket, &zero);
	if (!b)
		return KFN_PASS;	/* cannot happen for an array */

	bpf_spin_lock(&b->lock);
	if (b->last_ns == 0) {
		b->tokens = cap;	/* first packet: start full */
	} else if (now > b->last_ns) {
		__u64 elapsed = now - b->last_ns;
		__u64 room = cap > b->tokens ? cap - b->tokens : 0;

		/* tokens += elapsed * rate, capped, without overflowing. */
		if (rate && elapsed > room / rate)
			b->tokens = cap;
		else
			b->tokens += elapsed * rate;
	}
	if (now > b->last_ns)
		b->last_ns = now;
	if (b->tokens >= NSEC_PER_SEC) {
		b->tokens -= NSEC_PER_SEC;
		pass = 1;
	}
	bpf_spin_unlock(&b->lock);

	st = bpf_map_lookup_elem(&stats, &zero);
	if (st) {
		if (pass)
			st->passed++;
		else
			st->dropped++;
	}
	return pass ? KFN_PASS : KFN_DROP;
}

KFN_FUNCTION(ratelimit, ratelimit_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
