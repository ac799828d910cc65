/** `kfn export`: IPFIX (RFC 7011) flow records from kfn's flow tables to a collector over UDP. */
import type { Context } from '../context.js';
import { parseDuration } from '../context.js';
import { kernelEngine } from '../context.js';
import { KfnError } from '../../core/errors.js';
import { DEFAULT_NETNS } from '../../core/types.js';
import { UdpSender } from '../../libbpf/index.js';
import { runExporter } from '../../ipfix/run.js';

export interface ExportFlags {
  collector: string;
  netns?: string;
  interval: string;
  activeTimeout: string;
  idleTimeout: string;
  domain: string;
  chain?: string[];
  once?: boolean;
}

function collector(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || !(port > 0 && port < 65536)) {
    throw new KfnError('USAGE', `invalid collector "${text}"`, { hint: 'give HOST:PORT, e.g. 198.18.0.1:4739 or [2001:2::1]:4739 (4739 is the IPFIX port)' });
  }
  return { host: m[1]!, port };
}

export async function exportCommand(ctx: Context, flags: ExportFlags): Promise<number> {
  const { host, port } = collector(flags.collector);
  const engine = kernelEngine(ctx);
  await engine.recover();
  const sender = UdpSender.open(flags.netns ?? DEFAULT_NETNS, host, port);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const r = await runExporter(engine, {
      send: (m) => sender.send(m),
      intervalMs: parseDuration(flags.interval),
      activeTimeoutMs: parseDuration(flags.activeTimeout),
      idleTimeoutMs: parseDuration(flags.idleTimeout),
      domain: Number(flags.domain),
      chains: flags.chain ?? [],
      once: Boolean(flags.once),
      signal: stop.signal,
      onRecords: (rs) => ctx.log.info({ records: rs.length }, 'exported flow records'),
    });
    ctx.log.info({ messages: r.messages, records: r.records }, 'exporter stopped');
    if (flags.once) process.stdout.write(`Exported ${r.records} flow record(s) in ${r.messages} IPFIX message(s) to ${flags.collector}.\n`);
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    sender.close();
  }
}
