/**
 * Manifest documents as loaded and schema-checked (not yet resolved against objects).
 * The shapes mirror schemas/*.schema.json, which are the definition of the format.
 */
import type { SourceRef } from '../core/errors.js';
import type { Aggregator, Hook, HostSelector, ProbeHook, ProceedVerdict, TcPosition, XdpMode } from '../core/types.js';
import type { LocateOptions, PathSegment } from './source.js';

export const API_VERSION = 'kfn.dev/v1alpha1';
export const KINDS = ['KernelFunction', 'Chain', 'Probe'] as const;
export type ManifestKind = (typeof KINDS)[number];

export interface Metadata {
  name: string;
}

export interface KernelFunctionSpec {
  version: string;
  /** Relative to the manifest file (or absolute). */
  object: string;
  sha256?: string;
  program?: string;
  /** Chain hooks and probe hooks the function runs on. */
  hooks: (Hook | ProbeHook)[];
  /** Parameter maps beyond those the object declares in BTF. */
  parameters?: string[];
  /** This name@version replaces the built-in function of the same name@version (docs/library.md). */
  shadowsBuiltin?: boolean;
  /** The object's chain slot (a one-slot prog_array); default `kfn_next`. */
  nextMap?: string;
  /** Other programs of the object, loaded with the chained one and sharing its maps. */
  companions?: CompanionSpec[];
  /** Map entries that metrics expose. */
  monitorMaps?: MonitorMapSpec[];
}

export interface CompanionSpec {
  program: string;
  /** `category/name`; default from a `tracepoint/<category>/<name>` section. */
  tracepoint?: string;
}

export { AGGREGATORS, type Aggregator } from '../core/types.js';

export interface MonitorMapSpec {
  map: string;
  /** As a Chain writes a map key (YAML keys are strings; integers are accepted too). */
  key: number | string;
  /** Default `scalar`. */
  aggregator?: Aggregator;
}

export interface ChainFunctionSpec {
  name?: string;
  /** `name` or `name@version`. */
  function: string;
  /** Pins the object of the referenced function (built-in or repository); a mismatch is refused. */
  sha256?: string;
  /** map name -> (key text -> value), values as parsed from YAML. */
  maps?: Record<string, Record<string, unknown>>;
  /** Maps (named under `maps`) managed in merge mode. */
  mergeMaps?: string[];
  globals?: Record<string, unknown>;
  /** Verdicts that go on to the next function. */
  proceedOn?: ProceedVerdict[];
}

export interface ChainSpec {
  hook: Hook;
  hosts?: HostSelector;
  netns?: string;
  interfaces: string[];
  mode?: XdpMode;
  position?: TcPosition;
  functions: ChainFunctionSpec[];
}

/** A Probe: exactly one attach field (load.ts checks it). */
export interface ProbeSpec {
  /** `name` or `name@version`. */
  function: string;
  tracepoint?: string;
  uprobe?: { path: string; symbol?: string; offset?: number; retprobe?: boolean };
  kprobe?: { function: string; offset?: number; retprobe?: boolean };
  fentry?: { function: string };
  fexit?: { function: string };
  freplace?: { target: string; function: string };
  maps?: Record<string, Record<string, unknown>>;
  mergeMaps?: string[];
  globals?: Record<string, unknown>;
}

export interface ProbeManifest {
  apiVersion: typeof API_VERSION;
  kind: 'Probe';
  metadata: Metadata;
  spec: ProbeSpec;
}

export interface KernelFunctionManifest {
  apiVersion: typeof API_VERSION;
  kind: 'KernelFunction';
  metadata: Metadata;
  spec: KernelFunctionSpec;
}

export interface ChainManifest {
  apiVersion: typeof API_VERSION;
  kind: 'Chain';
  metadata: Metadata;
  spec: ChainSpec;
}

/** A schema-valid YAML document of any kfn format (manifests, packet tests), with positions. */
export interface LoadedDocument<K extends string = string> {
  kind: K;
  /** The document as plain data (schema-valid). Integers beyond 2^53 are bigints. */
  data: unknown;
  /** File path for messages: the target as given, joined with the path below it. */
  file: string;
  /** Absolute path of the file. */
  absFile: string;
  /** 0-based index of the document within its file. */
  index: number;
  /** Where the document's `metadata.name` is. */
  source: SourceRef;
  /** Position of any path of `data` (deepest existing ancestor when absent). */
  locate(path: readonly PathSegment[], opts?: LocateOptions): SourceRef;
}

export interface ManifestDocument<M extends KernelFunctionManifest | ChainManifest | ProbeManifest = KernelFunctionManifest | ChainManifest | ProbeManifest>
  extends LoadedDocument<M['kind']> {
  data: M;
}

export type KernelFunctionDocument = ManifestDocument<KernelFunctionManifest>;
export type ChainDocument = ManifestDocument<ChainManifest>;
export type ProbeDocument = ManifestDocument<ProbeManifest>;

export interface LoadedManifests {
  /** Absolute path of what was loaded (file or directory). */
  target: string;
  /** Every manifest file read, in load order (display paths). */
  files: string[];
  /** Every non-empty document in load order. */
  documents: (KernelFunctionDocument | ChainDocument | ProbeDocument)[];
  functions: KernelFunctionDocument[];
  chains: ChainDocument[];
  probes: ProbeDocument[];
}
