import type { Context } from '../context.js';
import { manifestTarget } from '../context.js';
import { isKfnError } from '../../core/errors.js';
import { loadDesired } from '../../engine/desired.js';
import { renderValidateJson } from '../../views/validate-json.js';

export function validateCommand(ctx: Context, target: string | undefined, flags: { json?: boolean }): number {
  const file = manifestTarget(target);
  if (flags.json) {
    try {
      process.stdout.write(renderValidateJson(file, { desired: loadDesired(file, { revision: false, stack: false }) }) + '\n');
      return 0;
    } catch (e) {
      if (!isKfnError(e)) throw e;
      process.stdout.write(renderValidateJson(file, { error: e }) + '\n');
      return 1;
    }
  }
  const desired = loadDesired(file, { revision: false, stack: false });
  const instances = desired.chains.reduce((n, c) => n + c.instances.length, 0);
  ctx.log.debug({ target: file }, 'manifests valid');
  const probes = desired.probes?.length ? `, ${desired.probes.length} probe(s)` : '';
  process.stdout.write(`Success! ${desired.chains.length} chain(s), ${instances} function instance(s)${probes} in ${file} are valid.\n`);
  return 0;
}
