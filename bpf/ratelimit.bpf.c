// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ratelimit.bpf.c - token-bucket packet rate limiter. Packets over the rate are
 * dropped.
 *
 * A packet whose SOURCE address falls in a prefix of rules_v4 / rules_v6 is limited
 * by that rule: one bucket per matched prefix (the longest listed prefix containing
 * the source), shared by every source in it. Every other packet (no rule matches,
 * not IP) goes through the one global bucket, shared by all CPUs and guarded by a
 * spin lock. With both rule maps empty the function is a plain global limiter.
 *
 * Globals (.rodata; a change means loading a new program, i.e. replacement):
 *   rate_pps  global bucket: tokens added per second (0: no refill, only the
 *             initial burst passes)
 *   burst     global bucket: capacity in packets; the bucket starts full
 * Parameter maps (updated in place, no replacement):
 *   config    array, 1 entry, struct ratelimit_config; a non-zero field overrides
 *             the global of the same name
 *   rules_v4  LPM trie, struct kfn_lpm_v4 -> struct ratelimit_rule
 *   rules_v6  LPM trie, struct kfn_lpm_v6 -> struct ratelimit_rule
 * Maps (state):
 *   bucket      array, 1 entry, struct ratelimit_bucket (the global bucket)
 *   buckets_v4  LRU hash, matched prefix (host bits zero) -> struct ratelimit_prefix
 *   buckets_v6  LRU hash, matched prefix (host bits zero) -> struct ratelimit_prefix
 *   stats       per-CPU array, 1 entry, struct ratelimit_stats (every packet)
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
	__u64 passed KFN_PACKETS;
	__u64 dropped KFN_PACKETS KFN_DROPS;
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

/* A rule's values are used as given: rate_pps 0 never refills, burst 0 drops all. */
struct ratelimit_rule {
	__u32 rate_pps;		/* packets per second */
	__u32 burst;		/* bucket capacity in packets; a new bucket starts full */
};

/*
 * A prefix bucket in its one-word form (GCRA): full_at is the time at which the
 * bucket is full again (0: full). Each packet passed moves it 1/rate later, and a
 * packet passes while that stays within burst/rate of now. It is updated with a
 * compare-and-swap: LRU hash values cannot hold a bpf_spin_lock (EOPNOTSUPP).
 */
struct ratelimit_prefix {
	__u64 full_at;		/* bpf_ktime_get_ns() time, ns */
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v4);
	__type(value, struct ratelimit_rule);
} rules_v4 SEC(".maps") KFN_PARAM;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct kfn_lpm_v6);
	__type(value, struct ratelimit_rule);
} rules_v6 SEC(".maps") KFN_PARAM;

/*
 * Twice the rules: LRU maps start evicting before they are full (per-CPU free
 * lists), and an evicted bucket comes back full.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct kfn_lpm_v4);
	__type(value, struct ratelimit_prefix);
} buckets_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct kfn_lpm_v6);
	__type(value, struct ratelimit_prefix);
} buckets_v6 SEC(".maps");

/* The global bucket: 1 if a token was taken. */
static __always_inline int global_take(__u64 now)
{
	__u64 cap = (__u64)burst * NSEC_PER_SEC;
	__u64 rate = rate_pps;
	struct ratelimit_config *cfg;
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
		return 1;	/* cannot happen for an array */

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
	return pass;
}

/* Attempts of the compare-and-swap before a packet counts as over the rate. */
#define PREFIX_CAS_TRIES 8

/* A prefix bucket: 1 if a token was taken (see struct ratelimit_prefix). */
static __always_inline int prefix_take(struct ratelimit_prefix *b, __u64 now,
				       const struct ratelimit_rule *rule)
{
	__u32 rate = rule->rate_pps, cap = rule->burst;
	/* Rates above 1e9 pps give step 0: nothing is limited. */
	__u64 step = rate ? NSEC_PER_SEC / rate : 1;
	__u64 limit, old, next;
	int i;

	if (!rate)
		now = 0;	/* no refill: the clock stands still, `burst` packets pass in all */
	limit = now + (__u64)cap * step;
	for (i = 0; i < PREFIX_CAS_TRIES; i++) {
		old = *(volatile __u64 *)&b->full_at;
		next = (old > now ? old : now) + step;
		if (next > limit)
			return 0;
		if (__sync_val_compare_and_swap(&b->full_at, old, next) == old)
			return 1;
	}
	return 0;	/* every try lost to another CPU passing a packet of this prefix */
}

