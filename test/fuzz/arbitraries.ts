/**
 * fast-check arbitraries shared by the fuzz tests: valid chains of the shipped kernel
 * functions (for the planner model and the real kernel), YAML-ish noise, manifest-shaped
 * values with random holes, and node-level mutations of valid manifests.
 */
import fc from 'fast-check';

// ------------------------------------------------------------------ valid chains

export const FUNCTION_NAMES = ['counter', 'flowstats', 'blocklist', 'ratelimit'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** One instance of a chain, as a manifest writes it. */
export interface FuzzInstance {
  name: string;
  function: string;
  maps?: Record<string, Record<string, unknown>>;
  globals?: Record<string, number>;
}

const ip4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** A prefix inside 198.18.0.0/15 with its host bits cleared: "198.19.4.0/22". */
export const arbV4Prefix: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 15, max: 32 }), fc.integer({ min: 0, max: 0x1ffff }))
  .map(([len, low]) => {
    const addr = ((198 << 24) | (18 << 16)) + low;
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return `${ip4((addr & mask) >>> 0)}/${len}`;
  });

/** A prefix inside 2001:2::/48 with its host bits cleared, written in full: "2001:2:0:1a:0:0:0:0/64". */
export const arbV6Prefix: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 48, max: 128 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 5, maxLength: 5 }))
  .map(([len, rest]) => {
    const groups = [0x2001, 0x0002, 0x0000, ...rest];
    for (let g = 0; g < 8; g++) {
      const keep = Math.max(0, Math.min(16, len - g * 16));
      groups[g] = keep === 0 ? 0 : groups[g]! & ((0xffff << (16 - keep)) & 0xffff);
    }
    return `${groups.map((g) => g.toString(16)).join(':')}/${len}`;
  });

const arbU32 = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 100_000 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, 1, 0xffffffff), weight: 1 },
);

const arbPrefixMap = (prefix: fc.Arbitrary<string>) =>
  fc.uniqueArray(fc.tuple(prefix, arbU32), { maxLength: 6, selector: ([k]) => k }).map((xs) => Object.fromEntries(xs));

/** Maps and globals for one function, all valid for its BTF types. */
export function arbParameters(fn: FunctionName): fc.Arbitrary<Pick<FuzzInstance, 'maps' | 'globals'>> {
  switch (fn) {
    case 'blocklist':
      return fc
        .record({ v4: fc.option(arbPrefixMap(arbV4Prefix), { nil: undefined }), v6: fc.option(arbPrefixMap(arbV6Prefix), { nil: undefined }) })
        .map(({ v4, v6 }) => {
          const maps: Record<string, Record<string, unknown>> = {};
          if (v4) maps.blocked_v4 = v4;
          if (v6) maps.blocked_v6 = v6;
          return Object.keys(maps).length ? { maps } : {};
        });
    case 'ratelimit':
      return fc
        .record({
          rate: fc.option(arbU32, { nil: undefined }),
          burst: fc.option(arbU32, { nil: undefined }),
          config: fc.option(fc.record({ rate_pps: arbU32, burst: arbU32 }), { nil: undefined }),
        })
        .map(({ rate, burst, config }) => {
          const out: Pick<FuzzInstance, 'maps' | 'globals'> = {};
          const globals: Record<string, number> = {};
          if (rate !== undefined) globals.rate_pps = rate;
          if (burst !== undefined) globals.burst = burst;
          if (Object.keys(globals).length) out.globals = globals;
          if (config) out.maps = { config: { '0': config } };
          return out;
        });
    default:
      return fc.constant({});
  }
}

const INSTANCE_NAMES = ['a', 'b', 'c', 'd', 'e'];

/**
 * The functions of a chain: a random non-empty subset of the shipped functions in random
 * order, with random instance names (so that a name can change function between two
 * chains: a replacement), `name` or `name@1.0.0` references, and random parameters.
 */
export const arbInstances: fc.Arbitrary<FuzzInstance[]> = fc
  .shuffledSubarray([...FUNCTION_NAMES], { minLength: 1 })
  .chain((fns) =>
    fc.tuple(
      fc.shuffledSubarray(INSTANCE_NAMES, { minLength: fns.length, maxLength: fns.length }),
      fc.tuple(...fns.map((fn) => fc.tuple(fc.constant(fn), fc.boolean(), arbParameters(fn)))),
    ),
  )
  .map(([names, xs]) => xs.map(([fn, pinned, p], i) => ({ name: names[i]!, function: pinned ? `${fn}@1.0.0` : fn, ...p })));

export type FuzzHook = 'xdp' | 'tc-ingress' | 'tc-egress';

