/**
 * Building blocks of a tail-call chain in the kernel: load and pin a root or a
 * function instance, attach the root to its hook. Each leaves either everything
 * pinned or nothing (it cleans up its own partial work before rethrowing).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KfnError } from '../../core/errors.js';
import { digestEntries } from '../../core/digest.js';
import type { Attachment, DesiredInstance, FunctionIdentity, Hook, TcPosition, XdpMode } from '../../core/types.js';
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
  attachXdpLink,
  closeFd,
  fdById,
  fileSha256,
  linkInfoByFd,
  ifindexHere,
  openPinned,
  pinFd,
  progInfoByFd,
  unpin,
  unpinTree,
  unpinTreeAndEmptyParents,
  withFd,
  withNetns,
  type ObjectInfo,
} from '../../libbpf/index.js';
import { NEXT_MAP, chainPins, instancePins, rootProgramName } from './layout.js';
import { createMeta, putMeta, type ChainMeta, type InstanceMeta } from './meta.js';
import { isUnsetSlot } from '../../values/index.js';

export const ROOT_OBJECT = fileURLToPath(new URL('../../../bpf/build/root.bpf.o', import.meta.url));

/**
 * Loads a chain's root program and pins it with its slot and the chain metadata. With
 * `aside`, the slot of a root that is gone (still pinned as root_next) is first renamed
 * root_next_old, so that the new root can take the name and the old one can come back.
 * On failure only what this call pinned is removed.
 */
export function loadRoot(dir: string, hook: Hook, meta: ChainMeta, aside = false): void {
  const pins = chainPins(dir);
  if (aside && fs.existsSync(pins.rootNext) && !fs.existsSync(pins.rootNextAside)) fs.renameSync(pins.rootNext, pins.rootNextAside);
  const obj = BpfObject.open(ROOT_OBJECT);
  let pinned = 0;
  try {
    const loaded = obj.load(rootProgramName(hook));
    pinFd(loaded.progFd, pins.root);
    pinned = 1;
    pinFd(loaded.mapFds[NEXT_MAP]!, pins.rootNext);
    pinned = 2;
    putMeta(pins.meta, meta);
  } catch (e) {
    if (pinned >= 1) unpin(pins.root);
    if (pinned >= 2) unpin(pins.rootNext);
    if (aside) restoreAside(dir);
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
  /** A copy: every map is the live instance's (a reorder keeps all state). */
  share?: { maps: { name: string; pin: string }[]; appliedMaps: Record<string, string> };
  /** A replacement: state maps taken over, and merge-mode entries kept, from the live instance. */
  carry?: { maps: { name: string; pin: string }[]; keep: Record<string, { key: string; value: string }[]> };
}

/** The `.rodata` bytes an identity's globals patch, at their offsets in `info`'s object. */
export function globalPatches(identity: FunctionIdentity, info: ObjectInfo, objectPath: string): { section: string; offset: number; bytes: Buffer }[] {
  return Object.entries(identity.globals).map(([name, g]) => {
    const gi = info.globals.find((x) => x.name === name);
    if (!gi) throw new KfnError('GLOBAL_NOT_FOUND', `global ${name} not found in ${objectPath}`);
    return { section: gi.section, offset: gi.offset, bytes: Buffer.from(g.value, 'hex') };
  });
}

/**
 * Undoes loadRoot(aside) whatever point it reached: the new root's pins go (root_next
 * only when it is that root's own array), and the old slot gets its name back.
 */
export function restoreRoot(dir: string): void {
  const pins = chainPins(dir);
  const root = tryOpenPinned(pins.root);
  if (root !== undefined) {
    const own = withFd(root, (fd) => progInfoByFd(fd).mapIds);
    const next = tryOpenPinned(pins.rootNext);
    const nextId = next === undefined ? 0 : withFd(next, (fd) => mapInfoByFd(fd).id);
    unpin(pins.root);
    if (nextId && own.includes(nextId)) unpin(pins.rootNext);
  }
  restoreAside(dir);
}

function restoreAside(dir: string): void {
  const pins = chainPins(dir);
  if (fs.existsSync(pins.rootNextAside) && !fs.existsSync(pins.rootNext)) fs.renameSync(pins.rootNextAside, pins.rootNext);
}

/**
 * Loads one function instance and pins it under the chain. A fresh instance gets the
 * desired map entries written before anything can reach it.
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
    const globals = globalPatches(desired.identity, obj.info(sha), desired.objectPath);
    for (const m of a.share?.maps ?? a.carry?.maps ?? []) shared[m.name] = openPinned(m.pin);
    const loaded = obj.load(desired.identity.program, { reuseMapFds: shared, globals });
    const progId = progInfoByFd(loaded.progFd).id;
    const pins = instancePins(dir);
    pinFd(loaded.progFd, pins.prog);
    pinFd(loaded.mapFds[NEXT_MAP]!, pins.next);
    const mapIds: Record<string, number> = {};
    for (const [name, fd] of Object.entries(loaded.mapFds)) {
      if (name === NEXT_MAP) continue;
      pinFd(fd, pins.map(name));
      mapIds[name] = mapInfoByFd(fd).id;
    }

    const appliedMaps: Record<string, string> = { ...(a.share?.appliedMaps ?? {}) };
    if (!a.share) {
      for (const m of Object.values(desired.maps)) {
        writeEntries(pins.map(m.name), [...(a.carry?.keep[m.name] ?? []), ...m.entries.map((e) => ({ key: e.key, value: e.value }))]);
        appliedMaps[m.name] = digestEntries(m.entries);
      }
    }
    const meta: InstanceMeta = {
      kind: 'instance',
      name: desired.name,
      chainName: a.chainName,
      identity: desired.identity,
      objectPath: desired.objectPath,
      parameters: Object.keys(desired.maps).sort(),
      appliedMaps,
      mapIds,
      createdAt: now.toISOString(),
    };
    createMeta(pins.meta, meta);
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

/**
 * Attaches the chain root to its hook through a BPF link and pins the link. For XDP
 * `auto` tries native first and falls back to generic; returns the mode in use.
 */
export function attachRoot(dir: string, a: Attachment, mode: XdpMode, position: TcPosition): 'native' | 'generic' | undefined {
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
      return used;
    }),
  );
}

