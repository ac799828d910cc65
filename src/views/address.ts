/**
 * Resource addresses of the JSON contract, after Terraform's: a chain is
 * `chain.<name>["<interface>/<hook>"]` (the key is the hook label, with `<netns>:` in
 * front outside the default netns), an instance `<chain address>.fn.<name>`.
 */
import { attachmentLabel, type Attachment } from '../core/types.js';

export function chainAddress(name: string, a: Attachment): string {
  return `chain.${name}[${JSON.stringify(attachmentLabel(a))}]`;
}

export function instanceAddress(chain: string, a: Attachment, instance: string): string {
  return `${chainAddress(chain, a)}.fn.${instance}`;
}

/** A probe: `probe.<name>`. */
export function probeAddress(name: string): string {
  return `probe.${name}`;
}

/** The address of what a planned step acts on. */
export function stepAddress(s: { chain?: Attachment; chainName?: string; instance?: string; probe?: string }): string {
  if (s.probe !== undefined || !s.chain || s.chainName === undefined) return probeAddress(s.probe ?? '?');
  return s.instance !== undefined ? instanceAddress(s.chainName, s.chain, s.instance) : chainAddress(s.chainName, s.chain);
}
