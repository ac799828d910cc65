/**
 * The interfaces of a network namespace and the XDP program each one runs (IFLA_XDP),
 * over rtnetlink: one dump (RTM_GETLINK with NLM_F_DUMP) for all of them, or one request
 * for one interface. libbpf 1.1's bpf_xdp_query dumps every interface of the namespace
 * to answer for one, so asking it per interface costs the square of their number.
 * Layouts from include/uapi/linux/{netlink,rtnetlink,if_link}.h.
 */
import { BpfError } from './errors.js';
import { lastErrno, libcFns } from './ffi.js';
import { XDP_ATTACHED } from './constants.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLM_F_DUMP_INTR = 0x10;
const DUMP_ATTEMPTS = 3;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const IFINFOMSG_LEN = 16;

const IFLA_IFNAME = 3;
const IFLA_XDP = 43;
const IFLA_EXT_MASK = 29;
const IFLA_XDP_ATTACHED = 2;
const IFLA_XDP_PROG_ID = 4;
/** Interface statistics are most of a dump's bytes and kfn reads none of them. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

const RECV_BUFFER = 1 << 16;
/** Bound on recv calls per dump (each returns many interfaces). */
const MAX_RECVS = 1 << 16;

export type XdpMode = 'none' | 'native' | 'generic' | 'offload' | 'multi';

export interface XdpQuery {
  /** The program attached (0 if none, or several in different modes: see mode `multi`). */
  progId: number;
  mode: XdpMode;
}

export interface NetLink {
  ifindex: number;
  ifname: string;
  xdp: XdpQuery;
}

const MODES: Record<number, XdpMode> = {
  [XDP_ATTACHED.NONE]: 'none',
  [XDP_ATTACHED.DRV]: 'native',
  [XDP_ATTACHED.SKB]: 'generic',
  [XDP_ATTACHED.HW]: 'offload',
  [XDP_ATTACHED.MULTI]: 'multi',
};

const align4 = (n: number): number => (n + 3) & ~3;

/** The payload of the first attribute of type `type` in `buf[start, end)`: offsets only, nothing copied. */
function attribute(buf: Buffer, start: number, end: number, type: number): { start: number; end: number } | undefined {
  for (let off = start; off + 4 <= end; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) return undefined;
    // NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the top bits of the type.
    if ((buf.readUInt16LE(off + 2) & 0x3fff) === type) return { start: off + 4, end: off + len };
    off += align4(len);
  }
  return undefined;
}

function parseLink(buf: Buffer, msg: number, msgLen: number): NetLink {
  const ifindex = buf.readInt32LE(msg + NLMSG_HDRLEN + 4);
  const attrs = msg + NLMSG_HDRLEN + IFINFOMSG_LEN;
  const end = msg + msgLen;
  const name = attribute(buf, attrs, end, IFLA_IFNAME);
  const xdp = { progId: 0, mode: 'none' as XdpMode };
  const nested = attribute(buf, attrs, end, IFLA_XDP);
  if (nested) {
    const attached = attribute(buf, nested.start, nested.end, IFLA_XDP_ATTACHED);
    const progId = attribute(buf, nested.start, nested.end, IFLA_XDP_PROG_ID);
    if (attached) xdp.mode = MODES[buf.readUInt8(attached.start)] ?? 'none';
    if (progId) xdp.progId = buf.readUInt32LE(progId.start);
  }
  return { ifindex, ifname: name ? cString(buf, name.start, name.end) : '', xdp };
}

/** The NUL-terminated string in `buf[start, end)`. */
function cString(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** Every interface of the current thread's network namespace, by ifindex, with its XDP attachment. */
export function dumpLinksHere(): NetLink[] {
  for (let attempt = 1; ; attempt++) {
    const { links, interrupted } = getLinks(undefined, 'interfaces');
    // A dump interrupted by a concurrent change may be inconsistent: ask again.
    if (!interrupted || attempt === DUMP_ATTEMPTS) return links;
  }
}

export interface NetInterface {
  ifindex: number;
  ifname: string;
}

/** Interfaces of the current thread's netns, by ifindex. */
export function listInterfacesHere(): NetInterface[] {
  return dumpLinksHere().map(({ ifindex, ifname }) => ({ ifindex, ifname }));
}

/** What XDP program runs on one interface of the current netns: one RTM_GETLINK for that interface alone. */
export function queryXdp(ifindex: number, label: string): XdpQuery {
  const [link] = getLinks(ifindex, label).links;
  if (!link) throw new BpfError('query XDP on', label, 19 /* ENODEV */);
  return link.xdp;
}

/** RTM_GETLINK: of interface `ifindex`, or a dump of all (undefined). */
function getLinks(ifindex: number | undefined, what: string): { links: NetLink[]; interrupted: boolean } {
  const fd = Number(libcFns.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd < 0) throw new BpfError('open', 'rtnetlink socket', lastErrno());
  const dump = ifindex === undefined;
  try {
    const req = Buffer.alloc(NLMSG_HDRLEN + IFINFOMSG_LEN + 8);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(RTM_GETLINK, 4);
    req.writeUInt16LE(dump ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_REQUEST, 6);
    req.writeUInt32LE(1, 8); // sequence number
    req.writeInt32LE(ifindex ?? 0, NLMSG_HDRLEN + 4);
    const attr = NLMSG_HDRLEN + IFINFOMSG_LEN;
    req.writeUInt16LE(8, attr);
    req.writeUInt16LE(IFLA_EXT_MASK, attr + 2);
    req.writeUInt32LE(RTEXT_FILTER_SKIP_STATS, attr + 4);
    if (Number(libcFns.send(fd, req, req.length, 0)) !== req.length) throw new BpfError('send', `RTM_GETLINK of ${what}`, lastErrno());

    const links: NetLink[] = [];
    let interrupted = false;
    const buf = Buffer.alloc(RECV_BUFFER);
    for (let i = 0; i < MAX_RECVS; i++) {
      const n = Number(libcFns.recv(fd, buf, buf.length, 0));
      if (n < 0) throw new BpfError('receive', `RTM_GETLINK of ${what}`, lastErrno());
      for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        if (buf.readUInt16LE(off + 6) & NLM_F_DUMP_INTR) interrupted = true;
        if (len < NLMSG_HDRLEN || off + len > n) throw new BpfError('parse', `RTM_GETLINK of ${what}`, 71 /* EPROTO */);
        if (type === NLMSG_DONE) return { links: links.sort((a, b) => a.ifindex - b.ifindex), interrupted };
        if (type === NLMSG_ERROR) {
          const errno = -buf.readInt32LE(off + NLMSG_HDRLEN);
          if (errno) throw new BpfError('get', `${what} (RTM_GETLINK)`, errno);
        } else if (type === RTM_NEWLINK) {
          links.push(parseLink(buf, off, len));
          if (!dump) return { links, interrupted };
        }
        off += align4(len);
      }
    }
    throw new BpfError('get', `${what} (RTM_GETLINK): the answer did not end`, 71);
  } finally {
    libcFns.close(fd);
  }
}