export interface FuzzChain {
  hook: FuzzHook;
  mode?: 'native' | 'generic' | 'auto';
  position?: 'first' | 'last';
  functions: FuzzInstance[];
}

/** A chain on one hook with mode / position set or defaulted at random. */
export const arbChainBody = (hooks: readonly FuzzHook[]): fc.Arbitrary<FuzzChain> =>
  fc
    .record({
      hook: fc.constantFrom(...hooks),
      mode: fc.option(fc.constantFrom('native' as const, 'generic' as const, 'auto' as const), { nil: undefined }),
      position: fc.option(fc.constantFrom('first' as const, 'last' as const), { nil: undefined }),
      functions: arbInstances,
    })
    .map(({ hook, mode, position, functions }) => {
      const c: FuzzChain = { hook, functions };
      if (hook === 'xdp' && mode) c.mode = mode;
      if (hook !== 'xdp' && position) c.position = position;
      return c;
    });

/** The Chain document of a FuzzChain, as a JS object for yaml.stringify. */
export function chainDocument(name: string, c: FuzzChain, where: { netns?: string; interfaces: string[] }): Record<string, unknown> {
  const spec: Record<string, unknown> = { hook: c.hook };
  if (where.netns !== undefined) spec.netns = where.netns;
  spec.interfaces = where.interfaces;
  if (c.mode) spec.mode = c.mode;
  if (c.position) spec.position = c.position;
  spec.functions = c.functions.map((f) => {
    const o: Record<string, unknown> = { name: f.name, function: f.function };
    if (f.maps) o.maps = f.maps;
    if (f.globals) o.globals = f.globals;
    return o;
  });
  return { apiVersion: 'kfn.dev/v1alpha1', kind: 'Chain', metadata: { name }, spec };
}

/** KernelFunction documents for the shipped functions, objects under `objectDir` (relative). */
export function functionDocuments(objectDir: string): Record<string, unknown>[] {
  return FUNCTION_NAMES.map((fn) => ({
    apiVersion: 'kfn.dev/v1alpha1',
    kind: 'KernelFunction',
    metadata: { name: fn },
    spec: { version: '1.0.0', object: `${objectDir}/${fn}.bpf.o`, program: fn, hooks: ['xdp', 'tc-ingress', 'tc-egress'] },
  }));
}

// ------------------------------------------------------------------ noise

/** Fragments that mean something to YAML or to kfn. */
const YAML_TOKENS = [
  'apiVersion: kfn.dev/v1alpha1\n', 'kind: Chain\n', 'kind: KernelFunction\n', 'metadata:\n', 'metadata: { name: edge }\n',
  'spec:\n', '  hook: xdp\n', '  interfaces: [eth0]\n', '  functions:\n', '    - function: counter\n', '      maps:\n',
  '        blocked_v4: { "198.18.0.3/32": 1 }\n', '      globals: { rate_pps: 5 }\n', '  object: objects/counter.bpf.o\n',
  '  program: counter\n', '  hooks: [xdp, tc-ingress]\n', '  version: 1.0.0\n', 'name: ', 'netns: ', 'mode: ', 'position: ',
  '---\n', '...\n', '- ', ': ', '? ', '{', '}', '[', ']', ', ', '"', "'", '\\', '&a ', '&b ', '*a', '*b', '*', '&', '<<: *a\n',
  '!!str ', '!!int ', '!!float ', '!!binary ', '!!map ', '!!seq ', '!!set ', '!!omap ', '!custom ', '!<tag:x> ', '|\n', '>-\n',
  '# c\n', '%YAML 1.2\n', '%YAML 1.1\n', '%TAG !e! tag:e,2000:\n', '\t', ' ', '  ', '    ', '\n', '\r\n', '\r', '\ufeff', '\u0000',
  '\u2028', '0x10', '0o17', '0b1', '1e999', '-.inf', '.nan', '~', 'null', 'true', 'yes', '-0', '1_000', '99999999999999999999999',
  '2001:2::1/64', '198.18.0.1/32', '198.18.0.300/33', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'kfn_next',
  'blocklist@1.0.0', 'counter@9.9.9', 'eth*', '?',
];

/** YAML-ish text: kfn and YAML tokens mixed with random characters. */
export const arbYamlishText: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(...YAML_TOKENS), weight: 6 },
      { arbitrary: fc.string({ maxLength: 6 }), weight: 2 },
      { arbitrary: fc.string({ unit: 'binary', maxLength: 3 }), weight: 1 },
    ),
    { maxLength: 80 },
  )
  .map((xs) => xs.join(''));

