/**
 * The bad-input corpus (test/corpus/cases.json): every case must make the CLI fail with
 * exit 1 and a well-formed report: `error[CODE]: message` lines, each followed by at most
 * one `  hint: ...` line, nothing else on stderr, no stack trace, the expected code first
 * and the expected message fragment (usually file:line) somewhere.
 *
 * Some inputs are generated here rather than committed: a symlink escaping the manifest
 * root, truncated / non-ELF objects, a manifest over 4 MiB, a map with more entries
 * than max_entries, a FIFO and a symlink to /dev/zero as manifests, maps with 70,000
 * invalid and 140,000 duplicate keys, and a regular file posing as a netns under
 * /var/run/netns. They are removed when the test ends.
 *
 * Cases with a `state` run with a state dir of their own holding a file of kfn's that is
 * not what it claims (a lock file that is a directory, a FIFO or a symlink to a device, a
 * journal holding `null`), or where the state dir itself is a regular file.
 *
 * Cases marked `kernel: true` need root and a bpffs; they run with their own pin root and
 * state dir, and the bpftool prog/link id sets must be the same before and after. Cases
 * marked `known: "..."` are CLI problems not fixed yet: they are skipped with that reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BPF_BUILD, CLI, REPO_ROOT } from '../helpers/paths.js';
import { kernelUnavailableReason } from '../helpers/kernel-gate.js';

interface Case {
  name: string;
  path: string;
  command: string;
  exitCode: number;
  code: string;
  fragment: string;
  setup?:
    | 'symlink-escape'
    | 'truncated-object'
    | 'non-elf-object'
    | 'oversized-manifest'
    | 'too-many-entries'
    | 'fifo-manifest'
    | 'dev-zero-manifest'
    | 'many-invalid-keys'
    | 'many-duplicate-keys'
    | 'netns-regular-file';
  /** A state dir of the case's own, prepared so (see stateDirOf). */
  state?: 'lock-directory' | 'lock-fifo' | 'lock-device-symlink' | 'journal-null' | 'regular-file';
  pathSuffix?: string;
  kernel?: boolean;
  known?: string;
}

const CORPUS = path.join(REPO_ROOT, 'test', 'corpus');
const cases = JSON.parse(fs.readFileSync(path.join(CORPUS, 'cases.json'), 'utf8')) as Case[];
const PIN_ROOT = `/sys/fs/bpf/kfn-test-corpus-${process.pid}`;
const STATE_DIR = `/tmp/kfn-test-corpus-${process.pid}`;
const created: string[] = [];
const kernelSkip = kernelUnavailableReason();

/** The case's state dir: the shared one, or its own, prepared as its `state` says. */
function stateDirOf(c: Case): string {
  if (!c.state) return STATE_DIR;
  const dir = `${STATE_DIR}-${c.name}`;
  fs.rmSync(dir, { recursive: true, force: true });
  created.push(dir);
  if (c.state === 'regular-file') {
    fs.writeFileSync(dir, '');
    return dir;
  }
  fs.mkdirSync(dir, { mode: 0o700 });
  const lock = path.join(dir, 'lock');
  if (c.state === 'lock-directory') fs.mkdirSync(lock);
  else if (c.state === 'lock-fifo') spawnSync('mkfifo', [lock]);
  else if (c.state === 'lock-device-symlink') fs.symlinkSync('/dev/zero', lock);
  else fs.writeFileSync(path.join(dir, 'journal.json'), 'null\n', { mode: 0o600 });
  return dir;
}

