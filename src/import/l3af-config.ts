/**
 * The configuration l3afd accepts on `POST /l3af/configs/v1/update` and saves in its
 * config store (`l3af-config.json`): a JSON array of hosts/interfaces, each with its XDP
 * and tc program lists. The types follow l3afd's documented format (models/l3afd.go,
 * docs/api/README.md); the parser checks it and reports every problem as a one-line
 * KfnError at file:line:column naming the JSON path (`$[0].bpf_programs.xdp_ingress[1].seq_id`).
 *
 * l3afd ignores fields it does not know and saves every field, zero values included
 * (`"cmd_stop": ""`, `"map_args": null`); zero values are treated as absent here too.
 */
import { LineCounter, parseDocument } from 'yaml';
import { KfnError, KfnErrors, type SourceRef } from '../core/errors.js';
import { SourceLocator, type PathSegment } from '../manifest/source.js';

/** The program lists of one interface, in l3afd's names. */
export const L3AF_DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress'] as const;
export type L3afDirection = (typeof L3AF_DIRECTIONS)[number];

/** One entry of `map_args` (l3afd v2): the map and the key/value pairs to set, all ints. */
export interface L3afMapArg {
  name: string;
  args: { key: bigint; value: bigint }[];
}

export interface L3afMonitorMap {
  name: string;
  key: number;
  aggregator: string;
}

export interface L3afProgram {
  id?: number;
  name: string;
  seq_id: number;
  artifact?: string;
  map_name?: string;
  cmd_start?: string;
  cmd_stop?: string;
  cmd_status?: string;
  cmd_config?: string;
  cmd_update?: string;
  version: string;
  user_program_daemon?: boolean;
  is_plugin?: boolean;
  cpu?: number;
  memory?: number;
  admin_status?: string;
  prog_type: 'xdp' | 'tc';
  rules_file?: string;
  rules?: string;
  config_file_path?: string;
  cfg_version?: number;
  start_args?: Record<string, unknown>;
  stop_args?: Record<string, unknown>;
  status_args?: Record<string, unknown>;
  update_args?: Record<string, unknown>;
  config_args?: Record<string, unknown>;
  /**
   * l3afd v2: a list of maps with integer key/value pairs. Before v2 (and still in the API
   * README) a mapping of map name -> comma-separated values: for a hash map the values are
   * keys set to 1, for an array map the values of indexes 0, 1, ...
   */
  map_args?: L3afMapArg[] | Record<string, string>;
  monitor_maps?: L3afMonitorMap[];
  ebpf_package_repo_url?: string;
  object_file?: string;
  entry_function_name?: string;
}

export interface L3afHost {
  host_name: string;
  iface: string;
  ipv4_address?: string;
  bpf_programs: Partial<Record<L3afDirection | 'probes', L3afProgram[]>>;
}

/** A parsed configuration, with positions for messages and fields l3afd would ignore. */
export interface ParsedL3afConfig {
  file: string;
  hosts: L3afHost[];
  locate(path: readonly PathSegment[]): SourceRef;
  /** Fields no l3afd version defines (l3afd ignores them too): JSON path -> value. */
  unknownFields: { path: PathSegment[]; value: unknown }[];
}

/** `$[0].bpf_programs.xdp_ingress[1].seq_id` */
export function jsonPath(path: readonly PathSegment[]): string {
  return '$' + path.map((s) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`)).join('');
}

/** What a value is, for `got ...` in messages. */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 39)}…` : v);
  return String(v);
}

const PROGRAM_FIELDS = new Set([
  'id', 'name', 'seq_id', 'artifact', 'map_name', 'cmd_start', 'cmd_stop', 'cmd_status', 'cmd_config', 'cmd_update', 'version',
  'user_program_daemon', 'is_plugin', 'cpu', 'memory', 'admin_status', 'prog_type', 'rules_file', 'rules', 'config_file_path',
  'cfg_version', 'start_args', 'stop_args', 'status_args', 'update_args', 'map_args', 'config_args', 'monitor_maps',
  'ebpf_package_repo_url', 'object_file', 'entry_function_name',
]);
const HOST_FIELDS = new Set(['host_name', 'iface', 'ipv4_address', 'bpf_programs']);
const LIST_FIELDS = new Set<string>([...L3AF_DIRECTIONS, 'probes']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number | bigint => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
/** Go's zero values: l3afd writes them for every field it has no value for. */
const isZero = (v: unknown): boolean =>
  v === undefined || v === null || v === '' || v === 0 || v === 0n || v === false || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

class Checker {
  readonly errors: KfnError[] = [];
  constructor(private readonly locate: (p: readonly PathSegment[]) => SourceRef) {}

  /** `got` undefined: the field is missing. */
  fail(path: readonly PathSegment[], expected: string, got: unknown, hint?: string): void {
    this.errors.push(
      new KfnError('L3AF_CONFIG_INVALID', `${jsonPath(path)}: expected ${expected}, got ${got === undefined ? 'nothing' : describeJson(got)}`, {
        source: this.locate(path),
        hint: hint ?? "the format is l3afd's (models/l3afd.go): a JSON array of {host_name, iface, bpf_programs}",
      }),
    );
  }

  str(o: Obj, key: string, path: PathSegment[], required: boolean): string | undefined {
    const v = o[key];
    if (v === undefined || v === null || v === '') {
      if (required) this.fail([...path, key], 'a non-empty string', v);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.fail([...path, key], 'a string', v);
      return undefined;
    }
    return v;
  }

  int(o: Obj, key: string, path: PathSegment[], min: number, required: boolean): number | undefined {
    const v = o[key];
    if (v === undefined || v === null || (!required && (v === 0 || v === 0n))) {
      if (required) this.fail([...path, key], `an integer >= ${min}`, v);
      return undefined;
    }
    if (!isInt(v) || v < min || v > Number.MAX_SAFE_INTEGER) {
      this.fail([...path, key], `an integer >= ${min}`, v);
      return undefined;
    }
    return Number(v);
  }

  bool(o: Obj, key: string, path: PathSegment[]): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.fail([...path, key], 'true or false', v);
      return undefined;
    }
    return v || undefined;
  }

  args(o: Obj, key: string, path: PathSegment[]): Obj | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      this.fail([...path, key], 'an object of arguments', v);
      return undefined;
    }
    return Object.keys(v).length > 0 ? v : undefined;
  }

  int64(v: unknown, path: PathSegment[]): bigint | undefined {
    if (!isInt(v) || BigInt(v) < INT64_MIN || BigInt(v) > INT64_MAX) {
      this.fail(path, 'an integer (a Go int: -2^63 .. 2^63-1)', v);
      return undefined;
    }
    return BigInt(v);
  }
}

