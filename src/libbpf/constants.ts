/** Kernel UAPI numbers (include/uapi/linux/bpf.h) that kfn uses. */
export const BPF_CMD = {
  PROG_QUERY: 16,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_DETACH: 34,
} as const;

export const ATTACH_TYPE = { XDP: 37, PERF_EVENT: 41, TCX_INGRESS: 46, TCX_EGRESS: 47 } as const;

/** enum bpf_link_type. */
export const LINK_TYPE = { XDP: 6, PERF_EVENT: 7, TCX: 11 } as const;

export const PROG_TYPE = { UNSPEC: 0, KPROBE: 2, SCHED_CLS: 3, TRACEPOINT: 5, XDP: 6, TRACING: 26, EXT: 28 } as const;

export const MAP_TYPE_NAMES: Record<number, string> = {
  1: 'hash', 2: 'array', 3: 'prog_array', 4: 'perf_event_array', 5: 'percpu_hash', 6: 'percpu_array',
  7: 'stack_trace', 8: 'cgroup_array', 9: 'lru_hash', 10: 'lru_percpu_hash', 11: 'lpm_trie',
  12: 'array_of_maps', 13: 'hash_of_maps', 14: 'devmap', 15: 'sockmap', 16: 'cpumap', 17: 'xskmap',
  18: 'sockhash', 22: 'queue', 23: 'stack', 25: 'devmap_hash', 27: 'ringbuf', 30: 'bloom_filter',
};
export const MAP_TYPE = { HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERCPU_HASH: 5, PERCPU_ARRAY: 6, LRU_PERCPU_HASH: 10 } as const;

export const XDP_FLAGS = { SKB_MODE: 2, DRV_MODE: 4 } as const;
/** bpf_xdp_query attach_mode values. */
export const XDP_ATTACHED = { NONE: 0, DRV: 1, SKB: 2, HW: 3, MULTI: 4 } as const;

/** BPF_F_BEFORE / BPF_F_AFTER / BPF_F_REPLACE, BPF_F_ID / BPF_F_LINK for tcx ordering. */
export const MPROG_FLAGS = { REPLACE: 1 << 2, BEFORE: 1 << 3, AFTER: 1 << 4, ID: 1 << 5, LINK: 1 << 13 } as const;

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export const SYS_BPF = 321;
export const SYS_PERF_EVENT_OPEN = 298;
/** perf_event_attr.type for tracepoints, and perf_event_open's close-on-exec flag. */
export const PERF_TYPE_TRACEPOINT = 2;
export const PERF_FLAG_FD_CLOEXEC = 8;
export const CLONE_NEWNET = 0x40000000;
