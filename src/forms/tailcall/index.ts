/**
 * The tail-call chain form: a tiny root program attached through a BPF link, and per
 * function instance a one-slot program array `kfn_next` that `kfn_continue` tail-calls
 * into (see bpf/include/kfn.h). Every change is one atomic slot update.
 */
import type { LiveInstance, PlannedStep } from '../../core/types.js';
import type { ChainForm } from '../form.js';
import { settleAttaches } from './attacher.js';
import { compile } from './compile.js';
import { FORM_MAPS } from './layout.js';
import type { InstanceMeta } from './meta.js';
import { checkStep, checkUndo, describeUndo, independentUndo, runOp, runUndo, type TailcallOp, type UndoOp } from './ops.js';
import { readLiveState } from './read.js';
import { readInstanceCounters, readInstanceStats } from './stats.js';
import { preflightProbes } from './probe-preflight.js';
import { readProbeStats } from './probe-read.js';
import { buildShadow } from './shadow.js';

export const tailcallForm: ChainForm = {
  name: 'tailcall',
  ownedMaps: FORM_MAPS,
  read: readLiveState,
  compile,
  run: (step: PlannedStep, ctx) => runOp(step.op as TailcallOp, ctx),
  settle: settleAttaches,
  undo: (op: unknown, ctx) => runUndo(op as UndoOp, ctx),
  describeUndo: (op: unknown) => describeUndo(op as UndoOp),
  independentUndo: (op: unknown) => independentUndo(op as UndoOp),
  checkStep,
  checkUndo,
  stats: (instance: LiveInstance, limit?: number) => readInstanceStats(instance, parametersOf(instance), limit),
  counters: (instance: LiveInstance) => readInstanceCounters(instance, parametersOf(instance)),
  preflight: (desired) => preflightProbes(desired.probes ?? []),
  probeStats: readProbeStats,
  shadow: buildShadow,
};

/** The instance's parameter maps as its metadata records them (older metadata: the maps read as parameters). */
function parametersOf(instance: LiveInstance): string[] {
  return (instance.formData as InstanceMeta | undefined)?.parameters ?? Object.keys(instance.maps);
}
