/** kfn's own version, from package.json (shipped beside dist/). */
import fs from 'node:fs';
import { installPath } from './install.js';

let cached: string | undefined;

export function kfnVersion(): string {
  cached ??= (JSON.parse(fs.readFileSync(installPath('package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
