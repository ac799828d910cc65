/**
 * Plain data shared by every layer: the desired state (from manifests), the live
 * state (from the kernel) and the plan between them. No behaviour, no I/O.
 */
import type { SourceRef } from './errors.js';

export const HOOKS = ['xdp', 'tc-ingress', 'tc-egress'] as const;
export type Hook = (typeof HOOKS)[number];

/** XDP attach mode; ignored for tc hooks. `auto` = native, falling back to generic. */
export type XdpMode = 'native' | 'generic' | 'auto';

/** Placement of the chain root among other programs on a tcx hook. */
export type TcPosition = 'first' | 'last';

/** The netns name kfn itself runs in. */
export const DEFAULT_NETNS = 'default';

/** Where a chain lives in the kernel: one hook of one interface in one netns. */
export interface Attachment {
  netns: string;
  ifname: string;
  hook: Hook;
}

export function attachmentKey(a: Attachment): string {
  return `${a.netns}/${a.ifname}/${a.hook}`;
}

export function attachmentLabel(a: Attachment): string {
  return a.netns === DEFAULT_NETNS ? `${a.ifname}/${a.hook}` : `${a.netns}:${a.ifname}/${a.hook}`;
}

/**
 * A map entry or global value in canonical form: `key`/`value` are the exact bytes
 * (lower-case hex) as the kernel stores them, used for comparison; `keyText` /
 * `valueText` are the human rendering (e.g. "198.18.0.3/32", "1").
 */
export interface MapEntry {
  key: string;
  value: string;
  keyText: string;
  valueText: string;
}

/** A `.rodata`/`.data` variable set at load time. */
export interface GlobalValue {
  value: string;
  valueText: string;
}

/** What makes two loaded instances interchangeable; any difference forces replacement. */
export interface FunctionIdentity {
  function: string;
  version: string;
  sha256: string;
  program: string;
  globals: Record<string, GlobalValue>;
}

// ---------------------------------------------------------------- desired

export interface DesiredMap {
  name: string;
  /** Sorted by `key`. */
  entries: MapEntry[];
  /** Only the listed keys are managed; other live entries are left alone. */
  merge?: boolean;
  source?: SourceRef;
}

export interface DesiredInstance {
  /** Instance name, unique within its chain. */
  name: string;
  identity: FunctionIdentity;
  /** Absolute path of the object file. */
  objectPath: string;
  maps: Record<string, DesiredMap>;
  /** Layout digest of every map of the object but `kfn_next`, by name. */
  stateMaps?: Record<string, string>;
  source?: SourceRef;
}

export interface DesiredChain {
  name: string;
  hook: Hook;
  netns: string;
  /** Interface names or globs (`veth-*`), expanded against live interfaces by the planner. */
  interfaces: string[];
  /** Where each entry of `interfaces` is written, for errors about it. */
  interfaceSources?: SourceRef[];
  mode: XdpMode;
  position: TcPosition;
  instances: DesiredInstance[];
  source?: SourceRef;
}

export interface DesiredState {
  chains: DesiredChain[];
  /** sha256 over the canonical manifests, recorded in the kernel on apply. */
  manifestDigest: string;
  /** Git revision of the manifests, when known. */
  revision?: string;
}

// ---------------------------------------------------------------- live

export interface LiveInstance {
  name: string;
  identity: FunctionIdentity;
  progId: number;
  /** bpffs directory holding this instance's pins. */
  pinDir: string;
  /** Contents of the instance's parameter maps, entries sorted by `key`. */
  maps: Record<string, MapEntry[]>;
  /** Digest of the map entries kfn last wrote, per map; a mismatch with `maps` is drift. */
  appliedMaps: Record<string, string>;
  /** Layout digest of every map of the instance, by name. */
  stateMaps?: Record<string, string>;
  /** The chain form's own record of the instance (its metadata); opaque to every other layer. */
  formData?: unknown;
}

