/**
 * Proceed-on with real traffic, through manifests and `kfn apply`: UDP datagrams from two
 * sources of namespace b (198.18.21.2 and .3) to a receiver in namespace a, through an
 * XDP chain on a's veth. The sandbox is quiet (IPv4 only, static neighbours), so the
 * datagrams are the only packets and every counter is compared exactly.
 *
 *   1. [filter: blocklist(.3), count: counter], default proceed-on: the counter sees only
 *      .2's datagrams; .3's are dropped.
 *   2. filter proceedOn [pass, drop]: planned and applied in place (no program loaded,
 *      same program ids); the counter now sees .3's datagrams too, and they reach the
 *      receiver: the chain's verdict is the last function's.
 *   3. [count, filter] with the filter last and proceeding on drop: its drop ends the
 *      chain (an empty slot returns the verdict), the counter saw everything.
 *   4. The word changed behind kfn's back: plan shows drift, apply repairs it in place.
 *   5. [allow: allowlist(.2) proceedOn [], filter: blocklist(.2, .3), count]: the
 *      allowlist's accept ends the chain, so .2 passes although the blocklist lists it.
 *   6. `kfn test` (packet cases through shadows of the chains) gives the same verdicts
 *      and names the instance that decided, for each of these chains.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { kernelGate } from '../helpers/kernel-gate.js';
import { NetPeer } from '../helpers/net-peer.js';
import { KfnHarness, counterValues, kernelFunction, sandboxPrefix, sandboxUp, type LiveJson, type Sandbox } from '../helpers/traffic-env.js';
import { pinDirOf, statField } from '../helpers/kfn.js';

const skip = kernelGate({ objects: ['root.bpf.o', 'blocklist.bpf.o', 'allowlist.bpf.o', 'counter.bpf.o'] });
const NET = '198.18.21';
const PORT = 7100;
const N_GOOD = 40;
const N_BAD = 30;

interface PlanJson {
  resource_changes: { type: string; name: string; change: { actions: string[]; proceed_on_change: { before: string[]; after: string[]; drift: boolean; in_place: boolean } | null } }[];
  planned_steps: { kind: string; description: string }[];
}

describe('proceed-on: real traffic through kfn apply', { skip, timeout: 180_000 }, () => {
  let sb: Sandbox | undefined;
  let h: KfnHarness | undefined;
  let rx: NetPeer | undefined;
  let tx: NetPeer | undefined;
  const good = `${NET}.2`;
  const bad = `${NET}.3`;

  type Fn = { name: string; function: string; maps?: Record<string, Record<string, number>>; proceedOn?: string[] };
  const manifests = (functions: Fn[]): void => {
    h!.write(
      'functions.yaml',
      [
        kernelFunction(h!, 'blocklist', '1.0.0', 'blocklist.bpf.o', 'blocklist'),
        kernelFunction(h!, 'allowlist', '1.0.0', 'allowlist.bpf.o', 'allowlist'),
        kernelFunction(h!, 'counter', '1.0.0', 'counter.bpf.o', 'counter'),
      ].join('---\n'),
    );
    const fns = functions.map((f) =>
      [
        `    - name: ${f.name}`,
        `      function: ${f.function}`,
        ...(f.maps ? [`      maps: ${JSON.stringify(f.maps)}`] : []),
        ...(f.proceedOn ? [`      proceedOn: ${JSON.stringify(f.proceedOn)}`] : []),
      ].join('\n'),
    );
    h!.write('chain.yaml', `apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: po }\nspec:\n  hook: xdp\n  netns: ${sb!.a}\n  interfaces: [${sb!.a0}]\n  functions:\n${fns.join('\n')}\n`);
  };
  const filter = (proceedOn?: string[], blocked = [bad]): Fn => ({
    name: 'filter',
    function: 'blocklist',
    maps: { blocked_v4: Object.fromEntries(blocked.map((b) => [`${b}/32`, 1])) },
    ...(proceedOn ? { proceedOn } : {}),
  });
  const count: Fn = { name: 'count', function: 'counter' };

  /** Sends N_GOOD datagrams from .2 and N_BAD from .3; returns what each function and the receiver saw. */
  const exchange = async (): Promise<{ received: Record<string, number>; counted: bigint; dropped: number; live: LiveJson }> => {
    const before = h!.show(true);
    const counted0 = counterValues(before, 'po').count ?? 0n;
    const dropped0 = filterDropped(before);
    const got0 = await rx!.settledUdpCounts(PORT);
    await tx!.must(`udp ${sb!.ipA} ${PORT} ${N_GOOD} ${good}`);
    await tx!.must(`udp ${sb!.ipA} ${PORT} ${N_BAD} ${bad}`);
    const got1 = await rx!.settledUdpCounts(PORT);
    const live = h!.show(true);
    const received = Object.fromEntries([good, bad].map((s) => [s, (got1[s] ?? 0) - (got0[s] ?? 0)]));
    return { received, counted: (counterValues(live, 'po').count ?? 0n) - counted0, dropped: filterDropped(live) - dropped0, live };
  };
  const filterDropped = (live: LiveJson): number => {
    const line = live.chains.find((c) => c.chainName === 'po')?.instances.find((i) => i.name === 'filter')?.stats?.stats?.[0];
    return line ? statField(line, 'dropped_v4') : 0;
  };
  const progIds = (live: LiveJson): Record<string, number> => Object.fromEntries(live.chains.find((c) => c.chainName === 'po')!.instances.map((i) => [i.name, i.progId]));
  const proceedOnShown = (name: string): string[] => {
    const j = JSON.parse(h!.ok(['show', '--json']).stdout) as { chains: { instances: { name: string; proceed_on: string[] }[] }[] };
    return j.chains.flatMap((c) => c.instances).find((i) => i.name === name)!.proceed_on;
  };

  before(async () => {
    sb = sandboxUp(sandboxPrefix('kt-po'), NET, { quiet: true });
    h = new KfnHarness('proceed-on');
    rx = await NetPeer.start(sb.a);
    tx = await NetPeer.start(sb.b);
    await rx.must(`ulisten ${PORT}`);
  });

  after(async () => {
    try {
      await tx?.stop();
      await rx?.stop();
      h?.cleanup();
    } finally {
      sb?.down();
    }
  });

  test('default proceed-on: the function after the filter does not see dropped packets', async () => {
    manifests([filter(), count]);
    h!.apply();
    const r = await exchange();
    assert.deepEqual(r.received, { [good]: N_GOOD, [bad]: 0 }, 'receiver: only the unlisted source');
    assert.equal(r.dropped, N_BAD, 'the filter dropped every datagram of the listed source');
    assert.equal(r.counted, BigInt(N_GOOD), 'the counter saw only the datagrams the filter passed');
    assert.deepEqual(proceedOnShown('filter'), ['pass']);
  });

  test('proceedOn [pass, drop] on the filter: planned in place, applied without a reload', () => {
    const ids0 = progIds(h!.show());
    manifests([filter(['pass', 'drop']), count]);
    const p = h!.json<PlanJson>(['plan', h!.dir]);
    const rc = p.resource_changes.find((r) => r.type === 'kfn_function_instance' && r.name === 'filter')!;
    assert.deepEqual(rc.change.actions, ['update']);
    assert.deepEqual(rc.change.proceed_on_change, { before: ['pass'], after: ['pass', 'drop'], drift: false, in_place: true, effect: 'drop now goes on to the next function' });
    const kinds = p.planned_steps.map((s) => s.kind);
    assert.ok(kinds.includes('update-proceed-on'), `steps: ${kinds.join(', ')}`);
    assert.ok(!kinds.some((k) => k.startsWith('load') || k === 'swap'), `nothing loaded or swapped: ${kinds.join(', ')}`);
    const text = h!.ok(['plan', h!.dir]).stdout;
    assert.match(text, /~ proceed_on: \[pass\] -> \[pass, drop\] # in place, nothing is reloaded: drop now goes on to the next function/);
    h!.apply();
    assert.deepEqual(progIds(h!.show()), ids0, 'the same programs run: nothing was reloaded');
    assert.equal(h!.kfn(['plan', h!.dir, '--detailed-exitcode']).code, 0, 'converged');
  });

  test('with "continue on drop" the function after the filter counts the dropped packets, and its verdict is the chain\'s', async () => {
    const r = await exchange();
    assert.equal(r.dropped, N_BAD, 'the filter still drops (and counts) the listed source');
    assert.equal(r.counted, BigInt(N_GOOD + N_BAD), 'the counter after it saw every datagram, dropped ones included');
    assert.deepEqual(r.received, { [good]: N_GOOD, [bad]: N_BAD }, "the counter passes: the last function's verdict decides");
    assert.match(h!.ok(['show']).stdout, /proceed-on: \[pass, drop\] \(pass goes on to the next function, drop goes on to the next function\)/);
  });

  test('a drop that proceeds from the last function ends the chain as a drop', async () => {
    manifests([count, filter(['pass', 'drop'])]);
    h!.apply();
    const r = await exchange();
    assert.equal(r.counted, BigInt(N_GOOD + N_BAD), 'the counter (first) saw everything');
    assert.equal(r.dropped, N_BAD);
    assert.deepEqual(r.received, { [good]: N_GOOD, [bad]: 0 }, 'the empty slot after the filter returns its drop');
  });

  test('the word changed outside kfn is drift; apply writes it back in place', async () => {
    const live = h!.show();
    const inst = live.chains[0]!.instances.find((i) => i.name === 'filter')!;
    const pin = `${pinDirOf({ pinRoot: h!.pinRoot, stateDir: h!.stateDir }, inst)}/kfn_proceed`;
    // Word 0 = the default: drop ends the chain again.
    const r = spawnSync('bpftool', ['map', 'update', 'pinned', pin, 'key', '0', '0', '0', '0', 'value', '0', '0', '0', '0'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const p = h!.json<PlanJson>(['plan', h!.dir]);
    const rc = p.resource_changes.find((x) => x.type === 'kfn_function_instance' && x.name === 'filter')!;
    assert.deepEqual(rc.change.proceed_on_change && { ...rc.change.proceed_on_change }, { before: ['pass'], after: ['pass', 'drop'], drift: true, in_place: true, effect: 'drop now goes on to the next function' });
    assert.match(h!.ok(['plan', h!.dir]).stdout, /! ~ proceed_on: \[pass\] -> \[pass, drop\] .*\(changed outside kfn\)/);
    // Without the manifests too: kfn drift (cron) compares the word with what kfn recorded writing.
    const drift = h!.kfn(['drift', '--json']);
    assert.equal(drift.code, 2, drift.stderr);
    const found = (JSON.parse(drift.stdout) as { chains: { drift: { code: string; instance?: string; applied?: string[]; live?: string[] }[] }[] }).chains.flatMap((c) => c.drift);
    assert.deepEqual(found, [{ code: 'proceed_on_edited', text: 'proceed-on of filter was changed outside kfn: it continues on pass, kfn wrote pass, drop', repair: 'apply writes back the proceed-on of the manifests', instance: 'filter', applied: ['pass', 'drop'], live: ['pass'] }]);
    const ids0 = progIds(live);
    h!.apply();
    assert.equal(h!.kfn(['drift']).code, 0, 'kfn drift: in sync again');
    assert.deepEqual(progIds(h!.show()), ids0, 'repaired without a reload');
    assert.equal(h!.kfn(['plan', h!.dir, '--detailed-exitcode']).code, 0, 'converged');
  });

  test('an allowlist that proceeds on nothing ends the chain on accept', async () => {
    const allow = (proceedOn?: string[]): Fn => ({ name: 'allow', function: 'allowlist', maps: { allowed_v4: { [`${good}/32`]: 1 } }, ...(proceedOn ? { proceedOn } : {}) });
    manifests([allow(), filter(undefined, [good, bad]), count]);
    h!.apply();
    let r = await exchange();
    assert.deepEqual(r.received, { [good]: 0, [bad]: 0 }, 'default: the allowlist passes .2 on to the blocklist, which drops it');
    assert.equal(r.dropped, N_GOOD, 'the blocklist saw (and dropped) only what the allowlist passed');
    manifests([allow([]), filter(undefined, [good, bad]), count]);
    h!.apply();
    r = await exchange();
    assert.deepEqual(r.received, { [good]: N_GOOD, [bad]: 0 }, 'the accept ended the chain with pass; the unlisted source was dropped by the allowlist');
    assert.equal(r.dropped, 0, 'the blocklist never saw a packet');
    assert.equal(r.counted, 0n, 'nor did the counter');
  });

  test('kfn test: shadows follow proceed-on, and name the instance whose verdict stands', () => {
    const packet = (src: string) => `packet: { ip: { src: ${src}, dst: ${sb!.ipA} }, udp: { dst: ${PORT} } }`;
    // decidedBy '' : the packet ran off the end of the chain (no instance named).
    const cases = (list: [string, string, string, string][]): string =>
      `apiVersion: kfn.dev/v1alpha1\nkind: PacketTest\nmetadata: { name: proceed }\nspec:\n  chain: po\n  cases:\n${list
        .map(([name, src, expect, by]) => `    - name: ${name}\n      ${packet(src)}\n      expect: ${expect}\n${by ? `      decidedBy: ${by}\n` : ''}`)
        .join('')}`;
    const run = (list: [string, string, string, string][]): void => {
      const file = h!.write('cases.yaml.txt', cases(list));
      const r = h!.kfn(['test', h!.dir, '--packets', file]);
      assert.equal(r.code, 0, `every case as expected:\n${r.stdout}\n${r.stderr}`);
    };
    const allow = (proceedOn?: string[]): Fn => ({ name: 'allow', function: 'allowlist', maps: { allowed_v4: { [`${good}/32`]: 1 } }, ...(proceedOn ? { proceedOn } : {}) });
    manifests([filter(['pass', 'drop']), count]);
    run([['a dropped packet goes on and the counter passes it', bad, 'pass', '']]);
    manifests([count, filter(['pass', 'drop'])]);
    run([['a drop proceeding from the last instance stands', bad, 'drop', 'filter'], ['a pass runs off the end', good, 'pass', '']]);
    manifests([allow([]), filter(undefined, [good, bad]), count]);
    run([['the allowlist ends the chain on accept', good, 'pass', 'allow'], ['and drops the others', bad, 'drop', 'allow']]);
    manifests([filter(), count]);
    run([['by default the drop ends the chain', bad, 'drop', 'filter']]);
  });
});
