/**
 * `kfn reconcile`: the GitOps agent. Flags -> GitSource + ReconcileAgent (+ webhook);
 * SIGTERM/SIGINT stop it after the current round (an apply runs to its end or rolls
 * back, never half), SIGHUP starts a round.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { kernelEngine, parseDuration } from '../context.js';
import { KfnError } from '../../core/errors.js';
import type { RoundOutcome } from '../../core/types.js';
import { hostIdentity, type HostLabelFlags } from '../../core/host.js';
import { checkStackName, repoName, stackFor } from '../../engine/index.js';
import { GitSource } from '../../git/source.js';
import { ReconcileAgent, checkManifestPath } from '../../agent/agent.js';
import { startWebhook, watchedRefs, type WebhookServer } from '../../agent/webhook.js';
import { roundLine } from '../../views/index.js';

export interface ReconcileFlags extends HostLabelFlags {
  repo: string;
  ref: string;
  path: string;
  interval: string;
  once?: boolean;
  stack?: string;
  correctDrift: boolean;
  verifySignatures?: boolean;
  allowedSigners?: string;
  webhookAddr?: string;
  webhookSecretFile?: string;
  metricsAddr?: string;
  lockTimeout: string;
  cacheDir?: string;
}

/** The metrics' outcome label of a round: a suspended round is skipped. */
function metricsOutcome(m: typeof import('../../metrics/index.js').RoundOutcome, o: RoundOutcome): import('../../metrics/index.js').RoundOutcome {
  const by: Record<RoundOutcome, import('../../metrics/index.js').RoundOutcome> = {
    applied: m.Applied,
    'in-sync': m.InSync,
    'drift-corrected': m.DriftCorrected,
    'drift-reported': m.DriftReported,
    failed: m.Failed,
    suspended: m.Skipped,
  };
  return by[o];
}

function readSecret(file: string): string {
  let secret: string;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new KfnError('USAGE', `cannot read --webhook-secret-file ${file}: ${(e as Error).message}`, { hint: 'give a file holding the shared secret' });
  }
  if (secret.length < 16) throw new KfnError('USAGE', `the webhook secret in ${file} is shorter than 16 characters`, { hint: 'use a long random secret (openssl rand -hex 32)' });
  return secret;
}

