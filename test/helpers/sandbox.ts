/** Two network namespaces joined by a veth pair, through scripts/sandbox.sh. */
import { spawnSync } from 'node:child_process';
import { SANDBOX_SCRIPT } from './paths.js';

/**
 * A namespace prefix unique to this process: `kt` + a letter for the test file + the pid in
 * base 36 (at most 8 characters, so `PREFIX-a0` fits IFNAMSIZ). Two runs of the same test
 * file at once (two people, or CI and a person) never delete each other's namespaces.
 */
export function sandboxPrefix(letter: string): string {
  if (!/^[a-z]$/.test(letter)) throw new Error('one lowercase letter per test file');
  return `kt${letter}${process.pid.toString(36)}`;
}

export class Sandbox {
  readonly nsA: string;
  readonly nsB: string;
  /** In nsA: 198.18.0.1/24, 2001:2::1/64. */
  readonly ifA: string;
  /** In nsB: 198.18.0.2/24 + 198.18.0.3/24, 2001:2::2/64. */
  readonly ifB: string;

  constructor(readonly prefix: string) {
    if (!/^[a-z0-9-]{1,8}$/.test(prefix)) throw new Error(`sandbox prefix ${prefix} must be at most 8 of [a-z0-9-]`);
    this.nsA = `${prefix}-a`;
    this.nsB = `${prefix}-b`;
    this.ifA = `${prefix}-a0`;
    this.ifB = `${prefix}-b0`;
  }

  up(): void {
    // A leftover from a crashed run with the same prefix (hence the same pid) would make `ip netns add` fail.
    this.down();
    const r = spawnSync('bash', [SANDBOX_SCRIPT, 'up', this.prefix], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) {
      this.down();
      throw new Error(`sandbox.sh up ${this.prefix} failed: ${r.stderr || r.error}`);
    }
  }

  down(): void {
    spawnSync('bash', [SANDBOX_SCRIPT, 'down', this.prefix], { stdio: 'ignore', timeout: 30_000 });
  }

  /** `ip -n NS ARGS`, stdout. */
  ip(ns: string, args: string[]): string {
    const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** The XDP program id on ifA as `ip link` reports it, or undefined. */
  xdpProgIdA(): number | undefined {
    const out = this.ip(this.nsA, ['link', 'show', this.ifA]);
    const m = /prog\/xdp id (\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  }

  exists(): boolean {
    const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    return r.stdout.split('\n').some((l) => l.split(' ')[0] === this.nsA || l.split(' ')[0] === this.nsB);
  }
}
