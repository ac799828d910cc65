/**
 * `npm run bench [-- NAME [--OPTION VALUE...]...]`: every benchmark (or the named ones),
 * one after another, each in its own process; then the goals missed, all together.
 * Options after a name are that benchmark's own (`npm run bench -- fleet --hosts 10`).
 *
 *   startup        kfn --version / validate / plan against node -e 0
 *   control-plane  deploy, no-op plan, one entry changed, peak RSS against bpftool
 *   perpacket      chains against inlined and hand-chained functions (BPF_PROG_TEST_RUN)
 *   hitless        packets lost while a function is replaced 100 times (iperf3)
 *   fleet          one commit pushed to 50 hosts' reconcile agents against sequential kfn apply
 *
 * Run them on a quiet machine: they are heavy, and never alongside tests.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './lib.js';

const ALL = ['startup', 'control-plane', 'perpacket', 'hitless', 'fleet'];
const picked: { name: string; args: string[] }[] = [];
for (const a of process.argv.slice(2)) {
  if (a.startsWith('-')) {
    if (!picked.length) {
      process.stderr.write(`bench: ${a} comes before any benchmark name (options follow the benchmark they are for)\n`);
      process.exit(1);
    }
    picked.at(-1)!.args.push(a);
    continue;
  }
  const prev = picked.at(-1)?.args.at(-1);
  // A word after `--option` (without `=`) is its value, unless it names a benchmark.
  if (prev?.startsWith('-') && !prev.includes('=') && !ALL.includes(a)) picked.at(-1)!.args.push(a);
  else picked.push({ name: a, args: [] });
}
const unknown = picked.filter((p) => !ALL.includes(p.name)).map((p) => p.name);
if (unknown.length) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (known: ${ALL.join(', ')})\n`);
  process.exit(1);
}

function runOne(name: string, args: string[]): Promise<{ code: number | null; missed: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', `${name}.ts`), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
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
for (const { name, args } of picked.length ? picked : ALL.map((name) => ({ name, args: [] }))) {
  process.stderr.write(`bench: ${name}${args.length ? ` ${args.join(' ')}` : ''}\n`);
  const r = await runOne(name, args);
  if (r.code !== 0) failed.push(`${name} (exit ${r.code})`);
  missed.push(...r.missed.map((l) => `${name}: ${l.replace('GOAL MISSED: ', '')}`));
}
process.stdout.write('## summary\n\n');
process.stdout.write(missed.length ? `${missed.length} goal(s) missed:\n${missed.map((m) => `- ${m}`).join('\n')}\n` : 'Every goal met.\n');
if (failed.length) process.stdout.write(`Benchmarks that failed: ${failed.join(', ')}\n`);
process.exitCode = failed.length ? 1 : 0;
