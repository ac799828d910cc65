/** Runs the built CLI (no shell) against a test's own pin root and state dir. */
import { spawnSync } from 'node:child_process';
import { CLI, REPO_ROOT } from './paths.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KfnEnv {
  pinRoot: string;
  stateDir: string;
}

export interface RunOptions {
  /** Extra environment (e.g. KFN_TEST_FAIL_AT_STEP). */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

export function runKfn(k: KfnEnv, args: string[], opts: RunOptions = {}): RunResult {
  const env: NodeJS.ProcessEnv = { ...process.env, KFN_PIN_ROOT: k.pinRoot, KFN_STATE_DIR: k.stateDir, NO_COLOR: '1' };
  delete env.KFN_TEST_FAIL_AT_STEP;
  Object.assign(env, opts.env ?? {});
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** For assertion messages. */
export function describeRun(args: string[], r: RunResult): string {
  return `kfn ${args.join(' ')} -> exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Runs kfn and asserts the exit code, with the whole output in the failure message. */
export function kfnExpect(k: KfnEnv, args: string[], code: number, opts: RunOptions = {}): RunResult {
  const r = runKfn(k, args, opts);
  if (r.code !== code) throw new Error(`expected exit ${code}\n${describeRun(args, r)}`);
  return r;
}

export interface ShowInstance {
  name: string;
  progId: number;
  pinDir: string;
  identity: { function: string; program: string; version: string; sha256: string };
  maps: Record<string, { keyText: string; valueText: string }[]>;
}
export interface ShowChain {
  chainName: string;
  attachment: { hook: string; ifname: string; netns: string };
  rootProgId: number;
  linkId: number;
  pinDir: string;
  instances: ShowInstance[];
}
export interface ShowState {
  chains: ShowChain[];
  stats?: Record<string, { map: string; text: string }[]>;
}

/** `kfn show --json [--stats]`, parsed. */
export function show(k: KfnEnv, stats = false): ShowState {
  const args = ['show', '--json', ...(stats ? ['--stats'] : [])];
  const r = kfnExpect(k, args, 0);
  return JSON.parse(r.stdout) as ShowState;
}

/** The lines of a `--stats` map text output. */
export function statTexts(s: ShowState, inst: ShowInstance, map: string): string[] {
  return (s.stats?.[inst.pinDir] ?? []).filter((l) => l.map === map).map((l) => l.text);
}

/** A numeric field of a stats line such as `{seen: 3, dropped_v4: 2}` or `[1] {packets: 2, bytes: 196}`. */
export function statField(text: string, field: string): number {
  const m = new RegExp(`\\b${field}: (\\d+)`).exec(text);
  if (!m) throw new Error(`no ${field} in stats text ${JSON.stringify(text)}`);
  return Number(m[1]);
}
