/**
 * Network namespaces. kfn enters a namespace with setns(2) on its own thread around
 * the calls that resolve interfaces or attach, and switches back; it never runs
 * under `ip netns exec`, whose private /sys hides bpffs (see DESIGN.md).
 */
import fs from 'node:fs';
import { DEFAULT_NETNS } from '../core/types.js';
import { KfnError } from '../core/errors.js';
import { lastErrno, libcFns } from './ffi.js';
import { BpfError } from './errors.js';
import { CLONE_NEWNET } from './constants.js';

const NETNS_DIR = '/var/run/netns';
const NSFS_MAGIC = 0x6e736673;
/** The manifests' netns names (schemas/chain.schema.json); `.` and `..` name directories, not namespaces. */
const NETNS_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Why `name` is not a usable network namespace, or undefined when it is one. */
export function netnsProblem(name: string): string | undefined {
  if (name === DEFAULT_NETNS) return undefined;
  if (!NETNS_NAME.test(name) || name === '.' || name === '..') return `"${name}" is not a network namespace name`;
  const file = `${NETNS_DIR}/${name}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return `network namespace "${name}" does not exist`;
  }
  // `ip netns add` bind-mounts an nsfs inode there; anything else (a file someone made) is not one.
  if (!st.isFile() || fs.statfsSync(file).type !== NSFS_MAGIC) return `${file} is not a network namespace (not an nsfs mount)`;
  return undefined;
}

export function netnsExists(name: string): boolean {
  return netnsProblem(name) === undefined;
}

function setns(fd: number, what: string): void {
  if (libcFns.setns(fd, CLONE_NEWNET) !== 0) throw new BpfError('setns', what, lastErrno());
}

/** Runs the synchronous `fn` inside network namespace `name` (DEFAULT_NETNS = where kfn runs). */
export function withNetns<T>(name: string, fn: () => T): T {
  if (name === DEFAULT_NETNS) return fn();
  const problem = netnsProblem(name);
  let target: number | undefined;
  if (!problem) {
    try {
      target = fs.openSync(`${NETNS_DIR}/${name}`, 'r');
    } catch {
      /* removed meanwhile */
    }
  }
  if (target === undefined) {
    throw new KfnError('NETNS_NOT_FOUND', problem ?? `network namespace "${name}" does not exist`, {
      hint: `create it (ip netns add ${name}) or fix the chain's netns`,
    });
  }
  const home = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    setns(target, `netns ${name}`);
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('withNetns needs a synchronous function');
      return result;
    } finally {
      setns(home, 'original netns');
    }
  } finally {
    fs.closeSync(target);
    fs.closeSync(home);
  }
}

/** ifindex of `ifname` in the current thread's netns, or undefined. */
export function ifindexHere(ifname: string): number | undefined {
  const idx = libcFns.if_nametoindex(ifname) as number;
  return idx > 0 ? idx : undefined;
}

/**
 * A new, empty network namespace (only a loopback device that is down) that belongs to
 * this process alone: no name under /var/run/netns, gone once closed. Code run inside it
 * cannot reach any interface of the host: what a program under test redirects or clones
 * (bpf_clone_redirect to an ifindex) has nowhere to go.
 */
export class PrivateNetns {
  private constructor(private fd: number | undefined) {}

  static create(): PrivateNetns {
    const home = fs.openSync('/proc/thread-self/ns/net', 'r');
    try {
      if (libcFns.unshare(CLONE_NEWNET) !== 0) throw new BpfError('unshare', 'a private network namespace', lastErrno());
      let fd: number;
      try {
        fd = fs.openSync('/proc/thread-self/ns/net', 'r');
      } finally {
        setns(home, 'original netns');
      }
      return new PrivateNetns(fd);
    } finally {
      fs.closeSync(home);
    }
  }

  /** Runs the synchronous `fn` inside the namespace. */
  run<T>(fn: () => T): T {
    if (this.fd === undefined) throw new Error('PrivateNetns used after close');
    const home = fs.openSync('/proc/thread-self/ns/net', 'r');
    try {
      setns(this.fd, 'private netns');
      try {
        const result = fn();
        if (result instanceof Promise) throw new Error('PrivateNetns.run needs a synchronous function');
        return result;
      } finally {
        setns(home, 'original netns');
      }
    } finally {
      fs.closeSync(home);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
