// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bad_verifier.bpf.c - a DELIBERATELY INVALID kernel function, for tests only.
 *
 * It compiles, but the verifier rejects both programs (badfn_xdp, badfn_tc) at load
 * time: it reads packet bytes without checking them against data_end. Tests use it
 * to prove that an apply failing halfway is rolled back completely, and that the
 * verifier log reaches the user. Never reference it from a real manifest.
 */
#include "kfn.h"

static __always_inline int badfn_logic(struct kfn_pkt *p)
{
	/* BUG ON PURPOSE: no `if (p->data + 64 > p->data_end)` check. */
	__u32 word = *(volatile __u32 *)(p->data + 60);

	return word == 0xdeadbeef ? KFN_DROP : KFN_PASS;
}

KFN_FUNCTION(badfn, badfn_logic)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
