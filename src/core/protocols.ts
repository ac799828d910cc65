/** IP protocol numbers and the names people read (IANA "Assigned Internet Protocol Numbers"). */
const NAMES: Record<number, string> = {
  0: 'hopopt',
  1: 'icmp',
  2: 'igmp',
  4: 'ipip',
  6: 'tcp',
  17: 'udp',
  41: 'ipv6',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  89: 'ospf',
  132: 'sctp',
};

export function protocolName(n: number): string {
  return NAMES[n] ?? String(n);
}

/** Protocols that carry ports. */
export function hasPorts(n: number): boolean {
  return n === 6 || n === 17 || n === 132;
}
