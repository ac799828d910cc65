/**
 * Where kfn's pins live under the pin root (default /sys/fs/bpf/kfn):
 *
 *   chains/<netns>/<ifname>/<hook>/       one chain instance
 *     link  root  root_next  meta         root link, root program, its slot, chain metadata
 *     fn/<name>@<token>/                  one function instance (token: unique per load)
 *       prog  kfn_next  kfn_proceed       program, its slot, its proceed-on word (kfn.h)
 *       meta  maps/<map>                  metadata, its maps
 *       companions/<program>/prog  link   a companion program and the link attaching it
 *   stacks/<stack>                        what kfn last applied for one stack (its chains)
 *   probes/<name>@<token>/                one probe (token: unique per load)
 *     prog  link  meta  maps/<map>        program, its perf-event link, metadata, its maps
 *
 * `kfn_next` is the instance's chain slot whatever the object calls that map (its
 * identity records the name, see FunctionIdentity.nextMap); `maps/` holds every other
 * map of the object under its name in the object (the kernel keeps only 15 characters).
 *
 * Path components are URI-encoded so no interface or netns name can escape the tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Attachment, Hook } from '../../core/types.js';
import { HOOKS, PROCEED_MAP } from '../../core/types.js';

/** Pin name of the one-slot program array through which every instance (and the root) chains. */
export const NEXT_MAP = 'kfn_next';

/** The root program of bpf/root.bpf.c for a hook: also how kfn knows its root behind its link when the root's pin is gone. */
export const rootProgram = (hook: Hook): string => (hook === 'xdp' ? 'kfn_root_xdp' : 'kfn_root_tc');

const enc = (s: string): string => encodeURIComponent(s).replace(/\./g, '%2E');
const dec = (s: string): string => decodeURIComponent(s);

export function chainsRoot(pinRoot: string): string {
  return path.join(pinRoot, 'chains');
}

export function stacksRoot(pinRoot: string): string {
  return path.join(pinRoot, 'stacks');
}

export function stackPin(pinRoot: string, stack: string): string {
  return path.join(stacksRoot(pinRoot), enc(stack));
}

/** The stack a pin under stacks/ records (undefined for anything else). */
export function parseStackPin(name: string): string | undefined {
  try {
    return dec(name);
  } catch {
    return undefined;
  }
}

export function chainDir(pinRoot: string, a: Attachment): string {
  return path.join(chainsRoot(pinRoot), enc(a.netns), enc(a.ifname), a.hook);
}

export function parseChainDir(pinRoot: string, dir: string): Attachment | undefined {
  const rel = path.relative(chainsRoot(pinRoot), dir).split(path.sep);
  if (rel.length !== 3 || !(HOOKS as readonly string[]).includes(rel[2]!)) return undefined;
  return { netns: dec(rel[0]!), ifname: dec(rel[1]!), hook: rel[2] as Hook };
}

/**
 * `dir`/`name` for a canonical `dir` of the layout (what path.join gives, without
 * normalizing again: a read builds these for every pin of every instance).
 */
export const under = (dir: string, name: string): string => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);

export const chainPins = (dir: string) => ({
  link: under(dir, 'link'),
  root: under(dir, 'root'),
  rootNext: under(dir, 'root_next'),
  /** A dead root's slot, set aside while a new root takes its name (released after the commit point; bpffs refuses '.' in names). */
  rootNextAside: under(dir, 'root_next_old'),
  meta: under(dir, 'meta'),
  functions: under(dir, 'fn'),
});

/**
 * A fresh directory for one load of an instance. Chosen before the load so that the
 * journal can name what to remove should the process die half-way.
 */
export function newInstanceDir(chainDirPath: string, name: string): string {
  const token = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return path.join(chainPins(chainDirPath).functions, `${enc(name)}@${token}`);
}

export function probesRoot(pinRoot: string): string {
  return path.join(pinRoot, 'probes');
}

/** A fresh directory for one load of a probe, chosen before the load (see newInstanceDir). */
export function newProbeDir(pinRoot: string, name: string): string {
  const token = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return path.join(probesRoot(pinRoot), `${enc(name)}@${token}`);
}

export const probePins = (dir: string) => ({
  prog: path.join(dir, 'prog'),
  link: path.join(dir, 'link'),
  meta: path.join(dir, 'meta'),
  maps: path.join(dir, 'maps'),
  map: (name: string) => path.join(dir, 'maps', enc(name)),
});

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

/** Maps of a function object that the form owns: never parameters, never state. */
export const FORM_MAPS: readonly string[] = [NEXT_MAP, PROCEED_MAP];

