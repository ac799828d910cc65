/**
 * PacketSpec -> the exact bytes of an Ethernet frame: optional 802.1Q tag, IPv4 (header
 * checksum) or IPv6, then TCP / UDP / ICMP / ICMPv6 with their checksums (pseudo-header
 * included where the protocol has one). No padding to the 60-byte Ethernet minimum: the
 * frame is what the headers and payload add up to.
 */
import { KfnError } from '../core/errors.js';
import { formatIPv6 } from '../values/net.js';
import { TCP_FLAGS, type IpHeader, type PacketSpec } from './types.js';

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const IPPROTO = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 } as const;
const L4_HEADER_LEN = { tcp: 20, udp: 8, icmp: 8, icmpv6: 8 } as const;
const TCP_WINDOW = 65535;

/** Sum of big-endian 16-bit words of b[start, end) (an odd last byte padded with zero), unfolded. */
function sum16(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) % 2 === 1) s += b[end - 1]! << 8;
  return s;
}

/** The ones'-complement checksum of a sum of 16-bit words (RFC 1071). */
function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** RFC 1071 checksum of b[start, end). A buffer whose checksum field is right sums to 0. */
export function internetChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return fold(sum16(b, start, end));
}

function pseudoHeaderSum(ip: IpHeader, protocol: number, l4Length: number): number {
  const addrs = Uint8Array.from([...ip.src.toByteArray(), ...ip.dst.toByteArray()]);
  // IPv4: zero, protocol, 16-bit length; IPv6: 32-bit length, three zeros, next header.
  // As 16-bit words both come to the same sum: protocol + the length's words.
  return sum16(addrs, 0, addrs.length) + protocol + (l4Length >>> 16) + (l4Length & 0xffff);
}

export function frameLength(spec: PacketSpec): number {
  return 14 + (spec.eth.vlan ? 4 : 0) + (spec.ip.version === 4 ? 20 : 40) + L4_HEADER_LEN[spec.l4.protocol] + spec.payloadLength;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A spec built in code rather than loaded from YAML gets the checks the schema would have made. */
function checkSpec(spec: PacketSpec): void {
  const { eth, ip, l4 } = spec;
  const bad = (what: string, hint: string) => new KfnError('PACKET_INVALID', what, { hint });
  for (const m of [eth.src, eth.dst]) if (!MAC.test(m)) throw bad(`MAC ${JSON.stringify(m)} is not aa:bb:cc:dd:ee:ff`, 'write MACs in lower case, colon-separated');
  const ranges: [string, number, number][] = [
    ['ttl', ip.ttl, 255],
    ['payload length', spec.payloadLength, 65535 - 40 - L4_HEADER_LEN[l4.protocol]],
  ];
  if (eth.vlan) ranges.push(['VLAN id', eth.vlan.id, 4095], ['VLAN priority', eth.vlan.priority, 7]);
  if (l4.protocol === 'tcp' || l4.protocol === 'udp') ranges.push(['source port', l4.srcPort, 65535], ['destination port', l4.dstPort, 65535]);
  else ranges.push(['ICMP type', l4.type, 255], ['ICMP code', l4.code, 255]);
  for (const [name, v, max] of ranges) {
    if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`${name} ${v} is out of range (0-${max})`, 'fix the packet description');
  }
  if ((l4.protocol === 'icmp' && ip.version !== 4) || (l4.protocol === 'icmpv6' && ip.version !== 6)) {
    throw bad(`${l4.protocol} cannot be carried over IPv${ip.version}`, 'use icmp with IPv4 addresses and icmpv6 with IPv6 addresses');
  }
}

