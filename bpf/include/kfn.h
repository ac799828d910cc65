/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kfn.h - shared header of every kfn kernel function.
 *
 * A kernel function is an ordinary libbpf CO-RE object. Each instance owns the
 * one-slot program array `kfn_next`; a function that lets a packet go on ends with
 * `return kfn_continue(ctx);`, a tail call into its own kfn_next[0]. The loader
 * chains instances by storing the next instance's program in that slot (one atomic
 * map update per change). An empty slot is the end of the chain: the hook's pass
 * verdict is returned (XDP_PASS, TCX_NEXT). Which verdicts go on to the next function
 * is the instance's proceed-on (kfn_proceed below); by default only pass does.
 *
 * Write the packet logic once and get both an XDP and a tc program:
 *
 *     static __always_inline int my_logic(struct kfn_pkt *p)
 *     {
 *             return KFN_PASS;        // or KFN_DROP
 *     }
 *     KFN_FUNCTION(myfn, my_logic)    // -> programs myfn_xdp and myfn_tc
 *
 * Keep <name> at most 12 characters: the kernel keeps 15 characters of a
 * program name, and the loader finds programs by the `_xdp` / `_tc` suffix.
 *
 * Load ONE program per object instance (autoload off for the other): the first
 * program that uses kfn_next fixes its owner program type, so loading the XDP and
 * the tc program of one object together fails with EINVAL on the second one.
 *
 * A probe function (a tracepoint or uprobe program, see docs/functions.md) does not
 * chain: it defines KFN_NO_CHAIN before including this header, which leaves out the
 * chaining maps and KFN_FUNCTION (and keeps KFN_PARAM, the types and the helpers).
 *
 * Types that userspace encodes from BTF by name:
 *   kfn_be16, __be16   port (or other 16-bit field) in network byte order
 *   __be32             32-bit field in network byte order
 *   struct kfn_lpm_v4 / kfn_lpm_v6 { prefixlen; addr[] }   an IPv4 / IPv6 CIDR prefix
 *   __u8 addr[4] / saddr[16] ...   addresses, stored in network byte order
 */
#ifndef KFN_H
#define KFN_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* tcx verdicts (linux/bpf.h of kernels >= 6.6); older UAPI headers lack them. */
#ifndef TCX_NEXT
#define TCX_NEXT (-1)
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7
#endif

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/*
 * Map keys, map values and globals declared with this typedef are ports (or other
 * 16-bit fields) in NETWORK byte order. The userspace encoder keys off the typedef
 * name `kfn_be16` (it also knows `__be16` and `__be32`).
 */
typedef __u16 kfn_be16;

/*
 * Marks a map as a PARAMETER: set from manifests, managed and watched for drift by
 * kfn. Put it after the map definition: `struct {...} blocked_v4 SEC(".maps") KFN_PARAM;`
 * kfn reads the tag back from the object's BTF; every map without it is the
 * function's state (counters, tables), which manifests never write.
 */
#define KFN_PARAM __attribute__((btf_decl_tag("kfn:param")))

/*
 * Marks what a STATE map counts, for kfn's metrics (kfn serve, kfn reconcile
 * --metrics-addr): put it on a member of the map's value struct, or on the map
 * itself when its value is one integer:
 *
 *     struct stats { __u64 seen KFN_PACKETS; __u64 dropped KFN_PACKETS KFN_DROPS; };
 *     struct {...} counts SEC(".maps") KFN_PACKETS;      // value: one __u64
 *
 *   KFN_PACKETS  packets the function handled     -> kfn_function_packets_total
 *   KFN_BYTES    bytes of those packets            -> kfn_function_bytes_total
 *   KFN_DROPS    packets the function dropped      -> kfn_function_drops_total
 *
 * kfn sums a tagged field over every entry of the map and every CPU, at each scrape.
 * Members with the same tag add up (dropped_v4 + dropped_v6); one member may carry
 * two tags. Count each packet once: tag one map's fields only, and a small map (an
 * array), never a flow table. The tags are BTF decl tags (`kfn:counter:<kind>`), read
 * back from the object's BTF; they do not change the map's layout.
 */
#define KFN_PACKETS __attribute__((btf_decl_tag("kfn:counter:packets")))
#define KFN_BYTES __attribute__((btf_decl_tag("kfn:counter:bytes")))
#define KFN_DROPS __attribute__((btf_decl_tag("kfn:counter:drops")))

/* LPM-trie keys. Userspace recognises {prefixlen, addr} as a CIDR prefix. */
struct kfn_lpm_v4 {
	__u32 prefixlen;	/* host byte order, 0..32 */
	__u8 addr[4];		/* network byte order */
};

struct kfn_lpm_v6 {
	__u32 prefixlen;	/* host byte order, 0..128 */
	__u8 addr[16];		/* network byte order */
};

