/**
 * `kfn import l3af`: an l3afd configuration (see l3af-config.ts) becomes kfn manifests —
 * a KernelFunction per program (its object found in an objects directory or inside its
 * artifact tarball and copied next to the manifests, pinned by sha256), a Chain per
 * interface and direction in seq_id order, `map_args` as map entries written exactly as
 * l3afd would store them, `monitor_maps` as monitorMaps. Everything kfn does not do
 * (user-space programs and their arguments, probes, l3afd bookkeeping) is listed in the
 * report and as comments next to where it would have been: never dropped silently.
 *
 * convertL3af is pure: objects come through an ObjectSource and are inspected through an
 * injected function (ELF and BTF only); importL3af and writeImport do the file I/O.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Document, isMap, isSeq, type Node } from 'yaml';
import { KfnError, KfnErrors } from '../core/errors.js';
import { API_VERSION, AGGREGATORS, type Aggregator } from '../manifest/types.js';
import type { PathSegment } from '../manifest/source.js';
import type { Hook } from '../core/types.js';
import type { MapInfo, ObjectInfo, ProgramInfo } from '../libbpf/object-info.js';
import { ValueError, decodeValue, describeType, encodeMapEntry } from '../values/index.js';
import { describeJson, isZeroValue, jsonPath, parseL3afConfig, type L3afDirection, type L3afHost, type L3afProgram, type ParsedL3afConfig } from './l3af-config.js';
import { readTarGz } from './tar.js';

// ------------------------------------------------------------------ inputs

/** The object l3afd would load for a program, and where it was found (for comments). */
export interface FoundObject {
  bytes: Buffer;
  from: string;
}

export interface ObjectSource {
  /** The program's object, or every place looked at when it is nowhere. */
  find(p: Pick<L3afProgram, 'name' | 'version' | 'artifact' | 'object_file'>): FoundObject | { tried: string[] };
}

/** Programs, maps and BTF types of an object given as bytes (readObjectInfoFromBytes). */
export type InspectObject = (bytes: Uint8Array, label: string) => ObjectInfo;

export interface L3afConvertOptions {
  objects: ObjectSource;
  inspect: InspectObject;
  /** Interface renames, OLD -> NEW (the host's interface names changed, or kfn runs elsewhere). */
  ifaceRenames?: Record<string, string>;
  /** The host to import when the configuration holds several. */
  host?: string;
  /** The network namespace of the interfaces on the kfn host (default: kfn's own). */
  netns?: string;
}

// ------------------------------------------------------------------ outputs

export interface ImportedFile {
  /** Relative to the output directory. */
  path: string;
  content: string | Buffer;
}

export interface NotCarried {
  /** JSON path of the field in the configuration. */
  at: string;
  value: string;
  why: string;
}

export interface ImportReport {
  source: string;
  host: string;
  functions: { name: string; version: string; object: string; from: string; program: string; hooks: Hook[] }[];
  chains: { name: string; iface: string; hook: Hook; functions: string[] }[];
  /** Programs not imported at all: disabled ones, probes. */
  leftOut: NotCarried[];
  /** Fields kfn has no equivalent for. */
  notCarried: NotCarried[];
  /** Translations an operator should know about (versions, renames, byte-level map values). */
  notes: string[];
}

export interface ImportResult {
  files: ImportedFile[];
  report: ImportReport;
}

// ------------------------------------------------------------------ helpers

const HOOK_OF: Record<L3afDirection, Hook> = { xdp_ingress: 'xdp', tc_ingress: 'tc-ingress', tc_egress: 'tc-egress' };
const IFNAME_RE = /^[A-Za-z0-9._@+-]{1,15}$/;
const SEMVER_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

/** l3afd program names as kfn names: lower case, other characters as '-'. */
export function kfnName(name: string): string {
  const s = name.toLowerCase().replace(/[^-a-z0-9_.]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 63).replace(/[^a-z0-9]+$/, '');
  return s || 'function';
}

/** l3afd versions are free text ("latest", "v1.2", "1.0.0"); kfn's are semantic versions. */
export function kfnVersion(version: string): string {
  const v = version.replace(/^v(?=\d)/, '');
  if (SEMVER_RE.test(v)) return v;
  const m = /^(\d+)(?:\.(\d+))?$/.exec(v);
  if (m) return `${Number(m[1])}.${Number(m[2] ?? 0)}.0`;
  const pre = version.replace(/[^0-9A-Za-z-]+/g, '-').replace(/^-+|-+$/g, '').replace(/^0+(\d)/, '$1') || 'unversioned';
  return `0.0.0-${/^\d+$/.test(pre) ? `v${pre}` : pre}`;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const shortJson = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
};

/**
 * The bytes l3afd stores for an integer: it passes a Go int (8 bytes, little-endian on
 * x86) by pointer and the map copies key_size / value_size bytes from it.
 */
