/**
 * Shadow chains: a private copy of a chain to run test packets through. Every program
 * is loaded afresh from its object with fresh maps (parameters written from the
 * manifests, or copied from what was read of a live chain; state maps empty), wired
 * through its own chain slot, attached nowhere and pinned nowhere: the shadow
 * holds file descriptors only, and releasing it frees everything.
 *
 * To tell which instance decided a packet, a marker program (bpf/shadow_mark.bpf.c)
 * sits before each instance and after the last one; the last marker a packet went
 * through names the instance that returned its verdict. Live chains carry no markers,
 * so their data path is unchanged. A packet through a marked shadow of n instances makes
 * 2n + 1 tail calls; the kernel allows 33, so longer chains are shadowed without
 * markers and cannot say who decided.
 *
 * Each instance gets its proceed-on word (the manifests' or the live one), but the last
 * one of a marked shadow does not proceed on drop: in the real chain its drop meets an
 * empty slot and stands, where the end marker would turn it into a pass. Ending the chain
 * there is the same verdict, decided by the same instance.
 */
import { KfnError, isKfnError } from '../../core/errors.js';
import { DEFAULT_PROCEED_ON, PROCEED_MAP, attachmentLabel, type DesiredInstance, type FunctionIdentity, type Hook, type LiveInstance, type ProceedVerdict } from '../../core/types.js';
import {
  BpfError,
  BpfObject,
  MapHandle,
  PrivateNetns,
  mapInfoByFd,
  testRun,
  verdictOf,
  type LoadedProgram,
  type Verdict,
  type VerdictHook,
} from '../../libbpf/index.js';
import type { ShadowChain, ShadowOptions, ShadowSource } from '../form.js';
import { ObjectFiles } from '../../core/objects.js';
import type { Outcome } from '../../packets/expect.js';
import { ROOT_OBJECT, globalPatches, openUnchanged, setSlotFd, writeEntriesFd, type ExpectedSince } from './kernel.js';
import { rootProgram } from './layout.js';
import { NEXT_MAP } from './layout.js';
import type { InstanceMeta } from './meta.js';
import { proceedWord } from './proceed-word.js';
import { installPath } from '../../core/install.js';

export const MARK_OBJECT = installPath('bpf', 'build', 'shadow_mark.bpf.o');
const MARK_MAP = 'reached';
const MARK_POSITION = 'position';
/** MAX_TAIL_CALL_CNT of the kernel. */
const MAX_TAIL_CALLS = 33;
/** The longest chain a shadow can mark: 2n + 1 tail calls per packet. */
export const MAX_MARKED_INSTANCES = (MAX_TAIL_CALLS - 1) / 2;

const ZERO_KEY = new Uint8Array(4);

/** One instance to load: its program, globals and the parameter entries to write. */
interface InstanceSpec {
  name: string;
  identity: FunctionIdentity;
  objectPath: string;
  entries: Record<string, { key: string; value: string }[]>;
  proceedOn: readonly ProceedVerdict[];
}

function desiredSpec(d: DesiredInstance): InstanceSpec {
  const entries = Object.fromEntries(Object.values(d.maps).map((m) => [m.name, m.entries.map((e) => ({ key: e.key, value: e.value }))]));
  return { name: d.name, identity: d.identity, objectPath: d.objectPath, entries, proceedOn: d.proceedOn ?? DEFAULT_PROCEED_ON };
}

/** A shadow checks each object against the sha256 its manifests (or live metadata) were read with. */
const SINCE_MANIFESTS: ExpectedSince = { since: 'the manifests were read', hint: 'run the command again' };