/* Packet and byte counters, the common value of statistics maps (tagged for metrics). */
struct kfn_counters {
	__u64 packets KFN_PACKETS;
	__u64 bytes KFN_BYTES;
};

/*
 * A flow. IPv4 addresses use the first 4 bytes of saddr/daddr, the rest is zero.
 * Ports are 0 for protocols without ports and for non-first IPv4 fragments.
 */
struct kfn_flow_key {
	__u8 saddr[16];		/* network byte order; IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];		/* network byte order; IPv4 as ::ffff:a.b.c.d */
	kfn_be16 sport;
	kfn_be16 dport;
	__u8 proto;		/* IPPROTO_* */
	__u8 family;		/* 4 or 6 */
	__u8 pad[2];		/* zero */
};

/* ------------------------------------------------------------------ chaining */
#ifndef KFN_NO_CHAIN

/* Verdicts of a function's packet logic. */
enum kfn_verdict {
	KFN_PASS = 0,	/* XDP_PASS / TCX_NEXT */
	KFN_DROP = 1,	/* XDP_DROP / TC_ACT_SHOT */
};

/* The one-slot program array every function instance owns (see top of file). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} kfn_next SEC(".maps");

/*
 * Proceed-on: which verdicts of this instance go on to the next function. A verdict
 * that proceeds tail-calls kfn_next[0]; one that does not ends the chain with that
 * verdict. When a verdict proceeds and the slot is empty (the last function), the
 * chain ends with that verdict too: the chain's verdict is the verdict of the last
 * function that ran. The default proceeds on pass only.
 *
 * The loader owns this map and writes it in place (no reload). Its word holds the
 * DIFFERENCE from the default, one bit per verdict (1 << KFN_PASS, 1 << KFN_DROP), so
 * the zero word of a fresh map, or of a loader that never writes it, is the default.
 */
#define KFN_PROCEED_DEFAULT (1u << KFN_PASS)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} kfn_proceed SEC(".maps");

/* Array lookup with a constant key: inlined by the verifier, no helper call. */
static __always_inline int kfn_proceeds(int verdict)
{
	__u32 zero = 0;
	__u32 *flip = bpf_map_lookup_elem(&kfn_proceed, &zero);
	__u32 set = KFN_PROCEED_DEFAULT ^ (flip ? *flip : 0);

	return (set >> verdict) & 1;
}

/* The tail call into the next function; falls through when the slot is empty. */
#define kfn_tail_next(ctx) bpf_tail_call_static(ctx, &kfn_next, 0)

static __always_inline int kfn_continue_xdp(struct xdp_md *ctx)
{
	/* Constant key: a direct jump after JIT, no retpoline. */
	if (kfn_proceeds(KFN_PASS))
		kfn_tail_next(ctx);
	return XDP_PASS;	/* end of chain */
}

static __always_inline int kfn_continue_tc(struct __sk_buff *skb)
{
	if (kfn_proceeds(KFN_PASS))
		kfn_tail_next(skb);
	return TCX_NEXT;	/* end of chain */
}

/*
 * `return kfn_continue(ctx);` in XDP and tc programs alike: the verdict pass, going on
 * to the next function when the instance proceeds on pass.
 */
#define kfn_continue(ctx)						\
	_Generic((ctx),							\
		struct xdp_md *: kfn_continue_xdp,			\
		struct __sk_buff *: kfn_continue_tc)(ctx)

#endif /* KFN_NO_CHAIN */

/* ------------------------------------------------------------ packet view */

/* Hook-independent view of a packet, built by KFN_FUNCTION. */
struct kfn_pkt {
	void *data;		/* first byte of the frame (Ethernet header) */
	void *data_end;		/* one past the last directly readable byte */
	__u32 len;		/* whole frame length in bytes (incl. non-linear part) */
};

/* Bytes a tc program makes directly readable (pulled into the linear area). */
#ifndef KFN_TC_PULL_LEN
#define KFN_TC_PULL_LEN 128
#endif

static __always_inline void kfn_pkt_from_xdp(struct kfn_pkt *p, struct xdp_md *ctx)
{
	p->data = (void *)(long)ctx->data;
	p->data_end = (void *)(long)ctx->data_end;
	p->len = (__u32)bpf_xdp_get_buff_len(ctx);	/* counts multi-buffer frags */
}

static __always_inline void kfn_pkt_from_skb(struct kfn_pkt *p, struct __sk_buff *skb)
{
	__u32 want = skb->len < KFN_TC_PULL_LEN ? skb->len : KFN_TC_PULL_LEN;

	/* Headers may sit in a non-linear part; pull them in (rare). */
	if ((long)skb->data_end - (long)skb->data < (long)want)
		bpf_skb_pull_data(skb, want);
	p->data = (void *)(long)skb->data;
	p->data_end = (void *)(long)skb->data_end;
	p->len = skb->len;
}

