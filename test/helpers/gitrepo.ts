/**
 * A real Git setup made by a test: a bare "remote" (optionally owned by another user, as
 * a repository of another team would be) and a work tree that commits and pushes to it.
 * git runs without a shell, with the test's own global config (never the user's).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CommitOptions {
  /** Sign with this ssh private key (gpg.format=ssh). */
  signKey?: string;
}

export class TestRepo {
  readonly remote: string;
  readonly work: string;
  private readonly config: string;

  constructor(
    readonly root: string,
    name = 'netops',
  ) {
    fs.mkdirSync(root, { recursive: true });
    this.remote = path.join(root, `${name}.git`);
    this.work = path.join(root, 'work');
    this.config = path.join(root, 'gitconfig');
    // Pushing as root into a repository owned by another user needs it trusted, in a global config (see src/git/source.ts).
    fs.writeFileSync(this.config, `[safe]\n\tdirectory = ${this.remote}\n[init]\n\tdefaultBranch = main\n[user]\n\tname = kfn test\n\temail = test@kfn.invalid\n`);
    this.git(root, ['init', '--quiet', '--bare', this.remote]);
    this.git(root, ['init', '--quiet', this.work]);
    this.git(this.work, ['remote', 'add', 'origin', this.remote]);
  }

  git(cwd: string, args: string[]): string {
    return execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.root, GIT_CONFIG_GLOBAL: this.config, GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  write(rel: string, content: string | Buffer): void {
    const p = path.join(this.work, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }

  copy(from: string, rel: string): void {
    this.write(rel, fs.readFileSync(from));
  }

  remove(rel: string): void {
    fs.rmSync(path.join(this.work, rel), { recursive: true, force: true });
  }

  /** Commits everything in the work tree; returns the commit id. */
  commit(message: string, opts: CommitOptions = {}): string {
    this.git(this.work, ['add', '--all']);
    const sign = opts.signKey ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${opts.signKey}`] : [];
    this.git(this.work, [...sign, 'commit', '--quiet', '--allow-empty', ...(opts.signKey ? ['-S'] : []), '-m', message]);
    return this.head();
  }

  head(): string {
    return this.git(this.work, ['rev-parse', 'HEAD']).trim();
  }

  push(branch = 'main'): void {
    this.git(this.work, ['push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`]);
  }

  commitAndPush(message: string, opts: CommitOptions = {}, branch = 'main'): string {
    const sha = this.commit(message, opts);
    this.push(branch);
    return sha;
  }

  /** Hands the remote to another user (its files stay readable to others, as a shared repository's are). */
  chownRemote(user = 'nobody'): void {
    chownTree(this.remote, user);
  }
}

/** Gives a directory tree to `user` (tests run as root). */
export function chownTree(dir: string, user: string): void {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  const walk = (p: string): void => {
    fs.lchownSync(p, uid, gid);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
}

/** An ssh key pair made with ssh-keygen; `allowed` is a line of git's allowed-signers format. */
export function sshKey(dir: string, name: string): { key: string; pub: string; allowed: string } {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, name);
  fs.rmSync(key, { force: true });
  fs.rmSync(`${key}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key], { stdio: 'ignore', timeout: 30_000 });
  const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim();
  return { key, pub, allowed: `${name}@kfn.invalid ${pub}` };
}

/** The test functions (functions.yaml) and their objects in `dir` of the work tree, as a manifests repository holds them. */
export function seedFunctions(repo: TestRepo, dir: string, functionsYaml: string, objects: readonly string[], buildDir: string): void {
  repo.write(`${dir}/functions.yaml`, functionsYaml);
  for (const o of objects) repo.copy(path.join(buildDir, o), `${dir}/objects/${o}`);
}
