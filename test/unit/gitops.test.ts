/**
 * The pure and local parts of the GitOps path: host labels, stack names (derived from a
 * real git work tree made here), revisions marked dirty (also in a work tree owned by
 * another user), the webhook's authentication over a real HTTP server on 127.0.0.1,
 * the agent's status store and backoff.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { KfnError } from '../../src/core/errors.js';
import { LABEL_KEY, LABEL_VALUE, hostIdentity, parseHostLabels, readHostLabelsFile } from '../../src/core/host.js';
import { checkStackName, defaultStack, gitRevision, repoName, stackFor } from '../../src/engine/index.js';
import { authenticate, MAX_BODY, startWebhook, watchedRefs, type PushEvent } from '../../src/agent/webhook.js';
import { STATUS_HISTORY, listStatuses, listSuspensions, readStatus, readSuspension, resume, suspend, withRound, writeStatus } from '../../src/agent/status.js';
import { backoffDelay, checkManifestPath } from '../../src/agent/agent.js';
import type { RoundRecord, StackStatus } from '../../src/core/types.js';
import { TestRepo, chownTree } from '../helpers/gitrepo.js';
import { REPO_ROOT } from '../helpers/paths.js';

const isRoot = process.getuid?.() === 0;
const code = (c: string) => (e: unknown) => e instanceof KfnError && e.code === c;

function tmp(tag: string): string {
  const d = path.join(os.tmpdir(), `kfn-unit-gitops-${tag}-${process.pid}`);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  return d;
}

describe('host labels', () => {
  test('flags and a labels file, merged; bad pairs refused with HOST_LABELS_INVALID', () => {
    assert.deepEqual(parseHostLabels('role=edge, zone=eu-1,,kfn.dev/tier=a'), { role: 'edge', zone: 'eu-1', 'kfn.dev/tier': 'a' });
    assert.deepEqual(parseHostLabels(''), {});
    for (const bad of ['role', '=x', 'role=edge,role=core', 'Ro le=x', '-a=b', 'a=b c', `a=${'x'.repeat(64)}`]) {
      assert.throws(() => parseHostLabels(bad), code('HOST_LABELS_INVALID'), bad);
    }
    const dir = tmp('labels');
    const file = path.join(dir, 'labels');
    fs.writeFileSync(file, '# this host\nrole = edge\n\nzone=eu-1\n');
    assert.deepEqual(readHostLabelsFile(file), { role: 'edge', zone: 'eu-1' });
    assert.deepEqual(hostIdentity({ hostLabelsFile: file, hostLabels: 'rack=4' }, 'h1'), { hostname: 'h1', labels: { role: 'edge', zone: 'eu-1', rack: '4' } });
    assert.throws(() => hostIdentity({ hostLabelsFile: file, hostLabels: 'role=core' }, 'h1'), code('HOST_LABELS_INVALID'));
    fs.writeFileSync(file, 'role=edge\nnot a label\n');
    assert.throws(() => readHostLabelsFile(file), (e: unknown) => e instanceof KfnError && e.message.includes(`${file}:2`));
    assert.throws(() => readHostLabelsFile(dir), code('HOST_LABELS_INVALID'), 'a directory is not a labels file');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the label syntax is the Chain schema's", () => {
    const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', 'chain.schema.json'), 'utf8')) as { definitions: Record<string, { pattern: string }> };
    assert.equal(schema.definitions.labelKey!.pattern, LABEL_KEY.source);
    assert.equal(schema.definitions.labelValue!.pattern, LABEL_VALUE.source);
  });
});

describe('stack names', () => {
  test('repository names from URLs and paths; stacks from a repository and a path in it', () => {
    for (const [url, name] of [
      ['git@github.com:team/netops.git', 'netops'],
      ['https://git.example.com/team/netops', 'netops'],
      ['https://git.example.com/team/netops.git/', 'netops'],
      ['/srv/git/netops.git', 'netops'],
      ['ssh://git@host:2222/x/kernel-functions.git', 'kernel-functions'],
    ]) {
      assert.equal(repoName(url!), name, url);
    }
    assert.equal(stackFor('netops', 'manifests/edge'), 'netops/manifests/edge');
    assert.equal(stackFor('netops', '.'), 'netops');
    assert.equal(stackFor('we ird', ''), 'we_ird');
    for (const ok of ['netops/manifests', '/etc/kfn/edge', 'team@host:edge+1']) assert.equal(checkStackName(ok, 'x'), ok);
    for (const bad of ['', 'a/../b', '..', 'a//b', 'a/', 'has space', 'x'.repeat(201)]) assert.throws(() => checkStackName(bad, '--stack'), code('STACK_INVALID'), bad);
  });

  test('derived from the manifests path: <origin repository>/<path>, the directory name without origin, the absolute path outside git', () => {
    const dir = tmp('stack');
    const repo = new TestRepo(path.join(dir, 'r'), 'netops');
    repo.write('manifests/edge/chain.yaml', 'x: 1\n');
    assert.equal(defaultStack(path.join(repo.work, 'manifests', 'edge')), 'netops/manifests/edge', 'the origin remote names the repository');
    assert.equal(defaultStack(path.join(repo.work, 'manifests', 'edge', 'chain.yaml')), 'netops/manifests/edge/chain.yaml', 'a file is its own stack');
    assert.equal(defaultStack(repo.work), 'netops');
    repo.git(repo.work, ['remote', 'remove', 'origin']);
    assert.equal(defaultStack(path.join(repo.work, 'manifests')), 'work/manifests', 'no origin: the work tree directory names it');
    const plain = path.join(dir, 'plain', 'edge');
    fs.mkdirSync(plain, { recursive: true });
    assert.equal(defaultStack(plain), plain);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('revisions: the commit, marked -dirty with uncommitted changes under the manifests, also in a work tree of another user', { skip: !isRoot && 'needs root (chown)' }, () => {
    const dir = tmp('rev');
    const repo = new TestRepo(path.join(dir, 'r'), 'netops');
    repo.write('manifests/chain.yaml', 'a: 1\n');
    repo.write('docs/readme.txt', 'x\n');
    const sha = repo.commit('one');
    const m = path.join(repo.work, 'manifests');
    assert.equal(gitRevision(m), sha);
    repo.write('docs/readme.txt', 'changed elsewhere\n');
    assert.equal(gitRevision(m), sha, 'changes outside the manifests do not count');
    repo.write('manifests/new.yaml', 'b: 2\n');
    assert.equal(gitRevision(m), `${sha}-dirty`, 'an untracked manifest counts');
    chownTree(dir, 'nobody');
    assert.equal(gitRevision(m), `${sha}-dirty`, 'known in a work tree owned by another user too');
    fs.rmSync(path.join(repo.work, 'manifests', 'new.yaml'));
    assert.equal(gitRevision(m), sha);
    assert.equal(gitRevision(dir), undefined, 'outside a work tree: unknown');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('webhook', () => {
  const SECRET = 'a'.repeat(40);
  const sign = (body: string, secret = SECRET): string => `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;

  test('authentication: GitHub HMAC of the body, GitLab token; anything else is refused', () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    assert.equal(authenticate({ 'x-hub-signature-256': sign(body.toString()) }, body, SECRET), 'github');
    assert.equal(authenticate({ 'x-hub-signature-256': sign(body.toString(), 'other') }, body, SECRET), undefined);
    assert.equal(authenticate({ 'x-hub-signature-256': sign(`${body.toString()} `) }, body, SECRET), undefined, 'the signature covers the exact body');
    assert.equal(authenticate({ 'x-hub-signature-256': 'sha256=' }, body, SECRET), undefined);
    assert.equal(authenticate({ 'x-gitlab-token': SECRET }, body, SECRET), 'gitlab');
    assert.equal(authenticate({ 'x-gitlab-token': `${SECRET}x` }, body, SECRET), undefined);
    assert.equal(authenticate({}, body, SECRET), undefined);
  });

  test('the refs whose pushes start a round', () => {
    assert.deepEqual(watchedRefs('main'), ['refs/heads/main', 'refs/tags/main']);
    assert.deepEqual(watchedRefs('refs/tags/v1'), ['refs/tags/v1']);
    assert.deepEqual(watchedRefs('0123456789abcdef0123456789abcdef01234567'), []);
  });

  test('the server on 127.0.0.1: 202 and a round for a signed push of the ref, 401 without one, 200 for other refs and events, 405, 413, 400', async () => {
    const pushes: PushEvent[] = [];
    const server = await startWebhook({ host: '127.0.0.1', port: 0, secret: SECRET, refs: watchedRefs('main'), onPush: (e) => pushes.push(e), log: pino({ level: 'silent' }) });
    const send = (method: string, headers: Record<string, string>, body: string | Buffer): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: server.host, port: server.port, method, path: '/', headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const main = JSON.stringify({ ref: 'refs/heads/main', after: 'f'.repeat(40) });
      assert.equal(await send('POST', { 'x-github-event': 'push', 'x-hub-signature-256': sign(main) }, main), 202);
      assert.deepEqual(pushes, [{ provider: 'github', ref: 'refs/heads/main', after: 'f'.repeat(40) }]);
      assert.equal(await send('POST', { 'x-github-event': 'push', 'x-hub-signature-256': sign(main, 'wrong') }, main), 401);
      assert.equal(await send('POST', { 'x-github-event': 'push' }, main), 401);
      assert.equal(await send('POST', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'wrong' }, main), 401);
      const other = JSON.stringify({ ref: 'refs/heads/dev' });
      assert.equal(await send('POST', { 'x-github-event': 'push', 'x-hub-signature-256': sign(other) }, other), 200);
      assert.equal(await send('POST', { 'x-github-event': 'ping', 'x-hub-signature-256': sign('{}') }, '{}'), 200);
      assert.equal(await send('POST', { 'x-github-event': 'issues', 'x-hub-signature-256': sign('{}') }, '{}'), 200);
      assert.equal(await send('POST', { 'x-github-event': 'push', 'x-hub-signature-256': sign('nope') }, 'nope'), 400);
      assert.equal(await send('GET', {}, ''), 405);
      assert.equal(await send('POST', { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': SECRET }, JSON.stringify({ ref: 'refs/tags/main' })), 202);
      assert.equal(await send('POST', { 'x-github-event': 'push' }, Buffer.alloc(MAX_BODY + 1, 32)), 413);
      assert.deepEqual(
        pushes.map((p) => [p.provider, p.ref]),
        [
          ['github', 'refs/heads/main'],
          ['gitlab', 'refs/tags/main'],
        ],
        'only authenticated pushes of the followed ref start rounds',
      );
    } finally {
      await server.close();
    }
  });
});

describe('agent status store and backoff', () => {
  const round = (n: number, outcome: RoundRecord['outcome']): RoundRecord => ({ startedAt: `t${n}`, finishedAt: `t${n}`, trigger: 'interval', outcome, revision: `r${n}` });
  const fresh = (stack: string): StackStatus => ({ version: 1, stack, source: { repo: '/r.git', ref: 'main', path: '.' }, history: [] });

  test('per-stack files survive a restart (re-read), keep applied and failed rounds only, at most STATUS_HISTORY', () => {
    const dir = tmp('status');
    let s = fresh('netops/manifests');
    for (let i = 0; i < STATUS_HISTORY + 5; i++) s = withRound(s, round(i, i % 2 ? 'failed' : 'applied'));
    s = withRound(s, round(99, 'in-sync'));
    writeStatus(dir, s);
    writeStatus(dir, fresh('observability/obs'));
    const back = readStatus(dir, 'netops/manifests')!;
    assert.equal(back.history.length, STATUS_HISTORY);
    assert.equal(back.history.at(-1)?.revision, `r${STATUS_HISTORY + 4}`, 'newest last');
    assert.equal(back.lastRound?.outcome, 'in-sync', 'the last round, whatever it did');
    assert.deepEqual(
      listStatuses(dir).map((x) => x.stack),
      ['netops/manifests', 'observability/obs'],
    );
    assert.equal(fs.statSync(path.join(dir, 'agent')).mode & 0o777, 0o700);
    fs.writeFileSync(path.join(dir, 'agent', 'netops%2Fmanifests.json'), '{not json');
    assert.throws(() => readStatus(dir, 'netops/manifests'), code('STATUS_INVALID'));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('suspension is a file of its own', () => {
    const dir = tmp('suspend');
    assert.equal(readSuspension(dir, 'a/b'), undefined);
    suspend(dir, { stack: 'a/b', since: 'now', by: 'me', reason: 'freeze' });
    writeStatus(dir, fresh('a/b'));
    assert.equal(readSuspension(dir, 'a/b')?.reason, 'freeze', 'the agent writing its status keeps the suspension');
    assert.deepEqual(
      listSuspensions(dir).map((x) => x.stack),
      ['a/b'],
    );
    assert.equal(resume(dir, 'a/b'), true);
    assert.equal(resume(dir, 'a/b'), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a failing revision is held back for the interval, doubling, at most an hour (or the interval)', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffDelay(60_000, n)),
      [60_000, 120_000, 240_000, 480_000],
    );
    assert.equal(backoffDelay(60_000, 40), 3_600_000);
    assert.equal(backoffDelay(7_200_000, 3), 7_200_000, 'never shorter than the interval');
    assert.equal(backoffDelay(1000, 5, 3000), 3000);
  });

  test('--path stays inside the repository', () => {
    assert.equal(checkManifestPath('manifests/edge/'), 'manifests/edge/');
    assert.equal(checkManifestPath('.'), '.');
    for (const bad of ['/etc/kfn', '../other', 'a/../../b']) assert.throws(() => checkManifestPath(bad), code('USAGE'), bad);
  });
});
