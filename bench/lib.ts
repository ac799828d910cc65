/**
 * What the benchmarks share: timed child processes, medians, a private kfn installation
 * (pin root, state dir, manifest dir) and a netns full of ifb interfaces, the report
 * table with its goals, and cleanup that runs even when a benchmark throws or is
 * interrupted. Every child process gets a timeout.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
export const CLI = path.join(REPO, 'dist/cli/main.js');
export const BPF_BUILD = path.join(REPO, 'bpf/build');
/** Objects built by bench/bpf/Makefile: bench-only programs and the XDP-only copies bpftool loads. */
export const BENCH_BUILD = path.join(REPO, 'bench/bpf/build');
/** Loaded with `node --import` in front of the CLI: the process's peak RSS and the packages it loaded. */
export const PROBE = path.join(REPO, 'bench/probe.mjs');

export interface Timed {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and times it (wall clock, spawn included). */
export function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {}): Timed {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: opts.env ?? process.env,
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 300_000,
    maxBuffer: 256 * 1024 * 1024,
    cwd: opts.cwd ?? REPO,
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  return { ms, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like timed, but a non-zero exit is an error naming the command and its output. */
export function mustRun(cmd: string, args: string[], opts: Parameters<typeof timed>[2] = {}): Timed {
  const r = timed(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ').slice(0, 200)} exited ${r.code}\n${r.stderr.slice(-2000)}${r.stdout.slice(-1000)}`);
  return r;
}

export function quiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 });
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Median wall time of `runs` runs of `fn` (ms), after `warmup` untimed runs. */
export function medianMs(runs: number, fn: () => number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(fn());
  return median(xs);
}

/** `base` plus two characters of the pid: concurrent runs never share names. */
export function benchPrefix(base: string): string {
  return base + (process.pid % 1296).toString(36).padStart(2, '0');
}

/** Why the kernel benchmarks cannot run here (undefined when they can). */
export function kernelUnavailable(tools: string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    if (fs.statfsSync('/sys/fs/bpf').type !== 0xcafe4a11) return '/sys/fs/bpf is not a bpf filesystem';
  } catch {
    return '/sys/fs/bpf is missing';
  }
  for (const t of ['ip', 'bpftool', ...tools]) {
    if (spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0) return `command ${t} not found (scripts/bootstrap.sh installs it)`;
  }
  if (!fs.existsSync(CLI)) return `${CLI} missing: run npm run build`;
  if (!fs.existsSync(path.join(BPF_BUILD, 'root.bpf.o'))) return 'bpf/build missing: run npm run build';
  return undefined;
}

/** Builds bench/bpf (bench-only programs, XDP-only copies of the shipped functions). */
export function buildBenchObjects(): void {
  mustRun('make', ['-s', '-C', path.join(REPO, 'bench/bpf')]);
}

// ------------------------------------------------------------------ cleanup

const cleanups: (() => void)[] = [];

/** Registers `fn` to run at exit (last registered runs first), also on SIGINT / SIGTERM. */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

export function runCleanups(): void {
  while (cleanups.length) {
    try {
      cleanups.pop()!();
    } catch (e) {
      process.stderr.write(`bench: cleanup: ${(e as Error).message}\n`);
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    runCleanups();
    process.exit(130);
  });
}
process.on('exit', runCleanups);

// ------------------------------------------------------------------ probed runs

export interface ProbeResult {
  rssMb: number;
  /** Packages of node_modules the process loaded. */
  packages: string[];
}

