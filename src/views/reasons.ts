/** The words for each typed reason and plan note; JSON views use the codes. */
import type { HostSelector, PlanNote, Reason } from '../core/types.js';
import { whereText } from './format.js';

const REATTACH = '(re-attaches the root: packets in flight during the switch skip the chain)';

export function reasonText(r: Reason): string {
  switch (r.code) {
    case 'chain-missing':
      return 'not present in the kernel';
    case 'chain-unwanted':
      return 'no longer in the manifests';
    case 'chain-gone':
      return 'already gone from the kernel and no longer in the manifests: kfn forgets it';
    case 'chain-renamed':
      return `renamed from "${r.from}"`;
    case 'adopted':
      return `applied before stacks existed: stack "${r.stack}" takes it over`;
    case 'xdp-mode-changed':
      return `XDP mode ${r.from} -> ${r.to} ${REATTACH}`;
    case 'tc-position-changed':
      return `position ${r.from} -> ${r.to} ${REATTACH}`;
    case 'reordered':
      return 'instances reordered';
    case 'drift':
      return 'drift';
    case 'instance-drift':
      return 'changed outside kfn: reloaded, its state carried over';
    case 'instance-added':
      return 'added to the chain';
    case 'instance-removed':
      return 'removed from the manifests';
    case 'orphaned':
      return 'orphaned: pinned by kfn but not reachable from the chain root';
    case 'forces-replacement':
      return 'forces replacement';
    case 'maps-differ':
      return 'map entries differ';
    case 'map-drift':
      return `map ${r.map} changed outside kfn`;
    case 'proceed-on-changed':
      return `proceed-on [${r.from.join(', ')}] -> [${r.to.join(', ')}], in place (nothing is reloaded)`;
    case 'proceed-on-drift':
      return 'proceed-on changed outside kfn';
    case 'moved':
      return `moved: position ${r.from} -> ${r.to}`;
    case 'copied':
      return 'reloaded as a copy sharing its maps';
    case 'successor-changed':
      return 'reloaded as a copy sharing its maps: its successor changes';
    case 'chain-rebuilt':
      return 'reloaded as a copy sharing its maps: the damaged chain is rebuilt';
    case 'damaged':
      return `replaced: ${r.what}`;
    case 'probe-missing':
      return 'not present in the kernel';
    case 'probe-unwanted':
      return 'no longer in the manifests';
    case 'target-changed':
      return `attach point ${r.from} -> ${r.to}`;
    case 'detached':
      return 'its link is gone: attached again';
  }
}

/** Terraform-style `action_reason`: the reason code in snake_case. */
export function reasonCode(r: Reason): string {
  return r.code.replace(/-/g, '_');
}

export function selectorText(sel: HostSelector): string {
  const parts: string[] = [];
  if (sel.hostnames?.length) parts.push(`hostnames ${sel.hostnames.join(', ')}`);
  const labels = Object.entries(sel.labels ?? {});
  if (labels.length) parts.push(`labels ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return parts.join('; ') || 'every host';
}

export function noteText(n: PlanNote): string {
  switch (n.code) {
    case 'owned-by-stack':
      return `chain "${n.chainName}" on ${whereText(n.attachment)} is owned by stack "${n.stack}" and left alone`;
    case 'unowned':
      return `chain "${n.chainName}" on ${whereText(n.attachment)} was applied before stacks and is owned by none: it is left alone (a stack that declares it adopts it; kfn destroy --all removes it)`;
    case 'host-not-selected':
      return `chain "${n.chainName}" is skipped: this host is not selected (${selectorText(n.selector)})`;
  }
}

export const noteCode = (n: PlanNote): string => n.code.replace(/-/g, '_');
