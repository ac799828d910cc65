/**
 * Reads the live picture from the kernel: kfn's pins say what kfn made, the hooks say
 * what actually runs. Nothing here writes.
 *
 * Bookkeeping can be damaged by hand (a pin removed, a slot edited, an interface
 * renamed). Every difference between what the pins say kfn built and what the kernel
 * runs is reported as typed damage (ChainDamage), which the planner and compile repair.
 * kfn's own programs are recognised by identity, not only by pin path: the root behind
 * kfn's pinned link, an instance's program by its pinned kfn_next map among the
 * program's maps, an instance's maps by the ids kfn recorded at load.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BpfError,
  MapHandle,
  fdById,
  linkInfoByFd,
  listInterfacesHere,
  listPinDirs,
  mapInfoByFd,
  netnsExists,
  netnsProblem,
  progInfoById,
  progInfoByFd,
  queryTcx,
  queryXdp,
  tryOpenPinned,
  withFd,
  withKernelBtf,
  withNetns,
  mapLayoutDigest,
  isPerCpu,
  perCpuValues,
  type LinkInfo,
  type MapInfo,
  type MapKernelInfo,
} from '../../libbpf/index.js';
import { decodeMapEntry, isUnsetSlot } from '../../values/index.js';
import type { Attachment, ChainDamage, ForeignProgram, LiveChain, LiveInstance, LiveInterface, LiveState, MapEntry } from '../../core/types.js';
import { attachmentLabel } from '../../core/types.js';
import { damageText } from '../../core/damage.js';
import { chainDir, chainPins, chainsRoot, instanceNameOf, instancePins, isInstanceDirName, parseChainDir, rootProgramName } from './layout.js';
import { readMeta, type ChainMeta, type InstanceMeta } from './meta.js';
import type { ReadOptions } from '../form.js';

/**
 * Instances loaded by a kfn that did not record their parameter maps: these map kinds
 * were its parameters. Current metadata names them (the function's one definition).
 */
const LEGACY_PARAMETER_MAP_TYPES = new Set(['hash', 'array', 'lpm_trie']);
/** Upper bound on the chain walk (the kernel stops tail calls at 33). */
const MAX_CHAIN_LENGTH = 64;

export function readLiveState(opts: ReadOptions): LiveState {
  const chains = listChainAttachments(opts.pinRoot).map((a) => readChain(opts.pinRoot, a));
  const wanted = new Set([...opts.netns, ...chains.map((c) => c.attachment.netns)]);
  const interfaces: LiveInterface[] = [];
  const missingNetns: string[] = [];
  const foreign: ForeignProgram[] = [];
  const kfnRoots = new Set(chains.map((c) => c.rootProgId).filter((id) => id > 0));
  for (const netns of [...wanted].sort()) {
    if (!netnsExists(netns)) {
      missingNetns.push(netns);
      continue;
    }
    withNetns(netns, () => {
      for (const ifc of listInterfacesHere()) {
        interfaces.push({ netns, ifname: ifc.ifname, ifindex: ifc.ifindex });
        for (const f of foreignOn(netns, ifc.ifname, ifc.ifindex, kfnRoots)) foreign.push(f);
      }
    });
  }
  return { chains, interfaces, missingNetns, foreign };
}

export function listChainAttachments(pinRoot: string): Attachment[] {
  const root = chainsRoot(pinRoot);
  const out: Attachment[] = [];
  for (const ns of listPinDirs(root))
    for (const ifc of listPinDirs(path.join(root, ns)))
      for (const hook of listPinDirs(path.join(root, ns, ifc))) {
        const a = parseChainDir(pinRoot, path.join(root, ns, ifc, hook));
        if (a) out.push(a);
      }
  return out;
}