/*
 * Length of the longest prefix in `rules` that contains the address of `key`, given
 * `rule`, the value a full-length lookup of key returned. A lookup tells the value,
 * not which prefix matched; a lookup limited to n bits returns that same rule exactly
 * when n >= the matched length, so the length is found by bisection (6 lookups for
 * IPv4, 8 for IPv6). key->prefixlen is left at the result.
 */
static __always_inline __u32 matched_len(void *rules, __u32 *key_prefixlen, __u32 maxlen,
					 const void *rule)
{
	__u32 lo = 0, hi = maxlen, mid;
	int i;

	for (i = 0; i < 8 && lo < hi; i++) {
		mid = (lo + hi) / 2;
		*key_prefixlen = mid;
		if (bpf_map_lookup_elem(rules, key_prefixlen) == rule)
			hi = mid;
		else
			lo = mid + 1;
	}
	*key_prefixlen = lo;
	return lo;
}

/* Zeroes the bits of addr[0..size) past the first len (a prefix's host bits). */
static __always_inline void mask_host_bits(__u8 *addr, __u32 size, __u32 len)
{
	int i;

	for (i = 0; i < 16; i++) {
		if (i >= size)
			break;
		if (len < (i + 1) * 8)
			addr[i] &= (__u8)(0xff00 >> (len > i * 8 ? len - i * 8 : 0));
	}
}

/*
 * The bucket of the prefix in key (host bits zero), created full when missing.
 * NULL only if the LRU map cannot make room.
 */
static __always_inline struct ratelimit_prefix *prefix_bucket(void *buckets, void *key)
{
	struct ratelimit_prefix fresh = {}, *b = bpf_map_lookup_elem(buckets, key);

	if (b)
		return b;
	/* EEXIST: another CPU created it in between; the lookup below finds it. */
	bpf_map_update_elem(buckets, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(buckets, key);
}

/*
 * Takes a token from the bucket of the rule matching the source: 1 passed, 0 over
 * the rate, -1 no rule matches (or not IP, or no bucket): the global bucket decides.
 */
static __always_inline int rule_take(struct kfn_pkt *p, __u64 now)
{
	struct ratelimit_prefix *b = NULL;
	const struct ratelimit_rule *rule;
	void *l3, *l4;
	__u16 proto = kfn_parse_eth(p, &l3);
	int pass;

	if (proto == ETH_P_IP) {
		struct kfn_lpm_v4 key = { .prefixlen = 32 };
		struct iphdr *ip = kfn_parse_ipv4(p, l3, &l4);

		if (!ip)
			return -1;
		__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
		rule = bpf_map_lookup_elem(&rules_v4, &key);
		if (!rule)
			return -1;
		mask_host_bits(key.addr, sizeof(key.addr),
			       matched_len(&rules_v4, &key.prefixlen, 32, rule));
		b = prefix_bucket(&buckets_v4, &key);
	} else if (proto == ETH_P_IPV6) {
		struct kfn_lpm_v6 key = { .prefixlen = 128 };
		struct ipv6hdr *ip6 = kfn_parse_ipv6(p, l3, &l4);

		if (!ip6)
			return -1;
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		rule = bpf_map_lookup_elem(&rules_v6, &key);
		if (!rule)
			return -1;
		mask_host_bits(key.addr, sizeof(key.addr),
			       matched_len(&rules_v6, &key.prefixlen, 128, rule));
		b = prefix_bucket(&buckets_v6, &key);
	} else {
		return -1;
	}
	if (!b)
		return -1;
	pass = prefix_take(b, now, rule);
	__sync_fetch_and_add(pass ? &b->passed : &b->dropped, 1);
	return pass;
}

static __always_inline int ratelimit_logic(struct kfn_pkt *p)
{
	__u64 now = bpf_ktime_get_ns();	/* no helper calls under the lock */
	struct ratelimit_stats *st;
	__u32 zero = 0;
	int pass = rule_take(p, now);

	if (pass < 0)
		pass = global_take(now);
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
