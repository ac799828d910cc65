/**
 * A chain form knows how a chain is built in the kernel. Everything about that
 * construction (roots, chaining slots, pin layout, metadata encoding) lives behind this
 * interface; the planner, the engine and the views only see form-neutral data.
 *
 * To add a form: implement read (live chains from the kernel), compile (planned changes
 * -> concrete steps with their undo operations, at plan time), run and undo (execute one
 * step or one undo operation, both plain data), stats; see docs/architecture.md.
 */
import type { ChainChange, DesiredState, LiveInstance, LiveProbe, LiveState, PlannedChanges, PlannedStep } from '../core/types.js';

export interface ReadOptions {
  pinRoot: string;
  /** Namespaces whose interfaces and hooks must be read (those the manifests name). */
  netns: string[];
}

export interface CompileContext {
  pinRoot: string;
  /** The live state the changes were planned against. */
  live: LiveState;
}

export interface Compiled {
  /** The changes, annotated by the form (e.g. instances it reloads as copies). */
  changes: ChainChange[];
  steps: PlannedStep[];
}

export interface RunContext {
  pinRoot: string;
  now: () => Date;
}

/** One decoded entry of a state map; `key` absent for a single-value map. */
export interface StatEntry {
  key?: unknown;
  keyText?: string;
  value: unknown;
  valueText: string;
}

export interface MapStats {
  map: string;
  /** Total entries in the map (entries may be cut to a limit). */
  count: number;
  entries: StatEntry[];
}

export interface ChainForm {
  readonly name: string;
  /** Maps of every function object that the form owns: never parameters, never state. */
  readonly ownedMaps: readonly string[];
  read(opts: ReadOptions): LiveState;
  /**
   * Asks the kernel for what the desired state needs beyond chains (probe program types,
   * tracefs, PMUs, uprobe files) and throws, naming what is missing, before any planning.
   */
  preflight(desired: DesiredState): void;
  compile(changes: PlannedChanges, ctx: CompileContext): Compiled;
  run(step: PlannedStep, ctx: RunContext): void;
  undo(op: unknown, ctx: RunContext): void;
  describeUndo(op: unknown): string;
  /** Decoded state maps of a live instance, per-CPU values summed; at most `limit` entries per map. */
  stats(instance: LiveInstance, limit?: number): MapStats[];
  /** The same for a probe. */
  probeStats(probe: LiveProbe, limit?: number): MapStats[];
}