function generate(c: Case): void {
  const dir = path.join(REPO_ROOT, c.path);
  const gen = path.join(dir, 'gen');
  const mark = (p: string) => void created.push(p);
  switch (c.setup) {
    case undefined:
      return;
    case 'symlink-escape': {
      // A symlink inside the root whose target (an ELF file) is outside it.
      const link = path.join(dir, 'escape.bpf.o');
      fs.rmSync(link, { force: true });
      fs.symlinkSync(process.execPath, link);
      mark(link);
      return;
    }
    case 'truncated-object':
      fs.mkdirSync(gen, { recursive: true });
      mark(gen);
      fs.writeFileSync(path.join(gen, 'truncated.bpf.o'), fs.readFileSync(path.join(BPF_BUILD, 'counter.bpf.o')).subarray(0, 200));
      return;
    case 'non-elf-object':
      fs.mkdirSync(gen, { recursive: true });
      mark(gen);
      fs.writeFileSync(path.join(gen, 'notelf.bpf.o'), '#!/bin/sh\necho this is not an ELF object\n');
      return;
    case 'oversized-manifest': {
      const file = path.join(dir, 'big.yaml');
      const line = `# ${'x'.repeat(1021)}\n`; // 1 KiB
      fs.writeFileSync(file, `apiVersion: kfn.dev/v1alpha1\n${line.repeat(4 * 1024 + 8)}`);
      mark(file);
      return;
    }
    case 'fifo-manifest': {
      const file = path.join(dir, 'in.yaml');
      fs.rmSync(file, { force: true });
      spawnSync('mkfifo', [file]);
      mark(file);
      return;
    }
    case 'dev-zero-manifest': {
      const file = path.join(dir, 'zero.yaml');
      fs.rmSync(file, { force: true });
      fs.symlinkSync('/dev/zero', file);
      mark(file);
      return;
    }
    case 'many-invalid-keys':
    case 'many-duplicate-keys': {
      const file = path.join(dir, 'generated-chain.yaml');
      const n = c.setup === 'many-invalid-keys' ? 70_000 : 140_000;
      const key = (i: number) => (c.setup === 'many-invalid-keys' ? `not-a-prefix-${i}` : '10.0.0.0/8');
      const entries: string[] = [];
      for (let i = 0; i < n; i++) entries.push(`          "${key(i)}": 1\n`);
      fs.writeFileSync(
        file,
        'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: edge }\nspec:\n  hook: xdp\n  interfaces: [eth0]\n  functions:\n' +
          '    - function: blocklist\n      maps:\n        blocked_v4:\n' +
          entries.join(''),
      );
      mark(file);
      return;
    }
    case 'netns-regular-file': {
      // Only where the kernel cases run (root): a regular file where `ip netns add` puts an nsfs mount.
      if (kernelSkip) return;
      const name = `kfn-corpus-nsfile-${process.pid}`;
      const nsFile = `/var/run/netns/${name}`;
      fs.mkdirSync('/var/run/netns', { recursive: true });
      fs.writeFileSync(nsFile, '');
      mark(nsFile);
      const file = path.join(dir, 'generated-chain.yaml');
      fs.writeFileSync(file, `apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: kfn-corpus-nsfile }\nspec:\n  hook: xdp\n  netns: ${name}\n  interfaces: [lo]\n  functions:\n    - function: counter\n`);
      mark(file);
      return;
    }
    case 'too-many-entries': {
      // blocklist's blocked_v4 has max_entries 16384: one more.
      const file = path.join(dir, 'generated-chain.yaml');
      const entries: string[] = [];
      for (let i = 0; i <= 16384; i++) entries.push(`          "10.${(i >> 8) & 255}.${i & 255}.0/24": 1\n`);
      fs.writeFileSync(
        file,
        'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: edge }\nspec:\n  hook: xdp\n  interfaces: [eth0]\n  functions:\n' +
          '    - function: blocklist\n      maps:\n        blocked_v4:\n' +
          entries.join(''),
      );
      mark(file);
      return;
    }
  }
}

interface BpfObj {
  id: number;
  name?: string;
  pinned?: string[];
  prog_id?: number;
  ifindex?: number;
  type?: string;
}

function bpftool(what: 'prog' | 'link'): BpfObj[] {
  const r = spawnSync('bpftool', ['-j', '-f', what, 'show'], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `bpftool ${what} show failed: ${r.stderr}`);
  return (JSON.parse(r.stdout || '[]') as BpfObj[]).sort((a, b) => a.id - b.id);
}

/**
 * The prog and link id sets must be unchanged by a kernel case. Other test suites may
 * load and unload BPF programs on this host at the same time, so when the sets differ the
 * difference must not be ours: no new program pinned under our pin root or named like the
 * case's programs (badfn_*), no new link holding such a program or attached to lo.
 */
function assertNoBpfLeftovers(c: Case, progsBefore: BpfObj[], linksBefore: BpfObj[], diag: (m: string) => void): void {
  const progsAfter = bpftool('prog');
  const linksAfter = bpftool('link');
  const ids = (l: BpfObj[]) => l.map((o) => o.id);
  if (JSON.stringify(ids(progsAfter)) === JSON.stringify(ids(progsBefore)) && JSON.stringify(ids(linksAfter)) === JSON.stringify(ids(linksBefore))) return;
  diag(`${c.name}: bpftool id sets changed during the case (concurrent BPF activity?); checking the difference is not ours`);
  const oldProgs = new Set(ids(progsBefore));
  const oldLinks = new Set(ids(linksBefore));
  const ours = progsAfter.filter(
    (p) => !oldProgs.has(p.id) && ((p.pinned ?? []).some((f) => f.startsWith(`${PIN_ROOT}/`)) || /^badfn/.test(p.name ?? '')),
  );
  assert.deepEqual(ours.map((p) => `${p.id} ${p.name} ${(p.pinned ?? []).join(',')}`), [], `${c.name}: bpf programs left behind`);
  const ourIds = new Set(ours.map((p) => p.id));
  const newLinks = linksAfter.filter((l) => !oldLinks.has(l.id) && ((l.prog_id !== undefined && ourIds.has(l.prog_id)) || l.ifindex === 1));
  assert.deepEqual(newLinks.map((l) => `${l.id} ${l.type} prog ${l.prog_id}`), [], `${c.name}: bpf links left behind`);
}

