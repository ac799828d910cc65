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
  progIdByFd,
  queryTcx,
  tryOpenPinned,
  withFd,
  KernelBtfCache,
  withNetns,
  mapLayoutDigest,
  isPerCpu,
  perCpuValues,
  type MapInfo,
  type MapKernelInfo,
  type MprogQuery,
  type TcxDirection,
  type XdpQuery,
} from '../../libbpf/index.js';
import { decodeMapEntry, isUnsetSlot } from '../../values/index.js';
import type { Attachment, Companion, DriftKind, ForeignProgram, LiveChain, LiveCompanion, LiveInstance, LiveInterface, LiveState, MapEntry, StackRecord, TcPosition } from '../../core/types.js';
import { attachmentKey, companionText } from '../../core/types.js';
import { driftText } from '../../core/drift.js';
import { NEXT_MAP, chainDir, chainPins, chainsRoot, instancePins, isInstanceDirName, parseChainDir, parseStackPin, stacksRoot } from './layout.js';
import { readMetaIfPinned, type ChainMeta, type InstanceMeta } from './meta.js';
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
  const byName = new Map([...hooksByNetns].map(([netns, hooks]) => [netns, new Map(hooks.map((h) => [h.ifname, h]))]));
  const chains = attachments.map((a) => readChain(opts.pinRoot, a, byName.get(a.netns), scope));
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

/**
 * What one read of the live state learns once and uses for every instance: kernel BTF
 * typed once per content, and each map layout's digest computed once. Made for one read
 * and dropped with it, so nothing carries over to the next.
 */
export class ReadScope {
  readonly btf = new KernelBtfCache();
  private readonly layouts = new Map<string, string>();

  /** MapInfo (with BTF key/value types from the kernel) of a live map, for the value codec. */
  typed(name: string, info: MapKernelInfo): MapInfo {
    const m: MapInfo = { name, type: info.typeName, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries };
    const hit = this.btf.get(info.btfId);
    if (hit && info.btfKeyTypeId) m.key = hit.btf.type(info.btfKeyTypeId);
    if (hit && info.btfValueTypeId) m.value = hit.btf.type(info.btfValueTypeId);
    const counters = hit?.btf.counters(name, info.btfValueTypeId) ?? [];
    if (counters.length) m.counters = counters;
    return m;
  }

  /** mapLayoutDigest of `typed`, which this scope typed from `info`. */
  layout(typed: MapInfo, info: MapKernelInfo): string {
    const key = [this.btf.get(info.btfId)?.content ?? '', info.type, info.keySize, info.valueSize, info.maxEntries, info.btfKeyTypeId, info.btfValueTypeId].join(':');
    let digest = this.layouts.get(key);
    if (digest === undefined) {
      digest = mapLayoutDigest(typed);
      this.layouts.set(key, digest);
    }
    return digest;
  }

  close(): void {
    this.btf.close();
  }
}

/** Runs `fn` with a scope that is closed afterwards. */
export function withReadScope<T>(fn: (scope: ReadScope) => T): T {
  const scope = new ReadScope();
  try {
    return fn(scope);
  } finally {
    scope.close();
  }
}

