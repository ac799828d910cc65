/**
 * A connected UDP socket created inside a network namespace (exporters send from the
 * namespace their collector lives in). Made with socket(2) while the thread is in that
 * namespace, so it stays there; sends are synchronous.
 */
import ipaddr from 'ipaddr.js';
import { libcFns, lastErrno } from './ffi.js';
import { BpfError } from './errors.js';
import { withNetns } from './netns.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

function sockaddr(host: string, port: number): { family: number; addr: Buffer } {
  const ip = ipaddr.parse(host);
  if (ip.kind() === 'ipv4') {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    Buffer.from(ip.toByteArray()).copy(b, 4);
    return { family: AF_INET, addr: b };
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip.toByteArray()).copy(b, 8);
  return { family: AF_INET6, addr: b };
}

export class UdpSender {
  private constructor(
    private fd: number,
    readonly label: string,
  ) {}

  static open(netns: string, host: string, port: number): UdpSender {
    const label = `${host}:${port} (netns ${netns})`;
    const { family, addr } = sockaddr(host, port);
    const fd = withNetns(netns, () => libcFns.socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number);
    if (fd < 0) throw new BpfError('open UDP socket to', label, lastErrno());
    if ((libcFns.connect(fd, addr, addr.length) as number) !== 0) {
      const errno = lastErrno();
      libcFns.close(fd);
      throw new BpfError('connect UDP socket to', label, errno);
    }
    return new UdpSender(fd, label);
  }

  send(message: Uint8Array): void {
    const buf = Buffer.from(message);
    const n = Number(libcFns.send(this.fd, buf, buf.length, 0));
    if (n !== buf.length) throw new BpfError('send to', this.label, n < 0 ? lastErrno() : 90 /* EMSGSIZE */);
  }

  close(): void {
    if (this.fd >= 0) libcFns.close(this.fd);
    this.fd = -1;
  }
}
