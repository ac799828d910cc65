/** What every command needs: paths, logger, colors (kernel commands add an engine: kernel-engine.ts). */
import path from 'node:path';
import ms from 'ms';
import { kfnPaths, type KfnPaths } from '../core/config.js';
import { KfnError } from '../core/errors.js';
import { setLibbpfSink, type LibbpfLevel } from '../libbpf/log.js';
import { createLogger, type Log, type LogFormat, type LogLevel } from './logger.js';

export interface GlobalOptions {
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export interface Context {
  paths: KfnPaths;
  log: Log;
  color: boolean;
  logFormat: LogFormat;
}

export function createContext(opts: GlobalOptions): Context {
  const log = createLogger(opts.logLevel, opts.logFormat);
  const levelOf = (l: LibbpfLevel): LogLevel => (l === 'warn' ? 'debug' : 'trace');
  setLibbpfSink(
    (level, msg) => log[levelOf(level)]({ libbpf: true }, msg),
    (level) => log.enabled(levelOf(level)),
  );
  return { paths: kfnPaths(), log, color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR, logFormat: opts.logFormat };
}

export const DEFAULT_MANIFESTS = 'manifests';

export function manifestTarget(arg: string | undefined): string {
  return path.resolve(arg ?? DEFAULT_MANIFESTS);
}

/** `30s`, `2m`, `1h`, `500ms`, or a bare number of seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  // ms() throws on an empty string instead of returning NaN.
  const value = /^\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : t ? ms(t as ms.StringValue) : NaN;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new KfnError('USAGE', `invalid duration "${text}" (examples: 500ms, 30s, 2m, 1h)`, { hint: 'a number with a unit: ms, s, m, h' });
  }
  return value;
}
