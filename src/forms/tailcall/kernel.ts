/**
 * Building blocks of a tail-call chain in the kernel: load and pin a root or a
 * function instance, attach the root to its hook. Each leaves either everything
 * pinned or nothing (it cleans up its own partial work before rethrowing).
 */
import { KfnError } from '../../core/errors.js';
import { digestEntries } from '../../core/digest.js';
import type { Attachment, Companion, DesiredInstance, DesiredMap, FunctionIdentity, Hook, TcPosition, XdpMode } from '../../core/types.js';
import { attachmentLabel } from '../../core/types.js';
import fs from 'node:fs';
import {
  BpfError,
  BpfObject,
  MapHandle,
  detachLink,
  mapInfoByFd,
  tryOpenPinned,
  attachTcxLink,
  attachTracepointLink,
  attachXdpLink,
  closeFd,
  fileSha256,
  ifindexHere,
  openPinned,
  pinFd,
  progIdByFd,
  unpinTree,
  unpinTreeAndEmptyParents,
  withFd,
  withNetns,
} from '../../libbpf/index.js';
import { NEXT_MAP, chainPins, instancePins } from './layout.js';
import { createMeta, type ChainMeta, type InstanceMeta } from './meta.js';
import { writeProceedOn } from './proceed.js';
import { DEFAULT_PROCEED_ON, PROCEED_MAP } from '../../core/types.js';
import { isUnsetSlot } from '../../values/index.js';
import { installPath } from '../../core/install.js';

export const ROOT_OBJECT = installPath('bpf', 'build', 'root.bpf.o');

export const rootProgram = (hook: Hook): string => (hook === 'xdp' ? 'kfn_root_xdp' : 'kfn_root_tc');

/** Loads a chain's root program and pins it with its slot and the chain metadata. */
export function loadRoot(dir: string, hook: Hook, meta: ChainMeta): void {
  const pins = chainPins(dir);
  const obj = BpfObject.open(ROOT_OBJECT);
  try {
    const loaded = obj.load(rootProgram(hook));
    pinFd(loaded.progFd, pins.root);
    pinFd(loaded.mapFds[NEXT_MAP]!, pins.rootNext);
    createMeta(pins.meta, meta);
  } catch (e) {
    unpinTree(dir);
    throw e;
  } finally {
    obj.close();
  }
}

export interface LoadInstanceArgs {
  dir: string;
  chainName: string;
  desired: DesiredInstance;
  /** Program pin of the instance this one tail-calls into (null: end of chain). */
  successor: string | null;
  /**
   * A copy: every map is the live instance's (a reorder keeps all state), and so are its
   * companions: their program and link are pinned again in the copy, never loaded twice
   * (two companions on one tracepoint would count every event twice in the shared maps).
   */
  share?: { maps: { name: string; pin: string }[]; appliedMaps: Record<string, string>; companions?: SharedCompanion[] };
  /** A replacement: state maps taken over, and merge-mode entries kept, from the live instance. */
  carry?: { maps: { name: string; pin: string }[]; keep: Record<string, { key: string; value: string }[]> };
}

/** A live instance's companion, by its pins. */
export interface SharedCompanion {
  program: string;
  prog: string;
  link: string;
}

/** The `.rodata` bytes an identity's globals patch, at their offsets in `info`'s object. */
export function globalPatches(identity: FunctionIdentity, obj: BpfObject, objectPath: string): { section: string; offset: number; bytes: Buffer }[] {
  const wanted = Object.entries(identity.globals);
  // Most instances set no globals: reading the object's BTF for them would be wasted.
  const declared = wanted.length ? obj.globals() : [];
  return wanted.map(([name, g]) => {
    const gi = declared.find((x) => x.name === name);
    if (!gi) throw new KfnError('GLOBAL_NOT_FOUND', `global ${name} not found in ${objectPath}`);
    return { section: gi.section, offset: gi.offset, bytes: Buffer.from(g.value, 'hex') };
  });
}

