/**
 * A chain form knows how a chain is built in the kernel. Everything about that
 * construction (roots, chaining slots, pin layout, metadata encoding) lives behind this
 * interface; the planner, the engine and the views only see form-neutral data.
 *
 * To add a form: implement read (live chains from the kernel), compile (planned changes
 * -> concrete steps with their undo operations, at plan time), run and undo (execute one
 * step or one undo operation, both plain data), stats, shadow (a private copy of a chain
 * to run test packets through); see docs/architecture.md.
 */
import type { Attachment, ChainChange, DesiredInstance, DesiredState, Hook, LiveChain, LiveInstance, LiveProbe, LiveState, PlannedChanges, PlannedStep } from '../core/types.js';
import type { PrivateNetns } from '../libbpf/netns.js';
import type { ObjectFiles } from '../core/objects.js';
import type { CounterKind } from '../libbpf/object-info.js';
import type { Outcome } from '../packets/expect.js';

export interface ReadOptions {
  pinRoot: string;
  /** Namespaces whose interfaces and hooks must be read (those the manifests name). */
  netns: string[];
  /**
   * Read only the chains on these attachments, and foreign programs only on these
   * hooks (every interface of the namespaces is still listed). Absent: everything.
   */
  only?: readonly Attachment[];
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
  /** The object files this run loads, each read once. */
  objects: ObjectFiles;
  /**
   * Steps may leave what only waits in the kernel to another thread (an XDP attach of a
   * new, empty root); the caller then calls the form's settle before any step that is
   * not a prepare step, and before it undoes anything.
   */
  background?: boolean;
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

/**
 * What an instance counted, for metrics: per kind, the sum of the state-map fields its
 * function tags with that kind (KFN_PACKETS, KFN_BYTES, KFN_DROPS in bpf/include/kfn.h)
 * over every entry and CPU. A kind the function does not count is absent.
 */
export type InstanceCounters = Partial<Record<CounterKind, bigint>>;

/**
 * What a shadow is built from: a desired chain (its instances as the manifests describe
 * them), or a live one (its instances' objects and parameter map contents as read from
 * the kernel; its maps and counters are never touched).
 */
export type ShadowSource = { kind: 'desired'; chainName: string; hook: Hook; instances: DesiredInstance[] } | { kind: 'live'; chain: LiveChain };

export interface ShadowOptions {
  /** Where test runs happen; the shadow makes (and removes) its own when absent. */
  netns?: PrivateNetns;
  /** Another copy of an object by sha256, for a live instance whose recorded object file is gone or changed. */
  findObject?: (sha256: string) => string | undefined;
}

/**
 * A private, fully built copy of a chain: programs loaded with fresh maps (parameters
 * filled, state empty), wired in order, attached nowhere and pinned nowhere under the
 * pin root. State carries from one run to the next, as on a live hook.
 */
export interface ShadowChain {
  readonly hook: Hook;
  /** Instance names in packet order. */
  readonly instances: readonly string[];
  /** False when the shadow cannot say which instance decided (decidedBy is then never set). */
  readonly knowsDecider: boolean;
  /**
   * One frame (from its Ethernet header) through the chain with BPF_PROG_TEST_RUN: its
   * verdict and the instance that returned it (none when the packet ran off the end of
   * the chain, or when the shadow cannot tell).
   */
  run(frame: Uint8Array): Outcome;
  /** Frames one after another, in order; equal outcomes are the same (frozen) object. */
  runAll(frames: Iterable<Uint8Array>): Outcome[];
  /** Frees every program and map of the shadow. Idempotent. */
  release(): void;
}

export interface ChainForm {
  readonly name: string;
  /** Maps of every function object that the form owns: never parameters, never state. */
  readonly ownedMaps: readonly string[];
  read(opts: ReadOptions): LiveState;
  /**
   * Asks the kernel for what the desired state needs beyond chains (probe program types,
   * tracefs, PMUs, uprobe files) and throws, naming what is missing, before any planning.
   * A form without it builds no probes.
   */
  preflight?(desired: DesiredState): void;
  compile(changes: PlannedChanges, ctx: CompileContext): Compiled;
  run(step: PlannedStep, ctx: RunContext): void;
  /** Waits for what run left to another thread (ctx.background) and throws its first failure. */
  settle?(ctx: RunContext): void;
  undo(op: unknown, ctx: RunContext): void;
  /**
   * Steps and undo operations come back from files (saved plans, the journal): why this
   * one is not an operation of this form on kfn's own objects under `pinRoot` (a path
   * outside it, through a symlink, of the wrong kind...), or undefined when it may run.
   */
  checkStep(step: unknown, pinRoot: string): string | undefined;
  checkUndo(op: unknown, pinRoot: string): string | undefined;
  describeUndo(op: unknown): string;
  /**
   * Whether running this undo operation is harmless when its step never ran, whatever
   * else ran: it only removes what its own step creates where nothing was before the
   * apply. The steps of a run whose undo operations are all independent are journaled
   * together before the first of them runs (one record write and one fdatasync).
   */
  independentUndo(op: unknown): boolean;
  /** Decoded state maps of a live instance, per-CPU values summed; at most `limit` entries per map. */
  stats(instance: LiveInstance, limit?: number): MapStats[];
  /** The same for a probe (a form that builds probes has it). */
  probeStats?(probe: LiveProbe, limit?: number): MapStats[];
  /** The instance's metric counters, read from the kernel now (only the maps that carry counters). */
  counters(instance: LiveInstance): InstanceCounters;
  /** A private shadow of a desired or live chain; the caller releases it. */
  shadow(source: ShadowSource, opts?: ShadowOptions): ShadowChain;
}
