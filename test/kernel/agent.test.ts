/**
 * `kfn reconcile` as a long-running process (our own child, bounded in time, stopped by
 * its pid only): a commit pushed to the remote is applied by the first round that starts
 * after the push; SIGTERM while a round applies lets the apply finish (never half) and
 * exits 0; push events on the webhook start a round at once when authenticated (GitHub
 * HMAC, GitLab token), and a bad signature gets 401 and starts nothing; SIGHUP starts one.
 * The agent's /metrics, scraped before and after the round a push starts and read with a
 * real Prometheus parser, change with that round (issue 12): one more applied round, the
 * applied revision, a later last success, one more plan and apply observed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kernelGate } from '../helpers/kernel-gate.js';
import { Sandbox, sandboxPrefix } from '../helpers/sandbox.js';
import { chainYaml, cleanupTestEnv, createTestEnv, functionsYaml, type ChainSpec, type FnSpec, type TestEnv } from '../helpers/workspace.js';
import { describeRun, runKfn, show } from '../helpers/kfn.js';
import { pingUntilOk } from '../helpers/ping.js';
import { TestRepo, seedFunctions } from '../helpers/gitrepo.js';
import { family, histogram, parseExposition, samples, value, type Exposition } from '../helpers/prometheus.js';
import { BPF_BUILD, CLI, OBJECTS, REPO_ROOT } from '../helpers/paths.js';

const skip = kernelGate({ tools: ['git'] });

interface LogLine {
  /** ISO time of the record (--log-format json). */
  time: string;
  level: string;
  msg: string;
  trigger?: string;
  outcome?: string;
  revision?: string | null;
  startedAt?: string;
  webhook?: string | null;
  metrics?: string | null;
  step?: number;
  of?: number;
  signal?: string;
}

/** The agent, started as a child of this test, with its JSON log lines as they come. */
class Agent {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private rest = '';
  private readonly killer: NodeJS.Timeout;

