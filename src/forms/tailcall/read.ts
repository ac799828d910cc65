/**
 * Reads the live picture from the kernel: kfn's pins say what kfn made, the hooks say
 * what actually runs. Nothing here writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  BpfError,
  MapHandle,
  ifindexHere,
  linkInfoByFd,
  listInterfacesHere,
  listPinDirs,
  mapInfoByFd,
  netnsExists,
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
  type MapInfo,
  type MapKernelInfo,
} from '../../libbpf/index.js';
import { decodeMapEntry, isUnsetSlot } from '../../values/index.js';
import type { Attachment, DriftKind, ForeignProgram, LiveChain, LiveInstance, LiveInterface, LiveState, MapEntry, StackRecord, TcPosition } from '../../core/types.js';
import { attachmentLabel } from '../../core/types.js';
import { driftText } from '../../core/drift.js';
import { NEXT_MAP, chainDir, chainPins, chainsRoot, instancePins, isInstanceDirName, parseChainDir, parseStackPin, stacksRoot } from './layout.js';
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
        foreign.push(...foreignOn(netns, ifc.ifname, ifc.ifindex, kfnRoots));
      }
    });
  }
  return { chains, stacks: readStackRecords(opts.pinRoot), interfaces, missingNetns, foreign };
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

function pinnedProgId(pin: string): number {
  const fd = tryOpenPinned(pin);
  return fd === undefined ? 0 : withFd(fd, (f) => progInfoByFd(f).id);
}

/** The program id in slot 0 of a pinned one-slot program array (0 = empty). */
export function slotProgId(pin: string): number | undefined {
  const fd = tryOpenPinned(pin);
  if (fd === undefined) return undefined;
  return withFd(fd, (f) => {
    const v = new MapHandle(f, mapInfoByFd(f), pin).lookup(new Uint8Array(4));
    return v ? v.readUInt32LE(0) : 0;
  });
}

