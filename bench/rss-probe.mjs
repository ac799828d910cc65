// Loaded with `node --import` in front of the kfn CLI by the benchmarks: at exit, writes the
// process's peak resident set size (KiB) to $KFN_BENCH_RSS_FILE.
import fs from 'node:fs';

const file = process.env.KFN_BENCH_RSS_FILE;
if (file) process.on('exit', () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS)));
