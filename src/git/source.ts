/**
 * The reconcile agent's source: a Git repository (URL or local path) fetched into a
 * cache that kfn owns, never the operator's working copy. Every git run goes through
 * simple-git with fixed arguments (no shell), a minimal environment, and a global config
 * of kfn's own that trusts exactly the source repository: git refuses to read a
 * repository owned by another user (safe.directory) and, for a local path, drops
 * command-line config before it starts upload-pack there, so the trust has to come from
 * a global config file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { KfnError } from '../core/errors.js';

export interface GitSourceOptions {
  /** A URL git understands, or a path to a repository on this host. */
  repo: string;
  /** A branch, a tag, or a commit id. */
  ref: string;
  /** Directory kfn keeps its clones in (one per repository). */
  cacheDir: string;
  /** Aborts a running git (the agent stopping). */
  signal?: AbortSignal;
  /** A git that prints nothing for this long is killed. */
  timeoutMs?: number;
}

/** Environment variables handed to git: what networking and ssh need, nothing that configures git behind kfn's back. */
const PASS_ENV = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR', 'SSH_AUTH_SOCK', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
/** Operator settings for the transport (a deploy key, a CA bundle) that git reads from the environment. */
const PASS_GIT_ENV = ['GIT_SSH_COMMAND', 'GIT_SSL_CAINFO'];

const isUrl = (repo: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\\]+@[^/\\]+:/.test(repo);

/** A full commit id. */
const SHA = /^[0-9a-f]{40}$/;

export class GitSource {
  readonly repo: string;
  readonly ref: string;
  /** The cache repository (its work tree holds the checked-out commit). */
  readonly dir: string;
  private readonly configFile: string;
  private readonly opts: GitSourceOptions;

  constructor(opts: GitSourceOptions) {
    if (!opts.ref || opts.ref.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{/.test(opts.ref)) {
      throw new KfnError('USAGE', `--ref ${JSON.stringify(opts.ref)} is not a branch, tag or commit`, { hint: 'give a branch (main), a tag (v1.2.0) or a commit id' });
    }
    if (!opts.repo || opts.repo.startsWith('-')) throw new KfnError('USAGE', `--repo ${JSON.stringify(opts.repo)} is not a repository`, { hint: 'give a URL or a path' });
    this.opts = opts;
    this.repo = isUrl(opts.repo) ? opts.repo : path.resolve(opts.repo);
    this.ref = opts.ref;
    const key = crypto.createHash('sha256').update(this.repo).digest('hex').slice(0, 16);
    this.dir = path.join(opts.cacheDir, key);
    this.configFile = path.join(opts.cacheDir, `${key}.gitconfig`);
  }

  private env(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const k of [...PASS_ENV, ...PASS_GIT_ENV]) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    env.GIT_CONFIG_GLOBAL = this.configFile;
    env.GIT_TERMINAL_PROMPT = '0';
    return env;
  }

  private git(baseDir: string, config: string[] = []): SimpleGit {
    const env = this.env();
    return simpleGit({
      baseDir,
      config,
      ...(this.opts.signal ? { abort: this.opts.signal } : {}),
      timeout: { block: this.opts.timeoutMs ?? 120_000 },
      allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')),
      // Allowed because kfn sets these itself: its own global config file, and the operator's transport settings.
      unsafe: { allowUnsafeConfigPaths: true, allowUnsafeSshCommand: true },
      // A git that fails without a word on stderr (verify-commit of an unsigned commit) is still a failure.
      errors: (error, result) => (result.exitCode !== 0 ? (error ?? new Error(`git exited with ${result.exitCode}`)) : error),
    }).env(env);
  }

  /** kfn's global git config: the operator's own (included) plus trust in exactly the source repository. */
  private writeConfig(): void {
    const lines: string[] = [];
    for (const f of [path.join(os.homedir(), '.gitconfig'), path.join(os.homedir(), '.config', 'git', 'config')]) {
      if (fs.existsSync(f)) lines.push('[include]', `\tpath = ${quoteConfig(f)}`);
    }
    if (!isUrl(this.repo)) {
      let real = this.repo;
      try {
        real = fs.realpathSync(this.repo);
      } catch {
        /* reported by the fetch */
      }
      lines.push('[safe]');
      for (const d of new Set([this.repo, real, path.join(real, '.git')])) lines.push(`\tdirectory = ${quoteConfig(d)}`);
    }
    fs.writeFileSync(this.configFile, lines.join('\n') + '\n', { mode: 0o600 });
  }