/** What runs on every hook of one interface, read once per read of the live state. */
interface InterfaceHooks {
  ifindex: number;
  ifname: string;
  xdp: XdpQuery;
  /** The error when the kernel cannot query tcx on this device. */
  tcx: Record<TcxDirection, MprogQuery | BpfError>;
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

export function pinnedProgId(pin: string): number {
  const fd = tryOpenPinned(pin);
  return fd === undefined ? 0 : withFd(fd, progIdByFd);
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

/** One chain; `hooks`: the interfaces of its netns (undefined: the netns is gone). */
function readChain(pinRoot: string, attachment: Attachment, hooks: Map<string, InterfaceHooks> | undefined, scope: ReadScope): LiveChain {
  const dir = chainDir(pinRoot, attachment);
  const pins = chainPins(dir);
  const meta = readMetaIfPinned(pins.meta) as ChainMeta | undefined;
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
  const here = hooks?.get(attachment.ifname);
  if (!hooks) drift.push({ code: 'netns-missing', netns: attachment.netns });
  else if (!here) drift.push({ code: 'interface-missing', ifname: attachment.ifname });
  else {
    ifindex = here.ifindex;
    if (link && link.ifindex !== ifindex) drift.push(defunctLink(link.ifindex, ifindex, attachment.ifname, meta));
    else if (attachment.hook === 'xdp') {
      attached = here.xdp.progId === rootProgId;
      if (!attached) drift.push({ code: 'root-not-attached', running: here.xdp.progId });
      else if (here.xdp.mode === 'native' || here.xdp.mode === 'generic') mode = here.xdp.mode;
    } else {
      const q = here.tcx[attachment.hook === 'tc-ingress' ? 'ingress' : 'egress'];
      if (q instanceof BpfError) throw q;
      attached = q.progIds.includes(rootProgId);
      if (!attached) drift.push({ code: 'root-not-attached' });
      else if (meta?.position) {
        const lost = positionLost(q.progIds, rootProgId, meta.position);
        if (lost) drift.push(lost);
      }
    }
  }

  const all = readInstances(dir, scope);
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
  for (const i of instances) for (const d of i.drift ?? []) drift.push({ code: 'instance-drift', instance: i.name, text: d });

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

function readInstances(chainDirPath: string, scope: ReadScope): LiveInstance[] {
  const fnDir = chainPins(chainDirPath).functions;
  const out: LiveInstance[] = [];
  for (const base of listPinDirs(fnDir)) {
    if (!isInstanceDirName(base)) continue;
    const pinDir = path.join(fnDir, base);
    const pins = instancePins(pinDir);
    const progId = pinnedProgId(pins.prog);
    const meta = readMetaIfPinned(pins.meta) as InstanceMeta | undefined;
    if (!progId || !meta) continue;
    const { maps, stateMaps } = readInstanceMaps(pinDir, meta.parameters, scope);
    const inst: LiveInstance = { name: meta.name, identity: meta.identity, progId, pinDir, maps, appliedMaps: meta.appliedMaps, stateMaps, formData: meta };
    if (meta.mergeMaps?.length) inst.mergeMaps = [...meta.mergeMaps];
    const drift: string[] = [];
    if (meta.identity.companions?.length) {
      inst.companions = meta.identity.companions.map((c) => readCompanion(pinDir, c));
      drift.push(...inst.companions.flatMap((c) => companionDrift(c)));
    }
    const proceedOn = readProceedOn(pins.proceed);
    if (proceedOn) inst.proceedOn = proceedOn;
    if (meta.proceedOn) {
      inst.appliedProceedOn = meta.proceedOn;
      // The program still reads the word, but kfn can no longer write it: a reload repairs.
      if (!proceedOn) drift.push('its proceed-on word is no longer pinned');
    }
    if (drift.length) inst.drift = drift;
    out.push(inst);
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

/**
 * One pass over an instance's maps, each typed from kernel BTF once: the decoded
 * entries of its parameter maps (state maps are left out) and every map's layout digest.
 */
export function readInstanceMaps(instancePinDir: string, parameters: string[] | undefined, scope: ReadScope): { maps: Record<string, MapEntry[]>; stateMaps: Record<string, string> } {
  const maps: Record<string, MapEntry[]> = {};
  const stateMaps: Record<string, string> = {};
  const isParameter = (name: string, typeName: string): boolean => (parameters ? parameters.includes(name) : LEGACY_PARAMETER_MAP_TYPES.has(typeName));
  for (const { name, pin } of instanceMapPins(instancePinDir)) {
    const fd = tryOpenPinned(pin);
    if (fd === undefined) continue;
    withFd(fd, (f) => {
      const info = mapInfoByFd(f);
      const typed = scope.typed(name, info);
      stateMaps[name] = scope.layout(typed, info);
      if (isParameter(name, info.typeName)) maps[name] = readMapEntries(new MapHandle(f, info, pin), typed);
    });
  }
  return { maps, stateMaps };
}

/** The map pins of an instance, by map name, in name order. */
function instanceMapPins(instancePinDir: string): { name: string; pin: string }[] {
  const dir = instancePins(instancePinDir).maps;
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
  return files.map((file) => ({ name: decodeURIComponent(file), pin: path.join(dir, file) }));
}

export function listInstanceMaps(instancePinDir: string): { name: string; pin: string; info: MapKernelInfo }[] {
  return instanceMapPins(instancePinDir).flatMap(({ name, pin }) => {
    const fd = tryOpenPinned(pin);
    if (fd === undefined) return [];
    return [{ name, pin, info: withFd(fd, mapInfoByFd) }];
  });
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

/** All entries of a map, decoded and sorted by key bytes; unset (all-zero) array slots are omitted. */
function readMapEntries(handle: MapHandle, typed: MapInfo): MapEntry[] {
  const { info } = handle;
  return handle
    .entries()
    .map((e) => ({ key: e.key, value: isPerCpu(info.type) ? oneValue(info, e.value) : e.value }))
    .filter((e) => !isUnsetSlot(info.typeName, e.value))
    .map((e) => (e.value.length === info.valueSize ? decodeMapEntry(typed, e.key, e.value) : unevenEntry(typed, e.key, e.value)))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
