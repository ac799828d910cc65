/**
 * The kernel reading behind `kfn stats` and `kfn top`: for every instance of the selected
 * live chains, its tagged counters and the flows of its flow tables, through the chain form.
 */
import type { ChainForm } from '../forms/form.js';
import type { LiveState } from '../core/types.js';
import { compareAttachments } from '../plan/index.js';
import { flowsOf } from '../flows/flows.js';
import { selectChains, type ChainSelection } from '../visibility/select.js';
import type { InstanceSample, Sample } from '../visibility/sample.js';

export interface SampleOptions extends ChainSelection {
  /** Read the flow tables too (top); counters only otherwise (stats). */
  flows?: boolean;
}

export function readSample(form: ChainForm, live: LiveState, opts: SampleOptions, onSkip: (e: unknown) => void = () => {}): Sample {
  const atNs = process.hrtime.bigint();
  const chains = selectChains([...live.chains].sort((a, b) => compareAttachments(a.attachment, b.attachment)), opts);
  const instances: InstanceSample[] = [];
  for (const c of chains) {
    for (const i of c.instances) {
      try {
        instances.push({
          chain: c.chainName,
          attachment: c.attachment,
          ...(c.stack !== undefined ? { stack: c.stack } : {}),
          instance: i.name,
          function: i.identity.function,
          version: i.identity.version,
          progId: i.progId,
          counters: form.counters(i),
          flows: opts.flows ? flowsOf(form.stats(i, Infinity)) : [],
        });
      } catch (e) {
        // Replaced or destroyed by an apply between the chain read and this one: it is no longer there to count.
        onSkip(e);
      }
    }
  }
  return { atNs, instances };
}
