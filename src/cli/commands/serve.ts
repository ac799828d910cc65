/** `kfn serve --metrics-addr HOST:PORT`: Prometheus metrics of what kfn runs, until SIGTERM or SIGINT. */
import process from 'node:process';
import type { Context } from '../context.js';
import { kernelEngine } from '../context.js';
import { kfnVersion } from '../../core/version.js';
import { libbpfVersion } from '../../libbpf/index.js';
import { KfnMetrics, parseListenAddress, serveMetrics } from '../../metrics/index.js';

export async function serveCommand(ctx: Context, flags: { metricsAddr: string }): Promise<number> {
  const addr = parseListenAddress(flags.metricsAddr);
  let metrics: KfnMetrics | undefined;
  const engine = kernelEngine(ctx, (e) => metrics?.onEngineEvent(e));
  metrics = new KfnMetrics(
    { readChains: () => engine.readLive().chains, counters: (i) => engine.form.counters(i) },
    { version: kfnVersion(), libbpf: libbpfVersion(), node: process.versions.node },
    (e) => ctx.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'reading the live state for metrics failed'),
  );
  // Ready once the kernel was read: a first refresh now, not at the first scrape.
  metrics.refresh();
  const server = await serveMetrics(addr, metrics, (e) => ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, 'rendering metrics failed'));
  const where = `${server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host}:${server.address.port}`;
  ctx.log.info({ address: where }, 'serving metrics');
  process.stdout.write(`kfn serve: metrics on http://${where}/metrics (health: /healthz, readiness: /ready)\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      ctx.log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
  return 0;
}
