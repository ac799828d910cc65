/**
 * Kernel-test plumbing shared by the traffic tests and the hitless bench: prerequisite
 * checks (skip, or fail under KFN_REQUIRE_KERNEL=1), the netns sandbox, a private kfn
 * installation (own pin root, state dir and manifest dir) driven through the CLI, and
 * reading the per-CPU counters of kfn's function instances.
 *
 * Everything here is bounded: every child process gets a timeout.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseShow, type ShowState } from './kfn.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CLI = path.join(REPO, 'dist/cli/main.js');
export const BPF_BUILD = path.join(REPO, 'bpf/build');
const SANDBOX = path.join(REPO, 'scripts/sandbox.sh');

export const requireKernel = (): boolean => process.env.KFN_REQUIRE_KERNEL === '1';

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Why kernel tests cannot run here, or undefined when they can. `tools` are extra
 * commands the caller needs (ip is always required).
 */
export function kernelUnavailable(tools: string[] = []): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    if (fs.statfsSync('/sys/fs/bpf').type !== 0xcafe4a11) return '/sys/fs/bpf is not a bpf filesystem';
  } catch {
    return '/sys/fs/bpf is missing';
  }
  for (const t of ['ip', ...tools]) if (!hasCommand(t)) return `command ${t} not found`;
  if (!fs.existsSync(CLI)) return `${CLI} missing: run npm run build`;
  for (const o of ['root', 'counter', 'flowstats', 'ratelimit']) {
    if (!fs.existsSync(path.join(BPF_BUILD, `${o}.bpf.o`))) return `bpf/build/${o}.bpf.o missing: run npm run build`;
  }
  return undefined;
}

/** `describe(..., { skip })`: skip when the kernel is unavailable, unless it is required. */
export function skipUnlessKernel(reason: string | undefined): string | false {
  return reason && !requireKernel() ? reason : false;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 15_000,
    env: opts.env ?? process.env,
    input: opts.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs a command, never throwing (for cleanup). */
export function runQuiet(cmd: string, args: string[], timeoutMs = 15_000): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: timeoutMs });
}

// ------------------------------------------------------------------ sandbox

/**
 * `base` (at most 6 characters) plus 2 characters from the pid: two runs of the same
 * test file at once (a developer and CI on one host) get different namespaces and
 * never tear down each other's sandbox.
 */
export function sandboxPrefix(base: string): string {
  if (base.length > 6) throw new Error(`sandbox prefix base ${base} is longer than 6 characters`);
  return base + (process.pid % 1296).toString(36).padStart(2, '0');
}

export interface Sandbox {
  prefix: string;
  /** netns of side a (veth `${prefix}-a0`, address `${net}.1`). */
  a: string;
  b: string;
  a0: string;
  b0: string;
  net: string;
  ipA: string;
  ipB: string;
  down(): void;
}

/**
 * scripts/sandbox.sh with SANDBOX_NET=`net`. With `quiet`, IPv6 is turned off and the
 * neighbours are static, so the only packets on the wire are the ones a test sends
 * (no ND, MLD or ARP): counters can then be compared exactly.
 */
export function sandboxUp(prefix: string, net: string, opts: { quiet?: boolean } = {}): Sandbox {
  if (prefix.length > 8) throw new Error(`sandbox prefix ${prefix} is longer than 8 characters`);
  const env = { ...process.env, SANDBOX_NET: net };
  runQuiet('bash', [SANDBOX, 'down', prefix]);
  run('bash', [SANDBOX, 'up', prefix], { env });
  const sb: Sandbox = {
    prefix,
    a: `${prefix}-a`,
    b: `${prefix}-b`,
    a0: `${prefix}-a0`,
    b0: `${prefix}-b0`,
    net,
    ipA: `${net}.1`,
    ipB: `${net}.2`,
    down: () => runQuiet('bash', [SANDBOX, 'down', prefix]),
  };
  if (opts.quiet) {
    for (const [ns, dev] of [[sb.a, sb.a0], [sb.b, sb.b0]] as const) {
      // sysctl under `ip netns exec` is fine: /proc/sys/net is per netns.
      run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    }
    const mac = (ns: string, dev: string): string => (JSON.parse(run('ip', ['-j', '-n', ns, 'link', 'show', dev])) as { address: string }[])[0]!.address;
    const macA = mac(sb.a, sb.a0);
    const macB = mac(sb.b, sb.b0);
    run('ip', ['-n', sb.b, 'neigh', 'replace', sb.ipA, 'lladdr', macA, 'nud', 'permanent', 'dev', sb.b0]);
    for (const ip of [sb.ipB, `${net}.3`]) run('ip', ['-n', sb.a, 'neigh', 'replace', ip, 'lladdr', macB, 'nud', 'permanent', 'dev', sb.a0]);
  }
  return sb;
}

