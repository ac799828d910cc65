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

/**
 * Verdicts of a function instance that its proceed-on can name: a verdict in the set
 * goes on to the next function of the chain; one outside it ends the chain there.
 */
export const PROCEED_VERDICTS = ['pass', 'drop'] as const;
export type ProceedVerdict = (typeof PROCEED_VERDICTS)[number];
/** Proceed on pass only: what every function did before proceed-on existed. */
export const DEFAULT_PROCEED_ON: readonly ProceedVerdict[] = ['pass'];
/** The map of a function object (bpf/include/kfn.h) through which its instance's proceed-on is set. */
export const PROCEED_MAP = 'kfn_proceed';

/**
 * Where a Probe attaches (a KernelFunction lists the ones it supports in spec.hooks, next
 * to the chain hooks). Retprobes are uprobes / kprobes with `retprobe: true`.
 */
export const PROBE_HOOKS = ['tracepoint', 'uprobe', 'kprobe', 'fentry', 'fexit', 'freplace'] as const;
export type ProbeHook = (typeof PROBE_HOOKS)[number];

/** What a probe attaches to, as its manifest says (host-independent). */
export type ProbeTarget =
  | { hook: 'tracepoint'; tracepoint: string }
  /** `symbol` (resolved in the binary when planned) and/or `offset` (from the symbol, or in the file). */
  | { hook: 'uprobe'; path: string; symbol?: string; offset: number; retprobe: boolean }
  | { hook: 'kprobe'; function: string; offset: number; retprobe: boolean }
  | { hook: 'fentry' | 'fexit'; function: string }
  /** `target`: the pin of the program whose `function` is replaced. */
  | { hook: 'freplace'; target: string; function: string };

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

