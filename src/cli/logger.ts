import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** The part of pino's Logger that kfn uses. */
export type Log = Record<LogLevel, LogFn> & {
  isLevelEnabled(level: LogLevel): boolean;
  /** A logger whose lines also carry `fields`. */
  child(fields: Record<string, unknown>): Log;
};

/** pino's level numbers. */
const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

const require = createRequire(import.meta.url);

/**
 * Logs go to stderr; stdout is for the output meant for people (or --json data). JSON
 * lines carry the level by name and an ISO time, so log pipelines need no pino mapping;
 * messages come with their fields (chain, step, revision, ...) as keys, not only in text.
 *
 * pino, and for pretty logs pino-pretty, is loaded with the first line at an enabled
 * level: most commands log nothing, and loading both is a good part of a start-up.
 */
export function createLogger(level: string, format: LogFormat, color: boolean): Log {
  let root: Logger | undefined;
  const threshold = RANK[level as LogLevel] ?? RANK.warn;
  const lazy = (real: () => Logger): Log => {
    let logger: Logger | undefined;
    const get = (): Logger => (logger ??= real());
    const method =
      (l: LogLevel): LogFn =>
      (objOrMsg, msg) => {
        if (RANK[l] < threshold) return;
        if (msg === undefined) get()[l](objOrMsg as object);
        else get()[l](objOrMsg as object, msg);
      };
    return {
      trace: method('trace'),
      debug: method('debug'),
      info: method('info'),
      warn: method('warn'),
      error: method('error'),
      isLevelEnabled: (l) => RANK[l] >= threshold,
      child: (fields) => lazy(() => get().child(fields)),
    };
  };
  return lazy(() => (root ??= build(level, format, color)));
}

function build(level: string, format: LogFormat, color: boolean): Logger {
  const { pino } = require('pino') as typeof import('pino');
  if (format === 'json') {
    return pino(
      { level, base: { pid: process.pid }, formatters: { level: (label) => ({ level: label }) }, timestamp: pino.stdTimeFunctions.isoTime },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pino({ level }, pretty({ destination: 2, sync: true, colorize: color && Boolean(process.stderr.isTTY), ignore: 'pid,hostname' }));
}