function mapArgs(c: Checker, v: unknown, path: PathSegment[]): L3afProgram['map_args'] {
  if (v === undefined || v === null) return undefined;
  if (isObj(v)) {
    // The pre-v2 form: { "rl_ports_map": "80,443" }
    const out: Record<string, string> = {};
    for (const [name, val] of Object.entries(v)) {
      if (typeof val === 'string' || isInt(val)) out[name] = String(val);
      else c.fail([...path, name], 'a string of comma-separated integers', val);
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  if (!Array.isArray(v)) {
    c.fail(path, 'a list of {name, args: [{key, value}]}', v);
    return undefined;
  }
  const out: L3afMapArg[] = [];
  v.forEach((m, i) => {
    const p = [...path, i];
    if (!isObj(m)) return c.fail(p, 'an object {name, args}', m);
    const name = c.str(m, 'name', p, true);
    const args: L3afMapArg['args'] = [];
    if (m.args !== undefined && m.args !== null && !Array.isArray(m.args)) c.fail([...p, 'args'], 'a list of {key, value}', m.args);
    (Array.isArray(m.args) ? m.args : []).forEach((kv, j) => {
      const q = [...p, 'args', j];
      if (!isObj(kv)) return c.fail(q, 'an object {key, value}', kv);
      const key = c.int64(kv.key ?? 0, [...q, 'key']);
      const value = c.int64(kv.value ?? 0, [...q, 'value']);
      if (key !== undefined && value !== undefined) args.push({ key, value });
    });
    if (name) out.push({ name, args });
  });
  return out.length > 0 ? out : undefined;
}

function monitorMaps(c: Checker, v: unknown, path: PathSegment[]): L3afMonitorMap[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    c.fail(path, 'a list of {name, key, aggregator}', v);
    return undefined;
  }
  const out: L3afMonitorMap[] = [];
  v.forEach((m, i) => {
    const p = [...path, i];
    if (!isObj(m)) return c.fail(p, 'an object {name, key, aggregator}', m);
    const name = c.str(m, 'name', p, true);
    const key = m.key === undefined || m.key === null ? 0 : c.int(m, 'key', p, 0, true);
    const aggregator = c.str(m, 'aggregator', p, false) ?? '';
    if (name && key !== undefined) out.push({ name, key, aggregator });
  });
  return out.length > 0 ? out : undefined;
}

function program(c: Checker, v: unknown, path: PathSegment[], list: string, unknown: ParsedL3afConfig['unknownFields']): L3afProgram | undefined {
  if (!isObj(v)) {
    c.fail(path, 'a program object', v);
    return undefined;
  }
  for (const [k, val] of Object.entries(v)) if (!PROGRAM_FIELDS.has(k) && !isZero(val)) unknown.push({ path: [...path, k], value: val });
  const before = c.errors.length;
  const progType = v.prog_type;
  const wantType = list === 'xdp_ingress' ? 'xdp' : list === 'probes' ? undefined : 'tc';
  if (wantType && progType !== wantType) {
    c.fail([...path, 'prog_type'], `"${wantType}" (the program is in ${list})`, progType);
  }
  const p: L3afProgram = {
    name: c.str(v, 'name', path, true) ?? '',
    seq_id: c.int(v, 'seq_id', path, 1, list !== 'probes') ?? 0,
    version: c.str(v, 'version', path, true) ?? '',
    prog_type: (wantType ?? (typeof progType === 'string' ? progType : '')) as L3afProgram['prog_type'],
  };
  const strings = ['artifact', 'map_name', 'cmd_start', 'cmd_stop', 'cmd_status', 'cmd_config', 'cmd_update', 'admin_status', 'rules_file', 'rules', 'config_file_path', 'ebpf_package_repo_url', 'object_file', 'entry_function_name'] as const;
  for (const k of strings) {
    const s = c.str(v, k, path, false);
    if (s !== undefined) p[k] = s;
  }
  for (const k of ['id', 'cpu', 'memory', 'cfg_version'] as const) {
    const n = c.int(v, k, path, 0, false);
    if (n !== undefined) p[k] = n;
  }
  for (const k of ['user_program_daemon', 'is_plugin'] as const) {
    const b = c.bool(v, k, path);
    if (b !== undefined) p[k] = b;
  }
  for (const k of ['start_args', 'stop_args', 'status_args', 'update_args', 'config_args'] as const) {
    const a = c.args(v, k, path);
    if (a !== undefined) p[k] = a;
  }
  if (p.admin_status !== undefined && p.admin_status !== 'enabled' && p.admin_status !== 'disabled') {
    c.fail([...path, 'admin_status'], '"enabled" or "disabled"', p.admin_status);
  }
  const ma = mapArgs(c, v.map_args, [...path, 'map_args']);
  if (ma) p.map_args = ma;
  const mm = monitorMaps(c, v.monitor_maps, [...path, 'monitor_maps']);
  if (mm) p.monitor_maps = mm;
  return c.errors.length === before ? p : undefined;
}

/**
 * Parses and checks an l3afd configuration. `file` names it in messages. Throws the
 * first KfnError found, with every other one in KfnErrors when there are several.
 */
export function parseL3afConfig(text: string, file: string): ParsedL3afConfig {
  const lineCounter = new LineCounter();
  const syntaxError = (offset: number, why: string): KfnError => {
    const { line, col } = lineCounter.linePos(offset);
    return new KfnError('L3AF_CONFIG_INVALID', `not valid JSON: ${why}`, { source: { file, line, column: col }, hint: 'the file must be the JSON l3afd accepts or saves' });
  };
  // JSON.parse is the judge of syntax (YAML would accept more); yaml gives positions and exact integers.
  try {
    JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
    throw syntaxError(m ? Number(m[1]) : 0, msg.replace(/^JSON\.parse: /, '').replace(/ in JSON at position \d+.*$/, ''));
  }
  const doc = parseDocument(text, { lineCounter, intAsBigInt: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw syntaxError(doc.errors[0]!.pos[0], doc.errors[0]!.message.split('\n')[0]!);
  const locator = new SourceLocator(file, doc, lineCounter);
  const locate = (p: readonly PathSegment[]) => locator.locate(p);
  // Integers become bigints; small ones are turned back into numbers where a count is meant.
  const data = smallInts(doc.toJS({ maxAliasCount: 0 }));
  const c = new Checker(locate);
  const unknownFields: ParsedL3afConfig['unknownFields'] = [];
  const hosts: L3afHost[] = [];
  if (data !== null && !Array.isArray(data)) {
    c.fail([], 'a JSON array of host configurations ([{host_name, iface, bpf_programs}, ...])', data);
  }
  (Array.isArray(data) ? data : []).forEach((h, i) => {
    const path: PathSegment[] = [i];
    if (!isObj(h)) return c.fail(path, 'an object {host_name, iface, bpf_programs}', h);
    for (const [k, val] of Object.entries(h)) if (!HOST_FIELDS.has(k) && !isZero(val)) unknownFields.push({ path: [...path, k], value: val });
    const host: L3afHost = { host_name: c.str(h, 'host_name', path, true) ?? '', iface: c.str(h, 'iface', path, true) ?? '', bpf_programs: {} };
    const ip = c.str(h, 'ipv4_address', path, false);
    if (ip) host.ipv4_address = ip;
    const progs = h.bpf_programs;
    if (progs !== undefined && progs !== null && !isObj(progs)) c.fail([...path, 'bpf_programs'], 'an object {xdp_ingress, tc_ingress, tc_egress}', progs);
    if (isObj(progs)) {
      for (const [list, items] of Object.entries(progs)) {
        const lp = [...path, 'bpf_programs', list];
        if (!LIST_FIELDS.has(list)) {
          if (!isZero(items)) unknownFields.push({ path: lp, value: items });
          continue;
        }
        if (items === null || items === undefined) continue;
        if (!Array.isArray(items)) {
          c.fail(lp, 'a list of programs', items);
          continue;
        }
        const parsed = items.map((item, j) => program(c, item, [...lp, j], list, unknownFields));
        if (parsed.every((x) => x !== undefined)) host.bpf_programs[list as L3afDirection | 'probes'] = parsed as L3afProgram[];
      }
    }
    hosts.push(host);
  });
  if (c.errors.length === 1) throw c.errors[0]!;
  if (c.errors.length > 1) throw new KfnErrors(c.errors);
  return { file, hosts, locate, unknownFields };
}

/** Safe integers as numbers, larger ones stay bigints (map_args values may be any Go int). */
function smallInts(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(smallInts);
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: smallInts(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

export { isZero as isZeroValue };
