/** The words for each typed reason; JSON views use the codes. */
import type { Reason } from '../core/types.js';

const REATTACH = '(re-attaches the root: packets in flight during the switch skip the chain)';

export function reasonText(r: Reason): string {
  switch (r.code) {
    case 'chain-missing':
      return 'not present in the kernel';
    case 'chain-unwanted':
      return 'no longer in the manifests';
    case 'chain-renamed':
      return `renamed from "${r.from}"`;
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