/**
 * Loads one function instance and pins it under the chain. A fresh instance gets the
 * desired map entries written before anything can reach it, then its companions are
 * attached (each through a BPF link pinned in the instance's directory: removing the
 * directory releases them).
 */
export function loadInstance(a: LoadInstanceArgs, now: Date): { progId: number } {
  const { desired } = a;
  const sha = fileSha256(desired.objectPath);
  if (sha !== desired.identity.sha256) {
    throw new KfnError('OBJECT_CHANGED', `object ${desired.objectPath} changed since the plan was made (sha256 ${sha.slice(0, 12)}, expected ${desired.identity.sha256.slice(0, 12)})`, {
      hint: 'run kfn plan again',
    });
  }
  const obj = BpfObject.open(desired.objectPath);
  const shared: Record<string, number> = {};
  const dir = a.dir;
  try {
    const globals = globalPatches(desired.identity, obj, desired.objectPath);
    for (const m of a.share?.maps ?? a.carry?.maps ?? []) shared[m.name] = openPinned(m.pin);
    const { program, nextMap = NEXT_MAP } = desired.identity;
    const companions = a.share ? [] : (desired.identity.companions ?? []);
    const loaded = obj.loadPrograms(
      [
        { name: program, ...(desired.programType ? { type: desired.programType } : {}) },
        ...companions.map((c) => ({ name: c.program, type: c.attach.kind })),
      ],
      { reuseMapFds: shared, globals },
    );
    const progFd = loaded.progFds[program]!;
    const progId = progIdByFd(progFd);
    const slotFd = loaded.mapFds[nextMap];
    if (slotFd === undefined) throw new KfnError('MAP_NOT_FOUND', `${desired.objectPath} has no map ${nextMap} (the chain slot of ${desired.identity.function})`, { hint: 'run kfn validate' });
    const pins = instancePins(dir);
    pinFd(progFd, pins.prog);
    pinFd(slotFd, pins.next);
    // Objects built before proceed-on (or not with kfn.h) have no word: they proceed on pass only.
    const proceedFd = loaded.mapFds[PROCEED_MAP];
    const proceedOn = [...(desired.proceedOn ?? DEFAULT_PROCEED_ON)];
    if (proceedFd !== undefined) {
      pinFd(proceedFd, pins.proceed);
      writeProceedOn(pins.proceed, proceedOn);
    }
    for (const [name, fd] of Object.entries(loaded.mapFds)) if (name !== nextMap && name !== PROCEED_MAP) pinFd(fd, pins.map(name));

    // Shared maps already hold the manifests' entries: their first instance wrote them.
    const appliedMaps = a.share ? { ...a.share.appliedMaps } : writeDesiredMaps(pins.map, desired.maps, a.carry?.keep);
    const meta: InstanceMeta = {
      kind: 'instance',
      name: desired.name,
      chainName: a.chainName,
      identity: desired.identity,
      objectPath: desired.objectPath,
      parameters: Object.keys(desired.maps).sort(),
      appliedMaps,
      mergeMaps: Object.values(desired.maps)
        .filter((m) => m.merge)
        .map((m) => m.name)
        .sort(),
      ...(proceedFd !== undefined ? { proceedOn } : {}),
      createdAt: now.toISOString(),
    };
    createMeta(pins.meta, meta);
    for (const c of companions) attachCompanion(pins.companion(c.program), loaded.progFds[c.program]!, c, `${desired.name} of chain ${a.chainName}`);
    for (const c of a.share?.companions ?? []) adoptCompanion(pins.companion(c.program), c);
    if (a.successor) setSlot(pins.next, a.successor);
    return { progId };
  } catch (e) {
    unpinTree(dir);
    throw e;
  } finally {
    for (const fd of Object.values(shared)) closeFd(fd);
    obj.close();
  }
}

