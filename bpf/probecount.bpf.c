// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probecount.bpf.c - a probe function: counts the events of whatever it is attached
 * to, reading nothing of them. One program per probe hook, so one function serves a
 * Probe on any tracepoint, uprobe or uretprobe (and kprobe, fentry, fexit on kernels
 * that have them):
 *
 *   probecount_tp      SEC("tracepoint")  any tracepoint
 *   probecount_uprobe  SEC("uprobe")      uprobes and uretprobes
 *   probecount_kprobe  SEC("kprobe")      kprobes and kretprobes
 *   probecount_fentry  SEC("fentry")      fentry (the target is set when loading)
 *   probecount_fexit   SEC("fexit")       fexit
 *
 * Maps:
 *   counts  per-CPU array, 1 entry, __u64: events seen   state
 */
#define KFN_NO_CHAIN
#include "kfn.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline int count_event(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &zero);

	if (n)
		*n += 1;	/* per-CPU slot: no atomic needed */
	return 0;
}

SEC("tracepoint")
int probecount_tp(void *ctx)
{
	return count_event();
}

SEC("uprobe")
int probecount_uprobe(void *ctx)
{
	return count_event();
}

SEC("kprobe")
int probecount_kprobe(void *ctx)
{
	return count_event();
}

SEC("fentry")
int probecount_fentry(void *ctx)
{
	return count_event();
}

SEC("fexit")
int probecount_fexit(void *ctx)
{
	return count_event();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