/**
 * What was changed behind kfn's back in a chain's own objects, as the chain form found
 * it. Typed, so that the planner and the form choose the repair from the kind and views
 * say it in words (`drift` holds those words); nothing parses a kind back from text.
 */
export type ChainDamage =
  /** The chain's metadata pin is gone: its name, mode and recorded order are unknown. */
  | { kind: 'chain-meta-missing' }
  /** kfn's root link pin is gone (which detaches the root). */
  | { kind: 'link-missing' }
  /** The root program's pin is gone, but the program still runs through kfn's link. */
  | { kind: 'root-pin-missing'; progId: number }
  /** No root program is left at all. */
  | { kind: 'root-missing' }
  | { kind: 'netns-missing'; netns: string }
  | { kind: 'interface-missing'; ifname: string }
  | { kind: 'interface-recreated'; ifname: string }
  /** The interface was renamed; the chain still runs on it. `conflict`: kfn already has a chain under the new name. */
  | { kind: 'interface-renamed'; from: string; to: string; conflict?: boolean }
  /** The root does not run on its hook; `runs` is what does (null: nothing). */
  | { kind: 'not-attached'; hook: Hook; runs: { progId: number; progName: string } | null }
  /** A program kfn did not load sits in a slot kfn filled (`after` null: the root's slot). */
  | { kind: 'foreign-in-chain'; after: string | null; progId: number; progName: string }
  | { kind: 'loop'; after: string; to: string }
  /** A slot kfn filled is empty: the instances after it never run. */
  | { kind: 'bypassed'; after: string | null; skipped: string[] }
  /** A slot's pin was removed, so the kernel emptied the slot: what follows never runs. */
  | { kind: 'slot-pin-missing'; after: string | null }
  /** An instance's program pin is gone; the program still runs in the chain. */
  | { kind: 'instance-prog-pin-missing'; instance: string; progId: number }
  /** Maps of an instance were unpinned; `recoverable`: the live program still holds them and kfn knows their ids. */
  | { kind: 'instance-maps-missing'; instance: string; maps: string[]; recoverable: boolean }
  /** An instance directory without metadata (identity unknown); `inChain`: its program runs in the chain. */
  | { kind: 'instance-meta-missing'; dir: string; inChain: boolean };

export type ChainDamageKind = ChainDamage['kind'];

/** Damage after which the walked order is not the chain kfn built: the chain is rebuilt. */
export const ORDER_BREAKING: ReadonlySet<ChainDamageKind> = new Set(['foreign-in-chain', 'loop', 'bypassed', 'slot-pin-missing']);

export function breaksOrder(damage: readonly ChainDamage[] | undefined): boolean {
  return (damage ?? []).some((d) => ORDER_BREAKING.has(d.kind) || (d.kind === 'instance-meta-missing' && d.inChain));
}

export interface LiveChain {
  attachment: Attachment;
  chainName: string;
  ifindex: number;
  rootProgId: number;
  linkId: number;
  /** bpffs directory holding the chain's pins. */
  pinDir: string;
  /** The root runs on its hook through kfn's pinned link. */
  attached: boolean;
  /** XDP mode actually in use (xdp hook only). */
  mode?: 'native' | 'generic';
  /** Where the root sits among the hook's programs (tc hooks only). */
  position?: TcPosition;
  /** Instances in packet order, found by walking the `kfn_next` slots. */
  instances: LiveInstance[];
  /** kfn-pinned instances of this chain that the walk did not reach. */
  orphans: LiveInstance[];
  /** Things changed behind kfn's back (detached root, foreign program in the chain...), in words. */
  drift: string[];
  /** The same, typed (absent: none found, or a caller that only has words). */
  damage?: ChainDamage[];
  manifestDigest?: string;
  revision?: string;
  /** The chain form's own record of the chain (its metadata); opaque to every other layer. */
  formData?: unknown;
}

