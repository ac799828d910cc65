/**
 * One commit to a fleet (issue 12): a commit pushed to a local bare Git repository
 * reaches `--hosts` simulated hosts, each its own network namespace of ifb interfaces,
 * pin root, state dir and `kfn reconcile` agent (the built CLI, run inside its
 * namespace with nsenter, which keeps bpffs visible) following the repository with a
 * `--interval` of 10 s, as a real fleet would.
 *
 *   node --import tsx bench/fleet.ts [--hosts 50] [--interval 10] [--interfaces 2] [--timeout 600]
 *
 * Measured, in one run:
 *
 *   propagation  from the end of `git push` until each host's agent recorded the commit
 *                as applied (its status file, `lastApplied.at`, written once the apply
 *                converged), min / median / p95 / max; goal: every host within the
 *                interval plus 5 s
 *   agents       CPU (utime+stime of /proc/<pid>/stat, and the git processes it reaped:
 *                cutime+cstime) at start-up, per round in sync, for the whole run; peak
 *                memory (VmHWM of /proc/<pid>/status)
 *   baseline     what a push-based CI job does instead: the next commit applied to the
 *                same hosts by sequential `kfn apply` runs from a checkout, one per host
 *                (its total, one apply alone, their CPU and peak RSS)
 *
 * The agents start spread over one interval, as hosts of a fleet boot at different
 * times: started together they would run every round in lockstep, which no fleet does.
 * The chain (blocklist + counter, built-in functions, XDP generic on every interface of
 * the host) selects the hosts by a label the agents are given; the commit measured adds
 * one blocklist entry (an in-place map update).
 *
 * Needs root, ip, nsenter, git and `npm run build`. Bounded by --timeout; removes every
 * namespace, pin root, state dir and repository it made, and stops its agents by their
 * pid (SIGTERM, SIGKILL only after 30 s). Addresses: 198.18.0.0/15 and 2001:2::/48 only,
 * and no traffic is sent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, IfbNetns, PROBE, KfnInstall, benchPrefix, kernelUnavailable, machine, median, mustRun, onCleanup, report, s, x, type Row } from './lib.js';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    interval: { type: 'string', default: '10' },
    interfaces: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '600' },
  },
});
const HOSTS = Math.max(1, Number(args.hosts));
const INTERVAL_MS = Math.max(1, Number(args.interval)) * 1000;
const IFACES = Math.max(1, Number(args.interfaces));
const TIMEOUT_MS = Math.max(60, Number(args.timeout)) * 1000;
const GOAL_MS = INTERVAL_MS + 5000;
const STACK = 'fleet';

const progress = (msg: string): void => void process.stderr.write(`bench/fleet: ${msg}\n`);

const why = kernelUnavailable(['nsenter', 'git']);
if (why) {
  process.stderr.write(`bench/fleet: cannot run: ${why}\n`);
  process.exit(1);
}

// The whole run is bounded: exiting runs the cleanups (agents, namespaces, pins, files).
setTimeout(() => {
  progress(`timed out after ${TIMEOUT_MS / 1000} s`);
  process.exit(124);
}, TIMEOUT_MS).unref();

const prefix = benchPrefix('kbh');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const load0 = os.loadavg();

// ------------------------------------------------------------------ the repository

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-repo-`));
onCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
const remote = path.join(tmp, 'fleet.git');
const work = path.join(tmp, 'work');
const gitConfig = path.join(tmp, 'gitconfig');
fs.writeFileSync(gitConfig, '[init]\n\tdefaultBranch = main\n[user]\n\tname = kfn bench\n\temail = bench@kfn.invalid\n');
// The bench's own git config, never the user's: commits look the same on every machine.
const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, GIT_CONFIG_GLOBAL: gitConfig, GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' };
const git = (cwd: string, a: string[]): string => mustRun('git', a, { cwd, env: gitEnv, timeoutMs: 30_000 }).stdout.trim();
git(tmp, ['init', '--quiet', '--bare', remote]);
git(tmp, ['init', '--quiet', work]);
git(work, ['remote', 'add', 'origin', remote]);

/** The fleet's manifests with `blocked` in the blocklist, committed; returns the commit. */
function commit(blocked: string[], message: string): string {
  const dir = path.join(work, 'manifests');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'edge.yaml'),
    `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: edge }
spec:
  hook: xdp
  netns: default
  interfaces: ["edge-*"]
  mode: generic
  hosts:
    labels: { fleet: ${prefix} }
  functions:
    - name: drop-bad
      function: blocklist@1.0.0
      maps:
        blocked_v4: { ${blocked.map((b) => `"${b}": 1`).join(', ')} }
        blocked_v6: { "2001:2::dead/128": 1 }
    - name: count
      function: counter@1.0.0
`,
  );
  git(work, ['add', '--all']);
  git(work, ['commit', '--quiet', '-m', message]);
  return git(work, ['rev-parse', 'HEAD']);
}

