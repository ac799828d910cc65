/**
 * Classic libpcap files (not pcapng), microsecond or nanosecond timestamps, either byte
 * order, Ethernet link type only: what tcpdump -w and tshark -F pcap write.
 */
import { KfnError } from '../core/errors.js';

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const PCAPNG_MAGIC = 0x0a0d0d0a;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
export const LINKTYPE_ETHERNET = 1;
/** libpcap's MAXIMUM_SNAPLEN: no record of a sane file is longer. */
const MAX_RECORD = 262144;
/** The "FCS length present" bit of the link-type field. */
const FCS_PRESENT = 0x04000000;

const LINKTYPE_NAMES: Record<number, string> = {
  0: 'NULL',
  101: 'RAW',
  105: 'IEEE802_11',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

export interface PcapPacket {
  /** The captured bytes, from the Ethernet header on. */
  data: Uint8Array;
  /** Length of the frame on the wire; more than data.length when the capture cut it. */
  originalLength: number;
  /** Capture time, ns since the epoch. */
  timeNs: bigint;
}

export interface PcapFile {
  byteOrder: 'le' | 'be';
  nanosecond: boolean;
  snaplen: number;
  packets: PcapPacket[];
}

/** Parses a pcap file's bytes; `name` is how errors name the file. Throws PCAP_INVALID. */
export function readPcap(bytes: Uint8Array, name: string): PcapFile {
  const bad = (what: string, hint = 'give a classic pcap file (tcpdump -w, or tshark/editcap -F pcap)') =>
    new KfnError('PCAP_INVALID', `${name}: ${what}`, { hint });
  if (bytes.length < GLOBAL_HEADER) throw bad(`${bytes.length} bytes, too short for a pcap file header (24 bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = v.getUint32(0, true);
  const magicBe = v.getUint32(0, false);
  let le: boolean;
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) le = true;
  else if (magicBe === MAGIC_US || magicBe === MAGIC_NS) le = false;
  else if (magicLe === PCAPNG_MAGIC) throw bad('a pcapng file, not a classic pcap file', `convert it: editcap -F pcap ${name} out.pcap`);
  else throw bad(`not a pcap file (magic 0x${magicBe.toString(16).padStart(8, '0')})`);
  const nanosecond = v.getUint32(0, le) === MAGIC_NS;
  const major = v.getUint16(4, le);
  if (major !== 2) throw bad(`pcap version ${major}.${v.getUint16(6, le)}, only 2.x is read`);
  const snaplen = v.getUint32(16, le);
  const network = v.getUint32(20, le);
  const linkType = network & 0xffff;
  if (linkType !== LINKTYPE_ETHERNET) {
    const known = LINKTYPE_NAMES[linkType];
    throw bad(`link type ${linkType}${known ? ` (${known})` : ''}: only Ethernet (1) frames can be sent through a chain`,
      'capture on one Ethernet interface (tcpdump -i eth0 -w file.pcap): "-i any" writes LINUX_SLL frames');
  }
  if (network & FCS_PRESENT) throw bad('its frames end with an Ethernet FCS, which a chain never sees', 'capture without the FCS (the default of tcpdump)');

  const packets: PcapPacket[] = [];
  for (let off = GLOBAL_HEADER; off < bytes.length; ) {
    const n = packets.length + 1;
    if (off + RECORD_HEADER > bytes.length) throw bad(`packet ${n}: record header cut short at byte ${off} (the file is truncated)`);
    const sec = v.getUint32(off, le);
    const frac = v.getUint32(off + 4, le);
    const incl = v.getUint32(off + 8, le);
    const orig = v.getUint32(off + 12, le);
    if (incl > MAX_RECORD) throw bad(`packet ${n}: record of ${incl} bytes at byte ${off}, more than ${MAX_RECORD} (the file is corrupt)`);
    const start = off + RECORD_HEADER;
    if (start + incl > bytes.length) throw bad(`packet ${n}: ${incl} bytes announced, ${bytes.length - start} left (the file is truncated)`);
    packets.push({
      data: bytes.slice(start, start + incl),
      originalLength: orig,
      timeNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * (nanosecond ? 1n : 1000n),
    });
    off = start + incl;
  }
  return { byteOrder: le ? 'le' : 'be', nanosecond, snaplen, packets };
}

/** Ethernet frames as a classic pcap file (timestamps 1 µs apart from 0 unless given). */
export function writePcap(frames: readonly Uint8Array[], opts: { byteOrder?: 'le' | 'be'; nanosecond?: boolean; timesNs?: readonly bigint[] } = {}): Buffer {
  const le = (opts.byteOrder ?? 'le') === 'le';
  const nanosecond = opts.nanosecond ?? false;
  const size = GLOBAL_HEADER + frames.reduce((s, f) => s + RECORD_HEADER + f.length, 0);
  const out = Buffer.alloc(size);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(0, nanosecond ? MAGIC_NS : MAGIC_US, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, MAX_RECORD, le);
  v.setUint32(20, LINKTYPE_ETHERNET, le);
  let off = GLOBAL_HEADER;
  frames.forEach((f, i) => {
    const t = opts.timesNs?.[i] ?? BigInt(i) * 1000n;
    const unit = nanosecond ? 1n : 1000n;
    v.setUint32(off, Number(t / 1_000_000_000n), le);
    v.setUint32(off + 4, Number((t % 1_000_000_000n) / unit), le);
    v.setUint32(off + 8, f.length, le);
    v.setUint32(off + 12, f.length, le);
    out.set(f, off + RECORD_HEADER);
    off += RECORD_HEADER + f.length;
  });
  return out;
}
