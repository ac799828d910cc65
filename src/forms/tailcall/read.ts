/**
 * Reads the live picture from the kernel: kfn's pins say what kfn made, the hooks say
 * what actually runs. Nothing here writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BpfError,
  LINK_TYPE,
  MapHandle,
  dumpLinksHere,
  linkInfoByFd,
  listPinDirs,
  mapInfoByFd,
  netnsExists,
  progInfoById,
  queryTcx,
  tryOpenPinned,
  withFd,
  withNetns,
  type LinkInfo,
  type MprogQuery,
  type TcxDirection,
  type XdpQuery,
} from '../../libbpf/index.js';
import type { Attachment, Companion, DriftKind, ForeignProgram, LiveChain, LiveCompanion, LiveInstance, LiveInterface, LiveState, StackRecord, TcPosition } from '../../core/types.js';
import { attachmentKey, companionText } from '../../core/types.js';
import { driftText } from '../../core/drift.js';
import { chainDir, rootProgram, chainPins, chainsRoot, instancePins, isInstanceDirName, parseChainDir, parseStackPin, stacksRoot } from './layout.js';
import { readMetaIfPinned, type ChainMeta, type InstanceMeta, type Meta } from './meta.js';
import { readProceedOn } from './proceed.js';
import { readProbes } from './probe-read.js';
import type { ReadOptions } from '../form.js';
import { instanceMapPins, openPin, pinnedId, pinnedProgId, readInstanceMaps, withReadScope, type ReadScope } from './read-instance.js';

/** Upper bound on the chain walk (the kernel stops tail calls at 33). */
const MAX_CHAIN_LENGTH = 64;

export function readLiveState(opts: ReadOptions): LiveState {
  return withReadScope((scope) => readLive(opts, scope));
}

function readLive(opts: ReadOptions, scope: ReadScope): LiveState {
  const all = listChainAttachments(opts.pinRoot);
  const only = opts.only && new Set(opts.only.map(attachmentKey));
  const inScope = (a: Attachment): boolean => !only || only.has(attachmentKey(a));
  const attachments = all.filter(inScope);
  const wanted = [...new Set([...opts.netns, ...attachments.map((a) => a.netns)])].sort();
  const hooksByNetns = new Map<string, InterfaceHooks[]>();
  const missingNetns: string[] = [];
  for (const netns of wanted) {
    if (netnsExists(netns)) hooksByNetns.set(netns, withNetns(netns, readHooksHere));
    else missingNetns.push(netns);
  }
  const indexed = new Map([...hooksByNetns].map(([netns, hooks]) => [netns, indexHooks(hooks)]));
  const chains = attachments.map((a) => readChain(opts.pinRoot, a, indexed.get(a.netns), scope));
  // Every chain's root is kfn's, also where only some chains are read: what is foreign does not depend on the scope.
  const kfnRoots = new Set([...chains.map((c) => c.rootProgId), ...all.filter((a) => !inScope(a)).map((a) => pinnedProgId(chainPins(chainDir(opts.pinRoot, a)).root))]);
  kfnRoots.delete(0);
  const interfaces: LiveInterface[] = [];
  const foreign: ForeignProgram[] = [];
  for (const [netns, hooks] of hooksByNetns) {
    for (const h of hooks) {
      interfaces.push({ netns, ifname: h.ifname, ifindex: h.ifindex });
      foreign.push(...foreignOn(netns, h, kfnRoots).filter((f) => inScope(f.attachment)));
    }
  }
  // Probes are few and named by no attachment: every read has them.
  return { chains, stacks: readStackRecords(opts.pinRoot), probes: readProbes(opts.pinRoot, scope), interfaces, missingNetns, foreign };
}

/** What runs on every hook of one interface, read once per read of the live state. */
interface InterfaceHooks {
  ifindex: number;
  ifname: string;
  xdp: XdpQuery;
  /** The error when the kernel cannot query tcx on this device. */
  tcx: Record<TcxDirection, MprogQuery | BpfError>;
}

/** One netns's interfaces, found by name and by index. */
interface NetnsHooks {
  byName: Map<string, InterfaceHooks>;
  byIndex: Map<number, InterfaceHooks>;
}