export interface LiveInterface {
  netns: string;
  ifname: string;
  ifindex: number;
}

/** A program on a hook that kfn did not put there. Reported, never touched. */
export interface ForeignProgram {
  attachment: Attachment;
  progId: number;
  progName: string;
  linkId?: number;
}

export interface LiveState {
  chains: LiveChain[];
  /** Interfaces of every netns that a manifest or a live chain refers to. */
  interfaces: LiveInterface[];
  /** Network namespaces that were asked for but do not exist. */
  missingNetns: string[];
  foreign: ForeignProgram[];
}

// ---------------------------------------------------------------- plan

/**
 * Why a chain or an instance changes. Typed, so that views render the words and tools
 * read the codes; nothing parses a reason back from text.
 */
export type Reason =
  | { code: 'chain-missing' }
  | { code: 'chain-unwanted' }
  | { code: 'chain-renamed'; from: string }
  /** The root must be re-attached: packets in flight during the switch skip the chain. */
  | { code: 'xdp-mode-changed'; from: string; to: string }
  | { code: 'tc-position-changed'; from: string; to: string }
  | { code: 'reordered' }
  | { code: 'drift' }
  | { code: 'instance-added' }
  | { code: 'instance-removed' }
  | { code: 'orphaned' }
  | { code: 'forces-replacement' }
  | { code: 'maps-differ' }
  | { code: 'map-drift'; map: string }
  | { code: 'moved'; from: number; to: number }
  /** Set by the chain form: the instance is reloaded as a copy sharing its maps... */
  | { code: 'copied' }
  /** ...only because its successor changes. */
  | { code: 'successor-changed' }
  /** ...because the chain is rebuilt from scratch to repair damage (a foreign program, a loop, an emptied slot). */
  | { code: 'chain-rebuilt' }
  /** Replaced because kfn's bookkeeping of it is damaged beyond re-pinning (its maps, its metadata). */
  | { code: 'damaged'; what: string };

export type ReasonCode = Reason['code'];

/**
 * `reload`: nothing about the instance itself changes, but the chain form reloads it as
 * a copy sharing its maps (its successor changes, and a live slot cannot be rewired
 * without changing the live chain).
 */
export type InstanceAction = 'create' | 'delete' | 'replace' | 'update' | 'move' | 'reload' | 'noop';
export type ChainAction = 'create' | 'delete' | 'update' | 'noop';

export interface ValueChange {
  field: string;
  from?: string;
  to?: string;
}

export interface MapEntryChange {
  op: 'add' | 'change' | 'remove';
  keyText: string;
  key: string;
  fromText?: string;
  toText?: string;
  /** Desired bytes (absent for `remove`). */
  value?: string;
  /** Live bytes before the change (absent for `add`): what a rollback writes back. */
  previous?: string;
}

export interface MapChange {
  map: string;
  /** True when the live entries differ from what kfn last wrote (edited outside kfn). */
  drift: boolean;
  entries: MapEntryChange[];
}

export interface InstanceChange {
  name: string;
  action: InstanceAction;
  reasons: Reason[];
  /** Identity fields that differ; each forces replacement. */
  identityChanges: ValueChange[];
  mapChanges: MapChange[];
  /** On replace: state maps the new instance cannot take over (their state starts empty). */
  stateReset?: string[];
  /** Desired spec (absent for delete). */
  desired?: DesiredInstance;
  /** Live instance (absent for create). */
  live?: { progId: number; pinDir: string; identity: FunctionIdentity };
}