export const instancePins = (dir: string) => ({
  prog: under(dir, 'prog'),
  next: under(dir, NEXT_MAP),
  proceed: under(dir, PROCEED_MAP),
  meta: under(dir, 'meta'),
  maps: under(dir, 'maps'),
  map: (name: string) => under(dir, `maps/${enc(name)}`),
  companion: (program: string) => ({
    prog: under(dir, `companions/${enc(program)}/prog`),
    link: under(dir, `companions/${enc(program)}/link`),
  }),
});

// ---------------------------------------------------------------- checks

/** The shapes of kfn's own paths under the pin root: what a step read back from a file may name. */
export type PinKind = 'chain-dir' | 'chain-pin' | 'instance-dir' | 'instance-pin' | 'map-pin' | 'companion-pin' | 'stack-pin' | 'probe-dir' | 'probe-pin' | 'probe-map-pin';

const CHAIN_PIN_NAMES = new Set(['link', 'root', 'root_next', 'root_next_old', 'meta']);
const INSTANCE_PIN_NAMES = new Set(['prog', NEXT_MAP, PROCEED_MAP, 'meta']);
const PROBE_PIN_NAMES = new Set(['prog', 'link', 'meta']);

/** A path component exactly as `enc` writes it (decodes, and encodes back to itself). */
function encodedOk(seg: string): boolean {
  try {
    return seg !== '' && enc(dec(seg)) === seg;
  } catch {
    return false;
  }
}

const loadDirOk = (seg: string): boolean => isInstanceDirName(seg) && encodedOk(seg.slice(0, seg.lastIndexOf('@')));

function chainShape(segs: string[]): PinKind | undefined {
  if (segs.length < 3 || !encodedOk(segs[0]!) || !encodedOk(segs[1]!) || !(HOOKS as readonly string[]).includes(segs[2]!)) return undefined;
  if (segs.length === 3) return 'chain-dir';
  if (segs.length === 4) return CHAIN_PIN_NAMES.has(segs[3]!) ? 'chain-pin' : undefined;
  if (segs[3] !== 'fn' || !loadDirOk(segs[4]!)) return undefined;
  if (segs.length === 5) return 'instance-dir';
  if (segs.length === 6) return INSTANCE_PIN_NAMES.has(segs[5]!) ? 'instance-pin' : undefined;
  if (segs.length === 7 && segs[5] === 'maps' && encodedOk(segs[6]!)) return 'map-pin';
  if (segs.length === 8 && segs[5] === 'companions' && encodedOk(segs[6]!) && (segs[7] === 'prog' || segs[7] === 'link')) return 'companion-pin';
  return undefined;
}

function shapeOf(segs: string[]): PinKind | undefined {
  const [top, ...rest] = segs;
  if (top === 'chains') return chainShape(rest);
  if (top === 'stacks') return rest.length === 1 && encodedOk(rest[0]!) ? 'stack-pin' : undefined;
  if (top !== 'probes' || !rest.length || !loadDirOk(rest[0]!)) return undefined;
  if (rest.length === 1) return 'probe-dir';
  if (rest.length === 2) return PROBE_PIN_NAMES.has(rest[1]!) ? 'probe-pin' : undefined;
  if (rest.length === 3 && rest[1] === 'maps' && encodedOk(rest[2]!)) return 'probe-map-pin';
  return undefined;
}

/**
 * Why `p` (from a saved plan or a journal) is not one of kfn's own paths of one of
 * `kinds` under `pinRoot`, or undefined: canonical, of the layout's shape, its last
 * component `leaf` when given, and no symbolic link on the way down from the pin root
 * (bpffs allows them: one could lead anywhere).
 */
export function pathProblem(pinRoot: string, p: unknown, kinds: readonly PinKind[], leaf?: string): string | undefined {
  if (typeof p !== 'string' || !path.isAbsolute(p)) return `${JSON.stringify(p)} is not an absolute path`;
  if (path.normalize(p) !== p || p.endsWith('/')) return `${p} is not a canonical path`;
  if (!p.startsWith(`${pinRoot}/`)) return `${p} is outside kfn's pin root ${pinRoot}`;
  const segs = p.slice(pinRoot.length + 1).split('/');
  const kind = shapeOf(segs);
  if (!kind || !kinds.includes(kind)) return `${p} is not a ${kinds.join(' or ')} of kfn's layout`;
  if (leaf !== undefined && segs.at(-1) !== leaf) return `${p} is not a ${leaf} pin`;
  let at = pinRoot;
  for (const seg of ['', ...segs]) {
    at = seg ? path.join(at, seg) : at;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      break; // not there (yet): nothing below it can be a link
    }
    if (st.isSymbolicLink()) return `${at} is a symbolic link`;
  }
  return undefined;
}
