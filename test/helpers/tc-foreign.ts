/**
 * A "foreign" tcx program, as another tenant of the host would attach it: counter_tc
 * of bpf/build/counter.bpf.o loaded through the project's libbpf layer, attached with
 * a tcx link, and pinned (link, program, counts map) under a bpffs directory of the
 * test's own, outside any kfn pin root. kfn must report it and never touch it.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BpfObject,
  MapHandle,
  attachTcxLink,
  closeFd,
  detachLink,
  ifindexHere,
  linkInfoByFd,
  mapInfoByFd,
  openPinned,
  perCpuValues,
  pinFd,
  progInfoByFd,
  queryTcx,
  tryOpenPinned,
  withFd,
  withNetns,
  type TcxDirection,
} from '../../src/libbpf/index.js';
import { BPF_BUILD } from './traffic-env.js';

export interface ForeignTcx {
  pinDir: string;
  progId: number;
  linkId: number;
  netns: string;
  ifname: string;
  dir: TcxDirection;
}

/** Loads counter_tc, attaches it to `ifname` in `netns` (tcx `dir`), pins everything under `pinDir`. */
export function attachForeignCounter(o: { netns: string; ifname: string; dir: TcxDirection; pinDir: string; position?: 'first' | 'last' }): ForeignTcx {
  const obj = BpfObject.open(path.join(BPF_BUILD, 'counter.bpf.o'));
  try {
    const loaded = obj.load('counter_tc');
    const progId = progInfoByFd(loaded.progFd).id;
    const linkFd = withNetns(o.netns, () => {
      const ifindex = ifindexHere(o.ifname);
      if (!ifindex) throw new Error(`no interface ${o.ifname} in netns ${o.netns}`);
      return attachTcxLink(loaded.progFd, ifindex, o.dir, o.position ?? 'last', `${o.netns}:${o.ifname} (foreign test program)`);
    });
    try {
      fs.mkdirSync(o.pinDir, { recursive: true });
      pinFd(linkFd, path.join(o.pinDir, 'link'));
      pinFd(loaded.progFd, path.join(o.pinDir, 'prog'));
      pinFd(loaded.mapFds['counts']!, path.join(o.pinDir, 'counts'));
      const linkId = linkInfoByFd(linkFd).id;
      return { pinDir: o.pinDir, progId, linkId, netns: o.netns, ifname: o.ifname, dir: o.dir };
    } finally {
      closeFd(linkFd);
    }
  } finally {
    obj.close();
  }
}

/** Sum over CPUs of slot 0 of a pinned per-CPU array of u64. */
export function readPerCpuU64(pin: string): bigint {
  return withFd(openPinned(pin), (fd) => {
    const info = mapInfoByFd(fd);
    const raw = new MapHandle(fd, info, pin).lookup(new Uint8Array(4));
    if (!raw) return 0n;
    return perCpuValues(info, raw).reduce((sum, v) => sum + v.readBigUInt64LE(0), 0n);
  });
}

export const foreignCount = (f: ForeignTcx): bigint => readPerCpuU64(path.join(f.pinDir, 'counts'));

/** Program ids on a tcx hook, in execution order. */
export function tcxOrder(netns: string, ifname: string, dir: TcxDirection): number[] {
  return withNetns(netns, () => {
    const ifindex = ifindexHere(ifname);
    if (!ifindex) throw new Error(`no interface ${ifname} in netns ${netns}`);
    return queryTcx(ifindex, dir, `${netns}:${ifname}`).progIds;
  });
}

/** Detaches the foreign link (if still pinned) and removes its pins. Never throws. */
export function removeForeign(pinDir: string): void {
  try {
    const fd = tryOpenPinned(path.join(pinDir, 'link'));
    if (fd !== undefined) {
      withFd(fd, (f) => {
        try {
          detachLink(f, pinDir);
        } catch {
          // already detached (interface gone)
        }
      });
    }
  } catch {
    // pin unreadable: removing the directory below still drops the last reference
  }
  fs.rmSync(pinDir, { recursive: true, force: true });
}

/**
 * A foreign XDP program (counter_xdp) loaded and pinned at `<pinDir>/prog`, attached
 * nowhere: for tests that put it where kfn's programs belong (with bpftool or ip).
 */
export function loadForeignXdp(pinDir: string): { pin: string; progId: number } {
  const obj = BpfObject.open(path.join(BPF_BUILD, 'counter.bpf.o'));
  try {
    const loaded = obj.load('counter_xdp');
    fs.mkdirSync(pinDir, { recursive: true });
    const pin = path.join(pinDir, 'prog');
    pinFd(loaded.progFd, pin);
    return { pin, progId: progInfoByFd(loaded.progFd).id };
  } finally {
    obj.close();
  }
}