export interface ChainChange {
  attachment: Attachment;
  chainName: string;
  action: ChainAction;
  reasons: Reason[];
  /** Live drift notes carried into the plan (`!` lines). */
  drift: string[];
  /** The live chain's typed damage, for the chain form to repair. */
  damage?: ChainDamage[];
  /** Packet order before and after, by instance name. */
  fromOrder: string[];
  toOrder: string[];
  /** True when only the order changed for instances that stay. */
  reordered: boolean;
  /** The root must be detached and attached again (XDP mode or tc position changed). */
  reattach?: boolean;
  /** Every instance of the old and new chain, in new order then removed ones. */
  instances: InstanceChange[];
  mode: XdpMode;
  position: TcPosition;
  /** Live handles needed by the chain form (absent for create). */
  live?: ChainHandle;
}

/** What a chain form needs to know of a live chain. */
export type ChainHandle = Pick<LiveChain, 'ifindex' | 'rootProgId' | 'linkId' | 'pinDir' | 'attached' | 'mode' | 'position'>;

/**
 * What the summary line counts (docs/architecture.md): `add` = chains and instances
 * created; `change` = instances updated in place, plus once per chain that is reordered
 * or whose only work is chain-level (drift repair, XDP mode, rename); `replace` =
 * instances replaced; `destroy` = chains and instances deleted.
 */
export interface PlanSummary {
  add: number;
  change: number;
  replace: number;
  destroy: number;
}

/** The pure planner's result: what differs and why, before a chain form compiles it. */
export interface PlannedChanges {
  createdAt: string;
  /** Fingerprint of the live state the plan was computed from; `apply FILE` refuses if it moved. */
  liveFingerprint: string;
  manifestDigest: string;
  revision?: string;
  changes: ChainChange[];
  foreign: ForeignProgram[];
  warnings: string[];
  summary: PlanSummary;
}

export type StepPhase = 'prepare' | 'commit' | 'release';

/** What a step does to the kernel, as people read it; the form-specific details live in `op`. */
export type StepKind =
  | 'load-root'
  | 'load'
  | 'load-replacement'
  | 'load-copy'
  | 'swap'
  | 'update-maps'
  | 'attach'
  | 'reattach'
  | 'record'
  /** Put kfn's bookkeeping back (re-pin an object that still runs, move a renamed interface's pins); changes no packet path. */
  | 'repin'
  | 'release'
  | 'detach-release';

/**
 * One concrete kernel operation, compiled by the chain form at plan time. `op` and
 * `undo` are the form's plain data (pin paths, never fds): apply runs `op` exactly and
 * journals `undo` before it does.
 */
export interface PlannedStep {
  kind: StepKind;
  phase: StepPhase;
  /** Address of the chain or instance the step acts on (see views: resource addresses). */
  chain: Attachment;
  chainName: string;
  instance?: string;
  description: string;
  op: unknown;
  undo: unknown[];
}

/** The machine (and boot of it) a plan was made on: a plan describes one kernel. */
export interface HostId {
  /** /etc/machine-id (null where there is none, e.g. some containers). */
  machineId: string | null;
  /** /proc/sys/kernel/random/boot_id: changes with every boot, like the kernel state. */
  bootId: string | null;
  hostname: string;
}

/** The whole instruction: the changes, and every step apply will run, in order. */
export interface Plan extends PlannedChanges {
  formatVersion: 2;
  /** The chain form that compiled the steps. */
  form: string;
  /** Pin root the steps were compiled for; apply refuses a plan made for another one. */
  pinRoot: string;
  /** Host the plan was made on; apply refuses a plan of another host or boot, or one that does not say. */
  host?: HostId;
  steps: PlannedStep[];
}

/** The apply journal as recovery would judge it, without running anything (`kfn journal show`). */
export interface JournalSummary {
  file: string;
  state: 'none' | 'invalid' | 'live' | 'other-pin-root' | 'pending';
  /** Why kfn would not run it (state invalid). */
  reason?: string;
  writer?: { pid: number; command: string; startedAt: string; running: boolean };
  pinRoot?: string;
  phase?: 'apply' | 'release';
  steps: { description: string; done: boolean; undo: string[] }[];
  release: string[];
  /** Journals recovery could not fully undo, kept for inspection. */
  kept: string[];
}
