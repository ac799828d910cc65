import type { Context } from '../context.js';
import { loadDesired, manifestTarget } from '../context.js';

export function validateCommand(ctx: Context, target: string | undefined): number {
  const file = manifestTarget(target);
  const desired = loadDesired(file);
  const instances = desired.chains.reduce((n, c) => n + c.instances.length, 0);
  ctx.log.debug({ target: file }, 'manifests valid');
  process.stdout.write(`Success! ${desired.chains.length} chain(s), ${instances} function instance(s) in ${file} are valid.\n`);
  return 0;
}
