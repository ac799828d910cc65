/**
 * Independent view of the kernel through bpftool: program, map and link id sets, the pins
 * under a pin root, and per-CPU counters.
 *
 * bpftool lists are host-wide and other test files (or people) may load BPF objects at the
 * same time. Comparisons therefore only count:
 *  - as REMOVED: objects that were ours before (pinned under our pin root, or reachable from
 *    those: link -> prog -> maps);
 *  - as ADDED: new objects that are not demonstrably someone else's: pinned outside our pin
 *    root, held open by a live process (/proc/PID/fdinfo; the kfn processes we ran have
 *    exited), or reachable from those (link -> prog -> maps, prog array -> progs). A leaked
 *    object of ours is neither pinned elsewhere nor held by a process.
 * Freed objects can linger for a moment (RCU), so `waitSameKernel` polls.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BpfObject {
  id: number;
  type?: string;
  name?: string;
  pinned: string[];
  /** progs: maps they use; links: [prog]. */
  refs: { progs: number[]; maps: number[] };
}

export interface BpfSnapshot {
  progs: Map<number, BpfObject>;
  maps: Map<number, BpfObject>;
  links: Map<number, BpfObject>;
  /** Ids held open by some live process when the snapshot was taken. */
  held: Record<'progs' | 'maps' | 'links', Set<number>>;
}

type Kind = 'progs' | 'maps' | 'links';
const KINDS: Kind[] = ['progs', 'maps', 'links'];
const VERB: Record<Kind, string> = { progs: 'prog', maps: 'map', links: 'link' };

/**
 * A listing races with other processes freeing objects: bpftool gets an id, then the
 * object is gone (ENOENT) or being torn down (EAGAIN) when it asks for it by id. Such a
 * listing is asked again; any other failure is the test's.
 */
const VANISHED = /Resource temporarily unavailable|No such file or directory/;

export function bpftoolJson(args: string[]): unknown {
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync('bpftool', ['-j', ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });
    if (r.status === 0) {
      const out = r.stdout.trim();
      return out ? JSON.parse(out) : [];
    }
    const why = r.stderr || r.stdout;
    // Only whole listings race; asking for one id that is gone is an answer.
    if (attempt >= 5 || !args.includes('show') || args.includes('id') || !VANISHED.test(why)) throw new Error(`bpftool ${args.join(' ')} failed: ${why}`);
  }
}

/** BPF objects held through file descriptors by live processes (what `bpftool -j prog show` lists as pids). */
export function heldByProcesses(): Record<Kind, Set<number>> {
  const held: Record<Kind, Set<number>> = { progs: new Set(), maps: new Set(), links: new Set() };
  const fields: [RegExp, Kind][] = [
    [/^link_id:\s*(\d+)/m, 'links'],
    [/^prog_id:\s*(\d+)/m, 'progs'],
    [/^map_id:\s*(\d+)/m, 'maps'],
  ];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    for (const fd of fds) {
      try {
        if (!fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('anon_inode:bpf')) continue;
        const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        for (const [re, kind] of fields) {
          const m = re.exec(info);
          if (m) held[kind].add(Number(m[1]));
        }
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return held;
}

export function snapshot(): BpfSnapshot {
  const s: BpfSnapshot = { progs: new Map(), maps: new Map(), links: new Map(), held: heldByProcesses() };
  for (const kind of KINDS) {
    const list = bpftoolJson(['-f', VERB[kind], 'show']) as Record<string, unknown>[];
    for (const o of list) {
      const id = o.id as number;
      s[kind].set(id, {
        id,
        type: o.type as string | undefined,
        name: o.name as string | undefined,
        pinned: (o.pinned as string[] | undefined) ?? [],
        refs: {
          progs: typeof o.prog_id === 'number' ? [o.prog_id] : [],
          maps: Array.isArray(o.map_ids) ? (o.map_ids as number[]) : [],
        },
      });
    }
  }
  return s;
}

const under = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith('/') ? root : root + '/');

/** Program ids stored in a prog array. */
function progArrayContents(id: number): number[] {
  try {
    const dump = bpftoolJson(['map', 'dump', 'id', String(id)]) as { value?: unknown; formatted?: { value?: unknown } }[];
    return dump.map((e) => Number(e.formatted?.value ?? e.value)).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/**
 * Closure over link -> prog -> maps (and prog array -> progs when `followArrays`) from the
 * objects `seed` selects.
 */
function closure(s: BpfSnapshot, seed: (o: BpfObject, kind: Kind) => boolean, followArrays = false): Record<Kind, Set<number>> {
  const out: Record<Kind, Set<number>> = { progs: new Set(), maps: new Set(), links: new Set() };
  const queue: [Kind, number][] = [];
  for (const kind of KINDS) for (const o of s[kind].values()) if (seed(o, kind)) queue.push([kind, o.id]);
  while (queue.length) {
    const [kind, id] = queue.pop()!;
    if (out[kind].has(id)) continue;
    out[kind].add(id);
    const o = s[kind].get(id);
    if (!o) continue;
    for (const p of o.refs.progs) queue.push(['progs', p]);
    for (const m of o.refs.maps) queue.push(['maps', m]);
    if (followArrays && kind === 'maps' && o.type === 'prog_array') for (const p of progArrayContents(id)) queue.push(['progs', p]);
  }
  return out;
}

/** Objects pinned under our pin root and what they reference. */
export const oursIn = (s: BpfSnapshot, pinRoot: string) => closure(s, (o) => o.pinned.some((p) => under(p, pinRoot)));
/** Objects pinned elsewhere or held by a live process, and what they reference. */
const foreignIn = (s: BpfSnapshot, pinRoot: string, followArrays: boolean) =>
  closure(s, (o, kind) => o.pinned.some((p) => !under(p, pinRoot)) || s.held[kind].has(o.id), followArrays);

/** path -> "kind:id" for every pin under pinRoot, plus every directory ("dir"). */
export function pinTree(s: BpfSnapshot, pinRoot: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        tree[p] = 'dir';
        walk(p);
      } else tree[p] = 'pin:?';
    }
  };
  if (fs.existsSync(pinRoot)) {
    tree[pinRoot] = 'dir';
    walk(pinRoot);
  }
  for (const kind of KINDS) for (const o of s[kind].values()) for (const p of o.pinned) if (p in tree) tree[p] = `${VERB[kind]}:${o.id}`;
  return tree;
}

