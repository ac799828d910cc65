/**
 * Ethernet frames built byte by byte for BPF_PROG_TEST_RUN: IPv4 or IPv6 (family from
 * the addresses), carrying TCP, UDP or an ICMP / ICMPv6 echo request, optionally behind
 * one 802.1Q tag. Checksums are correct so the frames are also valid on a wire.
 */
import ipaddr from 'ipaddr.js';

export enum L4 {
  Tcp = 'tcp',
  Udp = 'udp',
  Icmp = 'icmp',
}

/** TCP header flag bits (byte 13). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

export interface FrameSpec {
  src: string;
  dst: string;
  l4: L4;
  sport?: number;
  dport?: number;
  /** TCP only; default ACK. */
  tcpFlags?: number;
  /** Payload bytes after the L4 header. */
  payload?: number;
  /** 802.1Q VLAN id. */
  vlan?: number;
}

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;
const ETH_P_8021Q = 0x8100;
const SRC_MAC = [0x02, 0, 0, 0, 0, 0x02];
const DST_MAC = [0x02, 0, 0, 0, 0, 0x01];

/** Ones' complement sum of 16-bit words, folded (RFC 1071). */
function csum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const b of parts) {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ethHeader(etherType: number, vlan?: number): Buffer {
  const tag = vlan === undefined ? [] : [ETH_P_8021Q >> 8, ETH_P_8021Q & 0xff, (vlan >> 8) & 0x0f, vlan & 0xff];
  return Buffer.from([...DST_MAC, ...SRC_MAC, ...tag, etherType >> 8, etherType & 0xff]);
}

/** Address bytes and family; both addresses must be of one family. */
export function addrBytes(text: string): { bytes: Buffer; family: 4 | 6 } {
  const a = ipaddr.parse(text);
  return { bytes: Buffer.from(a.toByteArray()), family: a.kind() === 'ipv4' ? 4 : 6 };
}

function l4Header(spec: FrameSpec, family: 4 | 6): { proto: number; header: Buffer } {
  if (spec.l4 === L4.Tcp) {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(spec.sport ?? 40000, 0);
    h.writeUInt16BE(spec.dport ?? 80, 2);
    h.writeUInt32BE(1, 4); // seq
    h.writeUInt32BE((spec.tcpFlags ?? TCP_FLAG.ACK) & TCP_FLAG.ACK ? 1 : 0, 8);
    h[12] = 5 << 4; // data offset: 5 words
    h[13] = spec.tcpFlags ?? TCP_FLAG.ACK;
    h.writeUInt16BE(65535, 14); // window
    return { proto: IPPROTO.TCP, header: h };
  }
  if (spec.l4 === L4.Udp) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(spec.sport ?? 40000, 0);
    h.writeUInt16BE(spec.dport ?? 53, 2);
    h.writeUInt16BE(8 + (spec.payload ?? 0), 4);
    return { proto: IPPROTO.UDP, header: h };
  }
  const h = Buffer.alloc(8);
  h[0] = family === 4 ? 8 : 128; // echo request
  h.writeUInt16BE(1, 4); // identifier
  h.writeUInt16BE(1, 6); // sequence
  return { proto: family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6, header: h };
}

export function frame(spec: FrameSpec): Buffer {
  const s = addrBytes(spec.src);
  const d = addrBytes(spec.dst);
  if (s.family !== d.family) throw new Error(`${spec.src} and ${spec.dst} are of different families`);
  const { proto, header } = l4Header(spec, s.family);
  const l4 = Buffer.concat([header, Buffer.alloc(spec.payload ?? 0)]);
  const pseudo =
    s.family === 4
      ? Buffer.concat([s.bytes, d.bytes, Buffer.from([0, proto, l4.length >> 8, l4.length & 0xff])])
      : Buffer.concat([s.bytes, d.bytes, Buffer.from([0, 0, l4.length >> 8, l4.length & 0xff, 0, 0, 0, proto])]);
  const csumOff = proto === IPPROTO.TCP ? 16 : proto === IPPROTO.UDP ? 6 : 2;
  // ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 have one.
  l4.writeUInt16BE(proto === IPPROTO.ICMP ? csum(l4) : csum(pseudo, l4), csumOff);

  if (s.family === 4) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip.writeUInt16BE(0x4000, 6); // DF, no fragment offset
    ip[8] = 64;
    ip[9] = proto;
    s.bytes.copy(ip, 12);
    d.bytes.copy(ip, 16);
    ip.writeUInt16BE(csum(ip), 10);
    return Buffer.concat([ethHeader(ETH_P_IP, spec.vlan), ip, l4]);
  }
  const ip6 = Buffer.alloc(40);
  ip6[0] = 0x60;
  ip6.writeUInt16BE(l4.length, 4);
  ip6[6] = proto;
  ip6[7] = 64;
  s.bytes.copy(ip6, 8);
  d.bytes.copy(ip6, 24);
  return Buffer.concat([ethHeader(ETH_P_IPV6, spec.vlan), ip6, l4]);
}

/** An ARP request: a frame that is not IP. */
export function arpFrame(): Buffer {
  const arp = Buffer.from([0, 1, 0x08, 0x00, 6, 4, 0, 1, ...SRC_MAC, 198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1]);
  return Buffer.concat([ethHeader(ETH_P_ARP), arp]);
}