export function readChain(pinRoot: string, attachment: Attachment): LiveChain {
  const dir = chainDir(pinRoot, attachment);
  const pins = chainPins(dir);
  const label = attachmentLabel(attachment);
  const meta = fs.existsSync(pins.meta) ? (readMeta(pins.meta) as ChainMeta | undefined) : undefined;
  const drift: DriftKind[] = [];
  const rootProgId = pinnedProgId(pins.root);
  const linkFd = tryOpenPinned(pins.link);
  const link = linkFd === undefined ? undefined : withFd(linkFd, linkInfoByFd);
  if (!meta) drift.push({ code: 'metadata-missing' });
  if (!link) drift.push({ code: 'pin-missing', pin: 'link' });
  if (!rootProgId) drift.push({ code: 'pin-missing', pin: 'root' });

  let ifindex = 0;
  let attached = false;
  let mode: LiveChain['mode'];
  if (!netnsExists(attachment.netns)) {
    drift.push({ code: 'netns-missing', netns: attachment.netns });
  } else {
    withNetns(attachment.netns, () => {
      ifindex = ifindexHere(attachment.ifname) ?? 0;
      if (!ifindex) return void drift.push({ code: 'interface-missing', ifname: attachment.ifname });
      if (link && link.ifindex !== ifindex) return void drift.push(defunctLink(link.ifindex, ifindex, attachment.ifname, meta));
      if (attachment.hook === 'xdp') {
        const q = queryXdp(ifindex, label);
        attached = q.progId === rootProgId;
        if (!attached) drift.push({ code: 'root-not-attached', running: q.progId });
        else if (q.mode === 'native' || q.mode === 'generic') mode = q.mode;
      } else {
        const q = queryTcx(ifindex, attachment.hook === 'tc-ingress' ? 'ingress' : 'egress', label);
        attached = q.progIds.includes(rootProgId);
        if (!attached) drift.push({ code: 'root-not-attached' });
        else if (meta?.position) {
          const lost = positionLost(q.progIds, rootProgId, meta.position);
          if (lost) drift.push(lost);
        }
      }
    });
  }

  const all = readInstances(dir);
  const byProg = new Map(all.map((i) => [i.progId, i]));
  const instances: LiveInstance[] = [];
  const seen = new Set<number>();
  let slot = pins.rootNext;
  let next = slotProgId(slot);
  if (next === undefined) drift.push({ code: 'pin-missing', pin: 'root_next' });
  while (next) {
    const inst = byProg.get(next);
    const after = instances.at(-1)?.name;
    if (!inst) {
      drift.push({ code: 'foreign-in-chain', progId: next, progName: progName(next), ...(after !== undefined ? { after } : {}) });
      break;
    }
    if (seen.has(next) || instances.length >= MAX_CHAIN_LENGTH) {
      drift.push({ code: 'loop', to: inst.name, ...(after !== undefined ? { after } : {}) });
      break;
    }
    seen.add(next);
    instances.push(inst);
    slot = instancePins(inst.pinDir).next;
    next = slotProgId(slot);
    if (next === undefined) drift.push({ code: 'pin-missing', pin: NEXT_MAP, instance: inst.name });
  }
  const orphans = all.filter((i) => !seen.has(i.progId));
  const bypass = bypassed(meta?.order, instances, drift);
  if (bypass) drift.push(bypass);

  const chain: LiveChain = {
    attachment,
    chainName: meta?.chainName ?? '?',
    ifindex,
    rootProgId,
    linkId: link?.id ?? 0,
    pinDir: dir,
    instances,
    orphans,
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
  if (meta) chain.formData = meta;
  return chain;
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
function bypassed(order: string[] | undefined, walked: LiveInstance[], drift: DriftKind[]): DriftKind | undefined {
  if (!order || drift.some((d) => d.code === 'foreign-in-chain' || d.code === 'loop')) return undefined;
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
    const meta = readMeta(path.join(stacksRoot(pinRoot), name));
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

function readInstances(chainDirPath: string): LiveInstance[] {
  const fnDir = chainPins(chainDirPath).functions;
  const out: LiveInstance[] = [];
  for (const base of listPinDirs(fnDir)) {
    if (!isInstanceDirName(base)) continue;
    const pinDir = path.join(fnDir, base);
    const pins = instancePins(pinDir);
    const progId = pinnedProgId(pins.prog);
    const meta = fs.existsSync(pins.meta) ? (readMeta(pins.meta) as InstanceMeta | undefined) : undefined;
    if (!progId || !meta) continue;
    const { maps, stateMaps } = readInstanceMaps(pinDir, meta.parameters);
    const inst: LiveInstance = { name: meta.name, identity: meta.identity, progId, pinDir, maps, appliedMaps: meta.appliedMaps, stateMaps, formData: meta };
    if (meta.mergeMaps?.length) inst.mergeMaps = [...meta.mergeMaps];
    out.push(inst);
  }
  return out;
}

/**
 * One pass over an instance's maps, each typed from kernel BTF once: the decoded
 * entries of its parameter maps (state maps are left out) and every map's layout digest.
 */
function readInstanceMaps(instancePinDir: string, parameters: string[] | undefined): { maps: Record<string, MapEntry[]>; stateMaps: Record<string, string> } {
  const maps: Record<string, MapEntry[]> = {};
  const stateMaps: Record<string, string> = {};
  const isParameter = (name: string, typeName: string): boolean => (parameters ? parameters.includes(name) : LEGACY_PARAMETER_MAP_TYPES.has(typeName));
  for (const m of listInstanceMaps(instancePinDir)) {
    const typed = typedMapInfo(m.name, m.info);
    stateMaps[m.name] = mapLayoutDigest(typed);
    if (isParameter(m.name, m.info.typeName)) maps[m.name] = readMapEntries(m.pin, m.info, typed);
  }
  return { maps, stateMaps };
}

export function listInstanceMaps(instancePinDir: string): { name: string; pin: string; info: MapKernelInfo }[] {
  const dir = instancePins(instancePinDir).maps;
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((file) => {
    const pin = path.join(dir, file);
    const fd = tryOpenPinned(pin);
    if (fd === undefined) return [];
    return [{ name: decodeURIComponent(file), pin, info: withFd(fd, mapInfoByFd) }];
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

/** All entries of a pinned map, decoded and sorted by key bytes; unset (all-zero) array slots are omitted. */
function readMapEntries(pin: string, info: MapKernelInfo, typed: MapInfo): MapEntry[] {
  const fd = tryOpenPinned(pin);
  if (fd === undefined) return [];
  return withFd(fd, (f) => {
    const handle = new MapHandle(f, info, pin);
    return handle
      .entries()
      .map((e) => ({ key: e.key, value: isPerCpu(info.type) ? oneValue(info, e.value) : e.value }))
      .filter((e) => !isUnsetSlot(info.typeName, e.value))
      .map((e) => (e.value.length === info.valueSize ? decodeMapEntry(typed, e.key, e.value) : unevenEntry(typed, e.key, e.value)))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  });
}