/** A live instance's object (as recorded at its load, or another copy with its sha256) and parameter contents. */
function liveSpec(li: LiveInstance, where: string, opts: ShadowOptions, files: ObjectFiles): InstanceSpec {
  const recorded = (li.formData as InstanceMeta | undefined)?.objectPath;
  const sha = li.identity.sha256;
  const matches = (p: string | undefined): p is string => {
    if (p === undefined) return false;
    try {
      return files.read(p).sha256 === sha;
    } catch (e) {
      if (isKfnError(e)) return false; // gone, or no longer a regular file: look for another copy
      throw e;
    }
  };
  const objectPath = matches(recorded) ? recorded : [opts.findObject?.(sha)].find(matches);
  if (!objectPath) {
    throw new KfnError(
      'SHADOW_OBJECT_MISSING',
      `live instance "${li.name}" on ${where} was loaded from ${recorded ?? 'an unrecorded object'} (sha256 ${sha.slice(0, 12)}), which is gone or has changed: its shadow cannot be built`,
      { hint: 'keep the object file the live chain was applied from, or have the manifests name an object with that sha256' },
    );
  }
  const entries = Object.fromEntries(Object.entries(li.maps).map(([name, es]) => [name, es.map((e) => ({ key: e.key, value: e.value }))]));
  return { name: li.name, identity: li.identity, objectPath, entries, proceedOn: li.proceedOn ?? DEFAULT_PROCEED_ON };
}

function specsOf(source: ShadowSource, opts: ShadowOptions, files: ObjectFiles): { hook: Hook; label: string; specs: InstanceSpec[] } {
  if (source.kind === 'desired') return { hook: source.hook, label: `the shadow of chain "${source.chainName}" (${source.hook})`, specs: source.instances.map(desiredSpec) };
  const where = attachmentLabel(source.chain.attachment);
  return { hook: source.chain.attachment.hook, label: `the shadow of chain "${source.chain.chainName}" on ${where}`, specs: source.chain.instances.map((i) => liveSpec(i, where, opts, files)) };
}