const push = (): void => void git(work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);

// ------------------------------------------------------------------ hosts and agents

interface Cpu {
  /** The process's own utime+stime, ms. */
  self: number;
  /** What its reaped children (git) used: cutime+cstime, ms. */
  children: number;
}

const minus = (a: Cpu, b: Cpu): Cpu => ({ self: a.self - b.self, children: a.children - b.children });
const total = (c: Cpu): number => c.self + c.children;

/** /proc/<pid>/stat: fields after the command name, which may itself hold spaces and parentheses. */
function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function cpuOf(pid: number | 'self'): Cpu | undefined {
  const f = procStat(pid);
  if (!f) return undefined;
  // After the name: state is field 3 of the man page, utime 14, stime 15, cutime 16, cstime 17.
  const tick = (i: number): number => (Number(f[i - 3]) * 1000) / CLK_TCK;
  return { self: tick(14) + tick(15), children: tick(16) + tick(17) };
}

function vmHwmKb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface Round {
  time: string;
  startedAt: string;
  msg: string;
  trigger: string;
  outcome: string;
  revision: string | null;
  durationMs: number;
}

class Host {
  readonly ns: IfbNetns;
  readonly kfn: KfnInstall;
  readonly label: string;
  readonly logFile: string;
  child: ChildProcess | undefined;
  exited: Promise<number | null> | undefined;
  spawnedAt = 0;

  constructor(readonly index: number) {
    this.label = `h${String(index).padStart(2, '0')}`;
    this.ns = new IfbNetns(`${prefix}-${this.label}`, 'edge', IFACES);
    this.kfn = new KfnInstall(`${prefix}-${this.label}`);
    this.logFile = path.join(path.dirname(this.kfn.stateDir), 'agent.log');
  }

  get hostLabels(): string[] {
    return ['--host-labels', `fleet=${prefix},host=${this.label}`];
  }

  /** The agent, as its own host would run it: in the namespace, with this host's pins and state. */
  start(): void {
    const log = fs.openSync(this.logFile, 'a');
    try {
      // nsenter execs node in place (no fork for a network namespace): the pid is the agent's.
      this.child = spawn(
        'nsenter',
        [`--net=/run/netns/${this.ns.name}`, process.execPath, CLI, '--log-format', 'json', 'reconcile', '--repo', remote, '--ref', 'main', '--path', 'manifests', '--stack', STACK, '--interval', `${INTERVAL_MS / 1000}s`, ...this.hostLabels],
        { env: { ...this.kfn.env, HOME: tmp }, stdio: ['ignore', 'ignore', log] },
      );
    } finally {
      fs.closeSync(log);
    }
    this.spawnedAt = Date.now();
    const child = this.child;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.alive ? this.child!.pid : undefined;
  }

  signal(sig: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid !== undefined) process.kill(pid, sig);
  }

  /** The agent's record of the stack (what `kfn status` reads), or undefined before its first round. */
  applied(): { revision: string; at: number } | undefined {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(this.kfn.stateDir, 'agent', `${STACK}.json`), 'utf8')) as { lastApplied?: { revision: string; at: string } };
      return st.lastApplied ? { revision: st.lastApplied.revision, at: Date.parse(st.lastApplied.at) } : undefined;
    } catch {
      return undefined; // not written yet (it is replaced atomically, never half)
    }
  }

  rounds(): Round[] {
    let text = '';
    try {
      text = fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Round)
      .filter((l) => l.msg.startsWith('reconcile round'));
  }

  errors(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').filter((l) => /"level":"(error|fatal)"|^[^{]/.test(l) && l).slice(-5).join('\n');
    } catch {
      return '';
    }
  }
}