function runCase(c: Case) {
  const target = c.pathSuffix ? path.join(c.path, c.pathSuffix) : c.path;
  const r = spawnSync(process.execPath, [CLI, ...c.command.split(' '), target], {
    cwd: REPO_ROOT,
    env: { ...process.env, KFN_PIN_ROOT: PIN_ROOT, KFN_STATE_DIR: stateDirOf(c), NO_COLOR: '1' },
    input: '',
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return r;
}

/** Asserts the stderr report is well-formed; returns a description for failure messages. */
function checkReport(c: Case, status: number | null, stdout: string, stderr: string): void {
  const what = `kfn ${c.command} ${c.path} -> exit ${status}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  assert.equal(status, c.exitCode, `exit code\n${what}`);
  let lines = stderr.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (c.command.startsWith('apply')) {
    // A failed apply first reports its rollback (what was done and undone); the error
    // report proper starts at the first error line, and the rollback must be complete.
    const at = lines.findIndex((l) => l.startsWith('error['));
    if (at > 0) {
      const preamble = lines.slice(0, at).join('\n');
      assert.match(preamble, /The kernel is back to the state before apply\./, `incomplete rollback\n${what}`);
      lines = lines.slice(at);
    }
  }
  assert.ok(lines.length > 0, `empty stderr\n${what}`);
  const first = /^error\[([A-Z0-9_]+)\]: /.exec(lines[0]!);
  assert.ok(first, `first stderr line is not error[CODE]: ...\n${what}`);
  assert.equal(first[1], c.code, `error code\n${what}`);
  assert.ok(stderr.includes(c.fragment), `message fragment ${JSON.stringify(c.fragment)} missing\n${what}`);
  for (const l of lines) {
    assert.ok(!/^\s+at /.test(l) && !/internal error/i.test(l), `stack trace / internal error on stderr\n${what}`);
  }
  let prev: 'error' | 'hint' | undefined;
  for (const l of lines) {
    if (/^error\[[A-Z0-9_]+\]: \S/.test(l)) prev = 'error';
    else if (/^ {2}hint: \S/.test(l)) {
      assert.equal(prev, 'error', `hint line not right after an error line: ${JSON.stringify(l)}\n${what}`);
      prev = 'hint';
    } else assert.fail(`stderr line is neither error[...] nor hint: ${JSON.stringify(l)}\n${what}`);
  }
  assert.match(lines[1] ?? '', /^ {2}hint: /, `the first error has no hint\n${what}`);
}

describe('bad-input corpus', () => {
  before(() => {
    for (const c of cases) generate(c);
  });
  after(() => {
    for (const p of created) fs.rmSync(p, { recursive: true, force: true });
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    fs.rmSync(PIN_ROOT, { recursive: true, force: true });
  });

  test('the table is well-formed', () => {
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    const names = new Set<string>();
    for (const c of cases) {
      assert.ok(!names.has(c.name), `duplicate case ${c.name}`);
      names.add(c.name);
      assert.ok(fs.existsSync(path.join(REPO_ROOT, c.path)), `${c.path} missing`);
      assert.match(c.code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(c.fragment.length > 0);
      assert.ok(c.kernel || c.command === 'validate', `${c.name}: non-kernel cases use validate`);
    }
  });

  for (const c of cases) {
    const skip = c.known ? `known CLI problem: ${c.known}` : c.kernel && kernelSkip ? `kernel case skipped: ${kernelSkip}` : false;
    test(`${c.name}: ${c.command} -> error[${c.code}]`, { skip, timeout: 120_000 }, (t) => {
      if (!fs.existsSync(CLI)) assert.fail(`${CLI} missing: run npm run build`);
      const progs = c.kernel ? bpftool('prog') : [];
      const links = c.kernel ? bpftool('link') : [];
      const r = runCase(c);
      try {
        checkReport(c, r.status, r.stdout, r.stderr);
      } finally {
        if (c.kernel) {
          assertNoBpfLeftovers(c, progs, links, (m) => t.diagnostic(m));
          if (c.name.includes('verifier')) {
            const ip = spawnSync('ip', ['link', 'show', 'lo'], { encoding: 'utf8', timeout: 10_000 });
            assert.equal(ip.status, 0, ip.stderr);
            assert.doesNotMatch(ip.stdout, /xdp/, `lo still has an xdp program:\n${ip.stdout}`);
          }
        }
      }
    });
  }
});
