/**
 * Building blocks of a probe in the kernel: load its program with its maps and pin them
 * (nothing attached yet), attach it through a perf-event BPF link pinned next to it,
 * detach it (the link is released with its pin), release the whole directory. A load
 * leaves either everything pinned or nothing.
 */
import fs from 'node:fs';
import { KfnError } from '../../core/errors.js';
import { PROCEED_MAP, type DesiredProbe, type ProbeTarget } from '../../core/types.js';
import {
  attachProbeLink,
  attachTracepointLink,
  closeFd,
  openPinned,
  pinFd,
  probePmu,
  unpinTree,
  unpinTreeAndEmptyParents,
  withFd,
} from '../../libbpf/index.js';
import type { RunContext } from '../form.js';
import { openUnchanged, writeDesiredMaps } from './kernel.js';
import { NEXT_MAP, probePins } from './layout.js';
import { createMeta, readMeta, writeMeta, type ProbeMeta } from './meta.js';
import { fileIdentity, type UprobePlace } from './probe-place.js';
import type { CarriedState } from './carry.js';

export interface LoadProbeArgs {
  dir: string;
  desired: DesiredProbe;
  /** The stack that will own the probe. */
  stack?: string;
  /** A replacement: state maps taken over, and merge-mode entries kept, from the live probe. */
  carry?: CarriedState;
}

export function loadProbe(a: LoadProbeArgs, ctx: RunContext): void {
  const { desired } = a;
  const obj = openUnchanged(desired.objectPath, desired.identity.sha256, ctx.objects);
  const shared: Record<string, number> = {};
  try {
    const info = obj.info(desired.identity.sha256);
    const globals = Object.entries(desired.identity.globals).map(([name, g]) => {
      const gi = info.globals.find((x) => x.name === name);
      if (!gi) throw new KfnError('GLOBAL_NOT_FOUND', `global ${name} not found in ${desired.objectPath}`);
      return { section: gi.section, offset: gi.offset, bytes: Buffer.from(g.value, 'hex') };
    });
    for (const m of a.carry?.maps ?? []) shared[m.name] = openPinned(m.pin);
    const loaded = obj.load(desired.identity.program, { reuseMapFds: shared, globals });
    const pins = probePins(a.dir);
    pinFd(loaded.progFd, pins.prog);
    // A probe object that includes kfn.h without KFN_NO_CHAIN has chain maps it never uses.
    for (const [name, fd] of Object.entries(loaded.mapFds)) if (name !== NEXT_MAP && name !== PROCEED_MAP) pinFd(fd, pins.map(name));
    const appliedMaps = writeDesiredMaps(pins.map, desired.maps, a.carry?.keep);
    const meta: ProbeMeta = {
      kind: 'probe',
      name: desired.name,
      identity: desired.identity,
      objectPath: desired.objectPath,
      target: desired.target,
      parameters: Object.keys(desired.maps).sort(),
      appliedMaps,
      createdAt: ctx.now().toISOString(),
      ...(a.stack !== undefined ? { stack: a.stack } : {}),
    };
    createMeta(pins.meta, meta);
  } catch (e) {
    unpinTree(a.dir);
    throw e;
  } finally {
    for (const fd of Object.values(shared)) closeFd(fd);
    obj.close();
  }
}

export interface AttachProbeArgs {
  dir: string;
  name: string;
  target: ProbeTarget;
  /** A uprobe's place, found when planning: the file offset, and the file it is in. */
  uprobe?: UprobePlace;
}

function linkFor(progFd: number, a: AttachProbeArgs, label: string): number {
  const t = a.target;
  switch (t.hook) {
    case 'tracepoint':
      return attachTracepointLink(progFd, t.tracepoint, label);
    case 'uprobe':
    case 'kprobe': {
      const pmu = probePmu(t.hook);
      if (!pmu) throw new KfnError('KERNEL_FEATURE_MISSING', `${label}: this kernel has no ${t.hook} PMU`, { hint: 'run kfn plan: it names what the kernel lacks' });
      if (t.hook === 'uprobe') {
        const now = fileIdentity(t.path);
        if (!a.uprobe || !now || now.dev !== a.uprobe.dev || now.ino !== a.uprobe.ino) {
          throw new KfnError('PROBE_TARGET_CHANGED', `${label}: ${t.path} changed since the plan was made`, { hint: 'run kfn plan again' });
        }
      }
      return attachProbeLink(
        progFd,
        {
          pmuType: pmu.type,
          config: t.retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n,
          name: t.hook === 'uprobe' ? t.path : t.function,
          offset: BigInt(t.hook === 'uprobe' ? a.uprobe!.offset : t.offset),
        },
        label,
      );
    }
    default:
      throw new KfnError('PROBE_KIND_UNSUPPORTED', `${label}: kfn does not attach ${t.hook} probes`, { hint: 'use a tracepoint or a uprobe' });
  }
}

/** Attaches the probe's program and pins the link; a stale link pin (the old file of a uprobe) goes first. */
export function attachProbe(a: AttachProbeArgs, now: Date): void {
  const pins = probePins(a.dir);
  const label = `probe "${a.name}"`;
  detachProbe(a.dir);
  withFd(openPinned(pins.prog), (progFd) => {
    const linkFd = linkFor(progFd, a, label);
    try {
      pinFd(linkFd, pins.link);
    } finally {
      closeFd(linkFd);
    }
  });
  const meta = readMeta(pins.meta);
  if (meta?.kind === 'probe') {
    const binary = a.uprobe ? { dev: a.uprobe.dev, ino: a.uprobe.ino, offset: a.uprobe.offset } : undefined;
    writeMeta(pins.meta, { ...meta, attachedAt: now.toISOString(), ...(binary ? { binary } : {}) });
  }
}

/**
 * Detaches the probe: a perf-event link cannot be detached by the kernel (BPF_LINK_DETACH
 * is EOPNOTSUPP); it is released when its pin, its last reference, is removed. Idempotent.
 */
export function detachProbe(dir: string): void {
  fs.rmSync(probePins(dir).link, { force: true });
}

export function releaseProbe(dir: string, pinRoot: string): void {
  detachProbe(dir);
  unpinTreeAndEmptyParents(dir, pinRoot);
}
