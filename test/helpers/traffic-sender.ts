/** Runs traffic-udp-sender.ts in a network namespace and collects its report. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO } from './traffic-env.js';

export interface SenderReport {
  sent: number;
  failed: number;
  ms: number;
}

export class UdpSender {
  private readonly child: ChildProcess;
  private out = '';
  private err = '';
  private readonly exited: Promise<number | null>;
  readonly started: Promise<void>;

  constructor(netns: string, host: string, port: number, pps: number, maxMs: number, src?: string) {
    const script = path.join(REPO, 'test/helpers/traffic-udp-sender.ts');
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', script, host, String(port), String(pps), String(maxMs), ...(src ? [src] : [])], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.started = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`UDP sender did not start within 15 s: ${this.err}`)), 15_000);
      this.child.stdout!.on('data', (d: Buffer) => {
        this.out += d.toString();
        if (this.out.includes('"started"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.child.on('exit', () => {
        clearTimeout(timer);
        if (!this.out.includes('"started"')) reject(new Error(`UDP sender exited before sending: ${this.err}`));
      });
    });
    this.started.catch(() => {});
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops the sender (SIGTERM to the process we started) and returns what it sent. */
  async stop(timeoutMs = 10_000): Promise<SenderReport> {
    // `ip netns exec` execs node in place, so this pid is the sender itself.
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error('UDP sender did not stop');
    }
    const line = this.out.split('\n').find((l) => l.includes('"done"'));
    if (!line) throw new Error(`UDP sender gave no report. stdout: ${this.out} stderr: ${this.err}`);
    const r = JSON.parse(line) as SenderReport & { event: string };
    return { sent: r.sent, failed: r.failed, ms: r.ms };
  }

  /** Cleanup path: kill if still running, never throws. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
