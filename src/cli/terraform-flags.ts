/**
 * Terraform's single-dash spellings (`-out=FILE`, `-json`, `-auto-approve`, ...) work as
 * they do there; any other single-dash word is refused, never misparsed as a bundle of
 * short flags (commander would read `-out=plan.out` as `-o ut=plan.out`).
 */
import { KfnError } from '../core/errors.js';

const LONG = new Set(['out', 'json', 'detailed-exitcode', 'auto-approve', 'lock-timeout', 'stats', 'all', 'log-level', 'log-format', 'version', 'help', 'packets', 'junit']);
const SHORT = new Set(['o', 'h', 'V']);

export function normalizeArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  let rest = false;
  for (const arg of argv) {
    if (rest || !/^-[^-]/.test(arg)) {
      if (arg === '--') rest = true;
      out.push(arg);
      continue;
    }
    const m = /^-([A-Za-z][A-Za-z-]*)(=.*)?$/s.exec(arg);
    const name = m?.[1];
    if (name !== undefined && LONG.has(name)) out.push(`--${name}${m![2] ?? ''}`);
    else if (name !== undefined && SHORT.has(name[0]!) && m![2] === undefined) out.push(arg);
    else {
      const guess = name ? name.replace(/=.*$/, '') : arg.slice(1);
      throw new KfnError('USAGE', `unknown option ${JSON.stringify(arg.split('=')[0]!)}`, {
        hint: LONG.has(guess) ? `write --${guess}` : `long options take two dashes (--${guess}); see kfn --help`,
      });
    }
  }
  return out;
}