function l3afdBytes(x: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let u = BigInt.asUintN(64, x);
  for (let i = 0; i < size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

function readLe(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

const smallOrText = (x: bigint): number | string => (x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString());

/** How kfn writes one side of a map entry so that it encodes to exactly `bytes`. */
function yamlSide(map: MapInfo, which: 'key' | 'value', bytes: Uint8Array): unknown {
  const t = map[which];
  if (!t) return [1, 2, 4, 8].includes(bytes.length) ? smallOrText(readLe(bytes)) : `0x${hex(bytes)}`;
  const v = decodeValue(t, bytes, map.name);
  if (which === 'key') return typeof v === 'string' || typeof v === 'number' ? String(v) : `0x${hex(bytes)}`;
  return v;
}

type ImportErrorCode = 'L3AF_CONFIG_INVALID' | 'L3AF_OBJECT_NOT_FOUND' | 'L3AF_OBJECT_MISMATCH' | 'L3AF_CONFLICT';

/** Problems of the configuration, each at its JSON path and file:line. */
class Problems {
  readonly errors: KfnError[] = [];
  constructor(private readonly cfg: ParsedL3afConfig) {}
  add(e: { code: ImportErrorCode; at: readonly PathSegment[]; message: string; hint: string }): void {
    this.errors.push(new KfnError(e.code, `${jsonPath(e.at)}: ${e.message}`, { source: this.cfg.locate(e.at), hint: e.hint }));
  }
  throwIfAny(): void {
    if (this.errors.length === 1) throw this.errors[0]!;
    if (this.errors.length > 1) throw new KfnErrors(this.errors);
  }
}

interface Entry {
  host: L3afHost;
  iface: string;
  dir: L3afDirection;
  prog: L3afProgram;
  at: PathSegment[];
}

/** One program as a kfn function instance, before grouping. */
interface Converted {
  entry: Entry;
  fnName: string;
  version: string;
  info: ObjectInfo;
  found: FoundObject;
  program: ProgramInfo;
  nextMap: string | undefined;
  companions: { program: string }[];
  monitorMaps: { map: string; key: number | string; aggregator?: Aggregator }[];
  maps: Record<string, Record<string, unknown>>;
  /** Comment lines for the KernelFunction and the chain entry. */
  fnNotes: string[];
  entryNotes: string[];
}

// ------------------------------------------------------------------ fields kfn does not carry

const USER_SPACE = "the function's user-space program: kfn runs none; run it yourself (e.g. under systemd), knowing the maps are not pinned at l3afd's paths";
const NOT_CARRIED_WHY: Partial<Record<keyof L3afProgram, string>> = {
  id: "l3afd's own program id",
  cmd_start: USER_SPACE,
  cmd_stop: USER_SPACE,
  cmd_status: USER_SPACE,
  cmd_config: USER_SPACE,
  cmd_update: USER_SPACE,
  start_args: USER_SPACE,
  stop_args: USER_SPACE,
  status_args: USER_SPACE,
  update_args: USER_SPACE,
  config_args: USER_SPACE,
  user_program_daemon: USER_SPACE,
  is_plugin: USER_SPACE,
  cpu: 'resource limit of the user-space program',
  memory: 'resource limit of the user-space program',
  rules_file: 'configuration of the user-space program',
  rules: 'configuration of the user-space program',
  config_file_path: 'configuration of the user-space program',
  cfg_version: "l3afd's revision of the payload; kfn's revision is the Git commit of the manifests",
  ebpf_package_repo_url: 'l3afd downloads artifacts; kfn reads objects from the manifests and pins their sha256',
};

function notCarried(e: Entry): NotCarried[] {
  const out: NotCarried[] = [];
  for (const [field, why] of Object.entries(NOT_CARRIED_WHY) as [keyof L3afProgram, string][]) {
    const v = e.prog[field];
    if (!isZeroValue(v)) out.push({ at: jsonPath([...e.at, field]), value: shortJson(v), why });
  }
  return out;
}

// ------------------------------------------------------------------ the converter

export function convertL3af(cfg: ParsedL3afConfig, opts: L3afConvertOptions): ImportResult {
  const problems = new Problems(cfg);
  const report: ImportReport = { source: cfg.file, host: '', functions: [], chains: [], leftOut: [], notCarried: [], notes: [] };

  // host
  const hostNames = [...new Set(cfg.hosts.map((h) => h.host_name))];
  if (hostNames.length === 0) {
    throw new KfnError('L3AF_CONFIG_INVALID', `${cfg.file}: the configuration holds no host`, { hint: 'it is the JSON array l3afd accepts on /l3af/configs/v1/update' });
  }
  const host = opts.host ?? (hostNames.length === 1 ? hostNames[0]! : undefined);
  if (host === undefined || !hostNames.includes(host)) {
    throw new KfnError(
      'L3AF_HOST_NOT_SELECTED',
      host === undefined
        ? `${cfg.file} configures ${hostNames.length} hosts (${hostNames.join(', ')}): import one at a time`
        : `${cfg.file} has no host "${host}" (hosts: ${hostNames.join(', ')})`,
      { hint: 'choose the host with --host NAME' },
    );
  }
  report.host = host;

  // interfaces
  const renames = opts.ifaceRenames ?? {};
  const hostIdx = cfg.hosts.map((h, i) => [h, i] as const).filter(([h]) => h.host_name === host);
  const ifaces = new Set(hostIdx.map(([h]) => h.iface));
  for (const old of Object.keys(renames)) {
    if (!ifaces.has(old)) {
      throw new KfnError('USAGE', `--iface ${old}=${renames[old]}: host ${host} has no interface ${old} (interfaces: ${[...ifaces].join(', ')})`, {
        hint: 'rename interfaces the configuration names',
      });
    }
  }
  for (const [old, neu] of Object.entries(renames)) report.notes.push(`interface ${old} is ${neu} here (--iface ${old}=${neu})`);
  if (opts.netns !== undefined) report.notes.push(`the interfaces are in network namespace ${opts.netns} (--netns ${opts.netns})`);

  const entries: Entry[] = [];
  for (const [h, i] of hostIdx) {
    const iface = renames[h.iface] ?? h.iface;
    if (!IFNAME_RE.test(iface)) {
      problems.add({
        code: 'L3AF_CONFIG_INVALID',
        at: [i, 'iface'],
        message: `interface name ${JSON.stringify(iface)} is not one kfn can use (1-15 letters, digits or . _ @ + -)`,
        hint: `rename it: --iface ${JSON.stringify(h.iface)}=NEW`,
      });
      continue;
    }
    for (const [j, p] of (h.bpf_programs.probes ?? []).entries()) {
      report.leftOut.push({ at: jsonPath([i, 'bpf_programs', 'probes', j]), value: JSON.stringify(p.name), why: 'a probe program on its own, outside any chain: not built in kfn' });
    }
    for (const dir of ['xdp_ingress', 'tc_ingress', 'tc_egress'] as const) {
      const seen = new Map<number, PathSegment[]>();
      for (const [j, prog] of (h.bpf_programs[dir] ?? []).entries()) {
        const at: PathSegment[] = [i, 'bpf_programs', dir, j];
        const e: Entry = { host: h, iface, dir, prog, at };
        if (prog.admin_status !== 'enabled') {
          report.leftOut.push({
            at: jsonPath(at),
            value: JSON.stringify(prog.name),
            why: prog.admin_status === 'disabled' ? 'admin_status is disabled' : 'admin_status is not set: l3afd starts only enabled programs',
          });
          continue;
        }
        const prev = seen.get(prog.seq_id);
        if (prev) {
          problems.add({
            code: 'L3AF_CONFIG_INVALID',
            at: [...at, 'seq_id'],
            message: `seq_id ${prog.seq_id} is also the one of ${jsonPath(prev)}`,
            hint: 'each program of one chain has its own position',
          });
          continue;
        }
        seen.set(prog.seq_id, at);
        entries.push(e);
      }
    }
  }
  problems.throwIfAny();

  // objects and programs
  const infoCache = new Map<string, ObjectInfo>();
  const converted: Converted[] = [];
  for (const e of entries) {
    const c = convertEntry(e, opts, infoCache, problems, report);
    if (c) converted.push(c);
  }
  problems.throwIfAny();

  // KernelFunctions: one per name@version
  const functions = new Map<string, { fn: Converted; hooks: Set<Hook>; users: Converted[] }>();
  for (const c of converted) {
    const key = `${c.fnName}@${c.version}`;
    const f = functions.get(key);
    if (!f) {
      functions.set(key, { fn: c, hooks: new Set([HOOK_OF[c.entry.dir]]), users: [c] });
      continue;
    }
    const a = f.fn;
    const same = (x: Converted) =>
      JSON.stringify([x.info.sha256, x.program.name, x.nextMap ?? null, x.companions, x.monitorMaps]);
    if (same(a) !== same(c)) {
      const what = a.info.sha256 !== c.info.sha256 ? 'another object' : a.program.name !== c.program.name ? 'another entry function' : a.nextMap !== c.nextMap ? 'another map_name' : 'other monitor_maps';
      problems.add({
        code: 'L3AF_CONFLICT',
        at: c.entry.at,
        message: `${c.entry.prog.name} version ${c.entry.prog.version} has ${what} than at ${jsonPath(a.entry.at)}`,
        hint: 'one name and version is one kernel function: give the other build its own version',
      });
      continue;
    }
    f.hooks.add(HOOK_OF[c.entry.dir]);
    f.users.push(c);
  }
  problems.throwIfAny();

  const files: ImportedFile[] = [];
  const fnDocs: Document[] = [];
  const objectPaths = new Map<string, string>();
  for (const [key, { fn, hooks, users }] of [...functions].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const objName = path.basename(fn.entry.prog.object_file!);
    const objRel = `objects/${fn.fnName}-${fn.version.replace(/[^0-9A-Za-z._-]/g, '_')}/${objName}`;
    objectPaths.set(key, objRel);
    files.push({ path: objRel, content: fn.found.bytes });
    const hookList = (['xdp', 'tc-ingress', 'tc-egress'] as const).filter((h) => hooks.has(h));
    const spec: Record<string, unknown> = {
      version: fn.version,
      object: objRel,
      sha256: fn.info.sha256,
      program: fn.program.name,
      hooks: hookList,
    };
    if (fn.nextMap) spec.nextMap = fn.nextMap;
    // l3afd's objects carry no KFN_PARAM tags: the maps its map_args set are the parameters.
    const parameters = [...new Set(users.flatMap((u) => Object.keys(u.maps)))].sort();
    if (parameters.length) spec.parameters = parameters;
    if (fn.companions.length) spec.companions = fn.companions;
    if (fn.monitorMaps.length) spec.monitorMaps = fn.monitorMaps;
    const doc = new Document({ apiVersion: API_VERSION, kind: 'KernelFunction', metadata: { name: fn.fnName }, spec });
    flow(doc, ['spec', 'hooks']);
    if (parameters.length) flow(doc, ['spec', 'parameters']);
    for (let i = 0; i < fn.monitorMaps.length; i++) flow(doc, ['spec', 'monitorMaps', i]);
    doc.commentBefore = comment([
      `l3afd program "${fn.entry.prog.name}" version ${fn.entry.prog.version} (${users.map((u) => jsonPath(u.entry.at)).join(', ')})`,
      `object ${fn.entry.prog.object_file} from ${fn.found.from}`,
      ...fn.fnNotes,
    ]);
    fnDocs.push(doc);
    report.functions.push({ name: fn.fnName, version: fn.version, object: objRel, from: fn.found.from, program: fn.program.name, hooks: hookList });
  }

  // Fields of hosts and programs that no l3afd version knows, and the host's address.
  const selected = new Set(hostIdx.map(([, i]) => i));
  const hostExtras: NotCarried[] = cfg.unknownFields
    .filter((u) => selected.has(u.path[0] as number))
    .map((u) => ({ at: jsonPath(u.path), value: shortJson(u.value), why: 'not an l3afd field (l3afd ignores it too)' }));
  for (const [h, i] of hostIdx) {
    if (h.ipv4_address) hostExtras.push({ at: jsonPath([i, 'ipv4_address']), value: JSON.stringify(h.ipv4_address), why: "informational in l3afd's saved configuration" });
  }
  const extrasOf = (prefix: string): NotCarried[] => hostExtras.filter((x) => x.at.startsWith(prefix) && /^[.[]/.test(x.at.slice(prefix.length)));

  // Chains: one per interface and direction, in seq_id order
  const chainDocs: Document[] = [];
  const placed = new Set<NotCarried>();
  const groups = new Map<string, Converted[]>();
  for (const c of converted) {
    const k = `${c.entry.iface}\0${c.entry.dir}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  const order = (k: string) => {
    const [iface, dir] = k.split('\0') as [string, L3afDirection];
    return `${iface}\0${['xdp_ingress', 'tc_ingress', 'tc_egress'].indexOf(dir)}`;
  };
  for (const k of [...groups.keys()].sort((a, b) => (order(a) < order(b) ? -1 : 1))) {
    const list = groups.get(k)!.sort((a, b) => a.entry.prog.seq_id - b.entry.prog.seq_id);
    const { iface, dir, host: h } = list[0]!.entry;
    const hook = HOOK_OF[dir];
    let name = kfnName(`${iface}-${hook}`);
    for (let n = 2; report.chains.some((ch) => ch.name === name); n++) name = kfnName(`${iface}-${hook}-${n}`);
    const used = new Map<string, number>();
    const instances = list.map((c) => {
      const n = (used.get(c.fnName) ?? 0) + 1;
      used.set(c.fnName, n);
      const inst: Record<string, unknown> = { name: n === 1 ? c.fnName : `${c.fnName}-${n}`, function: `${c.fnName}@${c.version}` };
      if (Object.keys(c.maps).length) inst.maps = c.maps;
      return inst;
    });
    const spec: Record<string, unknown> = { hook, ...(opts.netns !== undefined ? { netns: opts.netns } : {}), interfaces: [iface] };
    if (hook === 'xdp') spec.mode = 'auto';
    spec.functions = instances;
    const doc = new Document({ apiVersion: API_VERSION, kind: 'Chain', metadata: { name }, spec });
    flow(doc, ['spec', 'interfaces']);
    list.forEach((c, i) => {
      for (const m of Object.keys(c.maps)) flow(doc, ['spec', 'functions', i, 'maps', m]);
      setComment(doc, ['spec', 'functions', i], [
        `seq_id ${c.entry.prog.seq_id}: ${jsonPath(c.entry.at)}`,
        ...c.entryNotes,
        ...[...notCarried(c.entry), ...extrasOf(jsonPath(c.entry.at))].map((n) => `not carried: ${n.at.split('.').pop()} ${n.value} (${n.why})`),
      ]);
    });
    const lists = new Set(list.map((c) => `${jsonPath(c.entry.at.slice(0, 3))}[`));
    const left = report.leftOut.filter((l) => [...lists].some((prefix) => l.at.startsWith(prefix)));
    for (const l of left) placed.add(l);
    doc.commentBefore = comment([
      `l3afd host "${h.host_name}", iface ${h.iface}${iface !== h.iface ? ` (here ${iface})` : ''}, ${dir}, in seq_id order`,
      ...(hook === 'xdp' ? ['mode auto: l3afd attaches XDP without a mode flag, so the kernel uses native XDP where the driver has it'] : ['kfn attaches through tcx links; l3afd used a tc filter (clsact)']),
      ...left.map((l) => `left out: ${l.value} at ${l.at} (${l.why})`),
      ...hostExtras.filter((x) => !placed.has(x) && list.some((c) => x.at.startsWith(`$[${c.entry.at[0]}]`)) && !/\.bpf_programs\.\w+\[\d+\]/.test(x.at)).map((x) => {
        placed.add(x);
        return `not carried: ${x.at} ${x.value} (${x.why})`;
      }),
    ]);
    chainDocs.push(doc);
    report.chains.push({ name, iface, hook, functions: instances.map((x) => String(x.name)) });
  }
  for (const c of converted) report.notCarried.push(...notCarried(c.entry));
  report.notCarried.push(...hostExtras);
  for (const c of converted) {
    report.notes.push(...c.fnNotes.filter((n) => !n.startsWith('not carried:')).map((n) => `${c.fnName}: ${n}`), ...c.entryNotes.map((n) => `${jsonPath(c.entry.at)}: ${n}`));
  }
  report.notes = [...new Set(report.notes)];

  // Left-out programs of a list that kept no program have no chain to sit next to.
  const unplaced = [...report.leftOut, ...hostExtras].filter((l) => !placed.has(l) && !converted.some((c) => l.at.startsWith(`${jsonPath(c.entry.at)}.`)));
  const header = (what: string, extra: string[] = []) =>
    `#${comment([`Generated by kfn import l3af from ${path.basename(cfg.file)} (host ${host}): ${what}.`, 'Review it, then: kfn validate DIR && kfn plan DIR', ...extra]).replace(/\n/g, '\n#')}\n`;
  if (fnDocs.length) files.push({ path: 'functions.yaml', content: header('kernel functions') + fnDocs.map(render).join('---\n') });
  if (chainDocs.length) {
    files.push({
      path: 'chains.yaml',
      content: header('chains', unplaced.map((l) => `${report.leftOut.includes(l) ? 'left out' : 'not carried'}: ${l.value} at ${l.at} (${l.why})`)) + chainDocs.map(render).join('---\n'),
    });
  }
  files.push({ path: 'l3af-import-report.txt', content: renderReport(report) });
  return { files, report };
}

function convertEntry(e: Entry, opts: L3afConvertOptions, cache: Map<string, ObjectInfo>, problems: Problems, report: ImportReport): Converted | undefined {
  const p = e.prog;
  const hook = HOOK_OF[e.dir];
  if (!p.object_file) {
    problems.add({
      code: 'L3AF_CONFIG_INVALID',
      at: [...e.at, 'object_file'],
      message: `${p.name} has no object_file`,
      hint: 'kfn loads the object itself: set object_file (and entry_function_name) as l3afd 2.x does; programs loaded by their own user-space program cannot be imported',
    });
    return undefined;
  }
  if (path.isAbsolute(p.object_file) || p.object_file.split(/[\\/]/).includes('..')) {
    problems.add({
      code: 'L3AF_CONFIG_INVALID',
      at: [...e.at, 'object_file'],
      message: `expected a path inside the artifact, got ${JSON.stringify(p.object_file)}`,
      hint: 'object_file is relative to the extracted artifact',
    });
    return undefined;
  }
  const found = opts.objects.find(p);
  if ('tried' in found) {
    problems.add({
      code: 'L3AF_OBJECT_NOT_FOUND',
      at: [...e.at, 'object_file'],
      message: `${p.object_file} of ${p.name} not found (looked in ${found.tried.join(', ')})`,
      hint: 'put the object or its artifact tarball into the objects directory (--objects DIR)',
    });
    return undefined;
  }
  let info = cache.get(found.from);
  if (!info) {
    try {
      info = opts.inspect(found.bytes, found.from);
    } catch (err) {
      problems.add({
        code: 'L3AF_OBJECT_MISMATCH',
        at: [...e.at, 'object_file'],
        message: `${found.from} is not a readable eBPF object: ${(err as Error).message}`,
        hint: 'l3afd loads CO-RE ELF objects with BTF',
      });
      return undefined;
    }
    cache.set(found.from, info);
  }
  const fnNotes: string[] = [];
  const entryNotes: string[] = [];
  /** Something of the function kfn cannot carry: in the report, and as a comment on the KernelFunction. */
  const lose = (at: PathSegment[], value: string, why: string): void => {
    report.notCarried.push({ at: jsonPath(at), value, why });
    fnNotes.push(`not carried: ${jsonPath(at)} ${value} (${why})`);
  };
  const fnName = kfnName(p.name);
  const version = kfnVersion(p.version);
  if (fnName !== p.name) fnNotes.push(`name "${p.name}" is ${fnName} in kfn`);
  if (version !== p.version) fnNotes.push(`version "${p.version}" is ${version} in kfn (a semantic version; the object is pinned by sha256)`);

  // the entry program: by function name (as l3afd finds it), or by section
  const kind = hook === 'xdp' ? 'xdp' : 'tc';
  const fits = (x: ProgramInfo) => x.kind === kind || x.needsType === true;
  let program: ProgramInfo | undefined;
  const want = p.entry_function_name;
  if (want) {
    program = info.programs.find((x) => x.name === want);
    const bySection = info.programs.filter((x) => x.section === want);
    if (!program && bySection.length === 1) program = bySection[0];
  } else {
    const candidates = info.programs.filter(fits);
    if (candidates.length === 1) {
      program = candidates[0];
      fnNotes.push(`no entry_function_name: ${program!.name} is the only ${kind} program of the object`);
    }
  }
  const listing = info.programs.map((x) => `${x.name} (${x.section})`).join(', ') || 'none';
  if (!program) {
    problems.add({
      code: 'L3AF_OBJECT_MISMATCH',
      at: [...e.at, want ? 'entry_function_name' : 'object_file'],
      message: want ? `${found.from} has no program ${want} (programs: ${listing})` : `${found.from} has no single ${kind} program to run (programs: ${listing})`,
      hint: 'entry_function_name is the C function of the program l3afd attaches',
    });
    return undefined;
  }
  if (!fits(program)) {
    problems.add({
      code: 'L3AF_OBJECT_MISMATCH',
      at: [...e.at, 'entry_function_name'],
      message: `${program.name} of ${found.from} is ${program.kind === 'xdp' ? 'an' : 'a'} ${program.kind} program (section "${program.section}"); ${e.dir} needs ${kind === 'xdp' ? 'an xdp' : 'a tc'} program`,
      hint: 'check prog_type and the list the program is in',
    });
    return undefined;
  }

  // chain slot
  const slots = info.maps.filter((m) => m.type === 'prog_array' && m.maxEntries === 1 && m.keySize === 4 && m.valueSize === 4);
  let nextMap = p.map_name;
  if (nextMap) {
    if (!slots.some((m) => m.name === nextMap)) {
      const m = info.maps.find((x) => x.name === nextMap);
      problems.add({
        code: 'L3AF_OBJECT_MISMATCH',
        at: [...e.at, 'map_name'],
        message: m ? `${nextMap} of ${found.from} is ${/^[aeiou]/.test(m.type) ? 'an' : 'a'} ${m.type} with ${m.maxEntries} entries, not a one-slot program array` : `${found.from} has no map ${nextMap}`,
        hint: `one-slot program arrays of the object: ${slots.map((s) => s.name).join(', ') || 'none'}`,
      });
      return undefined;
    }
  } else if (slots.length === 1) {
    nextMap = slots[0]!.name;
    fnNotes.push(`no map_name: ${nextMap} is the object's only one-slot program array`);
  } else {
    fnNotes.push('no map_name and no single one-slot program array in the object: the function cannot pass packets on (not built: kfn needs a chain slot in every function)');
  }

  // companions: l3afd attaches every other non-XDP, non-tc program of the object as a probe
  const companions: { program: string }[] = [];
  for (const x of info.programs) {
    if (x === program) continue;
    if (x.kind === 'tracepoint') {
      companions.push({ program: x.name });
    } else if (/^(kprobe|kretprobe|uprobe|uretprobe)\//.test(x.section)) {
      lose([...e.at, 'object_file'], `program ${x.name} (${x.section})`, 'l3afd attaches it as a probe beside the function; kfn attaches tracepoint companions only (kprobes are not built)');
    } else if (x.kind === 'xdp' || x.kind === 'tc' || x.needsType) {
      fnNotes.push(`program ${x.name} (${x.section}) is loaded by l3afd but never attached; kfn leaves it out`);
    } else {
      fnNotes.push(`program ${x.name} (section "${x.section}") is neither attached by l3afd nor by kfn`);
    }
  }

  // monitor_maps
  const monitorMaps: Converted['monitorMaps'] = [];
  for (const [i, mm] of (p.monitor_maps ?? []).entries()) {
    const at = [...e.at, 'monitor_maps', i];
    const m = info.maps.find((x) => x.name === mm.name);
    if (!m) {
      lose(at, shortJson(mm), `the object has no map ${mm.name} (l3afd skips it too)`);
      continue;
    }
    if (!(AGGREGATORS as readonly string[]).includes(mm.aggregator)) {
      lose([...at, 'aggregator'], JSON.stringify(mm.aggregator), 'l3afd knows scalar, max-rate and avg only (it reports 0 for others)');
      continue;
    }
    if (m.keySize > 8) {
      lose([...at, 'key'], String(mm.key), `${mm.name} has ${m.keySize}-byte keys; l3afd looks them up with an 8-byte integer`);
      continue;
    }
    // l3afd looks the key up as the bytes of a Go int, whatever the map's key type.
    const text = String(yamlSide(m, 'key', l3afdBytes(BigInt(mm.key), m.keySize)));
    const key = /^(0|[1-9]\d*)$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text;
    if (key !== mm.key) fnNotes.push(`monitor_maps ${mm.name} key ${mm.key}: the bytes l3afd looks up read as ${text} (the map's key type)`);
    monitorMaps.push({ map: mm.name, key, ...(mm.aggregator === 'scalar' ? {} : { aggregator: mm.aggregator as Aggregator }) });
  }

  // map_args, as the bytes l3afd would write
  const maps: Converted['maps'] = {};
  const put = (at: PathSegment[], mapName: string, k: bigint, v: bigint): boolean => {
    const m = info!.maps.find((x) => x.name === mapName);
    if (!m) {
      problems.add({
        code: 'L3AF_OBJECT_MISMATCH',
        at: at,
        message: `${found.from} has no map ${mapName} (maps: ${info!.maps.map((x) => x.name).join(', ')})`,
        hint: 'map_args name maps of the function\'s object',
      });
      return false;
    }
    if (m.keySize > 8 || m.valueSize > 8 || !['hash', 'array', 'lru_hash', 'lpm_trie'].includes(m.type)) {
      problems.add({
        code: 'L3AF_OBJECT_MISMATCH',
        at: at,
        message: `${mapName} is a ${m.type} map with ${m.keySize}-byte keys and ${m.valueSize}-byte values; l3afd writes map_args as one 8-byte integer per key and value into hash and array maps`,
        hint: 'set this map from the Chain manifest by hand',
      });
      return false;
    }
    const kb = l3afdBytes(k, m.keySize);
    const vb = l3afdBytes(v, m.valueSize);
    let key: string;
    let value: unknown;
    try {
      key = String(yamlSide(m, 'key', kb));
      value = yamlSide(m, 'value', vb);
      const back = encodeMapEntry(m, key, value);
      if (back.key !== hex(kb) || back.value !== hex(vb)) throw new ValueError('', `bytes ${hex(kb)} / ${hex(vb)}`, `${back.key} / ${back.value}`);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      problems.add({
        code: 'L3AF_OBJECT_MISMATCH',
        at: at,
        message: `l3afd would store key ${hex(kb)}, value ${hex(vb)} in ${mapName}, which no ${m.key ? describeType(m.key) : 'raw'} / ${m.value ? describeType(m.value) : 'raw'} entry kfn writes reproduces`,
        hint: 'set this entry from the Chain manifest by hand',
      });
      return false;
    }
    const entries = (maps[mapName] ??= {});
    if (Object.prototype.hasOwnProperty.call(entries, key)) {
      problems.add({ code: 'L3AF_CONFIG_INVALID', at: at, message: `key ${k} of ${mapName} is set twice (l3afd keeps the last)`, hint: 'keep one of them' });
      return false;
    }
    Object.defineProperty(entries, key, { value, enumerable: true, writable: true, configurable: true });
    const typed = m.key !== undefined || m.value !== undefined;
    if (String(k) !== key || (typeof value !== 'object' && String(v) !== String(value))) {
      entryNotes.push(`map_args ${mapName} ${k} -> ${v}: l3afd stores the bytes of these Go ints (${hex(kb)} -> ${hex(vb)}), which kfn writes as ${key}: ${shortJson(value)}${typed ? ' (typed from the object\'s BTF)' : ''}`);
    }
    return true;
  };
  const ma = p.map_args;
  if (Array.isArray(ma)) {
    ma.forEach((arg, i) => arg.args.forEach((kv, j) => put([...e.at, 'map_args', i, 'args', j], arg.name, kv.key, kv.value)));
    for (const arg of ma) if (arg.args.length === 0) maps[arg.name] ??= {};
  } else if (ma) {
    for (const [mapName, csv] of Object.entries(ma)) {
      const at = [...e.at, 'map_args', mapName];
      const m = info.maps.find((x) => x.name === mapName);
      const items = csv.split(',');
      if (!items.every((x) => /^-?\d+$/.test(x))) {
        problems.add({
          code: 'L3AF_CONFIG_INVALID',
          at: at,
          message: `expected comma-separated integers, got ${describeJson(csv)}`,
          hint: 'l3afd would silently write 0 for each item that is not an integer',
        });
        continue;
      }
      if (m && m.type !== 'hash' && m.type !== 'array') {
        problems.add({
          code: 'L3AF_OBJECT_MISMATCH',
          at: at,
          message: `${mapName} is a ${m.type} map; the old map_args form sets hash maps (keys) and array maps (values) only`,
          hint: 'set this map from the Chain manifest by hand',
        });
        continue;
      }
      // hash: each item is a key set to 1; array: item i is the value of index i
      items.forEach((x, i) => put(at, mapName, m?.type === 'array' ? BigInt(i) : BigInt(x), m?.type === 'array' ? BigInt(x) : 1n));
      fnNotes.push(`map_args ${mapName} in the pre-v2 form ("${csv}"): read as a ${m?.type ?? '?'} map as l3afd did`);
    }
  }
  if (e.prog.map_args && !Array.isArray(e.prog.map_args)) entryNotes.push('map_args were given in the pre-v2 form (map name -> comma-separated values)');

  return { entry: e, fnName, version, info, found, program, nextMap, companions, monitorMaps, maps, fnNotes, entryNotes };
}

const render = (d: Document): string => d.toString({ flowCollectionPadding: false, lineWidth: 0 });

function flow(doc: Document, at: PathSegment[]): void {
  const n = doc.getIn(at, true) as Node | undefined;
  if (n && (isMap(n) || isSeq(n))) n.flow = true;
}

function setComment(doc: Document, at: PathSegment[], lines: string[]): void {
  const n = doc.getIn(at, true) as Node | undefined;
  if (n) n.commentBefore = comment(lines);
}

function comment(lines: string[]): string {
  // A comment is one line each; control characters from the input never break out of it.
  return lines.map((l) => ` ${l.replace(/[\x00-\x1f\x7f]/g, (ch) => JSON.stringify(ch).slice(1, -1))}`).join('\n');
}

export function renderReport(r: ImportReport): string {
  const out: string[] = [`kfn import l3af: ${r.source}, host ${r.host}`, ''];
  out.push(`Kernel functions (${r.functions.length}):`);
  for (const f of r.functions) out.push(`  ${f.name}@${f.version}  program ${f.program}  hooks ${f.hooks.join(', ')}  object ${f.object} (from ${f.from})`);
  out.push('', `Chains (${r.chains.length}):`);
  for (const c of r.chains) out.push(`  ${c.name}  ${c.iface}/${c.hook}: ${c.functions.join(' -> ')}`);
  const section = (title: string, list: NotCarried[]) => {
    out.push('', `${title} (${list.length}):`);
    for (const n of list) out.push(`  ${n.at} ${n.value}: ${n.why}`);
  };
  section('Left out', r.leftOut);
  section('Not carried: kfn has no equivalent', r.notCarried);
  out.push('', `Notes (${r.notes.length}):`);
  for (const n of r.notes) out.push(`  ${n}`);
  out.push('', 'Fields at their zero value ("", 0, false, null) carry nothing and are not listed.', '');
  return out.map((l) => l.replace(/[\x00-\x09\x0b-\x1f\x7f]/g, (ch) => JSON.stringify(ch).slice(1, -1))).join('\n');
}

// ------------------------------------------------------------------ I/O

const TAR_EXT = /\.(tar\.gz|tgz)$/;

/**
 * Objects as l3afd finds them, inside `dir`: the object file itself (DIR/OBJECT,
 * DIR/NAME/VERSION/ARTIFACT_BASE/OBJECT as l3afd extracts artifacts, DIR/ARTIFACT_BASE/OBJECT),
 * else inside the artifact tarball (DIR/ARTIFACT or DIR/NAME/VERSION/ARTIFACT).
 */
export function objectsFromDirectory(dir: string): ObjectSource {
  const tarCache = new Map<string, ReturnType<typeof readTarGz>>();
  const readFile = (p: string): Buffer | undefined => {
    try {
      return fs.statSync(p).isFile() ? fs.readFileSync(p) : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    find(p) {
      const obj = p.object_file!;
      // l3afd: the artifact's directory is its name up to the first dot
      const base = p.artifact ? p.artifact.split('.')[0]! : undefined;
      const direct = [path.join(dir, obj)];
      if (base) direct.push(path.join(dir, p.name, p.version, base, obj), path.join(dir, base, obj));
      for (const f of direct) {
        const bytes = readFile(f);
        if (bytes) return { bytes, from: f };
      }
      const tried = [...direct];
      if (p.artifact && !p.artifact.includes('/') && !p.artifact.includes('\\')) {
        for (const t of [path.join(dir, p.artifact), path.join(dir, p.name, p.version, p.artifact)]) {
          tried.push(t);
          if (!TAR_EXT.test(t)) continue;
          const gz = readFile(t);
          if (!gz) continue;
          let members = tarCache.get(t);
          if (!members) {
            members = readTarGz(gz, t);
            tarCache.set(t, members);
          }
          const exact = members.filter((m) => m.path === (base ? `${base}/${obj}` : obj) || m.path === obj);
          const loose = exact.length ? exact : members.filter((m) => m.path.endsWith(`/${obj}`));
          const distinct = new Set(loose.map((m) => m.data.toString('base64')));
          if (distinct.size > 1) {
            throw new KfnError('L3AF_ARTIFACT_INVALID', `${t}: ${loose.length} different members are ${obj} (${loose.map((m) => m.path).join(', ')})`, {
              hint: 'extract the one l3afd loads into the objects directory',
            });
          }
          if (loose.length) return { bytes: loose[0]!.data, from: `${t}:${loose[0]!.path}` };
        }
      }
      return { tried };
    },
  };
}

export interface L3afImportOptions {
  /** Where the objects (or their artifact tarballs) are. */
  objectsDir: string;
  ifaceRenames?: Record<string, string>;
  host?: string;
  netns?: string;
  /** Default: readObjectInfoFromBytes from src/libbpf (ELF and BTF, no kernel). */
  inspect?: InspectObject;
}

/** Reads an l3afd configuration file and converts it (nothing is written). */
export async function importL3af(configFile: string, opts: L3afImportOptions): Promise<ImportResult> {
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch (e) {
    throw new KfnError('L3AF_READ', `cannot read ${configFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'pass the JSON payload or l3afd\'s saved l3af-config.json' });
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(opts.objectsDir);
  } catch {
    /* reported below */
  }
  if (!st?.isDirectory()) {
    throw new KfnError('L3AF_READ', `objects directory ${opts.objectsDir} does not exist`, { hint: 'pass the directory holding the objects or artifact tarballs with --objects DIR' });
  }
  const inspect = opts.inspect ?? (await import('../libbpf/object.js')).readObjectInfoFromBytes;
  return convertL3af(parseL3afConfig(text, configFile), {
    objects: objectsFromDirectory(opts.objectsDir),
    inspect,
    ...(opts.ifaceRenames ? { ifaceRenames: opts.ifaceRenames } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
  });
}

/** Writes an import into `outDir`, which must not exist or be empty: nothing is overwritten. */
export function writeImport(result: ImportResult, outDir: string): void {
  let existing: string[] = [];
  try {
    existing = fs.readdirSync(outDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new KfnError('L3AF_READ', `cannot read ${outDir}: ${(e as NodeJS.ErrnoException).code}`);
  }
  if (existing.length > 0) {
    throw new KfnError('L3AF_OUTPUT_EXISTS', `${outDir} is not empty`, { hint: 'write the import into a new directory (-o DIR), then move what you keep' });
  }
  for (const f of result.files) {
    const p = path.join(outDir, f.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, f.content, { flag: 'wx' });
  }
}

/** `--iface OLD=NEW` values as a rename table. */
export function parseIfaceRenames(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const m = /^([^=]+)=([^=]+)$/.exec(a);
    if (!m) throw new KfnError('USAGE', `--iface ${JSON.stringify(a)}: expected OLD=NEW`, { hint: 'e.g. --iface enp0s3=eth0' });
    if (m[1]! in out) throw new KfnError('USAGE', `--iface ${m[1]} is renamed twice`);
    out[m[1]!] = m[2]!;
  }
  return out;
}
