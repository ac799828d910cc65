/** Runs the built CLI (no shell) against a test's own pin root and state dir. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI, REPO_ROOT } from './paths.js';
import { Engine } from '../../src/engine/index.js';

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

/** Exit 1, and stderr is exactly one `error[CODE]: ...` line (matching `message`, if given) and its hint. */
export function assertErrorAndHint(r: RunResult, code: string, args: string[], message?: RegExp): void {
  const what = describeRun(args, r);
  assert.equal(r.code, 1, what);
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, 2, `one error line and one hint line\n${what}`);
  assert.match(lines[0]!, new RegExp(`^error\\[${code}\\]: \\S`), what);
  assert.match(lines[1]!, /^ {2}hint: \S/, what);
  if (message) assert.match(lines[0]!, message, what);
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
  /** The instance's resource address in `kfn show --json`. */
  address: string;
  identity: { function: string; program: string; version: string; sha256: string; globals: Record<string, string> };
  maps: Record<string, { keyText: string; valueText: string }[]>;
  /** The object's chain slot map. */
  nextMap: string;
  companions: ShowCompanion[];
  drift: string[];
  /** State maps as text lines (`[key] value`, or the value of a one-entry map), with --stats. */
  stats?: Record<string, string[]>;
}
export interface ShowCompanion {
  program: string;
  kind: string;
  tracepoint: string;
  progId: number;
  linkId: number;
  attached: boolean;
}
export interface ShowChain {
  chainName: string;
  attachment: { hook: string; ifname: string; netns: string };
  rootProgId: number;
  linkId: number;
  mode: string | null;
  drift: string[];
  instances: ShowInstance[];
  orphans: ShowInstance[];
}
export interface ShowForeign {
  attachment: { netns: string; ifname: string; hook: string };
  progId: number;
  progName: string;
  linkId?: number;
}
export interface ShowState {
  chains: ShowChain[];
  foreign: ShowForeign[];
}

/* The `kfn show --json` contract (schemas/show-output.schema.json), the parts tests read. */
interface ShowJsonStats {
  count: number;
  entries: { key_text?: string; value_text: string }[];
}
interface ShowJsonInstance {
  address: string;
  name: string;
  prog_id: number;
  function: string;
  version: string;
  sha256: string;
  program: string;
  globals: Record<string, string>;
  maps: Record<string, { key: string; value: string }[]>;
  next_map: string;
  companions: { program: string; kind: string; tracepoint: string; prog_id: number; link_id: number; attached: boolean }[];
  drift: string[];
  stats?: Record<string, ShowJsonStats>;
}
interface ShowJson {
  chains: {
    name: string;
    netns: string;
    interface: string;
    hook: string;
    root_prog_id: number;
    link_id: number;
    mode: string | null;
    drift: string[];
    instances: ShowJsonInstance[];
    orphans: ShowJsonInstance[];
  }[];
  foreign_programs: { netns: string; interface: string; hook: string; prog_id: number; prog_name: string; link_id: number | null }[];
}

function statLines(s: ShowJsonStats): string[] {
  const lines = s.entries.map((e) => (e.key_text === undefined ? e.value_text : `[${e.key_text}] ${e.value_text}`));
  if (s.count > s.entries.length) lines.push(`... ${s.count - s.entries.length} more entries`);
  return lines;
}

function instanceOf(i: ShowJsonInstance): ShowInstance {
  const out: ShowInstance = {
    name: i.name,
    progId: i.prog_id,
    address: i.address,
    identity: { function: i.function, program: i.program, version: i.version, sha256: i.sha256, globals: i.globals },
    maps: Object.fromEntries(Object.entries(i.maps).map(([m, es]) => [m, es.map((e) => ({ keyText: e.key, valueText: e.value }))])),
    nextMap: i.next_map,
    companions: i.companions.map((c) => ({ program: c.program, kind: c.kind, tracepoint: c.tracepoint, progId: c.prog_id, linkId: c.link_id, attached: c.attached })),
    drift: i.drift,
  };
  if (i.stats) out.stats = Object.fromEntries(Object.entries(i.stats).map(([m, st]) => [m, statLines(st)]));
  return out;
}

/** `kfn show --json` output in the shape tests read. */
export function parseShow(text: string): ShowState {
  const j = JSON.parse(text) as ShowJson;
  return {
    chains: j.chains.map((c) => ({
      chainName: c.name,
      attachment: { hook: c.hook, ifname: c.interface, netns: c.netns },
      rootProgId: c.root_prog_id,
      linkId: c.link_id,
      mode: c.mode,
      drift: c.drift,
      instances: c.instances.map(instanceOf),
      orphans: c.orphans.map(instanceOf),
    })),
    foreign: j.foreign_programs.map((f) => ({
      attachment: { netns: f.netns, ifname: f.interface, hook: f.hook },
      progId: f.prog_id,
      progName: f.prog_name,
      ...(f.link_id === null ? {} : { linkId: f.link_id }),
    })),
  };
}

/** `kfn show --json [--stats]`, parsed. */
export function show(k: KfnEnv, stats = false): ShowState {
  const args = ['show', '--json', ...(stats ? ['--stats'] : [])];
  const r = kfnExpect(k, args, 0);
  return parseShow(r.stdout);
}

/** The lines of a `--stats` map text output. */
export function statTexts(_s: ShowState, inst: ShowInstance, map: string): string[] {
  return inst.stats?.[map] ?? [];
}

/** A numeric field of a stats line such as `{seen: 3, dropped_v4: 2}` or `[1] {packets: 2, bytes: 196}`. */
export function statField(text: string, field: string): number {
  const m = new RegExp(`\\b${field}: (\\d+)`).exec(text);
  if (!m) throw new Error(`no ${field} in stats text ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/**
 * Where an instance's pins live (kfn's bookkeeping; not part of the JSON contract), for
 * tests that inspect or damage pins: read in this process from the tail-call form's state.
 */
export function pinDirOf(k: KfnEnv, inst: ShowInstance): string {
  const live = new Engine({ paths: { pinRoot: k.pinRoot, stateDir: k.stateDir } }).readLive();
  const found = live.chains.flatMap((c) => [...c.instances, ...c.orphans]).find((i) => i.progId === inst.progId);
  if (!found) throw new Error(`instance ${inst.name} (prog ${inst.progId}) not found under ${k.pinRoot}`);
  return found.pinDir;
}