export function buildFrame(spec: PacketSpec): Uint8Array {
  checkSpec(spec);
  const { eth, ip, l4 } = spec;
  const frame = new Uint8Array(frameLength(spec));
  const v = new DataView(frame.buffer);

  frame.set(macBytes(eth.dst), 0);
  frame.set(macBytes(eth.src), 6);
  let off = 12;
  if (eth.vlan) {
    v.setUint16(off, ETH_P_8021Q);
    v.setUint16(off + 2, (eth.vlan.priority << 13) | eth.vlan.id);
    off += 4;
  }
  v.setUint16(off, ip.version === 4 ? ETH_P_IP : ETH_P_IPV6);
  off += 2;

  const l3 = off;
  const l4Len = L4_HEADER_LEN[l4.protocol] + spec.payloadLength;
  const proto = IPPROTO[l4.protocol];
  if (ip.version === 4) {
    frame[l3] = 0x45;
    v.setUint16(l3 + 2, 20 + l4Len);
    frame[l3 + 8] = ip.ttl;
    frame[l3 + 9] = proto;
    frame.set(ip.src.toByteArray(), l3 + 12);
    frame.set(ip.dst.toByteArray(), l3 + 16);
    v.setUint16(l3 + 10, internetChecksum(frame, l3, l3 + 20));
    off += 20;
  } else {
    v.setUint32(l3, 0x60000000);
    v.setUint16(l3 + 4, l4Len);
    frame[l3 + 6] = proto;
    frame[l3 + 7] = ip.ttl;
    frame.set(ip.src.toByteArray(), l3 + 8);
    frame.set(ip.dst.toByteArray(), l3 + 24);
    off += 40;
  }

  const l4Start = off;
  for (let i = 0; i < spec.payloadLength; i++) frame[l4Start + L4_HEADER_LEN[l4.protocol] + i] = i & 0xff;
  const end = l4Start + l4Len;
  // Called once the L4 header is written with its checksum field still zero.
  const l4Checksum = () => fold(pseudoHeaderSum(ip, proto, l4Len) + sum16(frame, l4Start, end));
  switch (l4.protocol) {
    case 'tcp': {
      v.setUint16(l4Start, l4.srcPort);
      v.setUint16(l4Start + 2, l4.dstPort);
      frame[l4Start + 12] = 5 << 4;
      frame[l4Start + 13] = l4.flags.reduce((bits, f) => bits | (1 << TCP_FLAGS.indexOf(f)), 0);
      v.setUint16(l4Start + 14, TCP_WINDOW);
      v.setUint16(l4Start + 16, l4Checksum());
      break;
    }
    case 'udp': {
      v.setUint16(l4Start, l4.srcPort);
      v.setUint16(l4Start + 2, l4.dstPort);
      v.setUint16(l4Start + 4, l4Len);
      // 0 means "no checksum" in UDP; a computed 0 is sent as its other form, 0xffff.
      v.setUint16(l4Start + 6, l4Checksum() || 0xffff);
      break;
    }
    case 'icmp':
      frame[l4Start] = l4.type;
      frame[l4Start + 1] = l4.code;
      v.setUint16(l4Start + 2, internetChecksum(frame, l4Start, end));
      break;
    case 'icmpv6':
      frame[l4Start] = l4.type;
      frame[l4Start + 1] = l4.code;
      v.setUint16(l4Start + 2, l4Checksum());
      break;
  }
  return frame;
}

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':'), (x) => parseInt(x, 16));
}

function hostText(ip: IpHeader, which: 'src' | 'dst'): string {
  return ip.version === 4 ? ip[which].toString() : formatIPv6(Uint8Array.from(ip[which].toByteArray()));
}

function endpoint(ip: IpHeader, which: 'src' | 'dst', port: number): string {
  const host = hostText(ip, which);
  return ip.version === 4 ? `${host}:${port}` : `[${host}]:${port}`;
}

/** One line for reports: `tcp 198.18.0.3:40000 > 198.18.0.1:80 [syn] vlan 10, 54 bytes`. */
export function describePacket(spec: PacketSpec): string {
  const { ip, l4 } = spec;
  let s: string;
  if (l4.protocol === 'tcp' || l4.protocol === 'udp') {
    s = `${l4.protocol} ${endpoint(ip, 'src', l4.srcPort)} > ${endpoint(ip, 'dst', l4.dstPort)}`;
    if (l4.protocol === 'tcp' && l4.flags.length > 0) s += ` [${l4.flags.join(',')}]`;
  } else {
    s = `${l4.protocol} ${hostText(ip, 'src')} > ${hostText(ip, 'dst')} type ${l4.type} code ${l4.code}`;
  }
  if (spec.eth.vlan) s += ` vlan ${spec.eth.vlan.id}`;
  return `${s}, ${frameLength(spec)} bytes`;
}
