/**
 * Small helpers shared by the resolution modules (resolve, functions, parameters): how a
 * source position is written inside a message, and how an error raised below the manifest
 * layer (values, object reading) is given the manifest position it lacks.
 */
import { KfnError, type SourceRef } from '../core/errors.js';

/** A position as `file:line:column`, for "first at …" in messages. */
export function where(src: SourceRef | undefined): string {
  if (!src) return 'unknown location';
  return src.line === undefined ? src.file : `${src.file}:${src.line}:${src.column ?? 1}`;
}

/** An error from below the manifest layer, given the manifest position and prefix if it has no position of its own. */
export function withSource(e: KfnError, source: SourceRef, prefix: string): KfnError {
  return e.source ? e : new KfnError(e.code, `${prefix}: ${e.message}`, { source, hint: e.hint, cause: e });
}