/** Runs `node ARGV` with bench/probe.mjs loaded first: its peak RSS and the packages it loaded. */
export function probed(argv: string[], env: NodeJS.ProcessEnv = process.env): Timed & { probe: ProbeResult } {
  const file = path.join(os.tmpdir(), `kfn-bench-probe-${process.pid}-${process.hrtime.bigint()}`);
  try {
    const r = timed(process.execPath, ['--import', PROBE, ...argv], { env: { ...env, KFN_BENCH_PROBE_FILE: file } });
    const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { maxRssKb: number; packages: string[] };
    return { ...r, probe: { rssMb: p.maxRssKb / 1024, packages: p.packages } };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

// ------------------------------------------------------------------ environments

/** A private kfn installation: its own pin root, state dir and manifest dir, removed at exit. */
export class KfnInstall {
  readonly pinRoot: string;
  readonly stateDir: string;
  readonly dir: string;
  private readonly tmp: string;

  constructor(readonly name: string) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    this.pinRoot = `/sys/fs/bpf/${name}`;
    this.stateDir = path.join(this.tmp, 'state');
    this.dir = path.join(this.tmp, 'manifests');
    fs.mkdirSync(this.dir, { recursive: true });
    onCleanup(() => this.remove());
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, KFN_PIN_ROOT: this.pinRoot, KFN_STATE_DIR: this.stateDir, NO_COLOR: '1' };
  }

  write(file: string, text: string | Uint8Array): string {
    const p = path.join(this.dir, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    return p;
  }

  /** `kfn ARGS` with this installation's environment, timed. */
  kfn(args: string[], opts: { expect?: number[]; probe?: boolean } = {}): Timed & { probe?: ProbeResult } {
    const r = opts.probe ? probed([CLI, ...args], this.env) : { ...timed(process.execPath, [CLI, ...args], { env: this.env }) };
    const ok = opts.expect ?? [0];
    if (!ok.includes(r.code ?? -1)) throw new Error(`kfn ${args.join(' ')} exited ${r.code}\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
    return r;
  }

  remove(): void {
    fs.rmSync(this.pinRoot, { recursive: true, force: true });
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** A network namespace holding `count` ifb interfaces `${prefix}-000`, ... (ifb: no dummy driver here). */
export class IfbNetns {
  readonly ifnames: string[];

  constructor(
    readonly name: string,
    readonly prefix: string,
    readonly count: number,
  ) {
    this.ifnames = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
    onCleanup(() => this.remove());
    this.create();
  }

  /** Deletes and re-creates the namespace: every attachment on its interfaces is gone. */
  reset(): void {
    this.remove();
    this.create();
  }

  private create(): void {
    mustRun('ip', ['netns', 'add', this.name]);
    const batch = this.ifnames.map((n) => `link add ${n} type ifb\nlink set ${n} up`).join('\n') + '\n';
    mustRun('ip', ['-n', this.name, '-batch', '-'], { input: batch });
  }

  remove(): void {
    quiet('ip', ['netns', 'del', this.name]);
  }

  /** `nsenter --net` keeps the mount namespace (bpffs stays visible), unlike `ip netns exec`. */
  get nsenter(): string[] {
    return ['nsenter', `--net=/run/netns/${this.name}`];
  }
}



// ------------------------------------------------------------------ report

export interface Row {
  work: string;
  kfn: string;
  baseline: string;
  ratio: string;
  goal?: string;
  /** undefined: for the record, no goal. */
  met?: boolean;
}

export const s = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
export const x = (r: number): string => `${r.toFixed(2)}x`;

export function table(rows: readonly Row[]): string {
  const head = ['work', 'kfn', 'baseline (same run)', 'ratio', 'goal', 'met'];
  const body = rows.map((r) => [r.work, r.kfn, r.baseline, r.ratio, r.goal ?? '-', r.met === undefined ? '-' : r.met ? 'yes' : 'NO']);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(w[i]!)).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** Prints the table and one plain line per missed goal; returns the number missed. */
export function report(title: string, rows: readonly Row[], notes: readonly string[] = []): number {
  const missed = rows.filter((r) => r.met === false);
  const out = [`## ${title}`, '', table(rows), '', ...notes, ...(notes.length ? [''] : [])];
  for (const r of missed) out.push(`GOAL MISSED: ${r.work}: ${r.kfn} (goal: ${r.goal})`);
  if (!missed.length && rows.some((r) => r.met !== undefined)) out.push('All goals of this benchmark met.');
  process.stdout.write(out.join('\n') + '\n\n');
  return missed.length;
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} vCPU ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Linux ${os.release()}, Node ${process.versions.node}`;
}