/** RX/TX packet and drop counters of an interface (from `ip -s`). */
export function linkStats(ns: string, dev: string): { rxPackets: number; rxDropped: number; txPackets: number; txDropped: number } {
  const j = JSON.parse(run('ip', ['-j', '-s', '-n', ns, 'link', 'show', dev])) as {
    stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
  }[];
  const s = j[0]!.stats64;
  return { rxPackets: s.rx.packets, rxDropped: s.rx.dropped, txPackets: s.tx.packets, txDropped: s.tx.dropped };
}

// ------------------------------------------------------------------ private kfn

export interface KfnResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * A private kfn installation: pin root /sys/fs/bpf/kfn-test-<name>-<pid>, its own state
 * dir, and a manifest dir test/.tmp-<name>-<pid>/ inside the repo (objects must live
 * below the manifest root, the repo).
 */
export class KfnHarness {
  readonly pinRoot: string;
  readonly stateDir: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly name: string) {
    this.pinRoot = `/sys/fs/bpf/kfn-test-${name}-${process.pid}`;
    this.stateDir = `/tmp/kfn-test-${name}-${process.pid}`;
    this.dir = path.join(REPO, 'test', `.tmp-${name}-${process.pid}`);
    this.env = { ...process.env, KFN_PIN_ROOT: this.pinRoot, KFN_STATE_DIR: this.stateDir, NO_COLOR: '1' };
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** Path of `bpf/build/<file>` relative to the manifest dir, for `spec.object`. */
  object(file: string): string {
    return path.relative(this.dir, path.join(BPF_BUILD, file));
  }

  write(file: string, text: string): string {
    const p = path.join(this.dir, file);
    fs.writeFileSync(p, text);
    return p;
  }

  kfn(args: string[], timeoutMs = 30_000): KfnResult {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args], { env: this.env, encoding: 'utf8', timeout: timeoutMs, cwd: this.dir });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''), ms: performance.now() - t0 };
  }

  /** Runs kfn and fails with its output unless it exits with `code`. */
  ok(args: string[], code = 0): KfnResult {
    const r = this.kfn(args);
    if (r.code !== code) throw new Error(`kfn ${args.join(' ')} exited ${r.code} (wanted ${code})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    return r;
  }

  apply(target = this.dir): KfnResult {
    return this.ok(['apply', target, '--auto-approve']);
  }

  json<T = any>(args: string[]): T {
    return JSON.parse(this.ok([...args, '--json']).stdout) as T;
  }

  show(stats = false): LiveJson {
    return parseShow(this.ok(stats ? ['show', '--stats', '--json'] : ['show', '--json']).stdout);
  }

  /** Removes every kfn chain of this installation, then the pins, state and manifests. */
  cleanup(): void {
    if (fs.existsSync(this.pinRoot)) this.kfn(['destroy', '--all', '--auto-approve']);
    fs.rmSync(this.pinRoot, { recursive: true, force: true });
    fs.rmSync(this.stateDir, { recursive: true, force: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ live JSON

/** `kfn show --json`, in the shape tests read (test/helpers/kfn.ts). */
export type LiveJson = ShowState;

/**
 * The value of a one-entry counter map (`counts` of the counter function) of each
 * instance of a chain, per-CPU values summed (as `kfn show --stats` prints them).
 */
export function counterValues(live: LiveJson, chainName: string, map = 'counts'): Record<string, bigint> {
  const chain = live.chains.find((c) => c.chainName === chainName);
  if (!chain) throw new Error(`chain ${chainName} not in kfn show output`);
  const out: Record<string, bigint> = {};
  for (const i of chain.instances) {
    const line = i.stats?.[map]?.[0];
    if (line !== undefined) out[i.name] = BigInt(line);
  }
  return out;
}

/** KernelFunction documents for the functions shipped in bpf/build. */
export function kernelFunction(h: KfnHarness, name: string, version: string, object: string, program: string): string {
  return [
    'apiVersion: kfn.dev/v1alpha1',
    'kind: KernelFunction',
    `metadata: { name: ${name} }`,
    'spec:',
    `  version: ${version}`,
    `  object: ${h.object(object)}`,
    `  program: ${program}`,
    '  hooks: [xdp, tc-ingress, tc-egress]',
    '',
  ].join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
