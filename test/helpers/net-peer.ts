/** Drives test/helpers/net-peer-main.ts in a network namespace, one command at a time. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT } from './paths.js';

export interface PeerReply {
  ok: boolean;
  error?: string;
  id?: number;
  done?: number;
  sent?: number;
  /** ucount: datagrams received per source address. */
  counts?: Record<string, number>;
}

export class NetPeer {
  private readonly child: ChildProcess;
  private readonly replies: PeerReply[] = [];
  private waiter: (() => void) | undefined;
  private err = '';

  private constructor(readonly netns: string) {
    const script = path.join(REPO_ROOT, 'test/helpers/net-peer-main.ts');
    // ip netns exec execs node in place: the pid is the peer itself.
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', script], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => {
      try {
        this.replies.push(JSON.parse(l) as PeerReply);
      } catch {
        this.replies.push({ ok: false, error: `bad reply line: ${l}` });
      }
      this.waiter?.();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.child.on('exit', () => this.waiter?.());
  }

  static async start(netns: string): Promise<NetPeer> {
    const p = new NetPeer(netns);
    const hello = await p.next(20_000);
    if (!hello.ok) throw new Error(`net peer in ${netns} did not start: ${hello.error}`);
    return p;
  }

  private async next(timeoutMs: number): Promise<PeerReply> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`net peer in ${this.netns} exited: ${this.err}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`net peer in ${this.netns} gave no reply within ${timeoutMs} ms: ${this.err}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.replies.shift()!;
  }

  /** Sends one command and waits for its reply. */
  async cmd(line: string, timeoutMs = 30_000): Promise<PeerReply> {
    this.child.stdin!.write(line + '\n');
    return this.next(timeoutMs);
  }

  /** Like cmd, but a failed reply throws. */
  async must(line: string, timeoutMs?: number): Promise<PeerReply> {
    const r = await this.cmd(line, timeoutMs);
    if (!r.ok) throw new Error(`${this.netns}: ${line}: ${r.error}`);
    return r;
  }

  /**
   * Datagrams received per source on a `ulisten` port, once the counts have stopped
   * moving (three equal readings 100 ms apart, at most `maxMs`): what was in flight has landed.
   */
  async settledUdpCounts(port: number, maxMs = 5_000): Promise<Record<string, number>> {
    const deadline = Date.now() + maxMs;
    let last = '';
    let same = 0;
    for (;;) {
      const counts = (await this.must(`ucount ${port}`)).counts ?? {};
      const key = JSON.stringify(Object.entries(counts).sort());
      same = key === last ? same + 1 : 0;
      last = key;
      if (same >= 2 || Date.now() > deadline) return counts;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Cleanup path: stops the peer we started (by its pid), never throws. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }
}
