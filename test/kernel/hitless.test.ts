/**
 * Hitless changes under traffic: UDP flows PREFIX-b -> PREFIX-a through an XDP chain
 * [head: counter, ...middle..., tail: counter] on PREFIX-a0 while 50+ `kfn apply` runs
 * insert, remove, reorder and replace (new version; new globals) middle functions.
 *
 * Afterwards head == tail (nothing was dropped or skipped inside the chain) and
 * head == the datagrams the sender put on the wire. The sandbox is quiet (no IPv6,
 * static neighbours), so the test's datagrams are the only packets reaching the hook.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  KfnHarness,
  counterValues,
  kernelFunction,
  kernelUnavailable,
  linkStats,
  sandboxPrefix,
  sandboxUp,
  skipUnlessKernel,
  sleep,
  type Sandbox,
} from '../helpers/traffic-env.js';
import { UdpSender } from '../helpers/traffic-sender.js';

const unavailable = kernelUnavailable();

const APPLIES = 50;
/** Safety cap on the sender's lifetime; the test stops it as soon as the 50 applies are done. */
const SENDER_MAX_MS = 150_000;
/** Datagrams per second: enough to hit every swap, light enough for a 2-CPU runner. */
const PPS = 2000;

type Mid = 'fs1' | 'fs2' | 'rl10' | 'rl20' | 'mid';

/** Middle of the chain per step; each step differs from the one before (cyclic). */
const SCHEDULE: Mid[][] = [
  [],
  ['fs1'], // insert
  ['fs1', 'rl10'], // insert
  ['rl10', 'fs1'], // reorder
  ['rl20', 'fs1'], // replace: globals.rate_pps
  ['rl20', 'fs2'], // replace: version 1.0.0 -> 2.0.0
  ['mid', 'rl20', 'fs2'], // insert after head
  ['rl20', 'mid', 'fs2'], // reorder
  ['rl20', 'fs2'], // remove
  ['fs2'], // remove
  ['fs1', 'mid'], // replace + insert before tail
  ['mid'], // remove + ... (empty after this: remove)
];

const INSTANCE: Record<Mid, string> = {
  fs1: '    - { name: fs, function: flowstats@1.0.0 }',
  fs2: '    - { name: fs, function: flowstats@2.0.0 }',
  rl10: '    - { name: rl, function: ratelimit, globals: { rate_pps: 10000000, burst: 1000000 } }',
  rl20: '    - { name: rl, function: ratelimit, globals: { rate_pps: 20000000, burst: 1000000 } }',
  mid: '    - { name: mid, function: counter }',
};