function attachCompanion(pins: { prog: string; link: string }, progFd: number, c: Companion, label: string): void {
  pinFd(progFd, pins.prog);
  const linkFd = attachTracepointLink(progFd, c.attach.tracepoint, `companion ${c.program} of ${label}`);
  try {
    pinFd(linkFd, pins.link);
  } finally {
    closeFd(linkFd);
  }
}

/** Pins a live companion's program and link again (same kernel objects) at `pins`. */
function adoptCompanion(pins: { prog: string; link: string }, live: SharedCompanion): void {
  for (const [from, to] of [[live.prog, pins.prog], [live.link, pins.link]] as const) {
    const fd = tryOpenPinned(from);
    if (fd === undefined) {
      throw new KfnError('STATE_CORRUPT', `companion ${live.program}: ${from} is missing`, { hint: 'run kfn plan: it reports the damage and reloads the instance' });
    }
    withFd(fd, (f) => pinFd(f, to));
  }
}

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

export function setSlot(slot: string, prog: string | null): void {
  withFd(openPinned(slot), (slotFd) => {
    if (prog === null) return setSlotFd(slotFd, slot, null);
    withFd(openPinned(prog), (progFd) => setSlotFd(slotFd, slot, progFd));
  });
}

/** Points the one-slot program array `slotFd` (named `label` in errors) at `progFd`, or empties it. */
export function setSlotFd(slotFd: number, label: string, progFd: number | null): void {
  const h = new MapHandle(slotFd, mapInfoByFd(slotFd), label);
  const key = new Uint8Array(4);
  if (progFd === null) {
    h.delete(key);
    return;
  }
  const v = Buffer.alloc(4);
  v.writeUInt32LE(progFd);
  h.update(key, v);
}

/**
 * Fills freshly loaded parameter maps: the entries carried over (merge-mode entries not
 * listed), then the manifests' own. Returns the digest of what kfn wrote, per map.
 */
export function writeDesiredMaps(pinOf: (map: string) => string, maps: Record<string, DesiredMap>, keep: Record<string, { key: string; value: string }[]> = {}): Record<string, string> {
  const applied: Record<string, string> = {};
  for (const m of Object.values(maps)) {
    writeEntries(pinOf(m.name), [...(keep[m.name] ?? []), ...m.entries.map((e) => ({ key: e.key, value: e.value }))]);
    applied[m.name] = digestEntries(m.entries);
  }
  return applied;
}

export function writeEntries(map: string, entries: { key: string; value: string | null }[]): void {
  withFd(openPinned(map), (fd) => writeEntriesFd(fd, map, entries));
}

/** Writes entries (hex bytes; value null unsets the key) into the map `fd`, named `label` in errors. */
export function writeEntriesFd(fd: number, label: string, entries: { key: string; value: string | null }[]): void {
  const info = mapInfoByFd(fd);
  const h = new MapHandle(fd, info, label);
  for (const e of entries) {
    const key = Buffer.from(e.key, 'hex');
    if (e.value !== null) h.update(key, Buffer.from(e.value, 'hex'));
    // An array slot cannot be deleted: unset means all zeros (values/map.ts isUnsetSlot).
    else if (isUnsetSlot(info.typeName, '')) h.update(key, Buffer.alloc(info.valueSize));
    else h.delete(key);
  }
}

export function detachRoot(chainDir: string): void {
  const pin = chainPins(chainDir).link;
  const fd = tryOpenPinned(pin);
  if (fd === undefined) return;
  withFd(fd, (f) => {
    try {
      detachLink(f, pin);
    } catch (e) {
      // A link whose interface vanished is already detached.
      if (!(e instanceof BpfError && (e.errno === 2 || e.errno === 22))) throw e;
    }
  });
  fs.rmSync(pin, { force: true });
}

/**
 * Release phase: detaches a chain's root if the directory holds a root link (a deleted
 * chain), then removes the pins and the parents left empty. Idempotent.
 */
export function releaseDir(dir: string, pinRoot: string): void {
  detachRoot(dir);
  unpinTreeAndEmptyParents(dir, pinRoot);
}
