/**
 * An instance's proceed-on word (see bpf/include/kfn.h): one u32 in its `kfn_proceed`
 * map. Bit i stands for verdict PROCEED_VERDICTS[i] (KFN_PASS = 0, KFN_DROP = 1) and the
 * word holds the difference from the default, so the zero word of a fresh map means
 * "proceed on pass only". Pure: no kernel.
 */
import { DEFAULT_PROCEED_ON, PROCEED_VERDICTS, type ProceedVerdict } from '../../core/types.js';

const mask = (set: readonly ProceedVerdict[]): number => PROCEED_VERDICTS.reduce((m, v, i) => (set.includes(v) ? m | (1 << i) : m), 0);

export const proceedWord = (set: readonly ProceedVerdict[]): number => mask(set) ^ mask(DEFAULT_PROCEED_ON);

export function proceedSet(word: number): ProceedVerdict[] {
  const m = word ^ mask(DEFAULT_PROCEED_ON);
  return PROCEED_VERDICTS.filter((_, i) => (m >> i) & 1);
}
