/** `kfn import l3af`: an l3afd configuration to manifests, then the same check `kfn validate` makes. */
import path from 'node:path';
import type { Context } from '../context.js';
import { loadDesired } from '../../engine/index.js';

export interface ImportL3afFlags {
  objects: string;
  out: string;
  iface?: string[];
  host?: string;
  netns?: string;
}

export async function importL3afCommand(ctx: Context, payload: string, flags: ImportL3afFlags): Promise<number> {
  const { importL3af, parseIfaceRenames, renderReport, writeImport } = await import('../../import/l3af.js');
  const renames = parseIfaceRenames(flags.iface ?? []);
  const result = await importL3af(payload, {
    objectsDir: flags.objects,
    ...(Object.keys(renames).length ? { ifaceRenames: renames } : {}),
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...(flags.netns !== undefined ? { netns: flags.netns } : {}),
  });
  const out = path.resolve(flags.out);
  writeImport(result, out);
  process.stdout.write(renderReport(result.report));
  process.stdout.write(`Wrote ${result.files.map((f) => f.path).filter((p) => !p.includes('/')).join(', ')} and ${result.report.functions.length} object(s) to ${out}.\n`);
  // The output must be usable as it is: validated exactly as `kfn validate` would.
  const desired = loadDesired(out);
  const instances = desired.chains.reduce((n, c) => n + c.instances.length, 0);
  ctx.log.debug({ out }, 'imported manifests valid');
  process.stdout.write(`The manifests are valid: ${desired.chains.length} chain(s), ${instances} function instance(s). Review them, then run: kfn plan ${flags.out}\n`);
  return 0;
}