/** Scalars and shapes that probe edges of schemas, names, numbers and addresses. */
export const arbEdgeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    '', ' ', 0, -1, 1.5, 2 ** 32, 2 ** 53, -(2 ** 63), 1e300, Number.NaN, Number.POSITIVE_INFINITY, null, true, false, [], {},
    'x'.repeat(300), 'a'.repeat(64), '198.18.0.3/33', '198.18.0.3/32', '198.18.0.3', '198.18.0.0/15', '::/0', '2001:2::dead/128',
    '::ffff:198.18.0.1', '0x0', '0', '-0', '1e3', '00:11:22:33:44:55', 'counter', 'blocklist@1.0.0', 'blocklist@9.9.9', 'flowstats',
    'xdp', 'tc-ingress', 'tc-egress', 'native', 'generic', 'auto', 'first', '*', '?', 'eth0', 'veth-*', 'kfn_next', 'blocked_v4',
    'blocked_v6', 'rate_pps', 'burst', 'config', 'counts', '__proto__', 'constructor', 'objects/counter.bpf.o', 'objects/bad_verifier.bpf.o',
    '../outside.o', '/etc/passwd', '.', 'manifest.yaml', 'a'.repeat(16),
  ),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
  fc.integer(),
  fc.string({ maxLength: 12 }),
  fc.dictionary(fc.constantFrom('0', '1', '198.18.0.0/16', '2001:2::/48', 'rate_pps', 'burst', 'x'), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), {
    maxKeys: 3,
  }),
);

/** Any value (depth-bounded) yaml can write: fast-check's anything plus the edge values. */
export const arbAnyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: arbEdgeValue, weight: 3 },
  { arbitrary: fc.anything({ maxDepth: 3, maxKeys: 4, withBigInt: true, withNullPrototype: true, withSparseArray: true, withTypedArray: true }), weight: 1 },
);

const valueOr = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: arbAnyValue, weight: 1 });
const optional = (a: fc.Arbitrary<unknown>) => fc.option(a, { nil: undefined, freq: 3 });
/** A required field: missing now and then. */
const required = (a: fc.Arbitrary<unknown>) => fc.option(a, { nil: undefined, freq: 15 });

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Chain- and KernelFunction-shaped documents, each field either valid-looking or anything. */
export const arbManifestShaped: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc
    .record({
      apiVersion: required(valueOr(fc.constant('kfn.dev/v1alpha1'))),
      kind: required(valueOr(fc.constant('Chain'))),
      metadata: required(valueOr(fc.record({ name: valueOr(fc.constantFrom('edge', 'e2')) }))),
      spec: required(
        valueOr(
          fc
            .record({
              hook: required(valueOr(fc.constantFrom('xdp', 'tc-ingress', 'tc-egress'))),
              netns: optional(valueOr(fc.constantFrom('n1', 'default'))),
              interfaces: required(valueOr(fc.array(fc.constantFrom('eth0', 'veth-*', 'x?'), { minLength: 1, maxLength: 2 }))),
              mode: optional(valueOr(fc.constantFrom('native', 'generic', 'auto'))),
              position: optional(valueOr(fc.constantFrom('first', 'last'))),
              functions: required(
                valueOr(
                  fc.array(
                    fc
                      .record({
                        name: optional(valueOr(fc.constantFrom('a', 'b'))),
                        function: required(valueOr(fc.constantFrom(...FUNCTION_NAMES, 'blocklist@1.0.0', 'nosuch'))),
                        maps: optional(valueOr(fc.dictionary(fc.constantFrom('blocked_v4', 'blocked_v6', 'config', 'counts', 'kfn_next', 'stats'), arbAnyValue, { maxKeys: 2 }))),
                        globals: optional(valueOr(fc.dictionary(fc.constantFrom('rate_pps', 'burst', 'nosuch'), arbAnyValue, { maxKeys: 2 }))),
                        mergeMaps: optional(valueOr(fc.constant(['blocked_v4']))),
                      })
                      .map(compact),
                    { maxLength: 3 },
                  ),
                ),
              ),
            })
            .map(compact),
        ),
      ),
    })
    .map(compact),
  fc
    .record({
      apiVersion: required(valueOr(fc.constant('kfn.dev/v1alpha1'))),
      kind: required(valueOr(fc.constant('KernelFunction'))),
      metadata: required(valueOr(fc.record({ name: valueOr(fc.constantFrom(...FUNCTION_NAMES)) }))),
      spec: required(
        valueOr(
          fc
            .record({
              version: required(valueOr(fc.constantFrom('1.0.0', '2.0.0-rc.1'))),
              object: required(valueOr(fc.constantFrom(...FUNCTION_NAMES.map((f) => `objects/${f}.bpf.o`), 'objects/bad_verifier.bpf.o', 'objects'))),
              program: optional(valueOr(fc.constantFrom(...FUNCTION_NAMES, 'badfn_tc', 'counter_xdp'))),
              hooks: required(valueOr(fc.subarray(['xdp', 'tc-ingress', 'tc-egress']))),
              sha256: optional(valueOr(fc.constantFrom('0'.repeat(64), 'xyz'))),
            })
            .map(compact),
        ),
      ),
    })
    .map(compact),
);

