/**
 * Flows as people and exporters read them, from a flow table any function keeps: a
 * state map whose key has the fields of `struct kfn_flow_key` (bpf/include/kfn.h) and
 * whose value counts packets and bytes. IPv4 flows are shown as IPv4 (the kernel keeps
 * them as ::ffff:a.b.c.d in 16-byte fields), protocols by name.
 */
import { hasPorts, protocolName } from '../core/protocols.js';
import type { MapStats } from '../forms/form.js';

export interface Flow {
  family: 4 | 6;
  src: string;
  dst: string;
  /** 0 for protocols without ports. */
  sport: number;
  dport: number;
  proto: number;
  protoName: string;
  packets: bigint;
  bytes: bigint;
  /** CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) of the first and the latest packet, when the table keeps them. */
  firstNs?: bigint;
  lastNs?: bigint;
  /** OR of the TCP flags seen, when the table keeps them. */
  tcpFlags?: number;
}

type Rec = Record<string, unknown>;

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const big = (v: unknown): bigint | undefined => (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)) ? BigInt(v) : undefined);

/** `::ffff:198.18.0.2` -> `198.18.0.2` for an IPv4 flow. */
function address(v: unknown, family: 4 | 6): string | undefined {
  if (typeof v !== 'string') return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
  return family === 4 && mapped ? mapped[1] : v;
}

/** True for a map of this shape: flow-keyed, counting packets and bytes. */
export function isFlowTable(s: MapStats): boolean {
  const e = s.entries[0];
  return e !== undefined && isRec(e.key) && 'saddr' in e.key && 'daddr' in e.key && 'proto' in e.key && isRec(e.value) && 'packets' in e.value && 'bytes' in e.value;
}

export function flowOf(key: unknown, value: unknown): Flow | undefined {
  if (!isRec(key) || !isRec(value)) return undefined;
  const family = key.family === 4 ? 4 : 6;
  const src = address(key.saddr, family);
  const dst = address(key.daddr, family);
  const proto = typeof key.proto === 'number' ? key.proto : undefined;
  const packets = big(value.packets);
  const bytes = big(value.bytes);
  if (src === undefined || dst === undefined || proto === undefined || packets === undefined || bytes === undefined) return undefined;
  const ports = hasPorts(proto);
  const flow: Flow = {
    family,
    src,
    dst,
    sport: ports && typeof key.sport === 'number' ? key.sport : 0,
    dport: ports && typeof key.dport === 'number' ? key.dport : 0,
    proto,
    protoName: protocolName(proto),
    packets,
    bytes,
  };
  const first = big(value.first_ns);
  const last = big(value.last_ns);
  if (first !== undefined) flow.firstNs = first;
  if (last !== undefined) flow.lastNs = last;
  if (typeof value.tcp_flags === 'number') flow.tcpFlags = value.tcp_flags;
  return flow;
}

/** Every flow of every flow table in `stats`. */
export function flowsOf(stats: readonly MapStats[]): Flow[] {
  return stats.filter(isFlowTable).flatMap((s) => s.entries.flatMap((e) => flowOf(e.key, e.value) ?? []));
}

/** Most packets first, then most bytes, then by 5-tuple (a stable order). */
export function compareFlows(a: Flow, b: Flow): number {
  if (a.packets !== b.packets) return a.packets > b.packets ? -1 : 1;
  if (a.bytes !== b.bytes) return a.bytes > b.bytes ? -1 : 1;
  const ka = flowKey(a);
  const kb = flowKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Names of the slots of flowstats' `proto_stats` (`enum flowstats_proto` in
 * bpf/flowstats.bpf.c; the map's BTF key is a plain __u32, so the object cannot say).
 */
const FLOWSTATS_PROTO_SLOTS = ['other', 'icmp', 'tcp', 'udp', 'icmpv6'] as const;

/** The protocol name of a per-protocol counter slot of `fn`'s map `map`, when that map is one. */
export function protocolSlotName(fn: string, map: string, slot: unknown): string | undefined {
  if (fn !== 'flowstats' || map !== 'proto_stats' || typeof slot !== 'number') return undefined;
  return FLOWSTATS_PROTO_SLOTS[slot];
}

/** A stable identity of a flow: its 5-tuple. */
export function flowKey(f: Flow): string {
  return `${f.proto} ${f.src} ${f.sport} ${f.dst} ${f.dport}`;
}

export function flowText(f: Flow): string {
  const ep = (a: string, p: number) => (hasPorts(f.proto) ? (f.family === 6 ? `[${a}]:${p}` : `${a}:${p}`) : a);
  return `${f.protoName} ${ep(f.src, f.sport)} > ${ep(f.dst, f.dport)}`;
}