/** Programs on an interface's hooks that are not kfn roots (current netns). */
function foreignOn(netns: string, ifname: string, ifindex: number, kfnRoots: Set<number>): ForeignProgram[] {
  const out: ForeignProgram[] = [];
  const label = `${ifname} (netns ${netns})`;
  const xdp = queryXdp(ifindex, label);
  if (xdp.progId && !kfnRoots.has(xdp.progId)) {
    out.push({ attachment: { netns, ifname, hook: 'xdp' }, progId: xdp.progId, progName: progName(xdp.progId) });
  }
  for (const dir of ['ingress', 'egress'] as const) {
    let q;
    try {
      q = queryTcx(ifindex, dir, label);
    } catch (e) {
      if (e instanceof BpfError) continue; // kernel without tcx on this device
      throw e;
    }
    q.progIds.forEach((progId, i) => {
      if (kfnRoots.has(progId)) return;
      const f: ForeignProgram = { attachment: { netns, ifname, hook: `tc-${dir}` }, progId, progName: progName(progId) };
      if (q.linkIds[i]) f.linkId = q.linkIds[i];
      out.push(f);
    });
  }
  return out;
}

function progName(id: number): string {
  try {
    return progInfoById(id).name;
  } catch {
    return '?';
  }
}

/** An fd of the pinned object, or undefined when the pin is missing or is not a BPF object. */
function openPin(pin: string): number | undefined {
  try {
    return tryOpenPinned(pin);
  } catch (e) {
    if (e instanceof BpfError) return undefined;
    throw e;
  }
}

/** The id of the object pinned at `pin` (0: missing, or not of that kind). */
function pinnedId(pin: string, info: (fd: number) => { id: number }): number {
  const fd = openPin(pin);
  if (fd === undefined) return 0;
  return withFd(fd, (f) => {
    try {
      return info(f).id;
    } catch {
      return 0;
    }
  });
}

interface Slot {
  /** The slot's pin exists (a removed pin means the kernel emptied the slot). */
  pinned: boolean;
  /** The program in the slot (0 = empty). */
  progId: number;
}

function readSlot(pin: string): Slot {
  const fd = openPin(pin);
  if (fd === undefined) return { pinned: false, progId: 0 };
  return withFd(fd, (f) => {
    try {
      const info = mapInfoByFd(f);
      if (info.typeName !== 'prog_array') return { pinned: false, progId: 0 };
      const v = new MapHandle(f, info, pin).lookup(new Uint8Array(4));
      return { pinned: true, progId: v ? v.readUInt32LE(0) : 0 };
    } catch {
      return { pinned: false, progId: 0 };
    }
  });
}

/** The program id in slot 0 of a pinned one-slot program array (0 = empty). */
export function slotProgId(pin: string): number | undefined {
  const s = readSlot(pin);
  return s.pinned ? s.progId : undefined;
}

/** What a slot held when it was read, so that re-pointing it can be undone exactly. */
export type SlotContent =
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'kfn'; prog: string }
  | { kind: 'foreign'; progId: number; tag: string; name: string };

/** The tail-call form's own record of a live chain (LiveChain.formData). */
export interface TailcallChainData {
  meta?: ChainMeta;
  /** The root's slot as read. */
  rootSlot: SlotContent;
  /** Instance directories holding no usable instance (no metadata): released by the next apply. */
  damagedDirs: string[];
}

/**
 * kfn's root: the pinned program, or, when that pin was removed, the program behind kfn's
 * own pinned link if it is a kfn root (kfn made that link; only kfn points it anywhere).
 */
function chainRoot(rootPin: string, link: LinkInfo | undefined, hook: Attachment['hook'], damage: ChainDamage[]): number {
  const pinned = pinnedId(rootPin, progInfoByFd);
  if (pinned) return pinned;
  if (link?.progId && progName(link.progId) === rootProgramName(hook)) {
    damage.push({ kind: 'root-pin-missing', progId: link.progId });
    return link.progId;
  }
  damage.push({ kind: 'root-missing' });
  return 0;
}

