/**
 * A test's private world outside the repository: its own pin root under bpffs, its own
 * state dir, and a manifest directory holding copies of the built objects (the loader only
 * accepts objects inside the manifest root, which for a directory outside any git work
 * tree is the directory itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BPF_BUILD, OBJECTS } from './paths.js';
import { runKfn, type KfnEnv } from './kfn.js';

export interface TestEnv extends KfnEnv {
  /** Manifest directory: functions.yaml, chain files, objects/. */
  manifestDir: string;
}

/** KFN_PIN_ROOT=/sys/fs/bpf/kfn-test-<tag>-<pid>, KFN_STATE_DIR=/tmp/kfn-test-<tag>-<pid>. */
export function createTestEnv(tag: string): TestEnv {
  const id = `kfn-test-${tag}-${process.pid}`;
  const pinRoot = `/sys/fs/bpf/${id}`;
  const stateDir = `/tmp/${id}`;
  const manifestDir = path.join(stateDir, 'manifests');
  fs.rmSync(pinRoot, { recursive: true, force: true });
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(manifestDir, 'objects'), { recursive: true });
  for (const o of OBJECTS) fs.copyFileSync(path.join(BPF_BUILD, o), path.join(manifestDir, 'objects', o));
  fs.writeFileSync(path.join(manifestDir, 'functions.yaml'), functionsYaml());
  return { pinRoot, stateDir, manifestDir };
}

/**
 * KernelFunction documents for the objects copied to objects/: blocklist, flowstats,
 * ratelimit and counter 1.0.0 (byte-identical to the built-ins of the same name@version,
 * so they are the built-ins: see docs/library.md), plus the verifier-rejected badfn.
 */
export function functionsYaml(): string {
  const doc = (name: string, object: string, program: string, comment = ''): string =>
    `${comment}apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: ${name} }
spec:
  version: 1.0.0
  object: objects/${object}
  program: ${program}
  hooks: [xdp, tc-ingress, tc-egress]
`;
  return [
    doc('blocklist', 'blocklist.bpf.o', 'blocklist'),
    doc('flowstats', 'flowstats.bpf.o', 'flowstats'),
    doc('ratelimit', 'ratelimit.bpf.o', 'ratelimit'),
    doc('counter', 'counter.bpf.o', 'counter'),
    doc('badfn', 'bad_verifier.bpf.o', 'badfn', '# Fails the verifier on purpose (tests only).\n'),
  ].join('---\n');
}

export interface FnSpec {
  name: string;
  function: string;
  maps?: Record<string, Record<string, number | string>>;
  globals?: Record<string, number | string>;
}

export interface ChainSpec {
  name: string;
  hook?: 'xdp' | 'tc-ingress' | 'tc-egress';
  netns: string;
  interfaces: string[];
  mode?: 'native' | 'generic';
  /** spec.hosts: the hosts that apply the chain. */
  hosts?: { hostnames?: string[]; labels?: Record<string, string> };
  functions: FnSpec[];
}

export function chainYaml(c: ChainSpec): string {
  const lines = [
    'apiVersion: kfn.dev/v1alpha1',
    'kind: Chain',
    `metadata: { name: ${c.name} }`,
    'spec:',
    `  hook: ${c.hook ?? 'xdp'}`,
    `  netns: ${c.netns}`,
    `  interfaces: ${JSON.stringify(c.interfaces)}`,
  ];
  if (c.mode) lines.push(`  mode: ${c.mode}`);
  if (c.hosts) lines.push(`  hosts: ${JSON.stringify(c.hosts)}`);
  lines.push('  functions:');
  for (const f of c.functions) {
    lines.push(`    - name: ${f.name}`, `      function: ${f.function}`);
    const maps = Object.entries(f.maps ?? {});
    if (maps.length) {
      lines.push('      maps:');
      for (const [m, entries] of maps) lines.push(`        ${m}: ${JSON.stringify(entries)}`);
    }
    if (f.globals && Object.keys(f.globals).length) lines.push(`      globals: ${JSON.stringify(f.globals)}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes (replaces) a chain manifest in the manifest dir; returns its path. */
export function writeChain(env: TestEnv, c: ChainSpec, file = 'chain.yaml'): string {
  const p = path.join(env.manifestDir, file);
  fs.writeFileSync(p, chainYaml(c));
  return p;
}

/**
 * Removes everything the test env created in the kernel and on disk. Best effort and
 * safe to call more than once: destroy every chain under the pin root, then remove the
 * pin root (dropping the last references) and the state dir.
 */
export function cleanupTestEnv(env: TestEnv | undefined): void {
  if (!env) return;
  try {
    if (fs.existsSync(env.pinRoot)) runKfn(env, ['destroy', '--all', '--auto-approve'], { timeoutMs: 30_000 });
  } catch {
    /* the pin root removal below releases everything anyway */
  }
  fs.rmSync(env.pinRoot, { recursive: true, force: true });
  fs.rmSync(env.stateDir, { recursive: true, force: true });
}