/** A probe's key among attachment keys (a scope of what a plan touches). */
export function probeKey(name: string): string {
  return `probe:${name}`;
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

/** The one-slot program array every kfn function chains through; objects built for other loaders name theirs. */
export const DEFAULT_NEXT_MAP = 'kfn_next';

/** Where a companion program attaches. */
export type CompanionAttach = { kind: 'tracepoint'; tracepoint: string };

/**
 * Another program of a function's object, loaded with the chained one into the same
 * instance (sharing its maps) and attached beside the chain; released with the instance.
 */
export interface Companion {
  program: string;
  attach: CompanionAttach;
}

export function companionText(c: Companion): string {
  return `${c.program} (${c.attach.kind} ${c.attach.tracepoint})`;
}

/** What makes two loaded instances interchangeable; any difference forces replacement. */
export interface FunctionIdentity {
  function: string;
  version: string;
  sha256: string;
  program: string;
  globals: Record<string, GlobalValue>;
  /** The object's chain slot map; absent for kfn's own `kfn_next`. */
  nextMap?: string;
  /** In manifest order; absent when the function has none. */
  companions?: Companion[];
}

export const AGGREGATORS = ['scalar', 'max-rate', 'avg'] as const;
export type Aggregator = (typeof AGGREGATORS)[number];

/** One map entry that metrics expose. */
export interface MonitorMap {
  map: string;
  /** The key's bytes (lower-case hex) and text, as the values layer encodes them. */
  key: string;
  keyText: string;
  aggregator: Aggregator;
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
  /** The type to load the program with, when its section names none (`SEC("xdp_ratelimiting")`): the hook's. */
  programType?: 'xdp' | 'tc';
  maps: Record<string, DesiredMap>;
  /** Layout digest of every map of the object but its chain slot, by name. */
  stateMaps?: Record<string, string>;
  /** Verdicts that go on to the next function, in PROCEED_VERDICTS order; absent: DEFAULT_PROCEED_ON. */
  proceedOn?: ProceedVerdict[];
  /** Map entries that metrics expose (absent when none). */
  monitorMaps?: MonitorMap[];
  source?: SourceRef;
}

/**
 * Which hosts apply a chain: every hostname glob (any of them matches) and every label
 * (all must match) given; absent fields select every host.
 */
export interface HostSelector {
  hostnames?: string[];
  labels?: Record<string, string>;
}

/** The host a plan is made on, as selectors see it. */
export interface HostIdentity {
  hostname: string;
  labels: Record<string, string>;
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
  /** Absent: every host applies the chain. */
  hosts?: HostSelector;
  source?: SourceRef;
}

export interface DesiredProbe {
  name: string;
  target: ProbeTarget;
  identity: FunctionIdentity;
  /** Absolute path of the object file. */
  objectPath: string;
  maps: Record<string, DesiredMap>;
  /** Layout digest of every map of the object, by name. */
  stateMaps?: Record<string, string>;
  source?: SourceRef;
}

export interface DesiredState {
  chains: DesiredChain[];
  /**
   * The stack these manifests are (docs/gitops.md): its plan prunes only its own chains and
   * never touches another stack's. Absent: every live chain given to the planner is in scope
   * (destroy's scoped plans, hand-made states).
   */
  stack?: string;
  /** Probes (tracepoints, uprobes, ...); absent: none. */
  probes?: DesiredProbe[];
  /** sha256 over the canonical manifests, recorded in the kernel on apply. */
  manifestDigest: string;
  /** Git revision of the manifests, when known. */
  revision?: string;
}

// ---------------------------------------------------------------- live

/**
 * One thing changed behind kfn's back, typed so that `kfn drift`, `kfn status` and tools
 * read the kind; views render the words (core/drift.ts). The chain form finds the kinds
 * it can see in its own bookkeeping; `map-edited`, `foreign-on-hook` and `chain-removed`
 * are found by comparing the whole live state with kfn's records (plan/drift.ts).
 */
export type DriftKind =
  | { code: 'metadata-missing' }
  /**
   * A pin kfn made is gone (`instance` absent: one of the chain's own). `progId`: the pin
   * held a program that still runs (the root behind kfn's link, an instance in the walk),
   * so apply pins it again and reloads nothing.
   */
  | { code: 'pin-missing'; pin: string; instance?: string; progId?: number }
  /** No root program is left at all (its pin and kfn's link are gone): apply loads a new one. */
  | { code: 'root-missing' }
  | { code: 'netns-missing'; netns: string }
  | { code: 'interface-missing'; ifname: string }
  /** The interface was deleted and created again: kfn's root link went with the old one. */
  | { code: 'interface-recreated'; ifname: string }
  /** The interface was renamed; the chain still runs on it. `conflict`: kfn already has a chain recorded under the new name. */
  | { code: 'interface-renamed'; from: string; to: string; conflict?: boolean }
  /** kfn's root link was detached by hand (bpftool link detach); the interface is the same. */
  | { code: 'root-detached' }
  /** The root's link is defunct and kfn (older metadata) cannot tell a detach from a recreated interface. */
  | { code: 'link-defunct'; ifname: string }
  /** The hook runs another program, or nothing, instead of kfn's root. */
  | { code: 'root-not-attached'; running?: number }
  | { code: 'foreign-in-chain'; progId: number; progName: string; after?: string }
  | { code: 'loop'; to: string; after?: string }
  /**
   * A slot kfn filled is empty: the instances after it are no longer reached. `pin`: the
   * slot's pin (root_next or kfn_next) was removed, so the kernel emptied it.
   */
  | { code: 'bypassed'; after?: string; unreached: string[]; pin?: 'root_next' | 'kfn_next' }
  /** Maps of an instance were unpinned; `recoverable`: its live program still holds them and kfn recorded their ids. */
  | { code: 'maps-missing'; instance: string; maps: string[]; recoverable: boolean }
  /** An instance directory without (usable) metadata: its identity is unknown. `inChain`: its program runs in the chain. */
  | { code: 'instance-metadata-missing'; dir: string; inChain: boolean }
  /** A tcx program now runs ahead of a `first` root (or behind a `last` one). */
  | { code: 'position-lost'; position: TcPosition; progId: number; progName: string }
  | { code: 'map-edited'; instance: string; map: string }
  /** An instance's proceed-on word no longer holds what kfn wrote. */
  | { code: 'proceed-on-edited'; instance: string; applied: ProceedVerdict[]; live: ProceedVerdict[] }
  | { code: 'foreign-on-hook'; progId: number; progName: string }
  | { code: 'chain-removed' }
  /** Damage to one instance that only reloading it repairs (a companion's link removed...). */
  | { code: 'instance-drift'; instance: string; text: string }
  /** Drift a reader reported as words only. */
  | { code: 'other'; text: string };

export type DriftCode = DriftKind['code'];

/** Drift after which the walked order is not the chain kfn built: the chain is rebuilt on fresh copies. */
export function breaksOrder(kinds: readonly DriftKind[] | undefined): boolean {
  return (kinds ?? []).some((d) => d.code === 'foreign-in-chain' || d.code === 'loop' || d.code === 'bypassed' || (d.code === 'instance-metadata-missing' && d.inChain));
}

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
  /** Parameter maps managed in merge mode (only their listed keys are kfn's). */
  mergeMaps?: string[];
  /**
   * Proceed-on as the kernel holds it (PROCEED_VERDICTS order); absent when the instance
   * cannot change it (its object has no proceed-on control): then it is DEFAULT_PROCEED_ON.
   */
  proceedOn?: ProceedVerdict[];
  /** Proceed-on as kfn last wrote it; differing from `proceedOn` is drift. */
  appliedProceedOn?: ProceedVerdict[];
  /** The instance's companions as the kernel holds them (absent when it has none). */
  companions?: LiveCompanion[];
  /**
   * Damage to the instance itself that only a reload repairs (a companion link removed
   * by hand...); also listed in the chain's drift. The planner replaces such an instance.
   */
  drift?: string[];
  /** The chain form's own record of the instance (its metadata); opaque to every other layer. */
  formData?: unknown;
}

