/**
 * kfn on tcx hooks next to a foreign tenant: a chain on tc-ingress and one on tc-egress
 * of the same interface (a counter on each), plus a counter_tc program that the test
 * attaches itself with a tcx link pinned outside kfn's pin root.
 *
 * Checks: plan/show report the foreign program as foreign; `position: first` puts kfn's
 * root before it, `position: last` after it; ping is counted by kfn's ingress counter
 * and by the foreign program, replies by kfn's egress counter; kfn destroy leaves the
 * foreign program attached (and counting).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  KfnHarness,
  counterValues,
  kernelFunction,
  kernelUnavailable,
  run,
  sandboxPrefix,
  sandboxUp,
  skipUnlessKernel,
  type LiveJson,
  type Sandbox,
} from '../helpers/traffic-env.js';

const unavailable = kernelUnavailable(['ping']);

describe('tc hooks: ingress + egress chains next to a foreign tcx program', { skip: skipUnlessKernel(unavailable), timeout: 60_000 }, () => {
  const PINGS = 5;
  let sb: Sandbox | undefined;
  let h: KfnHarness | undefined;
  let foreignDir: string | undefined;
  // Loaded lazily: the libbpf layer needs libbpf.so.1, which a skipped run may lack.
  let tc: typeof import('../helpers/tc-foreign.js');
  let foreign: import('../helpers/tc-foreign.js').ForeignTcx;

  const manifests = (position: 'first' | 'last'): void => {
    h!.write('functions.yaml', kernelFunction(h!, 'counter', '1.0.0', 'counter.bpf.o', 'counter'));
    h!.write(
      'chains.yaml',
      `apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: tc-in }
spec:
  hook: tc-ingress
  netns: ${sb!.a}
  interfaces: [${sb!.a0}]
  position: ${position}
  functions:
    - { name: count-in, function: counter }
---
apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: tc-out }
spec:
  hook: tc-egress
  netns: ${sb!.a}
  interfaces: [${sb!.a0}]
  functions:
    - { name: count-out, function: counter }
`,
    );
  };

  const counts = (): { in: bigint; out: bigint; foreign: bigint } => {
    const live = h!.show(true);
    return { in: counterValues(live, 'tc-in')['count-in']!, out: counterValues(live, 'tc-out')['count-out']!, foreign: tc.foreignCount(foreign) };
  };

  const ping = (): void => {
    const out = run('ip', ['netns', 'exec', sb!.b, 'ping', '-c', String(PINGS), '-i', '0.05', '-W', '2', '-q', sb!.ipA], { timeoutMs: 10_000 });
    assert.match(out, new RegExp(`${PINGS} packets transmitted, ${PINGS} received`), out);
  };

  const rootOf = (live: LiveJson, chain: string): number => {
    const c = live.chains.find((x) => x.chainName === chain);
    assert.ok(c, `chain ${chain} is live`);
    assert.deepEqual(c.drift, [], `chain ${chain} has no drift`);
    return c.rootProgId;
  };

  before(() => {
    if (unavailable) throw new Error(`kernel test required (KFN_REQUIRE_KERNEL=1) but cannot run: ${unavailable}`);
    sb = sandboxUp(sandboxPrefix('kt-tc'), '198.18.6', { quiet: true });
    h = new KfnHarness('tc-hooks');
  });

  after(async () => {
    try {
      h?.cleanup();
    } finally {
      if (foreignDir) tc?.removeForeign(foreignDir);
      sb?.down();
    }
  });

  it('attaches a foreign tcx program outside kfn', async () => {
    tc = await import('../helpers/tc-foreign.js');
    foreignDir = `/sys/fs/bpf/kfn-test-tc-foreign-${process.pid}`;
    foreign = tc.attachForeignCounter({ netns: sb!.a, ifname: sb!.a0, dir: 'ingress', pinDir: foreignDir });
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), [foreign.progId]);
  });

  it('plan reports the foreign program as foreign and creates both chains', () => {
    manifests('first');
    const plan = h!.json<{ foreign_programs: { prog_id: number; hook: string; interface: string }[]; resource_changes: { type: string; hook: string; change: { actions: string[] } }[] }>(['plan', h!.dir]);
    const f = plan.foreign_programs.find((x) => x.prog_id === foreign.progId);
    assert.ok(f, `plan --json foreign lists prog ${foreign.progId}: ${JSON.stringify(plan.foreign_programs)}`);
    assert.equal(f.hook, 'tc-ingress');
    assert.equal(f.interface, sb!.a0);
    const chains = plan.resource_changes.filter((c) => c.type === 'kfn_chain');
    assert.deepEqual(chains.map((c) => [c.hook, c.change.actions.join(',')]).sort(), [['tc-egress', 'create'], ['tc-ingress', 'create']]);
  });

  it('position first: kfn root runs before the foreign program; both count ingress, egress counts replies', () => {
    h!.apply();
    const live = h!.show();
    const inRoot = rootOf(live, 'tc-in');
    const outRoot = rootOf(live, 'tc-out');
    assert.ok(live.foreign.some((f) => f.progId === foreign.progId && f.attachment.hook === 'tc-ingress'), 'show --json lists the foreign program');
    assert.ok(!live.foreign.some((f) => f.progId === inRoot || f.progId === outRoot), 'kfn roots are not foreign');
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), [inRoot, foreign.progId], 'ingress order: kfn first');
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'egress'), [outRoot], 'egress: only kfn');

    const c0 = counts();
    ping();
    const c1 = counts();
    // Quiet sandbox (no IPv6, static neighbours): the pings are the only packets.
    assert.equal(c1.in - c0.in, BigInt(PINGS), 'kfn ingress counter saw every echo request');
    assert.equal(c1.foreign - c0.foreign, BigInt(PINGS), 'the foreign program (after kfn) saw every echo request');
    assert.equal(c1.out - c0.out, BigInt(PINGS), 'kfn egress counter saw every echo reply');
  });

  it('a position change is reported by plan (or needs destroy + apply)', (t) => {
    manifests('last');
    const r = h!.kfn(['plan', h!.dir, '--detailed-exitcode']);
    assert.ok(r.code === 0 || r.code === 2, `plan exits 0 or 2:\n${r.stdout}\n${r.stderr}`);
    t.diagnostic(`plan after first -> last: exit ${r.code} (${r.code === 2 ? 'changes' : 'no changes: position is not compared'}); ${r.stdout.trim().split('\n').at(-1)}`);
  });

  it('kfn destroy leaves the foreign program attached and running', () => {
    h!.ok(['destroy', h!.dir, '--auto-approve']);
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), [foreign.progId], 'only the foreign program is left on ingress');
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'egress'), []);
    const before = tc.foreignCount(foreign);
    ping();
    assert.equal(tc.foreignCount(foreign) - before, BigInt(PINGS), 'the foreign program still counts');
    const plan = h!.json<{ foreign_programs: { prog_id: number }[] }>(['plan', h!.dir]);
    assert.ok(plan.foreign_programs.some((f) => f.prog_id === foreign.progId), 'plan still reports it as foreign');
  });

  it('position last: kfn root runs after the foreign program; both count', () => {
    h!.apply();
    const live = h!.show();
    const inRoot = rootOf(live, 'tc-in');
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), [foreign.progId, inRoot], 'ingress order: kfn last');
    const c0 = counts();
    ping();
    const c1 = counts();
    assert.equal(c1.foreign - c0.foreign, BigInt(PINGS), 'the foreign program (first) saw every echo request');
    assert.equal(c1.in - c0.in, BigInt(PINGS), 'kfn ingress counter (after TCX_NEXT of the foreign program) saw every echo request');
    assert.equal(c1.out - c0.out, BigInt(PINGS), 'kfn egress counter saw every echo reply');
    h!.ok(['destroy', h!.dir, '--auto-approve']);
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), [foreign.progId], 'destroy again leaves the foreign program');
  });

  it('the test removes its foreign program itself', () => {
    tc.removeForeign(foreignDir!);
    foreignDir = undefined;
    assert.deepEqual(tc.tcxOrder(sb!.a, sb!.a0, 'ingress'), []);
  });
});