export interface KernelDiff {
  added: Record<Kind, number[]>;
  removed: Record<Kind, number[]>;
  pins: { before: Record<string, string>; after: Record<string, string> } | null;
}

export function diffKernel(before: BpfSnapshot, after: BpfSnapshot, pinRoot: string): KernelDiff {
  const ours = oursIn(before, pinRoot);
  const added = {} as Record<Kind, number[]>;
  const removed = {} as Record<Kind, number[]>;
  for (const kind of KINDS) {
    added[kind] = [...after[kind].keys()].filter((id) => !before[kind].has(id)).sort((a, b) => a - b);
    removed[kind] = [...ours[kind]].filter((id) => !after[kind].has(id)).sort((a, b) => a - b);
  }
  // Attribute new objects to others only when there are any (dumping prog arrays costs a bpftool run each).
  for (const followArrays of [false, true]) {
    if (KINDS.every((k) => added[k].length === 0)) break;
    const foreign = foreignIn(after, pinRoot, followArrays);
    for (const kind of KINDS) added[kind] = added[kind].filter((id) => !foreign[kind].has(id));
  }
  const pb = pinTree(before, pinRoot);
  const pa = pinTree(after, pinRoot);
  const samePins = JSON.stringify(sortKeys(pb)) === JSON.stringify(sortKeys(pa));
  return { added, removed, pins: samePins ? null : { before: pb, after: pa } };
}

const sortKeys = (o: Record<string, string>): [string, string][] => Object.entries(o).sort(([a], [b]) => a.localeCompare(b));

export function isEmptyDiff(d: KernelDiff): boolean {
  return d.pins === null && KINDS.every((k) => d.added[k].length === 0 && d.removed[k].length === 0);
}

/**
 * Polls (freed objects linger briefly) until the kernel, as seen from our pin root, is the
 * same as `before`; returns the last diff (empty when equal).
 */
/**
 * How long a comparison waits for the kernel to free what a process released: programs
 * and maps go away asynchronously (RCU, deferred work), later on a busy machine.
 */
export const FREE_WAIT_MS = 10_000;

export async function waitSameKernel(before: BpfSnapshot, pinRoot: string, timeoutMs = FREE_WAIT_MS): Promise<KernelDiff> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = diffKernel(before, snapshot(), pinRoot);
    if (isEmptyDiff(d) || Date.now() > deadline) return d;
    await sleep(100);
  }
}

/** Whether `bpftool prog show id N` finds the program. */
export function progExists(id: number): boolean {
  const r = spawnSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** Waits until none of `ids` is loaded any more; returns those still loaded. */
export async function waitProgsGone(ids: Iterable<number>, timeoutMs = FREE_WAIT_MS): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [...ids].filter(progExists);
    if (!left.length || Date.now() > deadline) return left;
    await sleep(100);
  }
}

export function progInfo(id: number): { id: number; name?: string; type?: string } {
  return bpftoolJson(['prog', 'show', 'id', String(id)]) as { id: number; name?: string; type?: string };
}

/** Sum over CPUs of `field` in entry `key` of a pinned per-CPU map (BTF-formatted dump). */
export function percpuSum(pin: string, key: number, field: string): number {
  const dump = bpftoolJson(['map', 'dump', 'pinned', pin]) as { formatted?: { key: unknown; values: { cpu: number; value: Record<string, number> }[] } }[];
  const e = dump.find((x) => x.formatted && Number(x.formatted.key) === key);
  if (!e?.formatted) throw new Error(`no BTF-formatted key ${key} in ${pin}`);
  return e.formatted.values.reduce((sum, v) => sum + Number(v.value[field] ?? 0), 0);
}
