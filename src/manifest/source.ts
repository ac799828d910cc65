/**
 * Source positions of manifest values: maps a data path (`['spec', 'functions', 1, 'maps']`)
 * back to the YAML node it came from, as a 1-based file:line:column.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import type { SourceRef } from '../core/errors.js';

export type PathSegment = string | number;

export interface LocateOptions {
  /** Point at the key of a mapping entry instead of its value (unknown fields, map keys). */
  key?: boolean;
}

export class SourceLocator {
  private readonly indexes = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Position of the node at `path`; falls back to the deepest ancestor that exists. */
  locate(path: readonly PathSegment[], opts: LocateOptions = {}): SourceRef {
    let node: unknown = this.doc.contents;
    let keyNode: unknown = undefined;
    for (const seg of path) {
      node = this.deref(node);
      let next: unknown = undefined;
      let nextKey: unknown = undefined;
      let found = false;
      if (isMap(node)) {
        const pair = this.index(node).get(String(seg));
        if (pair) {
          next = pair.value;
          nextKey = pair.key;
          found = true;
        }
      } else if (isSeq(node)) {
        const idx = typeof seg === 'number' ? seg : Number(seg);
        if (Number.isInteger(idx) && idx >= 0 && idx < node.items.length) {
          next = node.items[idx];
          nextKey = next;
          found = true;
        }
      }
      if (!found) break;
      // `key:` without a value has no value node: use the key.
      node = next ?? nextKey;
      keyNode = nextKey;
    }
    const target = opts.key && keyNode !== undefined ? keyNode : node;
    return this.at(this.offsetOf(target) ?? this.offsetOf(this.doc.contents) ?? this.doc.range[0]);
  }

  /** Scalar keys of a mapping (first occurrence wins), built once per mapping. */
  private index(map: YAMLMap): Map<string, Pair> {
    let idx = this.indexes.get(map);
    if (!idx) {
      idx = new Map();
      for (const pair of map.items) {
        const k = pair.key;
        const kv = isScalar(k) ? k.value : k;
        if (kv === null || kv === undefined || typeof kv === 'object') continue;
        const ks = String(kv);
        if (!idx.has(ks)) idx.set(ks, pair);
      }
      this.indexes.set(map, idx);
    }
    return idx;
  }

  /** Position of a byte offset of the file. */
  at(offset: number): SourceRef {
    const { line, col } = this.lineCounter.linePos(offset);
    return { file: this.file, line, column: col };
  }

  private deref(node: unknown): unknown {
    let cur = node;
    for (let i = 0; i < 16 && isAlias(cur); i++) cur = cur.resolve(this.doc);
    return cur;
  }

  private offsetOf(node: unknown): number | undefined {
    const range = (node as Node | null | undefined)?.range;
    return Array.isArray(range) ? range[0] : undefined;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `spec.functions[1].maps.blocked_v4["198.18.0.3/32"]` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(document)' : out;
}

/** Decodes an ajv instancePath (JSON pointer), turning array indexes into numbers. */
export function decodePointer(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      const idx = Number(seg);
      out.push(idx);
      cur = cur[idx];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

/** The value at `path` in plain data, or undefined. */
export function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[String(seg)];
  }
  return cur;
}
