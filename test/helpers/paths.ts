/** Where the repository, the built CLI and the built BPF objects are, from this file's location. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');
export const BPF_BUILD = path.join(REPO_ROOT, 'bpf', 'build');
export const SANDBOX_SCRIPT = path.join(REPO_ROOT, 'scripts', 'sandbox.sh');

/** The objects kernel tests load. */
export const OBJECTS = ['root', 'blocklist', 'flowstats', 'counter', 'ratelimit', 'bad_verifier', 'percpu_test'].map((n) => `${n}.bpf.o`);
