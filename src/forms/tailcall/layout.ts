/**
 * Where kfn's pins live under the pin root (default /sys/fs/bpf/kfn):
 *
 *   chains/<netns>/<ifname>/<hook>/       one chain instance
 *     link  root  root_next  meta         root link, root program, its slot, chain metadata
 *     fn/<name>@<token>/                  one function instance (token: unique per load)
 *       prog  kfn_next  meta  maps/<map>  program, its slot, metadata, its maps
 *
 * Path components are URI-encoded so no interface or netns name can escape the tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Attachment, Hook } from '../../core/types.js';
import { HOOKS } from '../../core/types.js';

/** The one-slot program array through which every instance (and the root) chains. */
export const NEXT_MAP = 'kfn_next';

/** The root program of bpf/root.bpf.c for a hook. */
export const rootProgramName = (hook: Hook): string => (hook === 'xdp' ? 'kfn_root_xdp' : 'kfn_root_tc');

const enc = (s: string): string => encodeURIComponent(s).replace(/\./g, '%2E');
const dec = (s: string): string => decodeURIComponent(s);

export function chainsRoot(pinRoot: string): string {
  return path.join(pinRoot, 'chains');
}

export function chainDir(pinRoot: string, a: Attachment): string {
  return path.join(chainsRoot(pinRoot), enc(a.netns), enc(a.ifname), a.hook);
}

export function parseChainDir(pinRoot: string, dir: string): Attachment | undefined {
  const rel = path.relative(chainsRoot(pinRoot), dir).split(path.sep);
  if (rel.length !== 3 || !(HOOKS as readonly string[]).includes(rel[2]!)) return undefined;
  return { netns: dec(rel[0]!), ifname: dec(rel[1]!), hook: rel[2] as Hook };
}

export const chainPins = (dir: string) => ({
  link: path.join(dir, 'link'),
  root: path.join(dir, 'root'),
  rootNext: path.join(dir, 'root_next'),
  /** A dead root's slot, set aside while a new root takes its name (released after the commit point; bpffs refuses '.' in names). */
  rootNextAside: path.join(dir, 'root_next_old'),
  meta: path.join(dir, 'meta'),
  functions: path.join(dir, 'fn'),
});

/**
 * A fresh directory for one load of an instance. Chosen before the load so that the
 * journal can name what to remove should the process die half-way.
 */
export function newInstanceDir(chainDirPath: string, name: string): string {
  const token = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return path.join(chainPins(chainDirPath).functions, `${enc(name)}@${token}`);
}

export function isInstanceDirName(base: string): boolean {
  return /^.+@[0-9a-z]+$/.test(base);
}

/** The instance name an instance directory was made for (`drop-bad@lx3k...` -> `drop-bad`). */
export function instanceNameOf(base: string): string {
  try {
    return dec(base.slice(0, base.lastIndexOf('@')));
  } catch {
    return base;
  }
}

export const instancePins = (dir: string) => ({
  prog: path.join(dir, 'prog'),
  next: path.join(dir, NEXT_MAP),
  meta: path.join(dir, 'meta'),
  maps: path.join(dir, 'maps'),
  map: (name: string) => path.join(dir, 'maps', enc(name)),
});

// ---------------------------------------------------------------- checks

const CHAIN_PIN_NAMES = new Set(['link', 'root', 'root_next', 'root_next_old', 'meta']);
const INSTANCE_PIN_NAMES = new Set(['prog', NEXT_MAP, 'meta']);

/** The shapes of kfn's own paths under the pin root. */
export type PinKind = 'chain-dir' | 'instance-dir' | 'chain-pin' | 'instance-pin' | 'map-pin';

/** A path component exactly as `enc` writes it (decodes, and encodes back to itself). */
function encodedOk(seg: string): boolean {
  try {
    return seg !== '' && enc(dec(seg)) === seg;
  } catch {
    return false;
  }
}

function shapeOf(segs: string[]): PinKind | undefined {
  const chain = segs.length >= 3 && encodedOk(segs[0]!) && encodedOk(segs[1]!) && (HOOKS as readonly string[]).includes(segs[2]!);
  if (!chain) return undefined;
  if (segs.length === 3) return 'chain-dir';
  if (segs.length === 4) return CHAIN_PIN_NAMES.has(segs[3]!) ? 'chain-pin' : undefined;
  const inst = segs[3] === 'fn' && isInstanceDirName(segs[4]!) && encodedOk(segs[4]!.slice(0, segs[4]!.lastIndexOf('@')));
  if (!inst) return undefined;
  if (segs.length === 5) return 'instance-dir';
  if (segs.length === 6) return INSTANCE_PIN_NAMES.has(segs[5]!) ? 'instance-pin' : undefined;
  if (segs.length === 7 && segs[5] === 'maps' && encodedOk(segs[6]!)) return 'map-pin';
  return undefined;
}

/**
 * Why `p` (from a plan or a journal) is not one of kfn's own paths of one of `kinds`
 * under `pinRoot`, or undefined. Canonical form, inside `<pinRoot>/chains`, the layout's
 * shape, the last component named `leaf` when given, and no symbolic link on the way
 * down from the pin root (bpffs allows them: one could lead anywhere).
 */
export function pathProblem(pinRoot: string, p: unknown, kinds: readonly PinKind[], leaf?: string): string | undefined {
  if (typeof p !== 'string' || !path.isAbsolute(p)) return `${JSON.stringify(p)} is not an absolute path`;
  if (path.normalize(p) !== p || p.endsWith('/')) return `${p} is not a canonical path`;
  const root = chainsRoot(pinRoot);
  if (!p.startsWith(`${root}/`)) return `${p} is outside kfn's pin root ${pinRoot}`;
  const segs = p.slice(root.length + 1).split('/');
  const kind = shapeOf(segs);
  if (!kind || !kinds.includes(kind)) return `${p} is not a ${kinds.join(' or ')} of kfn's layout`;
  if (leaf !== undefined && segs.at(-1) !== leaf) return `${p} is not a ${leaf} pin`;
  let at = pinRoot;
  for (const seg of ['chains', ...segs]) {
    at = path.join(at, seg);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      break; // not there (yet): nothing below it can be a link
    }
    if (st.isSymbolicLink()) return `${at} is a symbolic link`;
  }
  try {
    if (fs.lstatSync(pinRoot).isSymbolicLink()) return `the pin root ${pinRoot} is a symbolic link`;
  } catch {
    /* a missing pin root holds nothing to escape through */
  }
  return undefined;
}
