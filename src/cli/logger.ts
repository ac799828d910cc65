import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/** Logs go to stderr; stdout is for the output meant for people (or --json data). */
export function createLogger(level: string, format: LogFormat): Logger {
  if (format === 'json') return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  return pino({ level }, pinoPretty({ destination: 2, sync: true, colorize: Boolean(process.stderr.isTTY) && !process.env.NO_COLOR, ignore: 'pid,hostname' }));
}
