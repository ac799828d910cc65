/**
 * `npm run bench [-- NAME...]`: every benchmark (or the named ones), one after another,
 * each in its own process; then the goals missed, all together.
 *
 *   startup        kfn --version / validate / plan against node -e 0
 *   control-plane  deploy, no-op plan, one entry changed, peak RSS against bpftool
 *   perpacket      chains against inlined and hand-chained functions (BPF_PROG_TEST_RUN)
 *   hitless        packets lost while a function is replaced 100 times (iperf3)
 *
 * Run them on a quiet machine: they are heavy, and never alongside tests.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './lib.js';

const ALL = ['startup', 'control-plane', 'perpacket', 'hitless'];
const picked = process.argv.slice(2);
const unknown = picked.filter((n) => !ALL.includes(n));
if (unknown.length) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (known: ${ALL.join(', ')})\n`);
  process.exit(1);
}

function runOne(name: string): Promise<{ code: number | null; missed: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', `${name}.ts`)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.on('exit', (code) => resolve({ code, missed: out.split('\n').filter((l) => l.startsWith('GOAL MISSED:')) }));
  });
}

const missed: string[] = [];
const failed: string[] = [];
for (const name of picked.length ? picked : ALL) {
  process.stderr.write(`bench: ${name}\n`);
  const r = await runOne(name);
  if (r.code !== 0) failed.push(`${name} (exit ${r.code})`);
  missed.push(...r.missed.map((l) => `${name}: ${l.replace('GOAL MISSED: ', '')}`));
}
process.stdout.write('## summary\n\n');
process.stdout.write(missed.length ? `${missed.length} goal(s) missed:\n${missed.map((m) => `- ${m}`).join('\n')}\n` : 'Every goal met.\n');
if (failed.length) process.stdout.write(`Benchmarks that failed: ${failed.join(', ')}\n`);
process.exitCode = failed.length ? 1 : 0;