function slotHandle(slotFd: number, slot: string): MapHandle {
  const info = mapInfoByFd(slotFd);
  if (info.typeName !== 'prog_array') throw new KfnError('STATE_CORRUPT', `${slot} is not a program array (map ${info.id} is ${info.typeName})`, { hint: 'run kfn plan: it reports the damage' });
  return new MapHandle(slotFd, info, slot);
}

export function setSlot(slot: string, prog: string | null): void {
  withFd(openPinned(slot), (slotFd) => {
    if (prog === null) return setSlotFd(slotFd, slot, null);
    withFd(openPinned(prog), (progFd) => {
      progInfoByFd(progFd); // a program, not some other object pinned there
      setSlotFd(slotFd, slot, progFd);
    });
  });
}

/** Points the one-slot program array `slotFd` (named `label` in errors) at `progFd`, or empties it. */
export function setSlotFd(slotFd: number, label: string, progFd: number | null): void {
  const h = slotHandle(slotFd, label);
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
 * Puts back a program kfn did not pin (a foreign one that sat in the slot), by id, only
 * if that id still names the same program (tag and name): ids are reused.
 */
export function setSlotById(slot: string, progId: number, tag: string, name: string): void {
  let progFd: number;
  try {
    progFd = fdById('prog', progId);
  } catch (e) {
    throw new KfnError('STATE_CORRUPT', `program ${progId} (${name}) that sat in ${slot} is gone: the slot stays as it is`, { cause: e });
  }
  withFd(progFd, (pf) => {
    const info = progInfoByFd(pf);
    if (info.tag !== tag || info.name !== name) throw new KfnError('STATE_CORRUPT', `program id ${progId} is now ${info.name} (tag ${info.tag}), not the ${name} that sat in ${slot}`);
    withFd(openPinned(slot), (slotFd) => setSlotFd(slotFd, slot, pf));
  });
}

/** Pins `fd` at `pin`, or checks that `pin` already holds the object with id `id` (idempotent replays). */
function pinOnce(fd: number, id: number, pin: string, info: (fd: number) => { id: number }): void {
  const have = tryOpenPinned(pin);
  if (have === undefined) return pinFd(fd, pin);
  const other = withFd(have, (h) => info(h).id);
  if (other !== id) throw new KfnError('STATE_CORRUPT', `${pin} holds object ${other}, not ${id}`, { hint: 'run kfn plan: it reports the damage' });
}

/** Re-pins the root program that kfn's link runs, after its pin was removed. */
export function pinLinkProgram(linkPin: string, rootPin: string, hook: Hook): void {
  const progId = withFd(openPinned(linkPin), (fd) => linkInfoByFd(fd).progId);
  withFd(fdById('prog', progId), (fd) => {
    const info = progInfoByFd(fd);
    if (info.name !== rootProgramName(hook)) throw new KfnError('STATE_CORRUPT', `kfn's link ${linkPin} runs program ${progId} (${info.name}), not a kfn root`);
    pinOnce(fd, info.id, rootPin, progInfoByFd);
  });
}

/** Re-pins a program's own kfn_next array (found among the program's maps by type and name). */
export function pinProgramSlot(progPin: string, slotPin: string): void {
  withFd(openPinned(progPin), (pf) => {
    const ids = progInfoByFd(pf).mapIds;
    for (const id of ids) {
      const done = withFd(fdById('map', id), (mf) => {
        const m = mapInfoByFd(mf);
        if (m.typeName !== 'prog_array' || m.name !== NEXT_MAP) return false;
        pinOnce(mf, m.id, slotPin, mapInfoByFd);
        return true;
      });
      if (done) return;
    }
    throw new KfnError('STATE_CORRUPT', `program ${progPin} has no ${NEXT_MAP} map`);
  });
}

/** The program `progId`, checked to be the instance's own: it uses the instance's pinned kfn_next. */
function instanceProgram<T>(progId: number, nextPin: string, fn: (fd: number, info: ReturnType<typeof progInfoByFd>) => T): T {
  const nextId = withFd(openPinned(nextPin), (fd) => mapInfoByFd(fd).id);
  return withFd(fdById('prog', progId), (fd) => {
    const info = progInfoByFd(fd);
    if (!info.mapIds.includes(nextId)) throw new KfnError('STATE_CORRUPT', `program ${progId} (${info.name}) does not use ${nextPin}: it is not that instance's program`);
    return fn(fd, info);
  });
}

/** Re-pins an instance's program by id. */
export function pinInstanceProgram(progPin: string, progId: number, nextPin: string): void {
  instanceProgram(progId, nextPin, (fd, info) => pinOnce(fd, info.id, progPin, progInfoByFd));
}

/** Re-pins an instance's maps by the ids kfn recorded at load, each checked to be one of its program's maps. */
export function pinInstanceMaps(instanceDir: string, progId: number, mapIds: Record<string, number>): void {
  const pins = instancePins(instanceDir);
  const uses = instanceProgram(progId, pins.next, (_fd, info) => info.mapIds);
  for (const [name, id] of Object.entries(mapIds)) {
    if (!uses.includes(id)) throw new KfnError('STATE_CORRUPT', `map ${id} (${name}) is not a map of program ${progId}`);
    withFd(fdById('map', id), (fd) => pinOnce(fd, id, pins.map(name), mapInfoByFd));
  }
}

/** Moves a chain's pin directory (its interface was renamed); idempotent. */
export function moveChainDir(from: string, to: string, pinRoot: string): void {
  if (!fs.existsSync(from) && fs.existsSync(to)) return;
  fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
  fs.renameSync(from, to);
  for (let d = path.dirname(from); d.startsWith(pinRoot + path.sep); d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
  }
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
