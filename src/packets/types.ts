/**
 * Packet tests as loaded: typed packets (addresses as ipaddr.js values, MACs as
 * aa:bb:cc:dd:ee:ff), the exact frames to send, and what each packet is expected to do.
 * The YAML shape is defined by schemas/packet-test.schema.json.
 */
import type ipaddr from 'ipaddr.js';
import type { SourceRef } from '../core/errors.js';
import type { Verdict } from '../libbpf/verdict.js';

export const PACKET_TEST_KIND = 'PacketTest';

export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** In the order of their bits in the TCP header (fin = 0x01 ... cwr = 0x80). */
export const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const;
export type TcpFlag = (typeof TCP_FLAGS)[number];

/** The verdicts a case may expect (a subset of what a program can return). */
export const EXPECTED_VERDICTS = ['pass', 'drop'] as const satisfies readonly Verdict[];
export type ExpectedVerdict = (typeof EXPECTED_VERDICTS)[number];

/** What a packet description leaves out. */
export const PACKET_DEFAULTS = {
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  vlanPriority: 0,
  ttl: 64,
  srcPort: 40000,
  tcpFlags: [] as readonly TcpFlag[],
  /** Echo request. */
  icmpType: 8,
  icmpv6Type: 128,
  icmpCode: 0,
  payloadLength: 0,
} as const;

export interface VlanTag {
  /** 0-4095. */
  id: number;
  /** PCP, 0-7. */
  priority: number;
}

export interface EthernetHeader {
  src: string;
  dst: string;
  /** One 802.1Q tag. */
  vlan?: VlanTag;
}

/** `ttl` is the IPv6 hop limit for version 6. */
export type IpHeader =
  | { version: 4; src: ipaddr.IPv4; dst: ipaddr.IPv4; ttl: number }
  | { version: 6; src: ipaddr.IPv6; dst: ipaddr.IPv6; ttl: number };

export type L4Header =
  | { protocol: 'tcp'; srcPort: number; dstPort: number; flags: TcpFlag[] }
  | { protocol: 'udp'; srcPort: number; dstPort: number }
  | { protocol: 'icmp' | 'icmpv6'; type: number; code: number };

export interface PacketSpec {
  eth: EthernetHeader;
  ip: IpHeader;
  l4: L4Header;
  /** Bytes after the L4 header: 0x00, 0x01, ... 0xff, 0x00, ... */
  payloadLength: number;
}

/** One frame to send. */
export interface Packet {
  /** Exact bytes from the Ethernet header on. */
  frame: Uint8Array;
  /** `udp 198.18.0.3:40000 > 198.18.0.1:53`, or `captures/dns.pcap #2`. */
  label: string;
  /** The description it was built from (absent for frames read from a pcap). */
  spec?: PacketSpec;
  source: SourceRef;
}

/** `count` consecutive packets with one verdict. */
export interface Run {
  verdict: ExpectedVerdict;
  count: number;
  decidedBy?: string;
}

/**
 * each:    every packet of the step has this verdict.
 * ordered: runs in packet order, covering every packet exactly.
 * totals:  how many packets have each verdict, in any order (verdicts not named: 0).
 */
export type Expectation =
  | { form: 'each'; verdict: ExpectedVerdict; decidedBy?: string }
  | { form: 'ordered'; runs: Run[] }
  | { form: 'totals'; counts: Record<ExpectedVerdict, number> };

/** Packets sent back to back: `packets` in order, the whole list `repeat` times. */
export interface Step {
  packets: Packet[];
  repeat: number;
  expect: Expectation;
  source: SourceRef;
}

/** A case is one step, or a `sequence` of steps; chain state carries from packet to packet. */
export interface PacketCase {
  name: string;
  steps: Step[];
  source: SourceRef;
}

export interface PacketTest {
  name: string;
  /** The Chain (metadata.name) the cases run through. */
  chain: string;
  cases: PacketCase[];
  file: string;
  absFile: string;
  source: SourceRef;
}

export interface LoadedPacketTests {
  /** Absolute path of what was loaded (file or directory). */
  target: string;
  files: string[];
  tests: PacketTest[];
}
