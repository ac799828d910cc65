/** kfn's own version, from package.json (shipped beside dist/). */
import fs from 'node:fs';

let cached: string | undefined;

export function kfnVersion(): string {
  cached ??= (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
