/**
 * Attaching a chain's root to its hook. Its own module, with only the libbpf pieces it
 * needs, because a thread of its own runs it too (attach-thread.ts): an XDP attach
 * waits in the kernel, and nothing here may install libbpf's print callback there.
 */
import { KfnError } from '../../core/errors.js';
import type { Attachment, TcPosition, XdpMode } from '../../core/types.js';
import { attachmentLabel } from '../../core/types.js';
import { BpfError } from '../../libbpf/errors.js';
import { closeFd, withFd } from '../../libbpf/fd.js';
import { attachTcxLink, attachXdpLink } from '../../libbpf/link.js';
import { ifindexHere, withNetns } from '../../libbpf/netns.js';
import { openPinned, pinFd } from '../../libbpf/pin.js';
import { chainPins } from './layout.js';

export interface Attached {
  /** XDP mode in use (xdp hook only). */
  mode?: 'native' | 'generic';
  ifindex: number;
}

/**
 * Attaches the chain root to its hook through a BPF link and pins the link. For XDP
 * `auto` tries native first and falls back to generic; returns the mode in use.
 */
export function attachRoot(dir: string, a: Attachment, mode: XdpMode, position: TcPosition): Attached {
  const pins = chainPins(dir);
  const label = attachmentLabel(a);
  return withFd(openPinned(pins.root), (progFd) =>
    withNetns(a.netns, () => {
      const ifindex = ifindexHere(a.ifname);
      if (!ifindex) {
        throw new KfnError('INTERFACE_NOT_FOUND', `interface ${a.ifname} not found in netns ${a.netns}`, { hint: 'the interface disappeared since the plan was made' });
      }
      let linkFd: number;
      let used: 'native' | 'generic' | undefined;
      if (a.hook === 'xdp') {
        const tryMode = (m: 'native' | 'generic'): number => {
          used = m;
          return attachXdpLink(progFd, ifindex, m, label);
        };
        if (mode === 'auto') {
          try {
            linkFd = tryMode('native');
          } catch (e) {
            if (!(e instanceof BpfError) || e.code === 'KERNEL_BUSY') throw e;
            linkFd = tryMode('generic');
          }
        } else linkFd = tryMode(mode);
      } else {
        linkFd = attachTcxLink(progFd, ifindex, a.hook === 'tc-ingress' ? 'ingress' : 'egress', position, label);
      }
      try {
        pinFd(linkFd, pins.link);
      } finally {
        closeFd(linkFd);
      }
      return used ? { mode: used, ifindex } : { ifindex };
    }),
  );
}
