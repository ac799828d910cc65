/** Which live chains `kfn stats` and `kfn top` read: all, or those named by --chain / --interface. */
import { KfnError } from '../core/errors.js';
import type { LiveChain } from '../core/types.js';

export interface ChainSelection {
  chains?: readonly string[];
  interfaces?: readonly string[];
}

const listed = (names: Iterable<string>): string => {
  const all = [...new Set(names)].sort();
  return all.length ? all.join(', ') : 'none';
};

/**
 * The chains selected; a name that selects nothing is an error (a typo must not look
 * like an idle chain).
 */
export function selectChains(chains: readonly LiveChain[], sel: ChainSelection): LiveChain[] {
  for (const name of sel.chains ?? []) {
    if (!chains.some((c) => c.chainName === name)) {
      throw new KfnError('CHAIN_NOT_FOUND', `no chain named "${name}" runs on this host`, { hint: `chains kfn runs here: ${listed(chains.map((c) => c.chainName))} (kfn show lists them)` });
    }
  }
  for (const ifname of sel.interfaces ?? []) {
    if (!chains.some((c) => c.attachment.ifname === ifname)) {
      throw new KfnError('INTERFACE_NOT_FOUND', `no chain of kfn runs on interface "${ifname}"`, { hint: `interfaces with chains: ${listed(chains.map((c) => c.attachment.ifname))}` });
    }
  }
  return chains.filter(
    (c) => (!sel.chains?.length || sel.chains.includes(c.chainName)) && (!sel.interfaces?.length || sel.interfaces.includes(c.attachment.ifname)),
  );
}