  constructor(env: TestEnv, args: string[]) {
    this.child = spawn(process.execPath, [CLI, '--log-format', 'json', '--log-level', 'info', 'reconcile', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, KFN_PIN_ROOT: env.pinRoot, KFN_STATE_DIR: env.stateDir, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      const text = this.rest + d.toString();
      const parts = text.split('\n');
      this.rest = parts.pop()!;
      for (const p of parts) if (p.startsWith('{')) this.lines.push(JSON.parse(p) as LogLine);
    });
    // Never outlive the test: our own child, by its pid.
    this.killer = setTimeout(() => this.kill(), 240_000);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        clearTimeout(this.killer);
        resolve({ code, signal });
      }),
    );
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, sig);
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  rounds(): LogLine[] {
    return this.lines.filter((l) => l.msg.startsWith('reconcile round'));
  }

  /** Waits (bounded) for a log line; fails with the log so far. */
  async waitFor(what: string, pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`no ${what} in the agent's log:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      await sleep(50);
    }
  }
}

interface Scrape {
  text: string;
  x: Exposition;
}

/** /metrics of the agent, parsed with a real Prometheus text parser. */
async function scrape(base: string | null | undefined): Promise<Scrape> {
  assert.ok(base, 'the agent printed its metrics address');
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { text, x: parseExposition(text) };
}

const hasSamples = (x: Exposition, name: string, labels: Record<string, string>): boolean => x.some((f) => f.name === name) && samples(x, name, labels).length > 0;

function post(port: number, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/hooks/kfn', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('reconcile agent: a long-running process, interval rounds, SIGTERM, webhook, SIGHUP', { skip, timeout: 300_000 }, () => {
  const sb = new Sandbox(sandboxPrefix('a'));
  let env: TestEnv;
  let repo: TestRepo;
  let secretFile = '';
  const SECRET = crypto.randomBytes(32).toString('hex');
  const agents: Agent[] = [];

  const drop = (blocked: string): FnSpec => ({ name: 'drop', function: 'blocklist@1.0.0', maps: { blocked_v4: { [blocked]: 1 } } });
  const edge = (functions: FnSpec[]): ChainSpec => ({ name: 'edge', hook: 'xdp', netns: sb.nsA, interfaces: [sb.ifA], functions });
  const commit = (functions: FnSpec[], message: string): string => {
    repo.write('manifests/chain.yaml', chainYaml(edge(functions)));
    return repo.commitAndPush(message);
  };
  const start = (args: string[]): Agent => {
    const a = new Agent(env, ['--repo', repo.remote, '--ref', 'main', '--path', 'manifests', ...args]);
    agents.push(a);
    return a;
  };
  const planOf = (sha: string): number => {
    // The manifests of `sha`, planned against the kernel: exit 0 = that is what runs.
    repo.git(repo.work, ['checkout', '--quiet', sha]);
    try {
      const r = runKfn(env, ['plan', path.join(repo.work, 'manifests'), '--detailed-exitcode']);
      if (r.code !== 0 && r.code !== 2) throw new Error(describeRun(['plan'], r));
      return r.code;
    } finally {
      repo.git(repo.work, ['checkout', '--quiet', 'main']);
    }
  };

  before(() => {
    env = createTestEnv('agent');
    sb.up();
    repo = new TestRepo(path.join(env.stateDir, 'repos'), 'netops');
    seedFunctions(repo, 'manifests', functionsYaml(), OBJECTS, BPF_BUILD);
    commit([drop('198.18.0.3/32')], 'c1');
    repo.chownRemote('nobody');
    secretFile = path.join(env.stateDir, 'webhook-secret');
    fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  });
  after(() => {
    for (const a of agents) a.kill();
    cleanupTestEnv(env);
    sb.down();
  });

  test('1. a pushed commit is applied by the first round that starts after the push; SIGTERM mid-apply exits 0 with the new state, whole', async (t) => {
    const a = start(['--interval', '2s']);
    await a.waitFor('the start round', (l) => l.trigger === 'start' && l.outcome === 'applied');
    assert.ok(pingUntilOk(sb.nsB, '198.18.0.1', { from: '198.18.0.3', count: 2, tries: 2 }).received === 0, 'c1 runs');

    const pushedAt = new Date();
    const c2 = commit([drop('198.18.0.2/32')], 'c2');
    const applied = await a.waitFor('the round that applied c2', (l) => l.outcome === 'applied' && l.revision === c2);
    const firstAfter = a.rounds().find((l) => Date.parse(l.startedAt!) > pushedAt.getTime());
    assert.equal(firstAfter, applied, 'the first round started after the push applied it (within one interval)');
    assert.equal(applied.trigger, 'interval');
    t.diagnostic(`c2 applied ${Date.parse(applied.time) - pushedAt.getTime()} ms after the push (interval 2s)`);
    assert.equal(planOf(c2), 0, 'c2 is what runs');

    // A bigger change, and SIGTERM as soon as its apply has started.
    const c3 = commit([{ name: 'visibility', function: 'flowstats' }, { name: 'count', function: 'counter' }, drop('198.18.0.3/32')], 'c3');
    a.signal('SIGHUP');
    const step = await a.waitFor('a step of the apply of c3', (l) => l.step === 1 && typeof l.of === 'number' && Date.parse(l.time) > Date.parse(applied.time));
    a.signal('SIGTERM');
    const exit = await a.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: exit 0');
    assert.ok(
      a.lines.some((l) => l.msg.startsWith('stopping after the current round') && l.signal === 'SIGTERM'),
      'the signal was handled',
    );
    assert.ok(a.lines.some((l) => l.msg === 'reconcile agent stopped'));
    const steps = a.lines.filter((l) => l.step !== undefined && Date.parse(l.time) >= Date.parse(step.time));
    assert.equal(steps.at(-1)?.step, step.of, `the apply ran to its last step (${steps.map((l) => l.step).join(',')})`);
    assert.ok(!fs.existsSync(path.join(env.stateDir, 'journal.json')), 'no unfinished apply');
    const oldOrNew = [planOf(c2), planOf(c3)];
    assert.ok(oldOrNew.includes(0), `the kernel is c2's or c3's state, never half (plan exit codes ${oldOrNew.join(', ')})`);
    assert.equal(planOf(c3), 0, 'the apply that was running finished: c3 runs');
    const chain = show(env).chains[0]!;
    assert.deepEqual(
      chain.instances.map((i) => i.name),
      ['visibility', 'count', 'drop'],
    );
    assert.deepEqual(chain.orphans, []);
  });

  test('2. webhook: a bad signature gets 401 and starts nothing; a push to another ref is ignored; a signed push starts a round at once; so do GitLab tokens and SIGHUP', async (t) => {
    const a = start(['--interval', '1h', '--webhook-addr', '127.0.0.1:0', '--webhook-secret-file', secretFile, '--metrics-addr', '127.0.0.1:0']);
    const started = await a.waitFor('the started line with the webhook address', (l) => l.msg === 'reconcile agent started');
    const port = Number(/:(\d+)$/.exec(started.webhook ?? '')?.[1]);
    assert.ok(port > 0, `webhook address in ${JSON.stringify(started)}`);
    await a.waitFor('the start round', (l) => l.trigger === 'start');
    const c4 = commit([drop('198.18.0.2/32')], 'c4');
    const push = (ref: string) => JSON.stringify({ ref, after: c4, repository: { full_name: 'team/netops' } });
    const sign = (body: string, secret = SECRET) => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

    const rounds0 = a.rounds().length;
    const body = push('refs/heads/main');
    const bad = await post(port, { 'x-github-event': 'push', 'x-hub-signature-256': sign(body, 'not-the-secret') }, body);
    assert.equal(bad.status, 401, bad.body);
    const unsigned = await post(port, { 'x-github-event': 'push' }, body);
    assert.equal(unsigned.status, 401, unsigned.body);
    const wrongToken = await post(port, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'nope' }, body);
    assert.equal(wrongToken.status, 401, wrongToken.body);
    const other = push('refs/heads/feature');
    const ignored = await post(port, { 'x-github-event': 'push', 'x-hub-signature-256': sign(other) }, other);
    assert.equal(ignored.status, 200, ignored.body);
    assert.match(ignored.body, /ignored/);
    await sleep(1500); // bounded: give a wrongly started round the time to show
    assert.equal(a.rounds().length, rounds0, 'no round started');
    assert.equal(planOf(c4), 2, 'c4 is not applied');
    const metricsBefore = await scrape(started.metrics);

    const t0 = Date.now();
    const ok = await post(port, { 'x-github-event': 'push', 'x-hub-signature-256': sign(body) }, body);
    assert.equal(ok.status, 202, ok.body);
    const r = await a.waitFor('a round started by the push', (l) => l.trigger === 'webhook' && l.msg.startsWith('reconcile round'), 20_000);
    assert.deepEqual([r.outcome, r.revision], ['applied', c4]);
    t.diagnostic(`signed push -> round started ${Date.parse(r.startedAt!) - t0} ms later, applied ${Date.parse(r.time) - t0} ms later`);
    assert.equal(planOf(c4), 0);
    // The round metrics changed with that round: one more applied round, the applied
    // revision's one series moved to c4, a later last success, one more plan and apply.
    const metricsAfter = await scrape(started.metrics);
    const stack = { stack: 'netops/manifests' };
    const applied = (m: Scrape): number => (hasSamples(m.x, 'kfn_reconcile_rounds_total', { ...stack, outcome: 'applied' }) ? value(m.x, 'kfn_reconcile_rounds_total', { ...stack, outcome: 'applied' }) : 0);
    const revisions = (m: Scrape): string[] => samples(m.x, 'kfn_reconcile_applied_revision_info', stack).map((s) => s.labels!.revision!);
    const planCount = (m: Scrape): number => Number(family(m.x, 'kfn_plan_duration_seconds').metrics[0]?.count ?? 0);
    const applyCount = (m: Scrape): number => (m.text.includes('kfn_apply_duration_seconds_count{outcome="applied"}') ? Number(histogram(m.text, 'kfn_apply_duration_seconds', { outcome: 'applied' }).count) : 0);
    assert.equal(applied(metricsAfter), applied(metricsBefore) + 1, metricsAfter.text);
    assert.equal(revisions(metricsBefore).length, 1, metricsBefore.text);
    assert.notEqual(revisions(metricsBefore)[0], c4);
    assert.deepEqual(revisions(metricsAfter), [c4], 'one series per stack: the old revision is gone');
    assert.equal(value(metricsAfter.x, 'kfn_reconcile_applied_revision_info', { ...stack, revision: c4 }), 1);
    assert.ok(value(metricsAfter.x, 'kfn_reconcile_last_success_timestamp_seconds', stack) > value(metricsBefore.x, 'kfn_reconcile_last_success_timestamp_seconds', stack), 'a later last success');
    assert.equal(value(metricsAfter.x, 'kfn_reconcile_drift', stack), 0);
    assert.ok(planCount(metricsAfter) > planCount(metricsBefore), 'the round planned');
    assert.equal(applyCount(metricsAfter), applyCount(metricsBefore) + 1, 'the round applied once');

    const gl = await post(port, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET }, body);
    assert.equal(gl.status, 202, gl.body);
    await a.waitFor('a round started by the GitLab push', (l) => l.trigger === 'webhook' && l.outcome === 'in-sync', 20_000);

    a.signal('SIGHUP');
    await a.waitFor('a round started by SIGHUP', (l) => l.trigger === 'signal' && l.msg.startsWith('reconcile round'), 20_000);
    a.signal('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null });
  });
});
