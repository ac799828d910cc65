/** Small text helpers shared by the renderers. */
import pc from 'picocolors';
import { DEFAULT_NETNS } from '../core/types.js';
import type { Attachment, FunctionIdentity } from '../core/types.js';

export type Colors = ReturnType<typeof pc.createColors>;

/** Colors when asked, plain text otherwise: never global TTY / env detection. */
export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

export const SHORT_SHA = 12;

export function shortSha(sha: string): string {
  return sha.slice(0, SHORT_SHA);
}

export function fnText(id: FunctionIdentity): string {
  return `${id.function}@${id.version}`;
}

/** `veth-a/xdp (netns kfn-a)`, or `veth-a/xdp` in the default netns. */
export function whereText(a: Attachment): string {
  return a.netns === DEFAULT_NETNS ? `${a.ifname}/${a.hook}` : `${a.ifname}/${a.hook} (netns ${a.netns})`;
}

export function quote(s: string): string {
  return JSON.stringify(s);
}

export function padEnd(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}