/** Stops every agent still running: SIGTERM by its pid, SIGKILL after `graceMs`. Sync, for the exit path. */
function stopAgentsNow(hosts: readonly Host[], graceMs = 30_000): void {
  const running = hosts.filter((h) => h.alive);
  for (const h of running) h.signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  // At exit the event loop no longer reaps children: an agent that exited is a zombie (state Z).
  const gone = (h: Host): boolean => {
    const f = procStat(h.child!.pid!);
    return !f || f[0] === 'Z';
  };
  while (running.some((h) => !gone(h)) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  for (const h of running) if (!gone(h)) h.signal('SIGKILL');
}

/** Waits (bounded) until every host reports `revision` applied. */
async function waitApplied(hosts: readonly Host[], revision: string, timeoutMs: number, onApplied: (h: Host) => void = () => {}): Promise<Map<Host, number>> {
  const at = new Map<Host, number>();
  const deadline = Date.now() + timeoutMs;
  while (at.size < hosts.length && Date.now() < deadline) {
    for (const h of hosts) {
      if (at.has(h)) continue;
      const a = h.applied();
      if (a?.revision === revision) {
        at.set(h, a.at);
        onApplied(h);
      }
      else if (!h.alive) throw new Error(`the agent of ${h.label} exited (${h.child?.exitCode ?? h.child?.signalCode}):\n${h.errors()}`);
    }
    if (at.size < hosts.length) await sleep(100);
  }
  if (at.size < hosts.length) {
    const late = hosts.filter((h) => !at.has(h));
    throw new Error(`${late.length} host(s) did not apply ${revision.slice(0, 12)} within ${timeoutMs / 1000} s: ${late.map((h) => h.label).join(' ')}\n${late[0]!.errors()}`);
  }
  return at;
}

const pct = (xs: readonly number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const spread = (xs: readonly number[], fmt: (n: number) => string): string => `${fmt(Math.min(...xs))} / ${fmt(median(xs))} / ${fmt(pct(xs, 95))} / ${fmt(Math.max(...xs))}`;
const cpuMs = (ms: number): string => `${Math.round(ms)} ms`;
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

// ------------------------------------------------------------------ the run

async function main(): Promise<void> {
  progress(`${HOSTS} hosts: namespaces with ${IFACES} ifb interface(s) each, pin roots, state dirs`);
  const hosts = Array.from({ length: HOSTS }, (_, i) => new Host(i));
  // Registered after the hosts, so it runs before their namespaces and pins go.
  onCleanup(() => stopAgentsNow(hosts));

  const c1 = commit(['198.18.0.3/32'], 'fleet: first revision');
  push();

  progress(`starting ${HOSTS} agents over one interval (${INTERVAL_MS / 1000} s)`);
  const t0 = Date.now();
  for (const h of hosts) {
    const due = t0 + (h.index * INTERVAL_MS) / HOSTS;
    if (due > Date.now()) await sleep(due - Date.now());
    h.start();
  }
  const startAt = await waitApplied(hosts, c1, 180_000);
  const startup = hosts.map((h) => startAt.get(h)! - h.spawnedAt);
  progress(`every host runs ${c1.slice(0, 12)} (start-up ${spread(startup, s)})`);

  // Rounds in sync: one whole interval with nothing to do but fetch, plan and compare.
  await sleep(2000);
  const idleA = hosts.map((h) => ({ cpu: cpuOf(h.pid!)!, rounds: h.rounds().length }));
  await sleep(INTERVAL_MS);
  const idleB = hosts.map((h) => ({ cpu: cpuOf(h.pid!)!, rounds: h.rounds().length }));
  const idle = idleA
    .map((_, i) => ({ rounds: idleB[i]!.rounds - idleA[i]!.rounds, cpu: minus(idleB[i]!.cpu, idleA[i]!.cpu) }))
    .filter((r) => r.rounds > 0)
    .map((r) => ({ self: r.cpu.self / r.rounds, children: r.cpu.children / r.rounds }));
  const idleRounds = hosts.map((h) => h.rounds().filter((r) => r.outcome === 'in-sync' && r.revision === c1));
  const idleMs = idleRounds.flat().map((r) => r.durationMs);
  const loadPush = os.loadavg();

  const c2 = commit(['198.18.0.3/32', '198.18.1.0/24'], 'fleet: block 198.18.1.0/24');
  const cpuPush = new Map(hosts.map((h) => [h, cpuOf(h.pid!)!]));
  push();
  const pushedAt = Date.now();
  progress(`pushed ${c2.slice(0, 12)}; waiting for every host`);
  // Read as soon as each host has applied (polled every 100 ms): mostly its applying round alone.
  const cpuApply = new Map<Host, Cpu>();
  const appliedAt = await waitApplied(hosts, c2, 3 * INTERVAL_MS + 60_000, (h) => cpuApply.set(h, minus(cpuOf(h.pid!)!, cpuPush.get(h)!)));
  const latency = hosts.map((h) => appliedAt.get(h)! - pushedAt);
  const applyingRounds = hosts.map((h) => h.rounds().find((r) => r.revision === c2 && r.outcome === 'applied')!);
  const detect = applyingRounds.map((r) => Date.parse(r.startedAt) - pushedAt);
  const applyMs = applyingRounds.map((r) => r.durationMs);
  const loadAll = os.loadavg();
  progress(`every host runs ${c2.slice(0, 12)} (${spread(latency, s)})`);

  // Peak memory and CPU over the whole run, read before the agents go.
  const hwm = hosts.map((h) => vmHwmKb(h.pid!)!);
  const runCpu = hosts.map((h) => cpuOf(h.pid!)!);
  const runWall = hosts.map((h) => Date.now() - h.spawnedAt);
  const roundsPerAgent = hosts.map((h) => h.rounds().length);

  progress('stopping the agents (SIGTERM by pid)');
  for (const h of hosts) h.signal('SIGTERM');
  const stopT = Date.now();
  const codes = await Promise.race([Promise.all(hosts.map((h) => h.exited!)), sleep(30_000).then(() => undefined)]);
  const stopMs = Date.now() - stopT;
  if (!codes) stopAgentsNow(hosts, 0);
  const badExit = codes ? codes.filter((c) => c !== 0).length : HOSTS;

  // The baseline: a CI job applying the next commit host by host from its checkout. It
  // runs on the hosts the agents left (c2 applied), so it does the same kind of change.
  const c3 = commit(['198.18.0.3/32', '198.18.1.0/24', '198.18.2.0/24'], 'fleet: block 198.18.2.0/24');
  progress(`baseline: ${HOSTS} sequential kfn apply runs of ${c3.slice(0, 12)}`);
  const cpu0 = cpuOf('self')!;
  const applies: { ms: number; rssKb: number }[] = [];
  const b0 = Date.now();
  for (const h of hosts) {
    const probeFile = path.join(path.dirname(h.kfn.stateDir), 'probe.json');
    const t = performance.now();
    mustRun('nsenter', [`--net=/run/netns/${h.ns.name}`, process.execPath, '--import', PROBE, CLI, 'apply', path.join(work, 'manifests'), '--stack', STACK, ...h.hostLabels, '--auto-approve'], {
      env: { ...h.kfn.env, HOME: tmp, KFN_BENCH_PROBE_FILE: probeFile },
      timeoutMs: 120_000,
    });
    applies.push({ ms: performance.now() - t, rssKb: (JSON.parse(fs.readFileSync(probeFile, 'utf8')) as { maxRssKb: number }).maxRssKb });
  }
  const baselineMs = Date.now() - b0;
  const baselineCpu = minus(cpuOf('self')!, cpu0);
  const checked = hosts.filter((h) => {
    const r = spawnSync('nsenter', [`--net=/run/netns/${h.ns.name}`, process.execPath, CLI, 'plan', path.join(work, 'manifests'), '--stack', STACK, ...h.hostLabels, '--detailed-exitcode'], {
      env: { ...h.kfn.env, HOME: tmp },
      stdio: 'ignore',
      timeout: 60_000,
    });
    return r.status === 0;
  }).length;
  const load1 = os.loadavg();

  // ------------------------------------------------------------------ report

  const maxLat = Math.max(...latency);
  const oneApply = median(applies.map((a) => a.ms));
  const applyCpu = total(baselineCpu) / HOSTS;
  const rows: Row[] = [
    {
      work: `push -> all ${HOSTS} hosts applied (max)`,
      kfn: s(maxLat),
      baseline: `${HOSTS} sequential kfn apply: ${s(baselineMs)}`,
      ratio: x(maxLat / baselineMs),
      goal: `<= interval + 5 s (${s(GOAL_MS)})`,
      met: maxLat <= GOAL_MS,
    },
    { work: '  push -> applied, min / median / p95 / max', kfn: spread(latency, s), baseline: `one kfn apply: ${s(oneApply)} (median)`, ratio: x(median(latency) / oneApply) },
    { work: '  push -> round started (waiting for the interval)', kfn: spread(detect, s), baseline: '-', ratio: '-' },
    { work: '  the applying round (fetch, plan, apply)', kfn: spread(applyMs, s), baseline: `one kfn apply: ${s(oneApply)}`, ratio: x(median(applyMs) / oneApply) },
    { work: '  a round in sync (fetch, plan, nothing to do)', kfn: spread(idleMs, s), baseline: '-', ratio: '-' },
    {
      work: 'agent CPU per round in sync (own + git)',
      kfn: `${cpuMs(median(idle.map(total)))} (${cpuMs(median(idle.map((c) => c.self)))} + ${cpuMs(median(idle.map((c) => c.children)))})`,
      baseline: `one kfn apply: ${cpuMs(applyCpu)}`,
      ratio: x(median(idle.map(total)) / applyCpu),
    },
    {
      work: 'agent CPU from the push to its commit applied (own + git)',
      kfn: `${cpuMs(median([...cpuApply.values()].map(total)))} (${cpuMs(median([...cpuApply.values()].map((c) => c.self)))} + ${cpuMs(median([...cpuApply.values()].map((c) => c.children)))})`,
      baseline: `one kfn apply: ${cpuMs(applyCpu)}`,
      ratio: x(median([...cpuApply.values()].map(total)) / applyCpu),
    },
    {
      work: 'agent CPU at start-up (to its first revision applied, + 2 s)',
      kfn: `${cpuMs(median(idleA.map((a) => total(a.cpu))))} (${cpuMs(median(idleA.map((a) => a.cpu.self)))} + ${cpuMs(median(idleA.map((a) => a.cpu.children)))})`,
      baseline: `one kfn apply: ${cpuMs(applyCpu)}`,
      ratio: x(median(idleA.map((a) => total(a.cpu))) / applyCpu),
    },
    {
      work: 'agent CPU for the whole run (own + git), median / max',
      kfn: `${cpuMs(median(runCpu.map(total)))} / ${cpuMs(Math.max(...runCpu.map(total)))}`,
      baseline: `${cpuMs(median(runCpu.map((c) => c.self)))} own, ${cpuMs(median(runCpu.map((c) => c.children)))} git`,
      ratio: '-',
    },
    {
      work: '  as a share of one CPU',
      kfn: `${((100 * median(runCpu.map(total))) / median(runWall)).toFixed(1)} % (${median(roundsPerAgent)} rounds in ${s(median(runWall))})`,
      baseline: `${HOSTS} agents: ${((HOSTS * median(runCpu.map(total))) / median(runWall)).toFixed(2)} CPUs`,
      ratio: '-',
    },
    { work: 'agent peak memory (VmHWM), min / median / max', kfn: `${mb(Math.min(...hwm))} / ${mb(median(hwm))} / ${mb(Math.max(...hwm))}`, baseline: `one kfn apply: ${mb(median(applies.map((a) => a.rssKb)))}`, ratio: x(median(hwm) / median(applies.map((a) => a.rssKb))) },
    { work: `agent start-up (spawn -> first revision applied)`, kfn: spread(startup, s), baseline: '-', ratio: '-' },
    { work: `SIGTERM -> all ${HOSTS} agents exited`, kfn: s(stopMs), baseline: '-', ratio: '-', goal: 'exit 0', met: badExit === 0 },
    { work: `hosts whose plan of the baseline commit is empty afterwards`, kfn: `${checked} of ${HOSTS}`, baseline: '-', ratio: '-', goal: 'all', met: checked === HOSTS },
  ];
  const la = (l: number[]): string => l.map((n) => n.toFixed(2)).join(' ');
  report(`fleet: one commit to ${HOSTS} hosts`, rows, [
    `${new Date().toISOString()}; ${machine()}.`,
    `${HOSTS} hosts, ${IFACES} ifb interface(s) each (XDP generic, chain blocklist + counter); agents with --interval ${INTERVAL_MS / 1000}s, started over one interval.`,
    `Load average (1/5/15 min): at start ${la(load0)}; at the push ${la(loadPush)}; when all had applied ${la(loadAll)}; at the end ${la(load1)}.`,
    `Propagation is read from each agent's status file (lastApplied.at); the round times from its JSON log. CPU is utime+stime of /proc/<pid>/stat (git: cutime+cstime of the processes it reaped).`,
    `The baseline applies the next commit (one more entry) to the same hosts, one nsenter + kfn apply per host, as a push-based CI job would (without the ssh a real one adds); its CPU is that of the ${HOSTS} applies (${cpuMs(total(baselineCpu))} in all).`,
  ]);
}

await main();
process.exit(process.exitCode ?? 0);
