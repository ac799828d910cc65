// Loaded with `node --import` in front of the kfn CLI by the benchmarks: at exit, writes
// to $KFN_BENCH_PROBE_FILE the process's peak resident set size (KiB) and the packages
// of node_modules it loaded (every one kfn depends on is CommonJS, so require.cache
// names them all, however they were imported).
import fs from 'node:fs';
import { createRequire } from 'node:module';

const file = process.env.KFN_BENCH_PROBE_FILE;
const require = createRequire(import.meta.url);
if (file) {
  process.on('exit', () => {
    const packages = new Set();
    for (const p of Object.keys(require.cache)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p);
      if (m) packages.add(m[1]);
    }
    fs.writeFileSync(file, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, packages: [...packages].sort() }));
  });
}
