/** Proceed-on in words: what each verdict of an instance does to the chain. */
import { PROCEED_VERDICTS, type ProceedVerdict } from '../core/types.js';

export const setText = (set: readonly ProceedVerdict[]): string => `[${set.join(', ')}]`;

const effect = (v: ProceedVerdict, set: readonly ProceedVerdict[]): string => `${v} ${set.includes(v) ? 'goes on to the next function' : 'ends the chain'}`;

/** Every verdict's effect: `pass goes on to the next function, drop ends the chain`. */
export function proceedOnMeaning(set: readonly ProceedVerdict[]): string {
  return PROCEED_VERDICTS.map((v) => effect(v, set)).join(', ');
}

/** Only what changes: `drop now goes on to the next function`. */
export function proceedOnEffect(from: readonly ProceedVerdict[], to: readonly ProceedVerdict[]): string {
  const changed = PROCEED_VERDICTS.filter((v) => from.includes(v) !== to.includes(v));
  return changed.map((v) => effect(v, to).replace(`${v} `, `${v} now `)).join(', ');
}
