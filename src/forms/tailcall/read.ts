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
import type { Attachment, ForeignProgram, LiveChain, LiveInstance, LiveInterface, LiveState, MapEntry } from '../../core/types.js';
import { attachmentLabel } from '../../core/types.js';
import { chainDir, chainPins, chainsRoot, instancePins, isInstanceDirName, parseChainDir } from './layout.js';
import { readMeta, type ChainMeta, type InstanceMeta } from './meta.js';
import { readProceedOn } from './proceed.js';
import { readProbes } from './probe-read.js';
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
  return { chains, probes: readProbes(opts.pinRoot), interfaces, missingNetns, foreign };
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

export function pinnedProgId(pin: string): number {
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
  const drift: string[] = [];
  const rootProgId = pinnedProgId(pins.root);
  const linkFd = tryOpenPinned(pins.link);
  const link = linkFd === undefined ? undefined : withFd(linkFd, linkInfoByFd);
  if (!meta) drift.push('chain metadata is missing');
  if (!link) drift.push('root link is missing');

  let ifindex = 0;
  let attached = false;
  let mode: LiveChain['mode'];
  if (!netnsExists(attachment.netns)) {
    drift.push(`network namespace ${attachment.netns} no longer exists`);
  } else {
    withNetns(attachment.netns, () => {
      ifindex = ifindexHere(attachment.ifname) ?? 0;
      if (!ifindex) return void drift.push(`interface ${attachment.ifname} no longer exists`);
      if (link && link.ifindex !== ifindex) return void drift.push(`interface ${attachment.ifname} was recreated; the root link is defunct`);
      if (attachment.hook === 'xdp') {
        const q = queryXdp(ifindex, label);
        attached = q.progId === rootProgId;
        if (!attached) drift.push(`root is not attached (XDP runs ${q.progId ? `program ${q.progId}` : 'nothing'})`);
        else if (q.mode === 'native' || q.mode === 'generic') mode = q.mode;
      } else {
        const q = queryTcx(ifindex, attachment.hook === 'tc-ingress' ? 'ingress' : 'egress', label);
        attached = q.progIds.includes(rootProgId);
        if (!attached) drift.push('root is not attached to the tcx hook');
      }
    });
  }

  const all = readInstances(dir, drift);
  const byProg = new Map(all.map((i) => [i.progId, i]));
  const instances: LiveInstance[] = [];
  const seen = new Set<number>();
  let next = slotProgId(pins.rootNext) ?? 0;
  while (next) {
    const inst = byProg.get(next);
    if (!inst) {
      drift.push(`foreign program ${next} (${progName(next)}) is in the chain after ${instances.at(-1)?.name ?? 'the root'}`);
      break;
    }
    if (seen.has(next) || instances.length >= MAX_CHAIN_LENGTH) {
      drift.push(`the chain loops back to ${inst.name}`);
      break;
    }
    seen.add(next);
    instances.push(inst);
    next = slotProgId(instancePins(inst.pinDir).next) ?? 0;
  }
  const orphans = all.filter((i) => !seen.has(i.progId));

  const chain: LiveChain = {
    attachment,
    chainName: meta?.chainName ?? '?',
    ifindex,
    rootProgId,
    linkId: link?.id ?? 0,
    pinDir: dir,
    instances,
    orphans,
    drift,
    attached: attached && link !== undefined,
  };
  if (mode) chain.mode = mode;
  if (attachment.hook !== 'xdp' && meta?.position) chain.position = meta.position;
  if (meta?.manifestDigest) chain.manifestDigest = meta.manifestDigest;
  if (meta?.revision) chain.revision = meta.revision;
  if (meta) chain.formData = meta;
  return chain;
}

function readInstances(chainDirPath: string, drift: string[]): LiveInstance[] {
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
    const proceedOn = readProceedOn(pins.proceed);
    if (proceedOn) inst.proceedOn = proceedOn;
    if (meta.proceedOn) {
      inst.appliedProceedOn = meta.proceedOn;
      // The program still holds the map, but kfn can no longer write it.
      if (!proceedOn) drift.push(`the proceed-on map of ${meta.name} is no longer pinned`);
    }
    out.push(inst);
  }
  return out;
}

/**
 * One pass over an instance's maps, each typed from kernel BTF once: the decoded
 * entries of its parameter maps (state maps are left out) and every map's layout digest.
 */
export function readInstanceMaps(instancePinDir: string, parameters: string[] | undefined): { maps: Record<string, MapEntry[]>; stateMaps: Record<string, string> } {
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
