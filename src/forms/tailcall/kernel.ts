/**
 * Building blocks of a tail-call chain in the kernel: load and pin a root or a
 * function instance, attach the root to its hook. Each leaves either everything
 * pinned or nothing (it cleans up its own partial work before rethrowing).
 */
import path from 'node:path';
import { KfnError } from '../../core/errors.js';
import { digestEntries } from '../../core/digest.js';
import type { Companion, DesiredInstance, DesiredMap, FunctionIdentity, Hook } from '../../core/types.js';
import fs from 'node:fs';
import {
  BpfError,
  BpfObject,
  MapHandle,
  detachLink,
  mapInfoByFd,
  tryOpenPinned,
  attachTracepointLink,
  closeFd,
  fdById,
  linkInfoByFd,
  progInfoByFd,
  unpin,
  openPinned,
  pinFd,
  progIdByFd,
  unpinTree,
  unpinTreeAndEmptyParents,
  withFd,
} from '../../libbpf/index.js';
import type { ObjectFiles } from '../../core/objects.js';
import type { RunContext } from '../form.js';
import { NEXT_MAP, chainPins, instancePins, rootProgram } from './layout.js';
import { createMeta, putMeta, type ChainMeta, type InstanceMeta } from './meta.js';
import { writeProceedOn } from './proceed.js';
import { DEFAULT_PROCEED_ON, PROCEED_MAP } from '../../core/types.js';
import { isUnsetSlot } from '../../values/index.js';
import { installPath } from '../../core/install.js';
import type { CarriedState } from './carry.js';

export const ROOT_OBJECT = installPath('bpf', 'build', 'root.bpf.o');


/**
 * Loads a chain's root program and pins it with its slot and the chain metadata. With
 * `aside` (a chain whose root is gone), the old root's slot, if still pinned as root_next,
 * is first renamed root_next_old so the new root can take the name and the old one can
 * come back; only what this call pinned is then removed on failure. Without it the
 * directory is new and goes whole.
 */
export function loadRoot(dir: string, hook: Hook, meta: ChainMeta, objects: ObjectFiles, aside = false): void {
  const pins = chainPins(dir);
  if (aside && fs.existsSync(pins.rootNext) && !fs.existsSync(pins.rootNextAside)) fs.renameSync(pins.rootNext, pins.rootNextAside);
  const obj = BpfObject.openBytes(objects.read(ROOT_OBJECT).bytes, ROOT_OBJECT);
  let pinned = 0;
  try {
    const loaded = obj.load(rootProgram(hook));
    pinFd(loaded.progFd, pins.root);
    pinned = 1;
    pinFd(loaded.mapFds[NEXT_MAP]!, pins.rootNext);
    pinned = 2;
    if (aside) putMeta(pins.meta, meta);
    else createMeta(pins.meta, meta);
  } catch (e) {
    if (!aside) unpinTree(dir);
    else {
      if (pinned >= 1) unpin(pins.root);
      if (pinned >= 2) unpin(pins.rootNext);
      restoreAside(dir);
    }
    throw e;
  } finally {
    obj.close();
  }
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
  carry?: CarriedState;
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

/** When the expected sha256 of an object was taken, and what to do when the file has changed since. */
export interface ExpectedSince {
  since: string;
  hint: string;
}

const SINCE_PLAN: ExpectedSince = { since: 'the plan was made', hint: 'run kfn plan again' };

/** Opens the object a plan step (or a shadow) names, refusing one whose bytes are not those expected. */
export function openUnchanged(objectPath: string, sha256: string, objects: ObjectFiles, expected: ExpectedSince = SINCE_PLAN): BpfObject {
  const { bytes, sha256: sha } = objects.read(objectPath);
  if (sha !== sha256) {
    throw new KfnError('OBJECT_CHANGED', `object ${objectPath} changed since ${expected.since} (sha256 ${sha.slice(0, 12)}, expected ${sha256.slice(0, 12)})`, {
      hint: expected.hint,
    });
  }
  return BpfObject.openBytes(bytes, objectPath);
}

/**
 * Loads one function instance and pins it under the chain. A fresh instance gets the
 * desired map entries written before anything can reach it, then its companions are
 * attached (each through a BPF link pinned in the instance's directory: removing the
 * directory releases them).
 */
export function loadInstance(a: LoadInstanceArgs, ctx: RunContext): { progId: number } {
  const { desired } = a;
  const obj = openUnchanged(desired.objectPath, desired.identity.sha256, ctx.objects);
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
    const mapIds: Record<string, number> = {};
    for (const [name, fd] of Object.entries(loaded.mapFds)) {
      if (name === nextMap || name === PROCEED_MAP) continue;
      pinFd(fd, pins.map(name));
      mapIds[name] = mapInfoByFd(fd).id;
    }

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
      mapIds,
      createdAt: ctx.now().toISOString(),
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

export function setSlot(slot: string, prog: string | null): void {
  withFd(openPinned(slot), (slotFd) => {
    if (prog === null) return setSlotFd(slotFd, slot, null);
    withFd(openPinned(prog), (progFd) => setSlotFd(slotFd, slot, progFd));
  });
}

/** Points the one-slot program array `slotFd` (named `label` in errors) at `progFd`, or empties it. */
export function setSlotFd(slotFd: number, label: string, progFd: number | null): void {
  const info = mapInfoByFd(slotFd);
  // A slot path comes from a plan or a journal: it must name a program array, not any map.
  if (info.typeName !== 'prog_array') throw new KfnError('STATE_CORRUPT', `${label} is not a program array (map ${info.id} is ${info.typeName})`, { hint: 'run kfn plan: it reports the damage' });
  if (progFd !== null) progInfoByFd(progFd); // a program, not some other object pinned there
  const h = new MapHandle(slotFd, info, label);
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
    if (info.name !== rootProgram(hook)) throw new KfnError('STATE_CORRUPT', `kfn's link ${linkPin} runs program ${progId} (${info.name}), not a kfn root`);
    pinOnce(fd, info.id, rootPin, progInfoByFd);
  });
}

/**
 * Re-pins a program's own chain slot (found among the program's maps: the one program
 * array named `mapName`). A slot whose last pin went was emptied by the kernel; pinned
 * again it holds nothing until a step fills it.
 */
export function pinProgramSlot(progPin: string, slotPin: string, mapName = NEXT_MAP): void {
  withFd(openPinned(progPin), (pf) => {
    const ids = progInfoByFd(pf).mapIds;
    for (const id of ids) {
      const done = withFd(fdById('map', id), (mf) => {
        const m = mapInfoByFd(mf);
        if (m.typeName !== 'prog_array' || m.name !== mapName.slice(0, 15)) return false;
        pinOnce(mf, m.id, slotPin, mapInfoByFd);
        return true;
      });
      if (done) return;
    }
    throw new KfnError('STATE_CORRUPT', `program ${progPin} has no ${mapName} map`);
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

/** Moves a chain's pin directory (its interface was renamed), and removes the parents left empty; idempotent. */
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
