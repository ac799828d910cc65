/**
 * kfn's probes as the kernel holds them (see layout.ts: `<pin root>/probes/`), and what
 * happened to them behind kfn's back: the link gone, the program gone, a uprobe's file
 * replaced (the probe then fires for the old file only).
 */
import path from 'node:path';
import type { LiveProbe } from '../../core/types.js';
import { linkInfoByFd, listPinDirs, tryOpenPinned, withFd } from '../../libbpf/index.js';
import type { MapStats } from '../form.js';
import { isInstanceDirName, probePins, probesRoot } from './layout.js';
import { readMetaIfPinned, type ProbeMeta } from './meta.js';
import { fileIdentity } from './probe-place.js';
import { pinnedProgId, readInstanceMaps, type ReadScope } from './read-instance.js';
import { readInstanceStats } from './stats.js';

export function readProbes(pinRoot: string, scope: ReadScope): LiveProbe[] {
  const root = probesRoot(pinRoot);
  const out: LiveProbe[] = [];
  for (const base of listPinDirs(root)) {
    if (!isInstanceDirName(base)) continue;
    const pinDir = path.join(root, base);
    const pins = probePins(pinDir);
    const meta = readMetaIfPinned(pins.meta);
    if (meta?.kind !== 'probe') continue;
    const progId = pinnedProgId(pins.prog);
    const linkFd = tryOpenPinned(pins.link);
    const link = linkFd === undefined ? undefined : withFd(linkFd, linkInfoByFd);
    const drift: string[] = [];
    let attached = link !== undefined && progId !== 0 && link.progId === progId;
    if (!progId) drift.push('its program is no longer pinned');
    else if (!link) drift.push('its link is gone: the probe is detached');
    else if (link.progId !== progId) drift.push(`its link runs program ${link.progId}, not the probe's ${progId}`);
    const t = meta.target;
    if (attached && t.hook === 'uprobe' && meta.binary) {
      const now = fileIdentity(t.path);
      // The kernel placed the uprobe in the inode it had: a new file is not probed.
      if (!now) drift.push(`${t.path} no longer exists`);
      else if (now.dev !== meta.binary.dev || now.ino !== meta.binary.ino) drift.push(`${t.path} was replaced since the probe was attached: it fires only for the old file`);
      if (drift.length) attached = false;
    }
    const { maps, stateMaps } = readInstanceMaps(pinDir, meta.parameters, scope, { objectSha256: meta.identity.sha256 });
    out.push({ name: meta.name, target: t, identity: meta.identity, progId, linkId: link?.id ?? 0, attached, pinDir, maps, appliedMaps: meta.appliedMaps, stateMaps, drift, ...(meta.stack !== undefined ? { stack: meta.stack } : {}), formData: meta });
  }
  return out;
}

export function readProbeStats(p: LiveProbe, limit?: number): MapStats[] {
  return readInstanceStats(p, (p.formData as ProbeMeta | undefined)?.parameters ?? Object.keys(p.maps), limit);
}
