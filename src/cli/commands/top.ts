/**
 * `kfn top`: the busiest flows and each function's rates, from two readings of the kernel
 * counters one interval apart. Live, it redraws in place on a terminal (a new frame after
 * the last otherwise) until q, Ctrl-C or SIGTERM; `--once` prints one report and exits.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../context.js';
import { kernelEngine, parseCount, parseInterval } from '../context.js';
import { KfnError } from '../../core/errors.js';
import { renderTop, renderTopJson } from '../../views/index.js';
import { SortBy, topReport } from '../../visibility/sample.js';
import type { SampleOptions } from '../../engine/index.js';

export interface TopFlags {
  interval: string;
  once?: boolean;
  json?: boolean;
  sort: SortBy;
  limit: string;
  chain?: string[];
  interface?: string[];
}

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** Stops `stop` on q / Ctrl-C typed on a terminal (raw mode: Ctrl-C arrives as a byte, not SIGINT); returns the undo. */
function quitKeys(stop: AbortController): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => {};
  const onData = (b: Buffer): void => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) stop.abort();
  };
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}

export async function topCommand(ctx: Context, flags: TopFlags): Promise<number> {
  const intervalMs = parseInterval(flags.interval);
  const limit = parseCount(flags.limit, '--limit');
  if (flags.json && !flags.once) throw new KfnError('USAGE', '--json needs --once', { hint: 'kfn top --once --json prints one report of rates over one interval' });
  const engine = kernelEngine(ctx);
  await engine.recover();
  const sel: SampleOptions = { flows: true, ...(flags.chain ? { chains: flags.chain } : {}), ...(flags.interface ? { interfaces: flags.interface } : {}) };
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = Boolean(process.stdout.isTTY) && !flags.once;
  const undoKeys = flags.once ? () => {} : quitKeys(stop);
  try {
    let before = engine.sample(sel);
    ctx.log.info({ instances: before.instances.length, interval_ms: intervalMs }, 'first reading of the counters taken');
    if (tty) process.stdout.write(`${HIDE_CURSOR}${CLEAR}kfn top: the first rates come in ${flags.interval} (q or Ctrl-C quits)`);
    for (;;) {
      try {
        await delay(intervalMs, undefined, { signal: stop.signal });
      } catch {
        return flags.once ? 130 : 0; // q, Ctrl-C or SIGTERM
      }
      const now = engine.sample(sel);
      const report = topReport(before, now, { sortBy: flags.sort, limit });
      if (flags.once) {
        process.stdout.write((flags.json ? renderTopJson(report) : renderTop(report, { color: ctx.color, every: flags.interval })) + '\n');
        return 0;
      }
      const frame = renderTop(report, { color: ctx.color, every: flags.interval, live: true });
      process.stdout.write(tty ? CLEAR + frame : frame + '\n\n');
      before = now;
    }
  } finally {
    undoKeys();
    if (tty) process.stdout.write(SHOW_CURSOR + '\n');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
