/**
 * Terraform's single-dash spellings (`-out=FILE`, `-json`, `-auto-approve`, ...) work as
 * they do there; any other single-dash word is refused, never misparsed as a bundle of
 * short flags (commander would read `-out=plan.out` as `-o ut=plan.out`, and `-outfile` as
 * `-o utfile`): a short flag stands alone, its value in the next word.
 */
import { KfnError } from '../core/errors.js';
import { closest } from '../core/closest.js';

const LONG = new Set(['out', 'json', 'detailed-exitcode', 'auto-approve', 'lock-timeout', 'stats', 'all', 'log-level', 'log-format', 'version', 'help', 'packets', 'junit']);
const SHORT = new Set(['o', 'h', 'V']);
/** The spellings Terraform users type, named in the hint. */
const TERRAFORM = ['out=FILE', 'json', 'detailed-exitcode', 'auto-approve', 'lock-timeout=DURATION'];

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
    else if (SHORT.has(arg.slice(1))) out.push(arg);
    else throw unknownOption(arg, name);
  }
  return out;
}

function unknownOption(arg: string, name: string | undefined): KfnError {
  const word = name ?? arg.slice(1).replace(/=.*$/s, '');
  const short = SHORT.has(arg[1] ?? '') ? arg[1] : undefined;
  const guess = closest(word, [...LONG]);
  let hint: string;
  if (guess) hint = `did you mean -${guess}? see kfn --help`;
  else if (short === 'o') hint = 'write -o FILE (the value in the next word) or -out=FILE';
  else hint = `kfn takes ${TERRAFORM.map((o) => `-${o}`).join(', ')} as Terraform does; other options take two dashes (see kfn --help)`;
  return new KfnError('USAGE', `unknown option ${JSON.stringify(arg.split('=')[0]!)}`, { hint });
}