function pinnedLink(pin: string): LinkInfo | undefined {
  const fd = openPin(pin);
  if (fd === undefined) return undefined;
  return withFd(fd, (f) => {
    try {
      return linkInfoByFd(f);
    } catch {
      return undefined;
    }
  });
}

interface Location {
  ifindex: number;
  attached: boolean;
  mode?: LiveChain['mode'];
  /** The interface kfn's link runs on now has this name. */
  renamedTo?: string;
}

/** Where the chain's root runs: the link's device (renamed or not), and whether the hook runs the root. */
function locate(a: Attachment, link: LinkInfo | undefined, rootProgId: number, damage: ChainDamage[]): Location {
  if (netnsProblem(a.netns)) {
    damage.push({ kind: 'netns-missing', netns: a.netns });
    return { ifindex: 0, attached: false };
  }
  return withNetns(a.netns, () => {
    const ifaces = listInterfacesHere();
    const byName = ifaces.find((i) => i.ifname === a.ifname)?.ifindex ?? 0;
    const loc: Location = { ifindex: byName, attached: false };
    if (link) {
      const dev = link.ifindex ? ifaces.find((i) => i.ifindex === link.ifindex) : undefined;
      if (!dev) {
        damage.push(byName ? { kind: 'interface-recreated', ifname: a.ifname } : { kind: 'interface-missing', ifname: a.ifname });
        return loc;
      }
      if (dev.ifname !== a.ifname) loc.renamedTo = dev.ifname;
      loc.ifindex = dev.ifindex;
    } else if (!byName) {
      damage.push({ kind: 'interface-missing', ifname: a.ifname });
      return loc;
    }
    const label = attachmentLabel({ ...a, ifname: loc.renamedTo ?? a.ifname });
    if (a.hook === 'xdp') {
      const q = queryXdp(loc.ifindex, label);
      loc.attached = rootProgId > 0 && q.progId === rootProgId;
      if (!loc.attached) damage.push({ kind: 'not-attached', hook: a.hook, runs: q.progId ? { progId: q.progId, progName: progName(q.progId) } : null });
      else if (q.mode === 'native' || q.mode === 'generic') loc.mode = q.mode;
    } else {
      const q = queryTcx(loc.ifindex, a.hook === 'tc-ingress' ? 'ingress' : 'egress', label);
      loc.attached = rootProgId > 0 && q.progIds.includes(rootProgId);
      if (!loc.attached) damage.push({ kind: 'not-attached', hook: a.hook, runs: null });
    }
    return loc;
  });
}

export function readChain(pinRoot: string, attachment: Attachment): LiveChain {
  const dir = chainDir(pinRoot, attachment);
  const pins = chainPins(dir);
  const damage: ChainDamage[] = [];
  const stored = readMeta(pins.meta);
  const meta = stored?.kind === 'chain' ? stored : undefined;
  if (!meta) damage.push({ kind: 'chain-meta-missing' });
  const link = pinnedLink(pins.link);
  const rootProgId = chainRoot(pins.root, link, attachment.hook, damage);
  if (!link) damage.push({ kind: 'link-missing' });

  const loc = locate(attachment, link, rootProgId, damage);
  let where = attachment;
  if (loc.renamedTo !== undefined) {
    const renamed = { ...attachment, ifname: loc.renamedTo };
    const conflict = fs.existsSync(chainDir(pinRoot, renamed));
    damage.push({ kind: 'interface-renamed', from: attachment.ifname, to: loc.renamedTo, ...(conflict ? { conflict } : {}) });
    // The chain is where its root runs; its pins follow with the next apply.
    if (!conflict) where = renamed;
  }

  const walk = walkChain(pins, rootProgId > 0, meta, damage);
  const chain: LiveChain = {
    attachment: where,
    chainName: meta?.chainName ?? '?',
    ifindex: loc.ifindex,
    rootProgId,
    linkId: link?.id ?? 0,
    pinDir: dir,
    instances: walk.instances,
    orphans: walk.orphans,
    drift: damage.map(damageText),
    damage,
    attached: loc.attached && link !== undefined,
  };
  if (loc.mode) chain.mode = loc.mode;
  if (attachment.hook !== 'xdp' && meta?.position) chain.position = meta.position;
  if (meta?.manifestDigest) chain.manifestDigest = meta.manifestDigest;
  if (meta?.revision) chain.revision = meta.revision;
  const data: TailcallChainData = { rootSlot: walk.rootSlot, damagedDirs: walk.damagedDirs };
  if (meta) data.meta = meta;
  chain.formData = data;
  return chain;
}

