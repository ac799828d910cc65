/**
 * The one error of the values layer. The message always has the shape
 * `<path>: expected <expected>, got <got>` (plus ` (<hint>)` when there is one), e.g.
 * `rate_pps: expected u32 (0..4294967295), got -5`. Callers (manifest, plan) wrap it
 * into a KfnError carrying the file:line of the offending YAML node.
 */
export class ValueError extends Error {
  /** Where in the value: `rate_pps`, `cfg.limits[2]`, `blocked_v4[203.0.113.0/24]`; '' at the top. */
  readonly path: string;
  /** What the BTF type accepts, in words. */
  readonly expected: string;
  /** What was given, rendered short. */
  readonly got: string;
  /** An optional suggestion (`did you mean 198.18.0.0/24?`). */
  readonly hint: string | undefined;

  constructor(path: string, expected: string, got: string, hint?: string) {
    super(`${path ? `${path}: ` : ''}expected ${expected}, got ${got}${hint ? ` (${hint})` : ''}`);
    this.name = 'ValueError';
    this.path = path;
    this.expected = expected;
    this.got = got;
    this.hint = hint;
  }
}

const MAX_GOT = 60;

function truncate(s: string): string {
  return s.length > MAX_GOT ? `${s.slice(0, MAX_GOT - 1)}…` : s;
}

/** Renders any input value for an error message. Never throws. */
export function showGot(v: unknown): string {
  try {
    if (v === undefined) return 'nothing';
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
        return truncate(JSON.stringify(v));
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint':
      case 'boolean':
        return String(v);
      case 'object': {
        const json = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
        if (typeof json === 'string') return truncate(json);
        return Object.prototype.toString.call(v);
      }
      default:
        return typeof v;
    }
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Throws a ValueError; `got` is the raw input, rendered with showGot. */
export function fail(path: string, expected: string, got: unknown, hint?: string): never {
  throw new ValueError(path, expected, showGot(got), hint);
}

export function joinPath(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}
