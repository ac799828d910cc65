/**
 * Expansion of a desired chain's `interfaces` patterns against the live interfaces of
 * its network namespace, and the stable ordering of attachments. Pure.
 */
import { KfnError } from '../core/errors.js';
import { HOOKS, DEFAULT_NETNS, attachmentKey } from '../core/types.js';
import type { Attachment, DesiredChain, LiveState } from '../core/types.js';

export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** `*` = any run of characters, `?` = exactly one; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  let src = '';
  for (const ch of pattern) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${src}$`, 's');
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Order of attachments everywhere kfn lists them: netns, interface, hook (xdp, tc-ingress, tc-egress). */
export function compareAttachments(a: Attachment, b: Attachment): number {
  return cmpStr(a.netns, b.netns) || cmpStr(a.ifname, b.ifname) || HOOKS.indexOf(a.hook) - HOOKS.indexOf(b.hook);
}

export function netnsText(netns: string): string {
  return netns === DEFAULT_NETNS ? 'the default netns' : `netns ${netns}`;
}

/** The new name of an interface a live chain was attached to under `ifname`, if it was renamed. */
function renamedTo(live: LiveState, netns: string, ifname: string): string | undefined {
  for (const c of live.chains) {
    for (const d of c.driftKinds ?? []) if (d.code === 'interface-renamed' && d.from === ifname && c.attachment.netns === netns) return d.to;
  }
  return undefined;
}

export interface ExpandedChain {
  chain: DesiredChain;
  attachments: Attachment[];
}

/**
 * Expand every desired chain into its attachments. Throws NETNS_NOT_FOUND,
 * INTERFACE_NOT_FOUND or CHAIN_CONFLICT; a glob that matches nothing adds a warning.
 */
export function expandChains(chains: readonly DesiredChain[], live: LiveState, warnings: string[]): ExpandedChain[] {
  const missing = new Set(live.missingNetns);
  const byNetns = new Map<string, string[]>();
  for (const i of live.interfaces) {
    const list = byNetns.get(i.netns) ?? [];
    list.push(i.ifname);
    byNetns.set(i.netns, list);
  }
  for (const list of byNetns.values()) list.sort(cmpStr);

  const owner = new Map<string, DesiredChain>();
  const out: ExpandedChain[] = [];
  for (const chain of chains) {
    if (missing.has(chain.netns)) {
      throw new KfnError('NETNS_NOT_FOUND', `chain "${chain.name}": network namespace "${chain.netns}" does not exist`, {
        source: chain.source,
        hint: `create it (ip netns add ${chain.netns}) or fix "netns:" in the manifest`,
      });
    }
    const names = byNetns.get(chain.netns) ?? [];
    const picked = new Set<string>();
    for (const [i, pattern] of chain.interfaces.entries()) {
      if (isGlob(pattern)) {
        const re = globToRegExp(pattern);
        const hits = names.filter((n) => re.test(n));
        if (hits.length === 0) {
          warnings.push(`chain "${chain.name}": interface pattern "${pattern}" matches no interface in ${netnsText(chain.netns)}`);
        }
        for (const h of hits) picked.add(h);
      } else {
        if (!names.includes(pattern)) {
          const renamed = renamedTo(live, chain.netns, pattern);
          throw new KfnError('INTERFACE_NOT_FOUND', `chain "${chain.name}": interface "${pattern}" not found in netns ${chain.netns}${renamed ? ` (it was renamed to ${renamed}, where kfn's chain still runs)` : ''}`, {
            source: chain.interfaceSources?.[i] ?? chain.source,
            hint: renamed
              ? `name ${renamed} in the manifest (kfn then moves its chain's bookkeeping there), or rename the interface back`
              : `check the name with "ip${chain.netns === DEFAULT_NETNS ? '' : ` -n ${chain.netns}`} link", or use a glob ("${pattern}*") if the interface may be absent`,
          });
        }
        picked.add(pattern);
      }
    }
    const attachments: Attachment[] = [...picked].sort(cmpStr).map((ifname) => ({ netns: chain.netns, ifname, hook: chain.hook }));
    for (const a of attachments) {
      const key = attachmentKey(a);
      const other = owner.get(key);
      if (other) {
        throw new KfnError(
          'CHAIN_CONFLICT',
          `chains "${other.name}" and "${chain.name}" both attach to ${a.ifname}/${a.hook} in netns ${a.netns}`,
          {
            source: chain.source,
            hint: 'an interface hook carries exactly one chain: merge the two chains or narrow their "interfaces:" patterns',
          },
        );
      }
      owner.set(key, chain);
    }
    out.push({ chain, attachments });
  }
  return out;
}