/** One instance directory as found, before the walk gives it a place. */
interface InstanceDir {
  base: string;
  pinDir: string;
  /** From the prog pin (0: the pin is missing). */
  progId: number;
  meta?: InstanceMeta;
  /** The pinned kfn_next map (0: missing): identifies the instance's program when its prog pin is gone. */
  nextMapId: number;
}

function readInstanceDirs(fnDir: string): InstanceDir[] {
  return listPinDirs(fnDir)
    .filter(isInstanceDirName)
    .map((base) => {
      const pinDir = path.join(fnDir, base);
      const pins = instancePins(pinDir);
      const stored = readMeta(pins.meta);
      const d: InstanceDir = { base, pinDir, progId: pinnedId(pins.prog, progInfoByFd), nextMapId: pinnedId(pins.next, mapInfoByFd) };
      if (stored?.kind === 'instance') d.meta = stored;
      return d;
    });
}

interface Walk {
  instances: LiveInstance[];
  orphans: LiveInstance[];
  rootSlot: SlotContent;
  damagedDirs: string[];
}

/**
 * Follows the slots from the root: each program must be one of the chain's instances (by
 * its prog pin or, when that pin is gone, by its pinned kfn_next map among the program's
 * maps). Every way the walk differs from what kfn built is damage: a foreign program, a
 * loop, a slot whose pin was removed, or (against the order kfn recorded) an empty slot.
 */
function walkChain(pins: ReturnType<typeof chainPins>, rootAlive: boolean, meta: ChainMeta | undefined, damage: ChainDamage[]): Walk {
  const dirs = readInstanceDirs(pins.functions);
  const byProg = new Map(dirs.filter((d) => d.progId).map((d) => [d.progId, d]));
  const find = (progId: number): InstanceDir | undefined => {
    const hit = byProg.get(progId);
    const unpinned = dirs.filter((d) => !d.progId && d.nextMapId);
    if (hit || !unpinned.length) return hit;
    let mapIds: number[];
    try {
      mapIds = progInfoById(progId).mapIds;
    } catch {
      return undefined;
    }
    return unpinned.find((d) => mapIds.includes(d.nextMapId));
  };

  let slot = readSlot(pins.rootNext);
  const rootSlot = slotContent(slot, find);
  const instances: LiveInstance[] = [];
  const inChain = new Set<string>();
  let after: string | null = null;
  if (!slot.pinned && rootAlive) damage.push({ kind: 'slot-pin-missing', after: null });
  while (slot.pinned && slot.progId) {
    const d = find(slot.progId);
    if (!d) {
      damage.push({ kind: 'foreign-in-chain', after, progId: slot.progId, progName: progName(slot.progId) });
      break;
    }
    if (!d.meta) {
      damage.push({ kind: 'instance-meta-missing', dir: d.base, inChain: true });
      inChain.add(d.pinDir);
      break;
    }
    if (inChain.has(d.pinDir) || instances.length >= MAX_CHAIN_LENGTH) {
      damage.push({ kind: 'loop', after: after ?? 'the root', to: d.meta.name });
      break;
    }
    inChain.add(d.pinDir);
    if (!d.progId) damage.push({ kind: 'instance-prog-pin-missing', instance: d.meta.name, progId: slot.progId });
    instances.push(liveInstance(d, d.meta, slot.progId, damage));
    after = d.meta.name;
    slot = readSlot(instancePins(d.pinDir).next);
    if (!slot.pinned) damage.push({ kind: 'slot-pin-missing', after });
  }
  if (slot.pinned && !slot.progId && rootAlive && meta?.order) {
    const walked = instances.map((i) => path.basename(i.pinDir));
    const recorded = meta.order;
    if (walked.length < recorded.length && walked.every((b, k) => recorded[k] === b)) {
      damage.push({ kind: 'bypassed', after, skipped: recorded.slice(walked.length).map(instanceNameOf) });
    }
  }
  const orphans: LiveInstance[] = [];
  const damagedDirs: string[] = [];
  for (const d of dirs) {
    if (!d.meta) {
      damagedDirs.push(d.pinDir);
      if (!inChain.has(d.pinDir)) damage.push({ kind: 'instance-meta-missing', dir: d.base, inChain: false });
    } else if (!inChain.has(d.pinDir)) orphans.push(liveInstance(d, d.meta, d.progId, []));
  }
  return { instances, orphans, rootSlot, damagedDirs };
}