/** Builds the shadow; on any failure everything loaded so far is freed. */
export function buildShadow(source: ShadowSource, opts: ShadowOptions = {}): ShadowChain {
  // Each object is read once: the bytes a live instance's copy was matched by are the ones loaded, and the marker object is read once for every marker.
  const files = new ObjectFiles();
  const { hook, label, specs } = specsOf(source, opts, files);
  const kind: VerdictHook = hook === 'xdp' ? 'xdp' : 'tc';
  const objects: BpfObject[] = [];
  const ownNetns = opts.netns ? undefined : PrivateNetns.create();
  const netns = opts.netns ?? ownNetns!;
  const release = (): void => {
    for (const o of objects.splice(0).reverse()) o.close();
    ownNetns?.close();
  };
  const track = (obj: BpfObject): BpfObject => {
    objects.push(obj);
    return obj;
  };
  const open = (path: string): BpfObject => track(BpfObject.openBytes(files.read(path).bytes, path));

  try {
    const root = open(ROOT_OBJECT).load(rootProgram(hook));
    const marked = specs.length <= MAX_MARKED_INSTANCES;
    const markProgram = kind === 'xdp' ? 'kfn_mark_xdp' : 'kfn_mark_tc';
    let reached: MapHandle | undefined;
    const marker = (position: number): LoadedProgram => {
      const obj = open(MARK_OBJECT);
      const g = obj.info('').globals.find((x) => x.name === MARK_POSITION);
      if (!g) throw new KfnError('GLOBAL_NOT_FOUND', `global ${MARK_POSITION} not found in ${MARK_OBJECT}`, { hint: 'rebuild the BPF objects (npm run build:bpf)' });
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(position);
      const loaded = obj.load(markProgram, { globals: [{ section: g.section, offset: g.offset, bytes }], ...(reached ? { reuseMapFds: { [MARK_MAP]: reached.fd } } : {}) });
      if (!reached) {
        const fd = loaded.mapFds[MARK_MAP]!;
        reached = new MapHandle(fd, mapInfoByFd(fd), `${MARK_MAP} of ${label}`);
      }
      return loaded;
    };

    // Entry points in packet order: [mark 1,] instance 1, [mark 2,] ... instance n[, mark n+1].
    // Each hop chains through its object's own slot (an instance's may have another name, identity.nextMap).
    const hops: { loaded: LoadedProgram; what: string; slot: string }[] = [];
    specs.forEach((s, i) => {
      if (marked) hops.push({ loaded: marker(i + 1), what: `marker ${i + 1}`, slot: NEXT_MAP });
      const last = marked && i === specs.length - 1;
      const spec = last ? { ...s, proceedOn: s.proceedOn.filter((v) => v !== 'drop') } : s;
      const obj = track(openUnchanged(s.objectPath, s.identity.sha256, files, SINCE_MANIFESTS));
      hops.push({ loaded: loadInstance(spec, obj, kind), what: `instance "${s.name}"`, slot: s.identity.nextMap ?? NEXT_MAP });
    });
    if (marked) hops.push({ loaded: marker(specs.length + 1), what: 'the end marker', slot: NEXT_MAP });

    let slot = { fd: root.mapFds[NEXT_MAP]!, what: 'the root', name: NEXT_MAP };
    for (const h of hops) {
      setSlotFd(slot.fd, `${slot.name} of ${slot.what} in ${label}`, h.loaded.progFd);
      slot = { fd: h.loaded.mapFds[h.slot]!, what: h.what, name: h.slot };
    }

    const names = specs.map((s) => s.name);
    const entry = root.progFd;
    const reachedMap = marked ? reached : undefined;
    let released = false;
    const interned = new Map<string, Outcome>();
    const outcome = (verdict: Verdict, decidedBy: string | undefined): Outcome => {
      const key = `${verdict} ${decidedBy ?? ''}`;
      let o = interned.get(key);
      if (!o) {
        o = Object.freeze(decidedBy === undefined ? { verdict } : { verdict, decidedBy });
        interned.set(key, o);
      }
      return o;
    };
    const runAll = (frames: Iterable<Uint8Array>): Outcome[] => {
      if (released) throw new Error(`${label} was released`);
      return netns.run(() => {
        const out: Outcome[] = [];
        for (const frame of frames) {
          reachedMap?.update(ZERO_KEY, ZERO_KEY);
          const { retval } = runOne(entry, frame, hook, label);
          const position = reachedMap?.lookup(ZERO_KEY)?.readUInt32LE(0) ?? 0;
          out.push(outcome(verdictOf(kind, retval), position >= 1 ? names[position - 1] : undefined));
        }
        return out;
      });
    };
    return {
      hook,
      instances: names,
      knowsDecider: reachedMap !== undefined,
      run: (frame) => runAll([frame])[0]!,
      runAll,
      release(): void {
        released = true;
        release();
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * One test run. The kernel refuses frames shorter than an Ethernet header, and for tc
 * frames longer than one page less the skb's head- and tailroom (3712 bytes on x86_64).
 */
function runOne(progFd: number, frame: Uint8Array, hook: Hook, label: string): { retval: number } {
  try {
    return testRun(progFd, { data: frame }, `root of ${label}`);
  } catch (e) {
    if (!(e instanceof BpfError)) throw e;
    throw new KfnError('SHADOW_RUN_FAILED', `${label}: the kernel refused to run a ${frame.length}-byte frame (${e.message.replace(/^.*: /, '')})`, {
      hint:
        hook === 'xdp'
          ? 'a frame needs at least its 14-byte Ethernet header'
          : 'a tc test run takes frames of 14 to about 3700 bytes (one page less the socket buffer overhead): make the payload smaller',
    });
  }
}

/**
 * Loads one instance from its (opened) object and writes its parameter entries. The
 * hook's program type is given (a section such as SEC("xdp_ratelimiting") names none);
 * companions are not loaded: a shadow runs packets only.
 */
function loadInstance(s: InstanceSpec, obj: BpfObject, type: VerdictHook): LoadedProgram {
  const loaded = obj.load(s.identity.program, { ...(type ? { type } : {}), globals: globalPatches(s.identity, obj, s.objectPath) });
  for (const [map, entries] of Object.entries(s.entries)) {
    const fd = loaded.mapFds[map];
    if (fd === undefined) throw new KfnError('MAP_NOT_FOUND', `map ${map} not found in ${s.objectPath}`, { hint: 'the object no longer has the parameter map the chain sets' });
    writeEntriesFd(fd, `${map} of shadow instance "${s.name}"`, entries);
  }
  const word = loaded.mapFds[PROCEED_MAP];
  if (word !== undefined) {
    const value = Buffer.alloc(4);
    value.writeUInt32LE(proceedWord(s.proceedOn));
    writeEntriesFd(word, `${PROCEED_MAP} of shadow instance "${s.name}"`, [{ key: '00000000', value: value.toString('hex') }]);
  }
  return loaded;
}