export interface LiveCompanion extends Companion {
  /** 0 when its program is gone. */
  progId: number;
  /** 0 when its link is gone. */
  linkId: number;
  /** Its link runs its program. */
  attached: boolean;
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
  /** The same, typed (absent from readers that only give words). */
  driftKinds?: DriftKind[];
  manifestDigest?: string;
  revision?: string;
  /** The stack that owns the chain (DESIGN.md "Ownership: stacks"); absent for chains applied before stacks existed. */
  stack?: string;
  /** When kfn last changed the chain. */
  appliedAt?: string;
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

/** What kfn last applied for one stack, as recorded next to its chains. */
export interface StackRecord {
  stack: string;
  manifestDigest: string;
  revision?: string;
  appliedAt: string;
  chains: { attachment: Attachment; chainName: string }[];
}

/** A probe kfn made: its program, maps and perf-event link, under the pin root. */
export interface LiveProbe {
  name: string;
  target: ProbeTarget;
  identity: FunctionIdentity;
  progId: number;
  /** 0 when the link is gone. */
  linkId: number;
  /** The link is pinned, alive and runs this probe's program. */
  attached: boolean;
  pinDir: string;
  /** Contents of the probe's parameter maps, entries sorted by `key`. */
  maps: Record<string, MapEntry[]>;
  appliedMaps: Record<string, string>;
  stateMaps?: Record<string, string>;
  /** Changed behind kfn's back (link gone, binary replaced...). */
  drift: string[];
  /** The stack that owns the probe (absent: applied before stacks). */
  stack?: string;
  /** The form's own record of the probe; opaque to every other layer. */
  formData?: unknown;
}

export interface LiveState {
  chains: LiveChain[];
  /** kfn's per-stack records (absent from readers without them). */
  stacks?: StackRecord[];
  /** kfn's probes; absent: none read. */
  probes?: LiveProbe[];
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
  /** The stack's record lists the chain but nothing of it is left and no manifest wants it: kfn forgets it. */
  | { code: 'chain-gone' }
  | { code: 'chain-renamed'; from: string }
  /** Applied before stacks existed: the plan's stack takes the chain over. */
  | { code: 'adopted'; stack: string }
  /** The root must be re-attached: packets in flight during the switch skip the chain. */
  | { code: 'xdp-mode-changed'; from: string; to: string }
  | { code: 'tc-position-changed'; from: string; to: string }
  | { code: 'reordered' }
  | { code: 'drift' }
  /** The instance was damaged outside kfn (e.g. a companion link removed): reloaded, state carried over. */
  | { code: 'instance-drift' }
  | { code: 'instance-added' }
  | { code: 'instance-removed' }
  | { code: 'orphaned' }
  | { code: 'forces-replacement' }
  | { code: 'maps-differ' }
  | { code: 'map-drift'; map: string }
  /** Proceed-on differs; written in place, nothing is reloaded. */
  | { code: 'proceed-on-changed'; from: ProceedVerdict[]; to: ProceedVerdict[] }
  | { code: 'proceed-on-drift' }
  | { code: 'moved'; from: number; to: number }
  /** Set by the chain form: the instance is reloaded as a copy sharing its maps... */
  | { code: 'copied' }
  /** ...only because its successor changes. */
  | { code: 'successor-changed' }
  /** ...because the chain is rebuilt to repair damage (a foreign program, a loop, an emptied slot). */
  | { code: 'chain-rebuilt' }
  /** Replaced because kfn's bookkeeping of it is damaged beyond re-pinning (its maps are gone). */
  | { code: 'damaged'; what: string }
  | { code: 'probe-missing' }
  | { code: 'probe-unwanted' }
  /** A probe's attach point changed: a new link on the new target. */
  | { code: 'target-changed'; from: string; to: string }
  /** The probe's link is gone: attached again. */
  | { code: 'detached' };

export type ReasonCode = Reason['code'];

/**
 * What a plan leaves alone, and why: typed like reasons, rendered by the views, listed
 * in plan JSON.
 */
export type PlanNote =
  | { code: 'owned-by-stack'; attachment: Attachment; chainName: string; stack: string }
  /** Applied before stacks existed and declared by no stack: only `destroy --all` removes it. */
  | { code: 'unowned'; attachment: Attachment; chainName: string }
  | { code: 'host-not-selected'; chainName: string; selector: HostSelector };

export type PlanNoteCode = PlanNote['code'];

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
  /**
   * Proceed-on before and after, when the instance's changes it (create: from the
   * default); `drift`: the live value is not what kfn last wrote.
   */
  proceedOnChange?: { from: ProceedVerdict[]; to: ProceedVerdict[]; drift: boolean };
  /** Desired spec (absent for delete). */
  desired?: DesiredInstance;
  /** Live instance (absent for create); `proceedOn` as the kernel holds it, absent: the default. */
  live?: { progId: number; pinDir: string; identity: FunctionIdentity; proceedOn?: ProceedVerdict[] };
}

export type ProbeAction = 'create' | 'delete' | 'replace' | 'update' | 'noop';

export interface ProbeChange {
  name: string;
  action: ProbeAction;
  reasons: Reason[];
  identityChanges: ValueChange[];
  /** Attach point before and after (their text), when it changes. */
  targetChange?: { from: string; to: string };
  mapChanges: MapChange[];
  /** On replace: state maps the new program cannot take over. */
  stateReset?: string[];
  /** Live drift notes carried into the plan. */
  drift: string[];
  /** The link is gone and is made again (an update). */
  reattach?: boolean;
  /** The plan's stack takes over a probe applied before stacks. */
  adopt?: string;
  desired?: DesiredProbe;
  live?: { progId: number; linkId: number; pinDir: string; identity: FunctionIdentity; target: ProbeTarget };
}

export interface ChainChange {
  attachment: Attachment;
  chainName: string;
  action: ChainAction;
  reasons: Reason[];
  /** Live drift notes carried into the plan (`!` lines). */
  drift: string[];
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
  /** The stack the plan is for (absent: a plan over every chain given, e.g. destroy). */
  stack?: string;
  changes: ChainChange[];
  /** Chains the plan does not touch: other stacks', unowned ones, those this host does not select. */
  notes?: PlanNote[];
  /** Probe changes, sorted by name; absent: no probe desired or live. */
  probes?: ProbeChange[];
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
  | 'update-proceed-on'
  | 'attach'
  | 'reattach'
  | 'record'
  /** Put kfn's bookkeeping back (re-pin an object that still runs, move a renamed interface's pins); changes no packet path. */
  | 'repin'
  | 'release'
  | 'detach-release'
  | 'load-probe'
  | 'attach-probe'
  | 'detach-probe';

/**
 * One concrete kernel operation, compiled by the chain form at plan time. `op` and
 * `undo` are the form's plain data (pin paths, never fds): apply runs `op` exactly and
 * journals `undo` before it does.
 */
export interface PlannedStep {
  kind: StepKind;
  phase: StepPhase;
  /** Address of the chain or instance the step acts on (see views: resource addresses); absent for a probe's. */
  chain?: Attachment;
  chainName?: string;
  instance?: string;
  /** The probe the step acts on. */
  probe?: string;
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
  /** Host (and boot) the plan was made on; apply refuses a plan of another host or boot. */
  host: HostId;
  steps: PlannedStep[];
}

// ---------------------------------------------------------------- reconcile agent

/** What one reconcile round did (docs/gitops.md, "Status"). */
export type RoundOutcome =
  /** A new revision was applied (with or without kernel changes). */
  | 'applied'
  /** The applied revision and the kernel agree: nothing to do. */
  | 'in-sync'
  /** The kernel had drifted from the applied revision and was repaired. */
  | 'drift-corrected'
  /** The kernel has drifted and the agent only reports it (--no-correct-drift). */
  | 'drift-reported'
  | 'failed'
  | 'suspended';

/** Where a failed round stopped. */
export type RoundStage = 'fetch' | 'verify' | 'validate' | 'plan' | 'apply';

export type RoundTrigger = 'start' | 'interval' | 'webhook' | 'signal' | 'once';

export interface RoundError {
  code: string;
  message: string;
  hint?: string;
}

export interface RoundRecord {
  startedAt: string;
  finishedAt: string;
  trigger: RoundTrigger;
  outcome: RoundOutcome;
  /** The revision the round worked on. */
  revision?: string;
  /** The revision the ref named when fetched (differs from `revision` while that one is held back). */
  fetched?: string;
  stage?: RoundStage;
  error?: RoundError;
  /** A failed apply left the kernel as it was before (checked against the snapshot). */
  restored?: boolean;
  summary?: PlanSummary;
  /** Drift findings the round saw before it acted. */
  drift?: number;
}

/** A revision that failed and is held back until `nextRetryAt` (backoff). */
export interface FailingRevision {
  revision: string;
  failures: number;
  since: string;
  nextRetryAt: string;
  stage: RoundStage;
  error: RoundError;
}

/** The agent's record for one stack, kept in the state dir across restarts. */
export interface StackStatus {
  version: 1;
  stack: string;
  source: { repo: string; ref: string; path: string };
  /** The agent that ran the last round (`once`: a single round, `kfn reconcile --once`). */
  agent?: { pid: number; startedAt: string; intervalMs: number; once: boolean; hostname: string; labels: Record<string, string> };
  lastRound?: RoundRecord;
  /** The last round that tried a revision it had not applied yet. */
  lastAttempt?: { revision: string; at: string; outcome: RoundOutcome; error?: RoundError };
  lastApplied?: { revision: string; at: string };
  failing?: FailingRevision;
  /** Rounds that applied or failed a revision, oldest first (at most STATUS_HISTORY). */
  history: RoundRecord[];
}

export interface Suspension {
  stack: string;
  since: string;
  reason?: string;
  by: string;
}

/** Drift without manifests (`kfn drift`): one chain against what kfn recorded applying. */
export interface ChainDrift {
  attachment: Attachment;
  chainName: string;
  stack?: string;
  revision?: string;
  appliedAt?: string;
  /** Empty: the chain is as kfn left it. */
  drift: DriftKind[];
}

export interface ProbeDrift {
  name: string;
  target: ProbeTarget;
  stack?: string;
  /** Empty: the probe is as kfn left it. */
  drift: DriftKind[];
}

export interface DriftReport {
  /** The stack asked about (absent: every chain kfn manages). */
  stack?: string;
  chains: ChainDrift[];
  probes: ProbeDrift[];
  inSync: boolean;
}

/** `kfn status`: every chain with its drift, and every stack with what kfn and its agent recorded. */
export interface StatusReport {
  chains: ChainDrift[];
  stacks: {
    stack: string;
    /** What the last apply of the stack recorded in bpffs. */
    record?: StackRecord;
    /** The reconcile agent's record, when an agent drives the stack. */
    agent?: StackStatus;
    suspended?: Suspension;
  }[];
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