function slotContent(slot: Slot, find: (progId: number) => InstanceDir | undefined): SlotContent {
  if (!slot.pinned) return { kind: 'missing' };
  if (!slot.progId) return { kind: 'empty' };
  const d = find(slot.progId);
  if (d?.progId) return { kind: 'kfn', prog: instancePins(d.pinDir).prog };
  try {
    const info = progInfoById(slot.progId);
    return { kind: 'foreign', progId: info.id, tag: info.tag, name: info.name };
  } catch {
    return { kind: 'empty' };
  }
}

/** A live instance from its directory; maps whose pins are gone are read through the live program when kfn knows their ids. */
function liveInstance(d: InstanceDir, meta: InstanceMeta, progId: number, damage: ChainDamage[]): LiveInstance {
  const pinned = listInstanceMaps(d.pinDir);
  const byId = unpinnedMaps(meta, progId, new Set(pinned.map((m) => m.name)), damage);
  const { maps, stateMaps } = readInstanceMaps([...pinned, ...byId], meta.parameters);
  return { name: meta.name, identity: meta.identity, progId, pinDir: d.pinDir, maps, appliedMaps: meta.appliedMaps, stateMaps, formData: meta };
}

/**
 * Maps recorded at load whose pins are gone. While the program lives it holds them: they
 * are read by id (each checked to be one of the program's maps) and can be pinned again.
 */
function unpinnedMaps(meta: InstanceMeta, progId: number, pinned: Set<string>, damage: ChainDamage[]): InstanceMapRef[] {
  const recorded = meta.mapIds;
  const missing = recorded ? Object.keys(recorded).filter((n) => !pinned.has(n)).sort() : pinned.size === 0 ? ['maps/'] : [];
  if (!missing.length) return [];
  let progMaps: number[] = [];
  try {
    if (progId) progMaps = progInfoById(progId).mapIds;
  } catch {
    /* the program is gone */
  }
  const found = recorded ? missing.filter((n) => progMaps.includes(recorded[n]!)) : [];
  damage.push({ kind: 'instance-maps-missing', instance: meta.name, maps: missing, recoverable: found.length === missing.length });
  if (found.length !== missing.length) return [];
  return found.map((name) => {
    const id = recorded![name]!;
    return { name, id, info: withFd(fdById('map', id), mapInfoByFd) };
  });
}

/** A map of an instance: by its pin, or (pin removed) by its kernel id. */
export interface InstanceMapRef {
  name: string;
  pin?: string;
  id?: number;
  info: MapKernelInfo;
}

function openMapRef(m: InstanceMapRef): number | undefined {
  if (m.pin !== undefined) return openPin(m.pin);
  try {
    return fdById('map', m.id!);
  } catch {
    return undefined;
  }
}