function indexHooks(hooks: InterfaceHooks[]): NetnsHooks {
  return { byName: new Map(hooks.map((h) => [h.ifname, h])), byIndex: new Map(hooks.map((h) => [h.ifindex, h])) };
}

/** The interfaces of the current netns and their hooks: one netlink dump, two tcx queries per interface. */
function readHooksHere(): InterfaceHooks[] {
  return dumpLinksHere().map((l) => {
    const label = l.ifname;
    const tcx = (dir: TcxDirection): MprogQuery | BpfError => {
      try {
        return queryTcx(l.ifindex, dir, label);
      } catch (e) {
        if (e instanceof BpfError) return e;
        throw e;
      }
    };
    return { ifindex: l.ifindex, ifname: l.ifname, xdp: l.xdp, tcx: { ingress: tcx('ingress'), egress: tcx('egress') } };
  });
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

/** Programs on an interface's hooks that are not kfn roots. */
function foreignOn(netns: string, h: InterfaceHooks, kfnRoots: Set<number>): ForeignProgram[] {
  const out: ForeignProgram[] = [];
  const { ifname } = h;
  if (h.xdp.progId && !kfnRoots.has(h.xdp.progId)) {
    out.push({ attachment: { netns, ifname, hook: 'xdp' }, progId: h.xdp.progId, progName: progName(h.xdp.progId) });
  }
  for (const dir of ['ingress', 'egress'] as const) {
    const q = h.tcx[dir];
    if (q instanceof BpfError) continue; // kernel without tcx on this device
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

/** The program id in slot 0 of a pinned one-slot program array (0 = empty; undefined: no such pin). */
export function slotProgId(pin: string): number | undefined {
  const s = readSlot(pin);
  return s.pinned ? s.progId : undefined;
}

/** What a slot held when it was read, so that re-pointing it can be undone exactly. */
export type SlotContent = { kind: 'missing' } | { kind: 'empty' } | { kind: 'kfn'; prog: string } | { kind: 'foreign'; progId: number; tag: string; name: string };

/** The tail-call form's own record of a live chain (LiveChain.formData); opaque to every other layer. */
export interface TailcallChainData {
  meta?: ChainMeta;
  /** The root's slot as read. */
  rootSlot: SlotContent;
  /** Instance directories holding no usable instance (no metadata): released by the next apply. */
  damagedDirs: string[];
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

/**
 * kfn's root: the pinned program, or, when that pin was removed, the program behind kfn's
 * own pinned link if it is a kfn root (kfn made that link; only kfn points it anywhere).
 */
function chainRoot(rootPin: string, link: LinkInfo | undefined, hook: Attachment['hook'], drift: DriftKind[]): number {
  const pinned = pinnedProgId(rootPin);
  if (pinned) return pinned;
  if (link?.progId && progName(link.progId) === rootProgram(hook)) {
    drift.push({ code: 'pin-missing', pin: 'root', progId: link.progId });
    return link.progId;
  }
  drift.push({ code: 'root-missing' });
  return 0;
}

/** One chain; `hooks`: the interfaces of its netns (undefined: the netns is gone). */
function readChain(pinRoot: string, attachment: Attachment, hooks: NetnsHooks | undefined, scope: ReadScope): LiveChain {
  const dir = chainDir(pinRoot, attachment);
  const pins = chainPins(dir);
  const stored = readMetaSafely(pins.meta);
  const meta = stored?.kind === 'chain' ? stored : undefined;
  const drift: DriftKind[] = [];
  if (!meta) drift.push({ code: 'metadata-missing' });
  const link = pinnedLink(pins.link);
  if (!link) drift.push({ code: 'pin-missing', pin: 'link' });
  const rootProgId = chainRoot(pins.root, link, attachment.hook, drift);

  let ifindex = 0;
  let attached = false;
  let mode: LiveChain['mode'];
  let where = attachment;
  // The link's device is the truth: an interface renamed since keeps kfn's root running.
  const byIndex = link?.ifindex ? hooks?.byIndex.get(link.ifindex) : undefined;
  const here = byIndex ?? hooks?.byName.get(attachment.ifname);
  if (!hooks) drift.push({ code: 'netns-missing', netns: attachment.netns });
  else if (!here) drift.push({ code: 'interface-missing', ifname: attachment.ifname });
  else {
    ifindex = here.ifindex;
    if (here.ifname !== attachment.ifname) {
      const renamed = { ...attachment, ifname: here.ifname };
      const conflict = fs.existsSync(chainDir(pinRoot, renamed));
      drift.push({ code: 'interface-renamed', from: attachment.ifname, to: here.ifname, ...(conflict ? { conflict } : {}) });
      // The chain is where its root runs; its pins follow with the next apply.
      if (!conflict) where = renamed;
    }
    if (link && link.ifindex !== ifindex) drift.push(defunctLink(link.ifindex, ifindex, attachment.ifname, meta));
    else if (attachment.hook === 'xdp') {
      attached = rootProgId > 0 && here.xdp.progId === rootProgId;
      if (!attached) drift.push({ code: 'root-not-attached', running: here.xdp.progId });
      else if (here.xdp.mode === 'native' || here.xdp.mode === 'generic') mode = here.xdp.mode;
    } else {
      const q = here.tcx[attachment.hook === 'tc-ingress' ? 'ingress' : 'egress'];
      if (q instanceof BpfError) throw q;
      attached = rootProgId > 0 && q.progIds.includes(rootProgId);
      if (!attached) drift.push({ code: 'root-not-attached' });
      else if (meta?.position) {
        const lost = positionLost(q.progIds, rootProgId, meta.position);
        if (lost) drift.push(lost);
      }
    }
  }

  const walk = walkChain(pins, rootProgId > 0, meta, drift, scope);
  for (const i of walk.instances) for (const d of i.drift ?? []) drift.push({ code: 'instance-drift', instance: i.name, text: d });

  const chain: LiveChain = {
    attachment: where,
    chainName: meta?.chainName ?? '?',
    ifindex,
    rootProgId,
    linkId: link?.id ?? 0,
    pinDir: dir,
    instances: walk.instances,
    orphans: walk.orphans,
    drift: drift.map(driftText),
    driftKinds: drift,
    attached: attached && link !== undefined,
  };
  if (mode) chain.mode = mode;
  if (attachment.hook !== 'xdp' && meta?.position) chain.position = meta.position;
  if (meta?.manifestDigest) chain.manifestDigest = meta.manifestDigest;
  if (meta?.revision) chain.revision = meta.revision;
  if (meta?.stack !== undefined) chain.stack = meta.stack;
  if (meta?.updatedAt) chain.appliedAt = meta.updatedAt;
  const data: TailcallChainData = { rootSlot: walk.rootSlot, damagedDirs: walk.damagedDirs };
  if (meta) data.meta = meta;
  chain.formData = data;
  return chain;
}

/** Metadata at `pin`, or undefined when it is missing or not kfn metadata (something else pinned there). */
function readMetaSafely(pin: string): Meta | undefined {
  try {
    const m = readMetaIfPinned(pin);
    return m && typeof m === 'object' ? m : undefined;
  } catch (e) {
    if (e instanceof BpfError) return undefined;
    throw e;
  }
}

/** One instance directory as found, before the walk gives it a place. */
interface InstanceDir {
  base: string;
  pinDir: string;
  /** From the prog pin (0: the pin is missing). */
  progId: number;
  meta?: InstanceMeta;
  /**
   * The pinned kfn_next map, read only when the prog pin is gone (0: missing, or not read):
   * then it identifies the instance's program among the programs the chain runs.
   */
  nextMapId: number;
}

function readInstanceDirs(fnDir: string): InstanceDir[] {
  return listPinDirs(fnDir)
    .filter(isInstanceDirName)
    .map((base) => {
      const pinDir = path.join(fnDir, base);
      const pins = instancePins(pinDir);
      const stored = readMetaSafely(pins.meta);
      const progId = pinnedProgId(pins.prog);
      const d: InstanceDir = { base, pinDir, progId, nextMapId: progId ? 0 : pinnedId(pins.next, mapInfoByFd) };
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
 * maps). Every way the walk differs from what kfn built is drift: a foreign program, a
 * loop, a slot whose pin was removed, or (against the order kfn recorded) an empty slot.
 */
function walkChain(pins: ReturnType<typeof chainPins>, rootAlive: boolean, meta: ChainMeta | undefined, drift: DriftKind[], scope: ReadScope): Walk {
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
  const order = meta?.order;
  const unreached = (walked: number): string[] => (order ? order.slice(walked) : []);

  let slot = readSlot(pins.rootNext);
  const rootSlot = slotContent(slot, find);
  const instances: LiveInstance[] = [];
  const inChain = new Set<string>();
  let after: string | undefined;
  let cut = false;
  if (!slot.pinned && rootAlive) {
    drift.push({ code: 'bypassed', unreached: unreached(0), pin: 'root_next' });
    cut = true;
  }
  while (slot.pinned && slot.progId) {
    const d = find(slot.progId);
    if (!d) {
      drift.push({ code: 'foreign-in-chain', progId: slot.progId, progName: progName(slot.progId), ...(after !== undefined ? { after } : {}) });
      cut = true;
      break;
    }
    if (!d.meta) {
      drift.push({ code: 'instance-metadata-missing', dir: d.base, inChain: true });
      inChain.add(d.pinDir);
      cut = true;
      break;
    }
    if (inChain.has(d.pinDir) || instances.length >= MAX_CHAIN_LENGTH) {
      drift.push({ code: 'loop', to: d.meta.name, ...(after !== undefined ? { after } : {}) });
      cut = true;
      break;
    }
    inChain.add(d.pinDir);
    if (!d.progId) drift.push({ code: 'pin-missing', pin: 'prog', instance: d.meta.name, progId: slot.progId });
    instances.push(liveInstance(d, d.meta, slot.progId, drift, scope));
    after = d.meta.name;
    slot = readSlot(instancePins(d.pinDir).next);
    if (!slot.pinned) {
      drift.push({ code: 'bypassed', after, unreached: unreached(instances.length), pin: 'kfn_next' });
      cut = true;
    }
  }
  if (!cut && rootAlive) {
    const bypass = bypassed(order, instances);
    if (bypass) drift.push(bypass);
  }
  const orphans: LiveInstance[] = [];
  const damagedDirs: string[] = [];
  for (const d of dirs) {
    if (!d.meta) {
      damagedDirs.push(d.pinDir);
      if (!inChain.has(d.pinDir)) drift.push({ code: 'instance-metadata-missing', dir: d.base, inChain: false });
    } else if (!inChain.has(d.pinDir) && d.progId) orphans.push(liveInstance(d, d.meta, d.progId, [], scope));
    else if (!inChain.has(d.pinDir)) damagedDirs.push(d.pinDir); // neither reached nor loadable: nothing of it runs
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
function liveInstance(d: InstanceDir, meta: InstanceMeta, progId: number, drift: DriftKind[], scope: ReadScope): LiveInstance {
  const { pinDir } = d;
  const pins = instancePins(pinDir);
  const mapPins = instanceMapPins(pinDir);
  const byId = unpinnedMaps(meta, progId, new Set(mapPins.map((m) => m.name)), drift);
  const { maps, stateMaps } = readInstanceMaps(pinDir, meta.parameters, scope, { byId, objectSha256: meta.identity.sha256, pins: mapPins });
  const inst: LiveInstance = { name: meta.name, identity: meta.identity, progId, pinDir, maps, appliedMaps: meta.appliedMaps, stateMaps, formData: meta };
  if (meta.mergeMaps?.length) inst.mergeMaps = [...meta.mergeMaps];
  const idrift: string[] = [];
  if (meta.identity.companions?.length) {
    inst.companions = meta.identity.companions.map((c) => readCompanion(pinDir, c));
    idrift.push(...inst.companions.flatMap((c) => companionDrift(c)));
  }
  const proceedOn = readProceedOn(pins.proceed);
  if (proceedOn) inst.proceedOn = proceedOn;
  if (meta.proceedOn) {
    inst.appliedProceedOn = meta.proceedOn;
    // The program still reads the word, but kfn can no longer write it: a reload repairs.
    if (!proceedOn) idrift.push('its proceed-on word is no longer pinned');
  }
  if (idrift.length) inst.drift = idrift;
  return inst;
}

/**
 * Maps recorded at load whose pins are gone. While the program lives it holds them: they
 * are read by id (each checked to be one of the program's maps) and can be pinned again.
 */
function unpinnedMaps(meta: InstanceMeta, progId: number, pinned: Set<string>, drift: DriftKind[]): { name: string; id: number }[] {
  const recorded = meta.mapIds;
  const missing = recorded ? Object.keys(recorded).filter((n) => !pinned.has(n)).sort() : [];
  if (!missing.length) return [];
  let progMaps: number[] = [];
  try {
    if (progId) progMaps = progInfoById(progId).mapIds;
  } catch {
    /* the program is gone */
  }
  const found = missing.filter((n) => progMaps.includes(recorded![n]!));
  drift.push({ code: 'maps-missing', instance: meta.name, maps: missing, recoverable: found.length === missing.length });
  return found.length === missing.length ? found.map((name) => ({ name, id: recorded![name]! })) : [];
}

/**
 * kfn's link no longer points at the interface of that name. A link whose device went
 * away reads ifindex 0 both after `bpftool link detach` and after the interface was
 * deleted; the ifindex recorded at attach tells the two apart.
 */
function defunctLink(linkIfindex: number, ifindex: number, ifname: string, meta: ChainMeta | undefined): DriftKind {
  if (linkIfindex !== 0) return { code: 'interface-recreated', ifname };
  if (meta?.ifindex === undefined) return { code: 'link-defunct', ifname };
  return meta.ifindex === ifindex ? { code: 'root-detached' } : { code: 'interface-recreated', ifname };
}

/** A tcx program that now runs ahead of a `first` root, or behind a `last` one. */
function positionLost(progIds: number[], rootProgId: number, position: TcPosition): DriftKind | undefined {
  const at = progIds.indexOf(rootProgId);
  const other = position === 'first' ? progIds[0] : progIds.at(-1);
  if (at < 0 || other === undefined || other === rootProgId) return undefined;
  return { code: 'position-lost', position, progId: other, progName: progName(other) };
}

/**
 * The walk ended on an empty slot before the instances kfn last built: the rest of the
 * chain is bypassed. Other endings (a foreign program, a loop) are reported as such.
 */
function bypassed(order: string[] | undefined, walked: LiveInstance[]): DriftKind | undefined {
  if (!order) return undefined;
  const names = walked.map((i) => i.name);
  if (names.length >= order.length || names.some((n, i) => order[i] !== n)) return undefined;
  const after = names.at(-1);
  return { code: 'bypassed', unreached: order.slice(names.length), ...(after !== undefined ? { after } : {}) };
}

/** Every stack record under the pin root. */
export function readStackRecords(pinRoot: string): StackRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(stacksRoot(pinRoot)).sort();
  } catch {
    return [];
  }
  const out: StackRecord[] = [];
  for (const name of names) {
    if (parseStackPin(name) === undefined) continue;
    const meta = readMetaIfPinned(path.join(stacksRoot(pinRoot), name));
    if (meta?.kind !== 'stack') continue;
    const r: StackRecord = {
      stack: meta.stack,
      manifestDigest: meta.manifestDigest,
      appliedAt: meta.appliedAt,
      chains: meta.chains.map((c) => ({ attachment: { netns: c.netns, ifname: c.ifname, hook: c.hook }, chainName: c.chainName })),
    };
    if (meta.revision !== undefined) r.revision = meta.revision;
    out.push(r);
  }
  return out;
}

function readCompanion(instancePinDir: string, c: Companion): LiveCompanion {
  const pins = instancePins(instancePinDir).companion(c.program);
  const progId = pinnedProgId(pins.prog);
  const linkFd = tryOpenPinned(pins.link);
  const link = linkFd === undefined ? undefined : withFd(linkFd, linkInfoByFd);
  return { ...c, progId, linkId: link?.id ?? 0, attached: link !== undefined && link.type === LINK_TYPE.PERF_EVENT && progId !== 0 && link.progId === progId };
}

function companionDrift(c: LiveCompanion): string[] {
  const what = `companion ${companionText(c)}`;
  if (!c.linkId) return [`${what}: its link is missing, it no longer runs`];
  if (!c.progId) return [`${what}: its program pin is missing`];
  if (!c.attached) return [`${what}: its link does not run its program`];
  return [];
}
