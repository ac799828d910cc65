/**
 * The words for each kind of drift. One definition: chain forms fill LiveChain.drift with
 * them (what plan and show print), and `kfn drift` / `kfn status` print the same.
 */
import type { DriftKind, ProceedVerdict } from './types.js';

const proceedList = (v: readonly ProceedVerdict[]): string => (v.length ? v.join(', ') : 'nothing');

export function driftText(d: DriftKind): string {
  switch (d.code) {
    case 'metadata-missing':
      return 'chain metadata is missing';
    case 'pin-missing':
      if (d.instance === undefined && d.pin === 'link') return 'root link is missing';
      return d.instance === undefined ? `pin ${d.pin} of the chain is missing` : `pin ${d.pin} of ${d.instance} is missing`;
    case 'netns-missing':
      return `network namespace ${d.netns} no longer exists`;
    case 'interface-missing':
      return `interface ${d.ifname} no longer exists`;
    case 'interface-recreated':
      return `interface ${d.ifname} was recreated; the root link is defunct`;
    case 'root-detached':
      return "root detached: kfn's link was detached from the hook outside kfn";
    case 'link-defunct':
      return `the root link is defunct: it was detached, or interface ${d.ifname} was recreated`;
    case 'root-not-attached':
      return d.running === undefined ? 'root is not attached to the tcx hook' : `root is not attached (XDP runs ${d.running ? `program ${d.running}` : 'nothing'})`;
    case 'foreign-in-chain':
      return `foreign program ${d.progId} (${d.progName}) is in the chain after ${d.after ?? 'the root'}`;
    case 'loop':
      return `the chain loops back to ${d.to}`;
    case 'bypassed':
      return `chain bypassed after ${d.after ?? 'the root'}: its slot is empty, ${d.unreached.join(', ')} no longer reached`;
    case 'position-lost':
      return `program ${d.progId} (${d.progName}) runs ${d.position === 'first' ? 'before' : 'after'} kfn's root, which should be ${d.position} on the hook`;
    case 'map-edited':
      return `map ${d.map} of ${d.instance} was edited outside kfn`;
    case 'proceed-on-edited':
      return `proceed-on of ${d.instance} was changed outside kfn: it continues on ${proceedList(d.live)}, kfn wrote ${proceedList(d.applied)}`;
    case 'foreign-on-hook':
      return `foreign program ${d.progId} (${d.progName}) holds kfn's hook`;
    case 'chain-removed':
      return "the chain is gone: kfn applied it, but none of its pins are left";
    case 'instance-drift':
      return `${d.instance}: ${d.text}`;
    case 'other':
      return d.text;
  }
}