/**
 * One pass over an instance's maps, each typed from kernel BTF once: the decoded
 * entries of its parameter maps (state maps are left out) and every map's layout digest.
 */
function readInstanceMaps(refs: readonly InstanceMapRef[], parameters: string[] | undefined): { maps: Record<string, MapEntry[]>; stateMaps: Record<string, string> } {
  const maps: Record<string, MapEntry[]> = {};
  const stateMaps: Record<string, string> = {};
  const isParameter = (name: string, typeName: string): boolean => (parameters ? parameters.includes(name) : LEGACY_PARAMETER_MAP_TYPES.has(typeName));
  for (const m of [...refs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const typed = typedMapInfo(m.name, m.info);
    stateMaps[m.name] = mapLayoutDigest(typed);
    if (isParameter(m.name, m.info.typeName)) maps[m.name] = readMapEntries(m, typed);
  }
  return { maps, stateMaps };
}

export function listInstanceMaps(instancePinDir: string): (InstanceMapRef & { pin: string })[] {
  const dir = instancePins(instancePinDir).maps;
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((file) => {
    const pin = path.join(dir, file);
    const fd = openPin(pin);
    if (fd === undefined) return [];
    let name: string;
    try {
      name = decodeURIComponent(file);
    } catch {
      name = file;
    }
    const info = withFd(fd, (f) => {
      try {
        return mapInfoByFd(f);
      } catch {
        return undefined; // a program or link pinned where a map belongs
      }
    });
    return info ? [{ name, pin, info }] : [];
  });
}

/** MapInfo (with BTF key/value types from the kernel) of a live map, for the value codec. */
export function typedMapInfo(name: string, info: MapKernelInfo): MapInfo {
  const m: MapInfo = { name, type: info.typeName, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries };
  withKernelBtf(info.btfId, (btf) => {
    if (info.btfKeyTypeId) m.key = btf.type(info.btfKeyTypeId);
    if (info.btfValueTypeId) m.value = btf.type(info.btfValueTypeId);
  });
  return m;
}

/**
 * A per-CPU parameter holds one value, written to every CPU. When the CPUs agree that is
 * the value; when they do not (someone wrote one CPU's slot), the whole per-CPU buffer,
 * which can never equal a desired value, so the plan shows it as drift and rewrites it.
 */
function oneValue(info: MapKernelInfo, raw: Buffer): Buffer {
  const cpus = perCpuValues(info, raw);
  const first = cpus[0] ?? Buffer.alloc(info.valueSize);
  return cpus.every((c) => c.equals(first)) ? Buffer.from(first) : raw;
}

function unevenEntry(typed: MapInfo, key: Buffer, raw: Buffer): MapEntry {
  const cpus = perCpuValues({ valueSize: typed.valueSize }, raw);
  const one = decodeMapEntry(typed, key, cpus[0]!);
  const texts = cpus.map((c) => decodeMapEntry(typed, key, c).valueText);
  return { ...one, value: raw.toString('hex'), valueText: `per-CPU values differ: [${texts.join(', ')}]` };
}

/** All entries of an instance's map, decoded and sorted by key bytes; unset (all-zero) array slots are omitted. */
function readMapEntries(m: InstanceMapRef, typed: MapInfo): MapEntry[] {
  const fd = openMapRef(m);
  if (fd === undefined) return [];
  const info = m.info;
  return withFd(fd, (f) => {
    const handle = new MapHandle(f, info, m.pin ?? `map ${m.id}`);
    return handle
      .entries()
      .map((e) => ({ key: e.key, value: isPerCpu(info.type) ? oneValue(info, e.value) : e.value }))
      .filter((e) => !isUnsetSlot(info.typeName, e.value))
      .map((e) => (e.value.length === info.valueSize ? decodeMapEntry(typed, e.key, e.value) : unevenEntry(typed, e.key, e.value)))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  });
}