describe('hitless: 50 applies under UDP traffic drop nothing inside the chain', { skip: skipUnlessKernel(unavailable), timeout: 200_000 }, () => {
  let sb: Sandbox | undefined;
  let h: KfnHarness | undefined;
  let sender: UdpSender | undefined;

  const chain = (middle: Mid[]): string =>
    [
      'apiVersion: kfn.dev/v1alpha1',
      'kind: Chain',
      'metadata: { name: hitless }',
      'spec:',
      '  hook: xdp',
      `  netns: ${sb!.a}`,
      `  interfaces: [${sb!.a0}]`,
      '  mode: native',
      '  functions:',
      '    - { name: head, function: counter }',
      ...middle.map((m) => INSTANCE[m]),
      '    - { name: tail, function: counter }',
      '',
    ].join('\n');

  before(() => {
    if (unavailable) throw new Error(`kernel test required (KFN_REQUIRE_KERNEL=1) but cannot run: ${unavailable}`);
    sb = sandboxUp(sandboxPrefix('kt-hit'), '198.18.7', { quiet: true });
    h = new KfnHarness('hitless');
    h.write(
      'functions.yaml',
      [
        kernelFunction(h, 'counter', '1.0.0', 'counter.bpf.o', 'counter'),
        kernelFunction(h, 'flowstats', '1.0.0', 'flowstats.bpf.o', 'flowstats'),
        kernelFunction(h, 'flowstats', '2.0.0', 'flowstats.bpf.o', 'flowstats'),
        kernelFunction(h, 'ratelimit', '1.0.0', 'ratelimit.bpf.o', 'ratelimit'),
      ].join('---\n'),
    );
  });

  after(() => {
    try {
      sender?.kill();
      h?.cleanup();
    } finally {
      sb?.down();
    }
  });

  it('keeps head == tail == packets sent while the middle churns', async (t) => {
    h!.write('chain.yaml', chain(SCHEDULE[0]!));
    h!.apply();
    const live0 = h!.show();
    assert.equal(live0.chains[0]?.mode, 'native', 'XDP runs in native mode on the veth');
    const headProg = live0.chains[0]!.instances.find((i) => i.name === 'head')!.progId;
    const tailProg = live0.chains[0]!.instances.find((i) => i.name === 'tail')!.progId;
    const c0 = counterValues(h!.show(true), 'hitless');
    assert.equal(c0.head, 0n, 'quiet sandbox: nothing reached the chain yet');
    const stats0 = linkStats(sb!.a, sb!.a0);

    sender = new UdpSender(sb!.b, sb!.ipA, 9, PPS, SENDER_MAX_MS);
    await sender.started;

    const totals = { added: 0, changed: 0, replaced: 0, destroyed: 0 };
    const t0 = performance.now();
    let applies = 0;
    while (applies < APPLIES) {
      const step = SCHEDULE[(applies + 1) % SCHEDULE.length]!;
      h!.write('chain.yaml', chain(step));
      const r = h!.apply();
      const m = /Resources: (\d+) added, (\d+) changed, (\d+) replaced, (\d+) destroyed/.exec(r.stdout);
      assert.ok(m, `apply ${applies + 1} (${step.join(',') || 'empty middle'}) changed something:\n${r.stdout}`);
      totals.added += Number(m[1]);
      totals.changed += Number(m[2]);
      totals.replaced += Number(m[3]);
      totals.destroyed += Number(m[4]);
      applies++;
    }
    const churnMs = performance.now() - t0;
    const sent = await sender.stop();
    sender = undefined;
    await sleep(300); // let the last datagrams through the hook
    t.diagnostic(`${applies} applies in ${Math.round(churnMs)} ms (${Math.round(churnMs / Math.max(1, applies))} ms each); ` + `resources ${JSON.stringify(totals)}; sender ${JSON.stringify(sent)}`);

    assert.ok(totals.added > 0 && totals.destroyed > 0 && totals.replaced > 0 && totals.changed > 0, `inserts, removes, replaces and reorders all happened: ${JSON.stringify(totals)}`);
    assert.equal(sent.failed, 0, 'the sender had no send errors');
    assert.ok(sent.sent > 5_000, `the sender kept sending through the churn (${sent.sent})`);

    const live = h!.show(true);
    const c = counterValues(live, 'hitless');
    const names = live.chains[0]!.instances.map((i) => i.name);
    const expected = ['head', ...SCHEDULE[APPLIES % SCHEDULE.length]!.map((m) => (m.startsWith('fs') ? 'fs' : m.startsWith('rl') ? 'rl' : m)), 'tail'];
    assert.deepEqual(names, expected, 'the live chain is the last manifest');
    assert.equal(live.chains[0]!.instances[0]!.progId, headProg, 'head was never reloaded');
    assert.equal(live.chains[0]!.instances.at(-1)!.progId, tailProg, 'tail was never reloaded');

    const stats1 = linkStats(sb!.a, sb!.a0);
    t.diagnostic(`head ${c.head} tail ${c.tail} sent ${sent.sent}; ${sb!.a0} rx dropped ${stats1.rxDropped - stats0.rxDropped}`);
    assert.equal(c.tail, c.head, 'tail saw every packet head saw: nothing dropped or skipped inside the chain');
    assert.equal(c.head, BigInt(sent.sent), 'head saw every datagram the sender put on the wire');
    h!.ok(['plan', h!.dir, '--detailed-exitcode'], 0);
  });
});
