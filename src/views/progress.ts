/**
 * Progress of an apply or destroy for people: on a terminal one status line rewritten
 * in place (steps done of total, the current step, elapsed time); elsewhere one plain
 * line per step, which logs can keep.
 */
import type { EngineEvent } from '../engine/events.js';

export interface ProgressOptions {
  write: (text: string) => void;
  tty: boolean;
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
        opts.write(`\r\x1b[K${text} (${secs}s)`);
        live = true;
      } else opts.write(`${text}\n`);
    },
    end: clear,
  };
}
