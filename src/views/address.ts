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