  private async ensureCache(): Promise<void> {
    fs.mkdirSync(this.opts.cacheDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.opts.cacheDir, 0o700);
    this.writeConfig();
    if (!fs.existsSync(path.join(this.dir, '.git'))) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const g = this.git(this.dir);
      await this.run('prepare the cache', () => g.raw(['init', '--quiet']));
      await this.run('prepare the cache', () => g.raw(['remote', 'add', 'origin', this.repo]));
    }
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (this.opts.signal?.aborted) throw new KfnError('INTERRUPTED', `git ${what} of ${this.repo} was stopped`, { hint: 'the agent is shutting down' });
      const lines = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter(Boolean);
      const msg = lines.find((l) => l.startsWith('fatal:')) ?? lines.at(-1) ?? 'git failed';
      throw new KfnError('GIT_FAILED', `cannot ${what} ${this.repo}: ${msg}`, {
        hint: 'check the repository URL or path, the network, and the credentials of the user kfn runs as',
        cause: e,
      });
    }
  }

  /** Fetches every branch and tag and returns the commit `ref` names now. */
  async fetch(): Promise<string> {
    await this.ensureCache();
    const g = this.git(this.dir);
    await this.run('fetch', () => g.raw(['fetch', '--quiet', '--prune', '--force', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*']));
    const candidates = this.ref.startsWith('refs/heads/')
      ? [`refs/remotes/origin/${this.ref.slice('refs/heads/'.length)}`]
      : this.ref.startsWith('refs/')
        ? [this.ref]
        : [`refs/remotes/origin/${this.ref}`, `refs/tags/${this.ref}`, ...(/^[0-9a-f]{7,40}$/.test(this.ref) ? [this.ref] : [])];
    for (const name of candidates) {
      try {
        const sha = (await g.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${name}^{commit}`])).trim();
        if (SHA.test(sha)) return sha;
      } catch {
        /* not this one */
      }
    }
    throw new KfnError('GIT_REF_NOT_FOUND', `${this.repo} has no branch, tag or commit ${JSON.stringify(this.ref)}`, { hint: 'check --ref (branch names are case-sensitive)' });
  }

  /** Checks the exact commit out into the cache's work tree; returns the work tree. */
  async checkout(sha: string): Promise<string> {
    if (!SHA.test(sha)) throw new KfnError('GIT_FAILED', `not a commit id: ${sha}`);
    const g = this.git(this.dir);
    await this.run('check out a commit of', () => g.raw(['checkout', '--quiet', '--force', '--detach', sha]));
    await this.run('clean the checkout of', () => g.raw(['clean', '-ffdxq']));
    return this.dir;
  }

  /**
   * Refuses a commit that is not signed, or not signed by a key of `allowedSigners` (ssh
   * signatures, git's allowed-signers format).
   */
  async verify(sha: string, allowedSigners: string): Promise<void> {
    const body = await this.run('read a commit of', () => this.git(this.dir).raw(['cat-file', 'commit', sha]));
    const sig = /^gpgsig (.*)$/m.exec(body.split('\n\n')[0] ?? '');
    if (!sig) {
      throw new KfnError('COMMIT_UNSIGNED', `commit ${sha.slice(0, 12)} of ${this.repo} is not signed`, { hint: 'sign commits with an allowed key (git commit -S with gpg.format=ssh), or run without --verify-signatures' });
    }
    if (!sig[1]!.includes('BEGIN SSH SIGNATURE')) {
      throw new KfnError('COMMIT_SIGNATURE_REFUSED', `commit ${sha.slice(0, 12)} of ${this.repo} has a gpg signature; kfn verifies ssh signatures only`, {
        hint: 'sign with an ssh key (gpg.format=ssh) listed in the allowed signers file',
      });
    }
    const v = this.git(this.dir, ['gpg.format=ssh', `gpg.ssh.allowedSignersFile=${path.resolve(allowedSigners)}`]);
    try {
      await v.raw(['verify-commit', '--raw', sha]);
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'verification failed';
      throw new KfnError('COMMIT_SIGNATURE_REFUSED', `commit ${sha.slice(0, 12)} of ${this.repo} is not signed by an allowed key: ${why}`, {
        hint: `add the signer's key to ${allowedSigners}, or push a commit signed by an allowed key`,
      });
    }
  }
}

/** A value for a git config file, quoted so that `#`, `;` and `\` stay literal. */
function quoteConfig(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
