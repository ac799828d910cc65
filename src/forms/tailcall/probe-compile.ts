/**
 * Probe changes compiled into steps of the tail-call form's three phases: a probe is a
 * program with its maps and one perf-event BPF link; it does not chain, so there is no
 * slot to swap. Load in prepare; attach and map writes in commit (each with its undo);
 * detach and release after the commit point. A replacement attaches the new program in
 * commit and detaches the old one in release, so a rollback never has to attach a link
 * again (that would be a new link); events in between reach both programs.
 */
import { KfnError } from '../../core/errors.js';
import { digestEntries } from '../../core/digest.js';
import type { LiveState, PlannedStep, ProbeChange, ProbeTarget, StepKind, StepPhase } from '../../core/types.js';
import type { AttachProbeArgs } from './probe-kernel.js';
import { newProbeDir, probePins } from './layout.js';
import type { ProbeMeta } from './meta.js';
import type { TailcallOp, UndoOp } from './ops.js';
import { uprobePlace } from './probe-place.js';
import { carriedState } from './carry.js';

export interface ProbeSteps {
  prepare: PlannedStep[];
  commit: PlannedStep[];
  release: PlannedStep[];
}

function attachArgs(dir: string, name: string, target: ProbeTarget): AttachProbeArgs {
  return { dir, name, target, ...(target.hook === 'uprobe' ? { uprobe: uprobePlace(name, target) } : {}) };
}

export function compileProbes(changes: readonly ProbeChange[], pinRoot: string, live: LiveState, stack?: string): ProbeSteps {
  const out: ProbeSteps = { prepare: [], commit: [], release: [] };
  const byDir = new Map((live.probes ?? []).map((p) => [p.pinDir, p]));
  const push = (phase: StepPhase, probe: string, kind: StepKind, description: string, op: TailcallOp, undo: UndoOp[]): void => {
    out[phase].push({ kind, phase, probe, description, op, undo });
  };
  for (const pc of changes) {
    const d = pc.desired;
    const l = pc.live ? byDir.get(pc.live.pinDir) : undefined;
    if (pc.live && !l) throw new KfnError('PLAN_INVALID', `the plan names live probe "${pc.name}", which the live state does not hold`);
    const what = (t: ProbeTarget) => `${t.hook} ${t.hook === 'tracepoint' ? t.tracepoint : t.hook === 'uprobe' ? `${t.path}${t.symbol ? `:${t.symbol}` : ''}` : ''}`.trim();
    if (pc.action === 'create' || pc.action === 'replace') {
      const dir = newProbeDir(pinRoot, pc.name);
      const op: Extract<TailcallOp, { op: 'probe-load' }> = { op: 'probe-load', dir, desired: d!, ...(stack !== undefined ? { stack } : {}) };
      if (pc.action === 'replace') op.carry = carriedState(l!, d!, probePins(l!.pinDir).map);
      push('prepare', pc.name, 'load-probe', `load probe "${pc.name}" (${d!.identity.function}@${d!.identity.version})`, op, [{ op: 'unpinTree', dir }]);
      push('commit', pc.name, 'attach-probe', `attach probe "${pc.name}" to ${what(d!.target)}`, { op: 'probe-attach', ...attachArgs(dir, pc.name, d!.target) }, [{ op: 'probeDetach', dir }]);
      if (pc.action === 'replace') {
        push('release', pc.name, 'detach-probe', `detach and release the replaced probe "${pc.name}" (prog ${l!.progId})`, { op: 'probe-release', dir: l!.pinDir }, []);
      }
    } else if (pc.action === 'delete') {
      push('release', pc.name, 'detach-probe', `detach and release probe "${pc.name}" (prog ${pc.live!.progId})`, { op: 'probe-release', dir: pc.live!.pinDir }, []);
    } else if (pc.action === 'update') {
      const pins = probePins(l!.pinDir);
      for (const mc of pc.mapChanges) {
        // Additions and changes before removals, as for chains (docs/parameters.md).
        const ordered = [...mc.entries.filter((e) => e.op !== 'remove'), ...mc.entries.filter((e) => e.op === 'remove')];
        const entries = ordered.map((e) => ({ key: e.key, value: e.op === 'remove' ? null : e.value! }));
        const previous = ordered.map((e) => ({ key: e.key, value: e.previous ?? null }));
        push('commit', pc.name, 'update-maps', `update ${mc.map} of probe "${pc.name}" (${entries.length} entries)`, { op: 'write-entries', map: pins.map(mc.map), entries }, [
          { op: 'writeEntries', map: pins.map(mc.map), entries: previous },
        ]);
      }
      if (pc.mapChanges.length) {
        const appliedMaps = { ...l!.appliedMaps };
        for (const mc of pc.mapChanges) appliedMaps[mc.map] = digestEntries(d!.maps[mc.map]?.entries ?? []);
        push('commit', pc.name, 'record', `record map digests of probe "${pc.name}"`, { op: 'patch-applied-maps', pin: pins.meta, appliedMaps }, [
          { op: 'writeMeta', pin: pins.meta, meta: l!.formData as ProbeMeta },
        ]);
      }
      if (pc.adopt !== undefined) {
        push('commit', pc.name, 'record', `record probe "${pc.name}" as stack "${pc.adopt}"'s`, { op: 'patch-probe-stack', pin: pins.meta, stack: pc.adopt }, [
          { op: 'writeMeta', pin: pins.meta, meta: l!.formData as ProbeMeta },
        ]);
      }
      if (pc.reattach) {
        push('commit', pc.name, 'attach-probe', `attach probe "${pc.name}" to ${what(d!.target)} again`, { op: 'probe-attach', ...attachArgs(l!.pinDir, pc.name, d!.target) }, [
          { op: 'probeDetach', dir: l!.pinDir },
          { op: 'writeMeta', pin: pins.meta, meta: l!.formData as ProbeMeta },
        ]);
      }
    }
  }
  return out;
}