export async function reconcileCommand(ctx: Context, flags: ReconcileFlags): Promise<number> {
  const intervalMs = parseDuration(flags.interval);
  if (intervalMs < 1000) throw new KfnError('USAGE', `--interval ${flags.interval} is shorter than one second`, { hint: 'for example 30s or 1m' });
  const manifests = checkManifestPath(flags.path);
  if (flags.verifySignatures && !flags.allowedSigners) throw new KfnError('USAGE', '--verify-signatures needs --allowed-signers FILE', { hint: "git's allowed-signers format: one principal and key per line" });
  if (flags.allowedSigners && !flags.verifySignatures) throw new KfnError('USAGE', '--allowed-signers is only used with --verify-signatures', { hint: 'add --verify-signatures' });
  if (flags.allowedSigners && !fs.existsSync(flags.allowedSigners)) throw new KfnError('USAGE', `--allowed-signers ${flags.allowedSigners}: no such file`, { hint: "give git's allowed-signers file" });
  if (flags.webhookAddr && !flags.webhookSecretFile) throw new KfnError('USAGE', '--webhook-addr needs --webhook-secret-file FILE', { hint: 'push events are only accepted with a shared secret' });
  if (flags.webhookAddr && flags.once) throw new KfnError('USAGE', '--webhook-addr cannot be used with --once', { hint: 'run the agent without --once to accept push events' });
  const { parseListenAddress } = await import('../../metrics/server.js');
  const addr = flags.webhookAddr ? parseListenAddress(flags.webhookAddr) : undefined;
  const metricsAddr = flags.metricsAddr ? parseListenAddress(flags.metricsAddr) : undefined;
  const secret = flags.webhookSecretFile ? readSecret(flags.webhookSecretFile) : undefined;
  const host = hostIdentity(flags);
  const stack = flags.stack === undefined ? stackFor(repoName(flags.repo), manifests) : checkStackName(flags.stack, '--stack');

  const metrics = metricsAddr ? await import('../../metrics/index.js') : undefined;
  let registry: import('../../metrics/index.js').KfnMetrics | undefined;
  const engine = kernelEngine(ctx, (e) => registry?.onEngineEvent(e));
  if (metrics) {
    const { kfnVersion } = await import('../../core/version.js');
    const { libbpfVersion } = await import('../../libbpf/index.js');
    registry = new metrics.KfnMetrics(
      { readChains: () => engine.readLive().chains, counters: (i) => engine.form.counters(i) },
      { version: kfnVersion(), libbpf: libbpfVersion(), node: process.versions.node },
      (e) => ctx.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'reading the live state for metrics failed'),
    );
  }
  const rounds = metrics && registry ? new metrics.ReconcileMetrics(registry.registry) : undefined;
  const abort = new AbortController();
  const source = new GitSource({ repo: flags.repo, ref: flags.ref, cacheDir: flags.cacheDir ? path.resolve(flags.cacheDir) : path.join(ctx.paths.stateDir, 'git'), signal: abort.signal });
  const log = ctx.log.child({ stack });
  const agent = new ReconcileAgent({
    once: flags.once === true,
    engine,
    source,
    path: manifests,
    stack,
    host,
    intervalMs,
    correctDrift: flags.correctDrift,
    ...(flags.verifySignatures ? { allowedSigners: path.resolve(flags.allowedSigners!) } : {}),
    lockTimeoutMs: parseDuration(flags.lockTimeout),
    log: ctx.log,
    abort,
    ...(rounds && metrics
      ? {
          onRound: (r, status) =>
            rounds.roundFinished({
              stack,
              outcome: metricsOutcome(metrics.RoundOutcome, r.outcome),
              ...(status.lastApplied ? { appliedRevision: status.lastApplied.revision } : {}),
              drift: r.outcome === 'drift-reported' || (r.outcome === 'failed' && (r.drift ?? 0) > 0),
              at: new Date(r.finishedAt),
            }),
        }
      : {}),
  });

  if (flags.once) {
    const r = await agent.round('once');
    process.stdout.write(`${roundLine(r)}\n`);
    if (r.outcome === 'failed' || (r.fetched !== undefined && r.revision !== r.fetched)) return 1;
    return r.outcome === 'drift-reported' ? 2 : 0;
  }

  let metricsServer: import('../../metrics/index.js').MetricsServer | undefined;
  if (metrics && registry && metricsAddr) {
    registry.refresh();
    metricsServer = await metrics.serveMetrics(metricsAddr, registry, (e) => ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, 'rendering metrics failed'));
  }
  let webhook: WebhookServer | undefined;
  if (addr && secret) {
    webhook = await startWebhook({ ...addr, secret, refs: watchedRefs(flags.ref), onPush: () => agent.requestRound('webhook'), log });
  }
  const onStop = (signal: NodeJS.Signals) => (): void => {
    log.info({ signal }, 'stopping after the current round');
    agent.stop();
  };
  const onHup = (): void => agent.requestRound('signal');
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGTERM', onStop('SIGTERM')],
    ['SIGINT', onStop('SIGINT')],
    ['SIGHUP', onHup],
  ];
  for (const [sig, h] of handlers) process.on(sig, h);
  const url = (a: { host: string; port: number } | undefined): string | null => (a ? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : null);
  log.info({ repo: source.repo, ref: flags.ref, path: manifests, intervalMs, webhook: url(webhook), metrics: url(metricsServer?.address), pid: process.pid }, 'reconcile agent started');
  try {
    await agent.run();
  } finally {
    await webhook?.close();
    await metricsServer?.close();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  log.info('reconcile agent stopped');
  return 0;
}
