/** Bounded pings between the sandbox namespaces only. */
import { spawnSync } from 'node:child_process';

export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

export interface PingOptions {
  count?: number;
  /** Source address (-I). */
  from?: string;
  v6?: boolean;
}

export function ping(ns: string, dst: string, opts: PingOptions = {}): PingResult {
  const count = opts.count ?? 3;
  if (!/^198\.1[89]\.|^2001:2:/.test(dst)) throw new Error(`refusing to ping ${dst}: tests only send to 198.18.0.0/15 and 2001:2::/48`);
  const args = ['netns', 'exec', ns, 'ping', ...(opts.v6 ? ['-6'] : ['-4']), '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1'];
  if (opts.from) args.push('-I', opts.from);
  args.push(dst);
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: (count + 5) * 1000 });
  const output = `${r.stdout}${r.stderr}`;
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  if (!m) throw new Error(`cannot parse ping output (exit ${r.status}): ${output}`);
  return { transmitted: Number(m[1]), received: Number(m[2]), output };
}

/** Pings until one round gets every reply, for up to `tries` rounds (neighbour discovery, ARP). */
export function pingUntilOk(ns: string, dst: string, opts: PingOptions & { tries?: number } = {}): PingResult {
  let last: PingResult | undefined;
  for (let i = 0; i < (opts.tries ?? 4); i++) {
    last = ping(ns, dst, opts);
    if (last.received === last.transmitted) return last;
  }
  return last!;
}
