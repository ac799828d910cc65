/**
 * The metrics module without a kernel: a live source made here stands in for the engine,
 * the exposition is parsed with a real Prometheus text parser. Function counters hold
 * exactly what the source reports at each scrape (instances that went away disappear, no
 * label but the instance's); a failed read is counted and leaves no stale counters; engine
 * events fill the plan/apply histograms; reconcile rounds change the per-stack metrics;
 * the HTTP endpoint answers /metrics, /healthz, /ready (503 until the first read), 404, 405.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LiveChain, LiveInstance, PlanSummary } from '../../src/core/types.js';
import { ApplyOutcome } from '../../src/engine/index.js';
import type { InstanceCounters } from '../../src/forms/form.js';
import { INSTANCE_LABELS, KfnMetrics, parseListenAddress, ReconcileMetrics, RoundOutcome, serveMetrics, type LiveSource } from '../../src/metrics/index.js';
import { family, histogram, parseExposition, samples, value } from '../helpers/prometheus.js';

function instance(name: string, fn: string, version = '1.0.0'): LiveInstance {
  return { name, identity: { function: fn, version, sha256: 'ab'.repeat(32), program: `${fn}_xdp`, globals: {} }, progId: 1, pinDir: `/pins/${name}`, maps: {}, appliedMaps: {} };
}

function chain(name: string, instances: LiveInstance[], extra: Partial<LiveChain> = {}): LiveChain {
  return {
    attachment: { netns: 'ns1', ifname: 'veth0', hook: 'xdp' },
    chainName: name,
    ifindex: 2,
    rootProgId: 9,
    linkId: 3,
    pinDir: `/pins/${name}`,
    attached: true,
    instances,
    orphans: [],
    drift: [],
    ...extra,
  };
}

class FakeSource implements LiveSource {
  chains: LiveChain[] = [];
  counts = new Map<string, InstanceCounters>();
  fail: Error | undefined;
  readChains(): LiveChain[] {
    if (this.fail) throw this.fail;
    return this.chains;
  }
  counters(i: LiveInstance): InstanceCounters {
    return this.counts.get(i.name) ?? {};
  }
}

const BUILD = { version: '9.9.9', libbpf: '1.1', node: '20.0.0' };
const summary: PlanSummary = { add: 1, change: 0, replace: 0, destroy: 0 } as PlanSummary;

describe('metrics', () => {
  test('function counters are what the source reports now, labelled by instance only', async () => {
    const src = new FakeSource();
    const blk = instance('drop-bad', 'blocklist');
    const fs = instance('visibility', 'flowstats');
    src.chains = [chain('edge', [blk, fs], { stack: 'net' })];
    src.counts.set('drop-bad', { packets: 8n, drops: 3n });
    src.counts.set('visibility', { packets: 5n, bytes: 490n });
    const m = new KfnMetrics(src, BUILD);
    assert.equal(m.ready, false);
    let x = parseExposition(await m.render());
    assert.equal(m.ready, true);
    const labels = { stack: 'net', chain: 'edge', netns: 'ns1', interface: 'veth0', hook: 'xdp' };
    assert.equal(value(x, 'kfn_function_packets_total', { ...labels, instance: 'drop-bad', function: 'blocklist', version: '1.0.0' }), 8);
    assert.equal(value(x, 'kfn_function_drops_total', { instance: 'drop-bad' }), 3);
    assert.equal(value(x, 'kfn_function_packets_total', { instance: 'visibility' }), 5);
    assert.equal(value(x, 'kfn_function_bytes_total', { instance: 'visibility' }), 490);
    // A kind a function does not count has no series (flowstats drops nothing; blocklist counts no bytes).
    assert.equal(samples(x, 'kfn_function_drops_total', { instance: 'visibility' }).length, 0);
    assert.equal(samples(x, 'kfn_function_bytes_total', { instance: 'drop-bad' }).length, 0);
    for (const s of family(x, 'kfn_function_packets_total').metrics) assert.deepEqual(Object.keys(s.labels ?? {}).sort(), [...INSTANCE_LABELS].sort());
    assert.equal(family(x, 'kfn_function_packets_total').type, 'COUNTER');
    assert.equal(value(x, 'kfn_chain_attached', labels), 1);
    assert.equal(value(x, 'kfn_chain_drift', labels), 0);
    assert.equal(value(x, 'kfn_build_info', { version: '9.9.9', libbpf: '1.1', node: '20.0.0' }), 1);

    // The next scrape: more traffic, one instance removed, a chain detached with drift.
    src.chains = [chain('edge', [blk], { stack: 'net', attached: false, drift: ['root is not attached to the tcx hook'] })];
    src.counts.set('drop-bad', { packets: 20n, drops: 4n });
    x = parseExposition(await m.render());
    assert.equal(value(x, 'kfn_function_packets_total', { instance: 'drop-bad' }), 20);
    assert.equal(samples(x, 'kfn_function_packets_total', { instance: 'visibility' }).length, 0);
    assert.equal(value(x, 'kfn_chain_attached', labels), 0);
    assert.equal(value(x, 'kfn_chain_drift', labels), 1);
  });

  test('a chain without a stack has an empty stack label; a counter beyond 2^53 is exported as a float', async () => {
    const src = new FakeSource();
    src.chains = [chain('plain', [instance('c', 'counter')])];
    src.counts.set('c', { packets: 2n ** 60n });
    const x = parseExposition(await new KfnMetrics(src, BUILD).render());
    assert.equal(value(x, 'kfn_function_packets_total', { stack: '', chain: 'plain', instance: 'c' }), 2 ** 60);
  });

  test('a failed live read is counted, reported, and leaves no stale function counters', async () => {
    const src = new FakeSource();
    src.chains = [chain('edge', [instance('c', 'counter')])];
    src.counts.set('c', { packets: 1n });
    const seen: unknown[] = [];
    const m = new KfnMetrics(src, BUILD, (e) => seen.push(e));
    let x = parseExposition(await m.render());
    assert.equal(value(x, 'kfn_live_read_errors_total'), 0);
    src.fail = new Error('bpffs gone');
    x = parseExposition(await m.render());
    assert.equal(value(x, 'kfn_live_read_errors_total'), 1);
    assert.equal(family(x, 'kfn_function_packets_total').metrics.length, 0);
    assert.deepEqual(seen.map((e) => (e as Error).message), ['bpffs gone']);
  });

  test('engine events fill the plan and apply duration histograms', async () => {
    const m = new KfnMetrics(new FakeSource(), BUILD);
    m.onEngineEvent({ type: 'planned', seconds: 0.003, summary, steps: 4 });
    m.onEngineEvent({ type: 'planned', seconds: 0.2, summary, steps: 4 });
    m.onEngineEvent({ type: 'applied', seconds: 0.4, outcome: ApplyOutcome.Applied, steps: 4 });
    m.onEngineEvent({ type: 'applied', seconds: 1.5, outcome: ApplyOutcome.RolledBack, steps: 2 });
    const text = await m.render();
    const x = parseExposition(text);
    const plan = family(x, 'kfn_plan_duration_seconds');
    assert.equal(plan.type, 'HISTOGRAM');
    assert.equal(plan.metrics[0]!.count, '2');
    assert.equal(plan.metrics[0]!.buckets!['0.005'], '1');
    assert.equal(plan.metrics[0]!.buckets!['0.25'], '2');
    assert.equal(family(x, 'kfn_apply_duration_seconds').type, 'HISTOGRAM');
    const applied = histogram(text, 'kfn_apply_duration_seconds', { outcome: 'applied' });
    const rolledBack = histogram(text, 'kfn_apply_duration_seconds', { outcome: 'rolled-back' });
    assert.deepEqual([applied.count, applied.buckets!['0.25'], applied.buckets!['0.5'], applied.sum], ['1', '0', '1', '0.4']);
    assert.deepEqual([rolledBack.count, rolledBack.buckets!['1'], rolledBack.buckets!['2.5'], rolledBack.sum], ['1', '0', '1', '1.5']);
  });

  test('reconcile rounds: counts by outcome, last success time, one revision series per stack, drift', async () => {
    const m = new KfnMetrics(new FakeSource(), BUILD);
    const r = new ReconcileMetrics(m.registry);
    r.roundFinished({ stack: 'net', outcome: RoundOutcome.Applied, appliedRevision: 'aaa111', drift: false, at: new Date(1_700_000_000_000) });
    r.roundFinished({ stack: 'net', outcome: RoundOutcome.Failed, appliedRevision: 'aaa111', drift: false, at: new Date(1_700_000_060_000) });
    r.roundFinished({ stack: 'obs', outcome: RoundOutcome.DriftReported, drift: true, at: new Date(1_700_000_030_000) });
    let x = parseExposition(await m.render());
    assert.equal(value(x, 'kfn_reconcile_rounds_total', { stack: 'net', outcome: 'applied' }), 1);
    assert.equal(value(x, 'kfn_reconcile_rounds_total', { stack: 'net', outcome: 'failed' }), 1);
    assert.equal(value(x, 'kfn_reconcile_last_success_timestamp_seconds', { stack: 'net' }), 1_700_000_000);
    assert.equal(value(x, 'kfn_reconcile_applied_revision_info', { stack: 'net', revision: 'aaa111' }), 1);
    assert.equal(value(x, 'kfn_reconcile_drift', { stack: 'obs' }), 1);
    assert.equal(samples(x, 'kfn_reconcile_applied_revision_info', { stack: 'obs' }).length, 0);

    r.roundFinished({ stack: 'net', outcome: RoundOutcome.Applied, appliedRevision: 'bbb222', drift: false, at: new Date(1_700_000_120_000) });
    x = parseExposition(await m.render());
    assert.deepEqual(samples(x, 'kfn_reconcile_applied_revision_info', { stack: 'net' }).map((s) => s.labels?.revision), ['bbb222']);
    assert.equal(value(x, 'kfn_reconcile_rounds_total', { stack: 'net', outcome: 'applied' }), 2);
    assert.equal(value(x, 'kfn_reconcile_last_success_timestamp_seconds', { stack: 'net' }), 1_700_000_120);
  });

  test('listen addresses', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9477'), { host: '127.0.0.1', port: 9477 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress(':9477'), { host: '0.0.0.0', port: 9477 });
    for (const bad of ['127.0.0.1', '127.0.0.1:65536', '[nothex]:1', '::1:80', 'host:port', '']) {
      assert.throws(() => parseListenAddress(bad), (e: { code?: string }) => e.code === 'USAGE', bad);
    }
  });

  test('the HTTP endpoint: /metrics, /healthz, /ready (503 before the first read), 404, 405', async () => {
    const src = new FakeSource();
    src.chains = [chain('edge', [instance('c', 'counter')])];
    src.counts.set('c', { packets: 7n });
    const m = new KfnMetrics(src, BUILD);
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, m);
    try {
      const url = (p: string) => `http://127.0.0.1:${server.address.port}${p}`;
      assert.equal((await fetch(url('/ready'))).status, 503);
      assert.equal((await fetch(url('/healthz'))).status, 200);
      const res = await fetch(url('/metrics'));
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(value(parseExposition(await res.text()), 'kfn_function_packets_total', { instance: 'c' }), 7);
      assert.equal((await fetch(url('/ready'))).status, 200);
      assert.equal((await fetch(url('/nope'))).status, 404);
      assert.equal((await fetch(url('/metrics'), { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });
});
