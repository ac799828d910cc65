/** The words for each kind of chain damage: the `drift` lines of `kfn show` and `kfn plan`. */
import type { ChainDamage } from './types.js';

const after = (name: string | null): string => (name === null ? 'the root' : name);

export function damageText(d: ChainDamage): string {
  switch (d.kind) {
    case 'chain-meta-missing':
      return 'chain metadata is missing';
    case 'link-missing':
      return 'root link is missing';
    case 'root-pin-missing':
      return `the root program's pin was removed (prog ${d.progId} still runs through kfn's link)`;
    case 'root-missing':
      return 'the chain root program is gone';
    case 'netns-missing':
      return `network namespace ${d.netns} no longer exists`;
    case 'interface-missing':
      return `interface ${d.ifname} no longer exists`;
    case 'interface-recreated':
      return `interface ${d.ifname} was recreated; the root link is defunct`;
    case 'interface-renamed':
      return `interface ${d.from} was renamed to ${d.to}; the chain still runs there${d.conflict ? ` (kfn also has a chain recorded for ${d.to})` : ''}`;
    case 'not-attached':
      if (d.hook !== 'xdp') return 'root is not attached to the tcx hook';
      return `root is not attached (XDP runs ${d.runs ? `program ${d.runs.progId}` : 'nothing'})`;
    case 'foreign-in-chain':
      return `foreign program ${d.progId} (${d.progName}) is in the chain after ${after(d.after)}`;
    case 'loop':
      return `the chain loops back to ${d.to} after ${d.after}`;
    case 'bypassed':
      return `chain bypassed after ${after(d.after)}: its slot is empty, so ${d.skipped.join(', ')} never run${d.skipped.length === 1 ? 's' : ''}`;
    case 'slot-pin-missing':
      return `chain bypassed after ${after(d.after)}: its ${d.after === null ? 'root_next' : 'kfn_next'} pin was removed, so the kernel emptied the slot`;
    case 'instance-prog-pin-missing':
      return `the program pin of ${d.instance} was removed (prog ${d.progId} still runs)`;
    case 'instance-maps-missing':
      return `maps of ${d.instance} were unpinned (${d.maps.join(', ')})${d.recoverable ? '' : ' and cannot be recovered'}`;
    case 'instance-meta-missing':
      return `instance ${d.dir} has no metadata${d.inChain ? ' but runs in the chain' : ''}`;
  }
}
