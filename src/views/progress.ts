/**
 * Progress of an apply or destroy for people: on a terminal one status line rewritten
 * in place (steps done of total, the current step, elapsed time); elsewhere one plain
 * line per step, which logs can keep.
 */
import type { EngineEvent } from '../engine/events.js';

export interface ProgressOptions {
  write: (text: string) => void;
  tty: boolean;
  /** Terminal width: a status line longer than this would wrap, and `\r` only rewrites its last row. */
  columns?: number;
  now?: () => number;
}

export function progressView(opts: ProgressOptions): { onEvent: (e: EngineEvent) => void; end: () => void } {
  const now = opts.now ?? Date.now;
  let started: number | undefined;
  let live = false;
  const clear = (): void => {
    if (live) opts.write('\r\x1b[K');
    live = false;
  };
  return {
    onEvent(e) {
      if (e.type !== 'step' && e.type !== 'undo') return;
      started ??= now();
      const secs = ((now() - started) / 1000).toFixed(1);
      const text = e.type === 'step' ? `[${e.n}/${e.total}] ${e.step.description}` : `undo: ${e.step.description}`;
      if (opts.tty) {
        const time = ` (${secs}s)`;
        // The step is cut, not the time; one column is left free so that the cursor never wraps.
        const room = opts.columns ? Math.max(1, opts.columns - 1 - time.length) : Infinity;
        opts.write(`\r\x1b[K${text.length > room ? `${text.slice(0, room - 1)}…` : text}${time}`);
        live = true;
      } else opts.write(`${text}\n`);
    },
    end: clear,
  };
}