// ------------------------------------------------------------------ mutations

export type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'replace'; at: number; value: unknown }
  | { op: 'insert'; at: number; key: string; value: unknown }
  | { op: 'copy'; at: number; from: number };

export const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: arbAnyValue }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    key: fc.oneof(
      fc.constantFrom('name', 'netns', 'mode', 'position', 'maps', 'globals', 'mergeMaps', 'sha256', 'function', 'hooks', 'interfaces', '__proto__', 'blocked_v4', '0'),
      fc.string({ maxLength: 8 }),
    ),
    value: arbAnyValue,
  }),
  fc.record({ op: fc.constant('copy' as const), at: fc.nat(), from: fc.nat() }),
);

type Container = Record<string, unknown> | unknown[];
interface Slot {
  parent: Container | undefined;
  key: string | number | undefined;
  value: unknown;
}

function slots(root: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (parent: Container | undefined, key: string | number | undefined, v: unknown, depth: number): void => {
    out.push({ parent, key, value: v });
    if (depth > 12) return;
    if (Array.isArray(v)) v.forEach((x, i) => walk(v, i, x, depth + 1));
    else if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) for (const [k, x] of Object.entries(v)) walk(v as Record<string, unknown>, k, x, depth + 1);
  };
  walk(undefined, undefined, root, 0);
  return out;
}

function set(parent: Container, key: string | number, value: unknown): void {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies mutations to a deep copy of `docs` (an array of documents); returns the copy. */
export function mutate(docs: unknown[], mutations: readonly Mutation[]): unknown[] {
  const root: unknown[] = structuredClone(docs);
  for (const m of mutations) {
    const all = slots(root).slice(1); // never the array of documents itself
    if (all.length === 0) break;
    const s = all[m.at % all.length]!;
    const { parent, key } = s;
    if (parent === undefined || key === undefined) continue;
    switch (m.op) {
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case 'replace':
        set(parent, key, structuredCloneSafe(m.value));
        break;
      case 'insert':
        if (Array.isArray(s.value)) s.value.splice(m.at % (s.value.length + 1), 0, structuredCloneSafe(m.value));
        else if (s.value !== null && typeof s.value === 'object' && !ArrayBuffer.isView(s.value)) set(s.value as Record<string, unknown>, m.key, structuredCloneSafe(m.value));
        else set(parent, key, structuredCloneSafe(m.value));
        break;
      case 'copy':
        set(parent, key, structuredCloneSafe(all[m.from % all.length]!.value));
        break;
    }
  }
  return root;
}

function structuredCloneSafe(v: unknown): unknown {
  try {
    return structuredClone(v);
  } catch {
    return v;
  }
}

// ------------------------------------------------------------------ text edits

export type TextEdit = { op: 'delete-line' | 'dup-line' | 'swap-lines'; at: number; to: number } | { op: 'insert'; at: number; text: string } | { op: 'cut'; at: number; len: number };

export const arbTextEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete-line' as const, 'dup-line' as const, 'swap-lines' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...YAML_TOKENS), fc.string({ maxLength: 4 })) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
);

export function editText(text: string, edits: readonly TextEdit[]): string {
  let t = text;
  for (const e of edits) {
    const lines = t.split('\n');
    switch (e.op) {
      case 'delete-line':
        lines.splice(e.at % lines.length, 1);
        t = lines.join('\n');
        break;
      case 'dup-line': {
        const i = e.at % lines.length;
        lines.splice(e.to % (lines.length + 1), 0, lines[i]!);
        t = lines.join('\n');
        break;
      }
      case 'swap-lines': {
        const i = e.at % lines.length;
        const j = e.to % lines.length;
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        t = lines.join('\n');
        break;
      }
      case 'insert': {
        const at = e.at % (t.length + 1);
        t = t.slice(0, at) + e.text + t.slice(at);
        break;
      }
      case 'cut': {
        const at = e.at % (t.length + 1);
        t = t.slice(0, at) + t.slice(at + e.len);
        break;
      }
    }
  }
  return t;
}