#ifndef KFN_NO_CHAIN
/*
 * KFN_FUNCTION(name, logic_fn): defines SEC("xdp") name_xdp and SEC(KFN_TC_SEC) name_tc.
 * logic_fn is `static __always_inline int logic_fn(struct kfn_pkt *p)` returning
 * KFN_PASS or KFN_DROP (any other value counts as KFN_PASS). The verdict goes on to
 * the next function or ends the chain as the instance's proceed-on says (kfn_proceed).
 */
#define KFN_FUNCTION(name, logic_fn)					\
SEC("xdp")								\
int name##_xdp(struct xdp_md *ctx)					\
{									\
	struct kfn_pkt p;						\
	int v;								\
									\
	kfn_pkt_from_xdp(&p, ctx);					\
	v = logic_fn(&p) == KFN_DROP ? KFN_DROP : KFN_PASS;		\
	if (kfn_proceeds(v))						\
		kfn_tail_next(ctx);					\
	return v == KFN_DROP ? XDP_DROP : XDP_PASS;			\
}									\
									\
SEC(KFN_TC_SEC)								\
int name##_tc(struct __sk_buff *skb)					\
{									\
	struct kfn_pkt p;						\
	int v;								\
									\
	kfn_pkt_from_skb(&p, skb);					\
	v = logic_fn(&p) == KFN_DROP ? KFN_DROP : KFN_PASS;		\
	if (kfn_proceeds(v))						\
		kfn_tail_next(skb);					\
	return v == KFN_DROP ? TC_ACT_SHOT : TCX_NEXT;			\
}
#endif /* KFN_NO_CHAIN */

/* ---------------------------------------------------------- parsing helpers */
/*
 * All helpers check bounds against p->data_end before every read and return 0 /
 * NULL / a negative value when the packet is too short or not of that kind.
 */

struct kfn_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/*
 * Ethernet with at most one 802.1Q / 802.1ad tag. Returns the L3 EtherType in host
 * byte order (ETH_P_IP, ETH_P_IPV6, ...) and sets *l3 to the L3 header, or returns 0
 * on a truncated frame.
 */
static __always_inline __u16 kfn_parse_eth(const struct kfn_pkt *p, void **l3)
{
	struct ethhdr *eth = p->data;
	__u16 proto;
	void *cur;

	if ((void *)(eth + 1) > p->data_end)
		return 0;
	proto = bpf_ntohs(eth->h_proto);
	cur = eth + 1;
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		struct kfn_vlan_hdr *vh = cur;

		if ((void *)(vh + 1) > p->data_end)
			return 0;
		proto = bpf_ntohs(vh->encap_proto);
		cur = vh + 1;
	}
	*l3 = cur;
	return proto;
}

/*
 * IPv4 header at l3 with a valid IHL, entirely in bounds. Sets *l4 to the L4 header,
 * or to NULL for a non-first fragment (it carries no L4 header). NULL if invalid.
 */
static __always_inline struct iphdr *kfn_parse_ipv4(const struct kfn_pkt *p, void *l3,
						    void **l4)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > p->data_end)
		return NULL;
	if (ip->version != 4 || ip->ihl < 5)
		return NULL;
	hlen = ip->ihl * 4;
	if (l3 + hlen > p->data_end)
		return NULL;
	*l4 = (ip->frag_off & bpf_htons(0x1fff)) ? NULL : l3 + hlen;
	return ip;
}

/*
 * IPv6 fixed header at l3. Sets *l4 to the byte after it; ip6->nexthdr tells what is
 * there (extension headers are not walked). NULL if truncated.
 */
static __always_inline struct ipv6hdr *kfn_parse_ipv6(const struct kfn_pkt *p, void *l3,
						      void **l4)
{
	struct ipv6hdr *ip6 = l3;

	if ((void *)(ip6 + 1) > p->data_end)
		return NULL;
	if (ip6->version != 6)
		return NULL;
	*l4 = ip6 + 1;
	return ip6;
}

/*
 * TCP or UDP ports (network byte order) of the L4 header at l4. Returns 0 on success,
 * -1 for another protocol, a NULL l4 or a truncated header.
 */
static __always_inline int kfn_parse_ports(const struct kfn_pkt *p, void *l4, __u8 proto,
					   kfn_be16 *sport, kfn_be16 *dport)
{
	if (!l4)
		return -1;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > p->data_end)
			return -1;
		*sport = th->source;
		*dport = th->dest;
		return 0;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > p->data_end)
			return -1;
		*sport = uh->source;
		*dport = uh->dest;
		return 0;
	}
	return -1;
}

/*
 * Section of the tc programs (at the end of this header so that changing it moves no
 * line of the objects' BTF line info). bench/ compiles the same sources with
 * -DKFN_TC_SEC='"?tc"' (autoload off) for bpftool, which loads every program of an
 * object: its baseline then loads exactly the XDP program kfn loads.
 */
#ifndef KFN_TC_SEC
#define KFN_TC_SEC "tc"
#endif

#endif /* KFN_H */
