import path from 'node:path';
import type { Context } from '../context.js';
import { listFunctionsHere } from '../../engine/index.js';
import { renderFunctions, renderFunctionsJson } from '../../views/functions.js';

/** `kfn functions [PATH]`: the built-in library, plus PATH's KernelFunctions when given. No kernel needed. */
export function functionsCommand(ctx: Context, target: string | undefined, flags: { json?: boolean }): number {
  const fns = listFunctionsHere(target === undefined ? undefined : path.resolve(target));
  process.stdout.write((flags.json ? renderFunctionsJson(fns) : renderFunctions(fns, { color: ctx.color })) + '\n');
  return 0;
}
