/**
 * The one error family of kfn. Every expected failure is a KfnError with a stable
 * `code` (listed in docs/errors.md), a one-line message that names the file:line,
 * the interface or the kernel object involved, and a hint saying what to do.
 * The CLI prints `error[CODE]: message` plus the hint, never a stack trace.
 */
export interface SourceRef {
  file: string;
  line?: number;
  column?: number;
}

export function formatSource(src: SourceRef | undefined): string {
  if (!src) return '';
  if (src.line === undefined) return src.file;
  return src.column === undefined ? `${src.file}:${src.line}` : `${src.file}:${src.line}:${src.column}`;
}

/** Control characters (from manifests, file names...) written as escapes, so a message stays one line. */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (ch) => JSON.stringify(ch).slice(1, -1));
}

export class KfnError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly source: SourceRef | undefined;

  constructor(code: string, message: string, opts: { hint?: string; source?: SourceRef; cause?: unknown } = {}) {
    const where = formatSource(opts.source);
    super(oneLine(where ? `${where}: ${message}` : message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KfnError';
    this.code = code;
    this.hint = opts.hint === undefined ? undefined : oneLine(opts.hint);
    this.source = opts.source;
  }
}

/** Several independent errors found in one pass (e.g. every bad field of a manifest). */
export class KfnErrors extends KfnError {
  readonly errors: KfnError[];
  constructor(errors: KfnError[]) {
    const first = errors[0]!;
    super(first.code, first.message.replace(/^.*?: /, ''), { hint: first.hint, source: first.source });
    this.message = first.message;
    this.errors = errors;
  }
}

/**
 * Appends one by one: one pass over a big manifest can collect hundreds of thousands of
 * errors, more than a spread `push(...items)` can pass as arguments.
 */
export function append<T>(to: T[], items: readonly T[]): void {
  for (const item of items) to.push(item);
}

export function isKfnError(e: unknown): e is KfnError {
  return e instanceof KfnError;
}
