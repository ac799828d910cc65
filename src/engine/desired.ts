/**
 * The desired state from a manifest file or directory, with the Git revision it comes
 * from and the stack it is (docs/gitops.md, "Stacks").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KfnError } from '../core/errors.js';
import type { DesiredState } from '../core/types.js';
import { readObjectInfo, requireLibbpf } from '../libbpf/index.js';
import { listFunctions, loadDesiredState, type ResolvedFunction } from '../manifest/index.js';
import { builtinFunctions } from '../library/index.js';

export interface DesiredOptions {
  /** The stack, when given (`--stack`); else derived from the manifests' path; false: none (commands that plan nothing). */
  stack?: string | false;
  /** The revision, when the caller knows it (the reconcile agent's checkout); false: do not ask git (validate records nothing). */
  revision?: string | false;
}

export function loadDesired(target: string, opts: DesiredOptions = {}): DesiredState {
  // One LIBBPF_UNAVAILABLE error up front, not one per object that could not be read.
  requireLibbpf();
  const desired = loadDesiredState(target, { readObjectInfo, builtins: builtinFunctions() });
  const revision = opts.revision === false ? undefined : (opts.revision ?? gitRevision(target));
  const out: DesiredState = revision ? { ...desired, revision } : { ...desired };
  if (opts.stack !== false) out.stack = opts.stack === undefined ? defaultStack(target) : checkStackName(opts.stack, '--stack');
  return out;
}

/** Letters, digits and . _ - / @ : +, 1-200 of them; no empty, `.` or `..` path step, no trailing `/`. */
const STACK_NAME = /^(?!.*\/\/)(?!.*\/$)(?!(.*\/)?\.\.?(\/|$))[A-Za-z0-9._\-/@:+]{1,200}$/;

export function checkStackName(name: string, where: string): string {
  if (!STACK_NAME.test(name)) {
    throw new KfnError('STACK_INVALID', `${where}: ${JSON.stringify(name)} is not a stack name`, {
      hint: "1-200 letters, digits or . _ - / @ : +, not ending with '/', without empty, '.' or '..' path steps",
    });
  }
  return name;
}

const dirOf = (target: string): string => (fs.existsSync(target) && fs.statSync(target).isDirectory() ? target : path.dirname(target));

/** The nearest directory at or above `dir` holding `.git`. */
function workTreeOf(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/**
 * Runs git on a work tree as the user who owns it. git refuses, rightly, to work as root
 * in a repository someone else owns (its config could run commands: fsmonitor, filters);
 * run as the owner, with no home of its own to read config from, it reads only what the
 * owner could anyway.
 */
function git(dir: string, owner: fs.Stats, args: string[]): string | undefined {
  const asOwner = process.getuid?.() === 0 && owner.uid !== 0;
  try {
    return execFileSync('git', ['-C', dir, ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
      ...(asOwner ? { uid: owner.uid, gid: owner.gid, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C' } } : {}),
    }).toString();
  } catch {
    return undefined;
  }
}

/**
 * The commit the manifests come from, when they live in a git work tree; `<sha>-dirty`
 * when the work tree has uncommitted changes (untracked files included) under them.
 */
export function gitRevision(target: string): string | undefined {
  const dir = dirOf(target);
  const top = workTreeOf(dir);
  if (!top) return undefined;
  const owner = fs.statSync(top);
  const head = git(dir, owner, ['rev-parse', '--verify', '--quiet', 'HEAD'])?.trim();
  if (!head) return undefined;
  const status = git(dir, owner, ['status', '--porcelain', '--untracked-files=normal', '--', path.resolve(target)]);
  return status === undefined || status.trim() ? `${head}-dirty` : head;
}

/** The `url` of `[remote "origin"]` in a repository's own config file (read, never run). */
function originUrl(gitDir: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitDir, 'config'), 'utf8');
  } catch {
    return undefined;
  }
  let inOrigin = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inOrigin = /^\[remote\s+"origin"\]$/.test(line);
    else if (inOrigin) {
      const m = /^url\s*=\s*(.+)$/.exec(line);
      if (m) return m[1]!.trim();
    }
  }
  return undefined;
}

/** `netops` from `git@host:team/netops.git`, `https://host/team/netops`, `/srv/git/netops.git/`. */
export function repoName(url: string): string {
  const last = url.replace(/[/\\]+$/, '').split(/[/:\\]/).pop() ?? '';
  const name = last.replace(/\.git$/, '');
  return name || 'repo';
}

/** `<repository name>/<path of the manifests in it>`, or just the name at the repository's root. */
export function stackFor(repo: string, relPath: string): string {
  const rel = relPath.split(path.sep).filter((p) => p && p !== '.').join('/');
  const name = repo.replace(/[^A-Za-z0-9._\-@:+]/g, '_').replace(/^\.+/, '_') || 'repo';
  return rel ? `${name}/${rel}` : name;
}

/**
 * The stack of manifests given by path (docs/gitops.md): inside a git work tree,
 * `<repository>/<path in it>` where the repository is named after its `origin` remote
 * (else its directory), so that a CI checkout and the reconcile agent's cache of one
 * repository agree; outside any work tree, the absolute path of the file or directory.
 */
export function defaultStack(target: string): string {
  const abs = path.resolve(target);
  const top = workTreeOf(dirOf(abs));
  if (!top) return checkStackName(abs, 'the stack derived from the manifests path (give --stack)');
  const dotGit = path.join(top, '.git');
  const url = fs.statSync(dotGit).isDirectory() ? originUrl(dotGit) : undefined;
  return checkStackName(stackFor(url ? repoName(url) : path.basename(top), path.relative(top, abs)), 'the stack derived from the manifests path (give --stack)');
}

export const netnsOf = (d: { chains: { netns: string }[] } | undefined): string[] => [...new Set((d?.chains ?? []).map((c) => c.netns))];

/** The functions chains can use here: this kfn's built-ins, plus the KernelFunctions under `target`. */
export function listFunctionsHere(target: string | undefined): ResolvedFunction[] {
  requireLibbpf();
  return listFunctions(target, { readObjectInfo, builtins: builtinFunctions() });
}
