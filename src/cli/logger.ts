import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Logs go to stderr; stdout is for the output meant for people (or --json data). JSON
 * lines carry the level by name and an ISO time, so log pipelines need no pino mapping;
 * messages come with their fields (chain, step, revision, ...) as keys, not only in text.
 */
export function createLogger(level: string, format: LogFormat, color: boolean): Logger {
  if (format === 'json') {
    return pino(
      { level, base: { pid: process.pid }, formatters: { level: (label) => ({ level: label }) }, timestamp: pino.stdTimeFunctions.isoTime },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return pino({ level }, pinoPretty({ destination: 2, sync: true, colorize: color && Boolean(process.stderr.isTTY), ignore: 'pid,hostname' }));
}
