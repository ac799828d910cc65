/** Logs go to stderr; stdout is for the output meant for people (or --json data). */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** The part of pino's Logger that kfn uses, and whether a level is logged at all. */
export type Log = Record<LogLevel, LogFn> & { enabled(level: LogLevel): boolean };

/** pino's level numbers. */
const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

const require = createRequire(import.meta.url);

/**
 * pino, and for pretty logs pino-pretty, is loaded with the first line at an enabled
 * level: most commands log nothing, and loading both is a good part of a start-up.
 */
export function createLogger(level: LogLevel, format: LogFormat): Log {
  let logger: Logger | undefined;
  const method =
    (l: LogLevel): LogFn =>
    (objOrMsg, msg) => {
      if (RANK[l] < RANK[level]) return;
      logger ??= build(level, format);
      if (msg === undefined) logger[l](objOrMsg as object);
      else logger[l](objOrMsg as object, msg);
    };
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    enabled: (l) => RANK[l] >= RANK[level],
  };
}

function build(level: LogLevel, format: LogFormat): Logger {
  const { pino } = require('pino') as typeof import('pino');
  if (format === 'json') return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pino({ level }, pretty({ destination: 2, sync: true, colorize: Boolean(process.stderr.isTTY) && !process.env.NO_COLOR, ignore: 'pid,hostname' }));
}
