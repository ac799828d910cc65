/** `kfn journal show` and `kfn journal clear`: inspect and drop a stuck apply journal. */
import type { Context } from '../context.js';
import { kernelEngine, parseDuration } from '../context.js';
import { renderJournal, renderJournalJson } from '../../views/index.js';

export function journalShowCommand(ctx: Context, flags: { json?: boolean }): number {
  const j = kernelEngine(ctx).journalStatus();
  process.stdout.write((flags.json ? renderJournalJson(j) : renderJournal(j, { color: ctx.color })) + '\n');
  return 0;
}

export async function journalClearCommand(ctx: Context, flags: { force?: boolean; lockTimeout?: string }): Promise<number> {
  const removed = await kernelEngine(ctx).clearJournal(Boolean(flags.force), flags.lockTimeout ? parseDuration(flags.lockTimeout) : 0);
  if (!removed.length) {
    process.stdout.write('No journal to clear.\n');
    return 0;
  }
  process.stdout.write(`Removed:${removed.map((f) => `\n  ${f}`).join('')}\nNothing in them was run: the kernel may still hold what an interrupted apply left; run kfn plan to see it.\n`);
  return 0;
}
